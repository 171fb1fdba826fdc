"""The text track's language models: the embedded default and any OpenAI-compatible server."""

from arena.llm.models import (
    EMBEDDED_NAME,
    ChatTokenizer,
    EmbeddedModel,
    HttpModel,
    Model,
    ModelError,
    Reply,
    Usage,
    choice_grammar,
    default_model_path,
    open_model,
    throughput,
)

__all__ = [
    "EMBEDDED_NAME",
    "ChatTokenizer",
    "EmbeddedModel",
    "HttpModel",
    "Model",
    "ModelError",
    "Reply",
    "Usage",
    "choice_grammar",
    "default_model_path",
    "open_model",
    "throughput",
]
