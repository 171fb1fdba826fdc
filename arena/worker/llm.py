"""Agent side: ``spec.llm``, the text track's model, reached only through the harness.

The agent process has no network. Every call is a request on the agent's channel to the
harness's model gateway (:mod:`arena.harness.gateway`), which checks the call against the
phase's token budget, runs the model and charges what it used; this side only carries the
request and turns a refusal into an exception.
"""

from __future__ import annotations

from typing import Any

from arena.boundary.protocol import Kind
from arena.worker.proxy import Requests

MAX_OPTIONS = 64  # legal moves offered to constrained decoding in one call


class GatewayLLM:
    """The :class:`arena.api.LLM` of a trial: each call is one request to the harness."""

    def __init__(self, requests: Requests):
        self._requests = requests
        self.calls = 0

    def chat(self, messages: list[dict[str, str]], max_tokens: int = 64) -> str:
        return self._call(Kind.LLM_CHAT, _messages(messages), max_tokens, None)

    def complete(self, prompt: str, max_tokens: int = 64) -> str:
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
        return self._call(Kind.LLM_COMPLETE, prompt, max_tokens, None)

    def choose(self, messages: list[dict[str, str]], options: list[str]) -> str:
        names = [str(option) for option in options][:MAX_OPTIONS]
        if not names:
            raise ValueError("choose() needs at least one option")
        longest = max(len(name) for name in names)
        return self._call(Kind.LLM_CHAT, _messages(messages), max(8, 2 * longest), names)

    @property
    def tokens_left(self) -> int:
        (left,) = self._requests.request(Kind.LLM_TOKENS_LEFT)
        return int(left)

    def _call(self, kind: Kind, prompt: Any, max_tokens: int, options: list[str] | None) -> str:
        if type(max_tokens) is not int or max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive integer, got {max_tokens!r}")
        text, _prompt_tokens, _completion_tokens = self._requests.request(kind, prompt, max_tokens, options)
        self.calls += 1
        return str(text)


def _messages(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Plain ``{"role", "content"}`` dicts of strings: what the gateway accepts."""
    out = []
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if not isinstance(role, str) or not isinstance(content, str):
            raise TypeError(f"a message is {{'role': str, 'content': str}}, got {message!r:.80}")
        out.append({"role": role, "content": content})
    return out
