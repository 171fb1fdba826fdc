"""Harness side: the text track's model gateway, the only way an agent reaches a language model.

An agent on a text suite calls ``spec.llm.chat(...)`` (:mod:`arena.worker.llm`); the call
travels over the agent's channel and lands here. The gateway checks it, then charges it to the
trial: a call is made only if its prompt's tokens plus ``max_tokens`` fit what the phase has
left (the adaptation phase's token budget, or the evaluation episode's), so ``tokens_used``
never exceeds a budget; the tokens charged are the ones the model reports it used. A call that
would not fit is refused with ``EXHAUSTED`` (``BudgetExhausted`` in the agent) before the model
runs. A model that fails (unreachable, too slow) ends the trial with a recorded ``error``
status that names the gateway: the harness itself never crashes on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from arena.boundary.protocol import Kind
from arena.harness.jobs import AgentFailure
from arena.llm import Model
from arena.records import Status

MAX_PROMPT_TOKENS = 1536  # per call: the embedded model's context is 2,048 tokens
MAX_MESSAGES = 256
MAX_PROMPT_CHARS = 64_000
CALL_SECONDS = 30.0  # per call, wall clock


@dataclass
class TokenAccount:
    """One phase's tokens: the adaptation phase's, or one evaluation episode's."""

    limit: int
    used: int = 0

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)


@dataclass
class Gateway:
    """One trial's model calls, charged to its phases. ``model`` None: a suite with no model."""

    model: Model | None
    adapt_tokens: int
    eval_tokens: int
    max_prompt_tokens: int = MAX_PROMPT_TOKENS
    call_seconds: float = CALL_SECONDS
    tokens_used: int = 0  # over the whole trial: adaptation and evaluation
    llm_calls: int = 0
    account: TokenAccount = field(init=False)

    def __post_init__(self) -> None:
        self.account = TokenAccount(self.adapt_tokens)

    def start_episode(self) -> None:
        """An evaluation episode begins: its own allowance, ``eval_tokens``."""
        self.account = TokenAccount(self.eval_tokens)

    def handle(self, message: tuple[Any, ...]) -> tuple[Any, ...]:
        """The answer to one model request (see :mod:`arena.boundary.protocol`)."""
        kind = message[0]
        if kind == Kind.LLM_TOKENS_LEFT:
            return (Kind.OK, self.account.left)
        if self.model is None:
            return (Kind.REFUSED, "this trial has no language model (only text suites have one)")
        try:
            prompt, max_tokens, options = message[1], message[2], message[3]
            messages = _checked_messages(prompt if kind == Kind.LLM_CHAT else [{"role": "user", "content": prompt}])
            if type(max_tokens) is not int or max_tokens < 1:
                raise ValueError(f"max_tokens must be a positive integer, got {max_tokens!r:.40}")
            options = _checked_options(options)
        except (IndexError, TypeError, ValueError) as exc:
            return (Kind.REFUSED, f"bad model request: {exc}")
        try:
            prompt_tokens = self.model.prompt_tokens(messages)
        except Exception as exc:  # a model server that fails is the operator's trouble, not the agent's
            raise _failure(exc) from None
        if prompt_tokens > self.max_prompt_tokens:
            return (Kind.REFUSED, f"a prompt of {prompt_tokens} tokens is over the cap of {self.max_prompt_tokens}")
        need = prompt_tokens + max_tokens
        if need > self.account.left:
            return (
                Kind.EXHAUSTED,
                f"token budget of {self.account.limit} spent: {self.account.used} used, "
                f"this call needs up to {need} ({prompt_tokens} prompt + {max_tokens} max_tokens)",
            )
        try:
            if kind == Kind.LLM_CHAT:
                reply = self.model.chat(messages, max_tokens=max_tokens, options=options, timeout=self.call_seconds)
            else:
                reply = self.model.complete(prompt, max_tokens=max_tokens, options=options, timeout=self.call_seconds)
        except Exception as exc:
            raise _failure(exc) from None
        used = int(reply.usage.prompt_tokens) + int(reply.usage.completion_tokens)
        self.account.used += used
        self.tokens_used += used
        self.llm_calls += 1
        return (Kind.OK, reply.text, int(reply.usage.prompt_tokens), int(reply.usage.completion_tokens))


def _failure(exc: Exception) -> AgentFailure:
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    return AgentFailure(Status.ERROR, f"model gateway: {first_line}")


def _checked_messages(messages: Any) -> list[dict[str, str]]:
    """Untrusted input (it came from the agent): plain role/content strings, of bounded size."""
    if not isinstance(messages, list) or not messages or len(messages) > MAX_MESSAGES:
        raise ValueError(f"messages must be a list of 1 to {MAX_MESSAGES} messages")
    out, chars = [], 0
    for message in messages:
        if not isinstance(message, dict):
            raise TypeError("each message must be a dict with 'role' and 'content'")
        role, content = message.get("role"), message.get("content")
        if role not in ("system", "user", "assistant") or not isinstance(content, str):
            raise ValueError("a message needs role system, user or assistant and a string content")
        chars += len(content)
        out.append({"role": role, "content": content})
    if chars > MAX_PROMPT_CHARS:
        raise ValueError(f"a prompt of {chars} characters is over the cap of {MAX_PROMPT_CHARS}")
    return out


def _checked_options(options: Any) -> list[str] | None:
    if options is None:
        return None
    if not isinstance(options, list) or not options or len(options) > 64:
        raise ValueError("options must be a list of 1 to 64 strings")
    if not all(isinstance(option, str) and 0 < len(option) <= 100 for option in options):
        raise ValueError("each option must be a non-empty string of at most 100 characters")
    return list(options)
