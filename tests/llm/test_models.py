"""The text track's model layer against a real model: the embedded SmolLM2-135M-Instruct, and a
real llama-cpp-python server on loopback reached over HTTP. Nothing here is mocked."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import pytest

from arena.llm import (
    EMBEDDED_NAME,
    EmbeddedModel,
    HttpModel,
    Model,
    ModelError,
    choice_grammar,
    default_model_path,
    open_model,
    throughput,
)

pytestmark = pytest.mark.llm


def _gguf() -> Path:
    if find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (bash scripts/setup.sh --test installs it)")
    try:
        return default_model_path()
    except ModelError as exc:
        pytest.skip(str(exc))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def embedded() -> Iterator[EmbeddedModel]:
    model = EmbeddedModel(_gguf())
    yield model
    model.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A llama-cpp-python server started as an operator would start one (no chat format named,
    no alias), on a free loopback port: the OpenAI API's base URL."""
    gguf, port = _gguf(), _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_threads", "2", "--n_ctx", "2048", "--verbose", "False"]
    env = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"the server exited: {log.read_text()[-2000:]}"
            try:
                with urllib.request.urlopen(url + "/models", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start in 120 s"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _usage_prompt_tokens(model: Model, messages: list[dict[str, str]]) -> int:
    return model.chat(messages, max_tokens=1).usage.prompt_tokens


SYSTEM = {"role": "system", "content": "You play games. Answer with one word."}
TURNS = [
    {"role": "user", "content": "Hello! Which move do you pick?"},
    {"role": "assistant", "content": " rock\n"},
    {"role": "user", "content": '\n\nAnd now?  Ünïcödé, <b>tags</b>, "quotes" and\ttabs.'},
]


# -- the embedded model


def test_embedded_model_answers_a_chat_and_reports_its_usage(embedded: EmbeddedModel) -> None:
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    reply = embedded.chat(messages, max_tokens=16)
    assert embedded.name == EMBEDDED_NAME
    assert reply.text.strip()
    assert reply.usage.prompt_tokens == embedded.prompt_tokens(messages)
    assert 1 <= reply.usage.completion_tokens <= 16
    assert reply.usage.total == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.seconds > 0


@pytest.mark.parametrize("with_system", [False, True], ids=["no-system", "system"])
@pytest.mark.parametrize("turns", [1, 2, 3])
def test_embedded_prompt_tokens_are_exact(embedded: EmbeddedModel, turns: int, with_system: bool) -> None:
    messages = ([SYSTEM] if with_system else []) + TURNS[:turns]
    assert embedded.prompt_tokens(messages) == _usage_prompt_tokens(embedded, messages)


def test_default_system_prompt_is_counted(embedded: EmbeddedModel) -> None:
    """SmolLM2's template adds its own system prompt when the messages have none."""
    user = [{"role": "user", "content": "hi"}]
    tiny_system = [{"role": "system", "content": "x"}, *user]
    assert embedded.prompt_tokens(user) > embedded.prompt_tokens(tiny_system)


def test_completion_respects_max_tokens(embedded: EmbeddedModel) -> None:
    reply = embedded.complete("Once upon a time, in a land far away,", max_tokens=5)
    assert 1 <= reply.usage.completion_tokens <= 5
    assert reply.text


def test_options_make_the_answer_one_of_them(embedded: EmbeddedModel) -> None:
    options = ["rock", "paper", "scissors"]
    prompts = [
        "Rock, paper or scissors? Pick one.",
        "Your opponent always plays rock. What beats it?",
        "Write a poem about the sea.",
        "Answer with a number: 2 + 2 = ?",
    ]
    for prompt in prompts:
        reply = embedded.chat([{"role": "user", "content": prompt}], max_tokens=8, options=options)
        assert reply.text in options, (prompt, reply.text)
    odd = ['say "hi"', "back\\slash", "e2e4\n", "ünï cödé"]
    for prompt in ["Pick one.", "Which is a chess move?"]:
        reply = embedded.complete(prompt, max_tokens=12, options=odd)
        assert reply.text in odd, (prompt, reply.text)


def test_throughput_is_measured(embedded: EmbeddedModel) -> None:
    prompt_rate, generation_rate = throughput(embedded, prompt_tokens=64, generate=16)
    assert prompt_rate > 0 and generation_rate > 0


def test_the_embedded_server_stops_on_close(tmp_path: Path) -> None:
    model = EmbeddedModel(_gguf(), log=tmp_path / "model.log")
    url, pid = model.url, model.pid
    assert pid is not None
    model.close()
    with pytest.raises(ModelError, match="unreachable"):
        HttpModel(url, "x").chat([{"role": "user", "content": "hi"}], max_tokens=1)
    model.close()  # twice is fine


def test_the_embedded_server_dies_with_its_owner(tmp_path: Path) -> None:
    """Even killed with SIGKILL (no atexit), the owner leaves no model server behind."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from arena.llm import EmbeddedModel
        m = EmbeddedModel(Path({str(_gguf())!r}))
        print(m.url, m.pid, flush=True)
        sys.stdin.read()
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    url, pid = owner.stdout.readline().split()
    owner.kill()
    owner.wait()
    deadline = time.monotonic() + 10
    while _alive(int(pid)):
        assert time.monotonic() < deadline, "the model server outlived its owner"
        time.sleep(0.1)
    with pytest.raises(ModelError, match="unreachable"):
        HttpModel(url, "x").chat([{"role": "user", "content": "hi"}], max_tokens=1)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# -- a real OpenAI-compatible server, over HTTP


def test_http_model_talks_to_a_real_server(server: str) -> None:
    model = open_model(server)
    assert isinstance(model, HttpModel)
    assert model.name.endswith(".gguf")  # llama-cpp-python names its model by path when given no alias
    messages = [SYSTEM, *TURNS]
    reply = model.chat(messages, max_tokens=8)
    assert reply.text.strip() and 1 <= reply.usage.completion_tokens <= 8
    # Without the local tokenizer the count is calibrated: an upper bound, and a close one.
    bound = model.prompt_tokens(messages)
    assert reply.usage.prompt_tokens <= bound <= reply.usage.prompt_tokens + 2 * len(messages)
    for turns in (1, 2, 3):
        msgs = TURNS[:turns]
        actual = _usage_prompt_tokens(model, msgs)
        assert actual <= model.prompt_tokens(msgs) <= actual + 2 * turns
    options = ["rock", "paper", "scissors"]
    assert model.chat([{"role": "user", "content": "Pick one."}], max_tokens=8, options=options).text in options
    completion = model.complete("The quick brown fox", max_tokens=4)
    assert 1 <= completion.usage.completion_tokens <= 4


def test_open_model_counts_the_embedded_model_exactly_over_http(server: str) -> None:
    model = open_model(server, EMBEDDED_NAME)
    for messages in ([TURNS[0]], [SYSTEM, *TURNS]):
        assert model.prompt_tokens(messages) == _usage_prompt_tokens(model, messages)


def test_an_unreachable_server_is_a_one_line_model_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens there
    with pytest.raises(ModelError) as info:
        HttpModel(url, "m").chat([{"role": "user", "content": "hi"}], max_tokens=4)
    message = str(info.value)
    assert message == f"model server at {url} is unreachable: Connection refused"
    with pytest.raises(ModelError, match="unreachable"):
        open_model(url)  # no name given: it asks the server, which is not there


def test_a_too_short_timeout_is_a_one_line_model_error(server: str) -> None:
    model = HttpModel(server)
    with pytest.raises(ModelError) as info:
        model.chat([{"role": "user", "content": "Tell me a story."}], max_tokens=24, timeout=0.05)
    assert "did not answer within 0.05 s" in str(info.value)
    assert "\n" not in str(info.value)


def test_choice_grammar_quotes_what_gbnf_needs_quoted() -> None:
    grammar = choice_grammar(["rock", 'say "hi"', "a\\b", "x\ny"])
    assert grammar == 'root ::= "rock" | "say \\"hi\\"" | "a\\\\b" | "x\\ny"\n'
    with pytest.raises(ValueError):
        choice_grammar([])


# -- the pinned build


def test_the_pinned_build_decodes_without_crashing() -> None:
    """The default native build of llama-cpp-python 0.3.36 dies in ``decode`` on a CPU with
    AMX (built by GCC 12, ggml's AMX kernels load a tile configuration whose stores the compiler
    dropped); the pinned build (GGML_NATIVE=OFF, no AVX-512 or AMX) must decode a few hundred tokens."""
    script = textwrap.dedent(
        f"""
        import llama_cpp
        llm = llama_cpp.Llama(model_path={str(_gguf())!r}, n_threads=1, n_ctx=1024, seed=0, verbose=False)
        out = llm.create_completion("Here is a long story about a dragon:", max_tokens=200, temperature=0.0)
        print(out["usage"]["completion_tokens"])
        print(llama_cpp.llama_print_system_info().decode())
        """
    )
    # One thread: two llama.cpp threads on a loaded 2-core machine took minutes for this.
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    tokens, info = done.stdout.split("\n", 1)
    assert int(tokens) > 100
    assert "AVX512 = 1" not in info and "AMX_INT8 = 1" not in info, f"not the pinned build: {info}"
