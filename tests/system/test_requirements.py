"""A submission's own dependencies (`requirements` in its manifest), through the real harness.

The harness installs them with pip from the package index, wheels only, fenced (the installer's
bubblewrap view, as the worker user); the tests use a real package the project does not depend
on (cowsay), and three hostile requirements: one that does not exist, one that would replace a
package of the project's (tabulate, which sqlite-utils pins), and one published only as source
(pyperclip 1.8.2). They need the full sandbox and the package index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from arena.errors import ArenaError
from arena.submission import load_submission

pytestmark = pytest.mark.needs_sandbox
ROOT = Path(__file__).resolve().parents[2]
REAL = "cowsay==6.1"
AGENT = """
import cowsay

import arena


class Agent(arena.Agent):
    def act(self, observation, info):
        return 0 if "moo" in cowsay.get_output_string("cow", "moo") else 1
"""


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "envs"
    monkeypatch.setenv("ARENA_ENV_CACHE", str(root))
    return root


def _submission(tmp_path: Path, requirements: str, name: str = "cow") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "submission.toml").write_text(
        f'[submission]\nname = "{name}"\nversion = "1"\nauthors = ["T"]\nentry = "agent:Agent"\n'
        f"requirements = {requirements}\n"
    )
    (folder / "agent.py").write_text(textwrap.dedent(AGENT))
    return folder


def _arena(*args: str, env_cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "1", "ARENA_ENV_CACHE": str(env_cache)}
    return subprocess.run(
        [sys.executable, "-m", "arena.cli", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=900
    )


def test_a_real_requirement_is_installed_fenced_hashed_and_reaches_only_the_agent(tmp_path, cache, tiny_suite) -> None:
    import importlib.util

    from arena.harness import environments

    assert importlib.util.find_spec("cowsay") is None, "the project must not depend on the test's package"
    folder = _submission(tmp_path, f'["{REAL}"]')
    check = _arena("check", str(folder), "--suite", str(tiny_suite), env_cache=cache)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "requirements installed, wheels only: cowsay 6.1 (sha256 " in check.stdout
    (built,) = [p for p in cache.iterdir() if not p.name.startswith(".")]
    (resolved,) = json.loads((built / "resolution.json").read_text())
    assert (resolved["name"], resolved["version"], len(resolved["sha256"])) == ("cowsay", "6.1", 64)
    assert (built / "site").stat().st_uid == os.geteuid() and not (built / "site").stat().st_mode & 0o022

    plain = load_submission(folder)
    prepared = environments.prepare(plain)  # from the cache now: no second install
    assert prepared.hash != plain.hash and prepared.environment == built / "site"
    assert importlib.util.find_spec("cowsay") is None  # never on the harness's own path

    db = tmp_path / "r.db"
    run = _arena("run", str(folder), "--suite", str(tiny_suite), "--db", str(db), "-w", "1", env_cache=cache)
    assert run.returncode == 0, run.stderr
    assert "Ran 8 trials (8 ok)" in run.stdout
    rows = json.loads(_arena("results", "--db", str(db), "--format", "json", env_cache=cache).stdout)
    assert {r["submission_hash"] for r in rows} == {prepared.hash}  # the wheels' hashes are part of its identity


@pytest.mark.parametrize(
    ("requirements", "message"),
    [
        (
            '["metaarena-no-such-package-zq==1.0"]',
            "requirement metaarena-no-such-package-zq==1.0 cannot be resolved: no such package",
        ),
        ('["tabulate==0.9.0"]', "requirement tabulate==0.9.0 conflicts with the project's tabulate"),
        (
            '["pyperclip==1.8.2"]',
            "requirement pyperclip==1.8.2 is published only as source (sdist); the harness installs wheels only",
        ),
        (f'["{REAL}", "cowsay==6.0"]', "requirements conflict with each other"),
    ],
)
def test_hostile_requirements_are_one_line_errors_naming_them(tmp_path, cache, requirements, message) -> None:
    folder = _submission(tmp_path, requirements)
    result = _arena("check", str(folder), env_cache=cache)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not cache.exists() or not [p for p in cache.iterdir() if not p.name.startswith(".")]  # nothing half-built


@pytest.mark.parametrize(
    "requirements",
    [
        '["--index-url=http://127.0.0.1:9/simple"]',
        '["cowsay>=6"]',
        '["cowsay @ file:///etc/passwd"]',
        "[\"cowsay==6.1; python_version>'3'\"]",
    ],
)
def test_requirements_must_be_plain_pins_never_installer_options(tmp_path, requirements) -> None:
    with pytest.raises(ArenaError, match="requirements must be pinned"):
        load_submission(_submission(tmp_path, requirements))


def test_a_lock_file_holds_hashed_pins_and_nothing_else(tmp_path) -> None:
    folder = _submission(tmp_path, '"requirements.lock"')
    digest = "a" * 64
    (folder / "requirements.lock").write_text(f"cowsay==6.1 \\\n    --hash=sha256:{digest}\n")
    assert load_submission(folder).requirements == (f"cowsay==6.1 --hash=sha256:{digest}",)
    (folder / "requirements.lock").write_text(
        f"--extra-index-url http://127.0.0.1:9/\ncowsay==6.1 --hash=sha256:{digest}\n"
    )
    with pytest.raises(ArenaError, match="a lock line is 'name==version --hash=sha256:HEX' and nothing else"):
        load_submission(folder)


def test_the_installers_fence_sees_neither_the_database_nor_the_secret_seed(tmp_path) -> None:
    from arena.boundary import sandbox

    secret, db = tmp_path / "seed.txt", tmp_path / "arena.db"
    secret.write_text("804918273645501\n")
    db.write_bytes(b"SQLite format 3\x00")
    for path in (secret, db):
        path.chmod(0o644)  # only the view may hide them
    work = tmp_path / "work"
    work.mkdir()
    probe = (
        "import json, os, sys\n"
        "out = {'uid': os.getuid()}\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        open(p).read(); out[p] = 'read'\n"
        "    except OSError as exc:\n"
        "        out[p] = exc.errno\n"
        "print(json.dumps(out))\n"
    )
    command = sandbox.wrap_installer([sys.executable, "-c", probe, str(secret), str(db)], workdir=work)
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": sandbox.worker_pythonpath()},
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen[str(secret)] == seen[str(db)] == 2  # ENOENT: not in the view at all
    assert seen["uid"] == sandbox.worker_uid()
