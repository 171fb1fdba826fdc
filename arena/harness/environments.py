"""A submission's own dependencies: built by the harness outside the sandbox, mounted read-only in it.

A manifest may pin what its agent needs beyond the project's packages: ``requirements =
["cowsay==6.1"]``, or the name of a hashed lock file. :func:`prepare` installs them once per
(requirements, Python, the project's installed packages) into a folder of the cache
(``ARENA_ENV_CACHE``, default ``~/.cache/metaarena/envs``), which every agent process of the
submission then sees read-only, on its ``PYTHONPATH`` after the project's packages. That folder
is never on the harness's own ``sys.path``: a wheel's ``.pth`` file runs in any interpreter that
treats the folder as a site directory, and nothing does here.

Installing is an attack surface, so it runs fenced (:func:`arena.boundary.sandbox.wrap_installer`):
pip, wheels only (``--only-binary=:all:``: no submitter-chosen ``setup.py`` runs), as the worker
user, with the network but a filesystem view that holds neither the results database nor the
secret seed file. It resolves against the harness's installed packages: a requirement that would
replace one of them (another version of the project's pins) is refused, as are one that does not
exist, requirements that conflict, and a package published only as source.

The resolved set (names, versions, the sha256 of each wheel) becomes part of the submission's
hash, so new code in a dependency is a new identity, as new code in the folder is.
"""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from arena.boundary import sandbox
from arena.errors import ArenaError
from arena.submission import Submission

INSTALL_SECONDS = 600.0
RESOLUTION = "resolution.json"
_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")
_VERSIONS = re.compile(r"Could not find a version that satisfies the requirement (\S+) \(from versions: ([^)]*)\)")
_SOURCE_ONLY = re.compile(r"No sources permitted for ([^:]+): \S+/(\S+?)(\.tar\.gz|\.zip|\.tar\.bz2)\b")


@dataclass(frozen=True)
class Resolved:
    """One installed distribution of a submission's environment."""

    name: str
    version: str
    sha256: str
    requested: bool  # named by the manifest (or its lock file), not only needed by what it names

    def as_text(self) -> str:
        return f"{self.name} {self.version} (sha256 {self.sha256[:12]})"


def cache_root() -> Path:
    return Path(os.environ.get("ARENA_ENV_CACHE") or Path.home() / ".cache" / "metaarena" / "envs")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    """The harness's own distributions (normalized name -> version): what requirements resolve against.

    Read from this interpreter's site-packages, not from ``sys.path``: a process that has put an
    agent's environment on its path (an in-process run) must compute the same cache key as a fresh
    CLI process, or the two would build and hash different environments."""
    paths = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    return {_normal(d.metadata["Name"]): d.version for d in metadata.distributions(path=paths) if d.metadata["Name"]}


def requirements_key(submission: Submission) -> str:
    """What an environment is cached by: the requirements, this Python, the harness's packages."""
    digest = hashlib.sha256()
    for part in (
        "\n".join(submission.requirements),
        sys.version,
        platform.machine(),
        "\n".join(f"{n}=={v}" for n, v in sorted(installed().items())),
    ):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def prepare(submission: Submission) -> Submission:
    """The submission with its environment built (or found in the cache) and its hash covering
    the resolved wheels; unchanged when it has no requirements. Failures are one-line ArenaErrors."""
    if not submission.requirements:
        return submission
    folder = cache_root() / requirements_key(submission)[:24]
    if not (folder / RESOLUTION).is_file():
        _build(submission, folder)
    resolution = resolution_of(folder)
    digest = hashlib.sha256(submission.hash.encode() + b"\0")
    digest.update(json.dumps([dataclasses.asdict(r) for r in resolution], sort_keys=True).encode())
    return dataclasses.replace(submission, hash=digest.hexdigest(), environment=folder / "site")


def resolution_of(folder: Path) -> list[Resolved]:
    """What an environment folder holds, as its build recorded it."""
    try:
        return [Resolved(**item) for item in json.loads((folder / RESOLUTION).read_text())]
    except (OSError, ValueError, TypeError) as exc:
        raise ArenaError(f"{folder}: damaged environment ({exc}); remove the folder to rebuild it") from None


def describe(submission: Submission) -> str:
    """One line: what the submission's environment resolved to."""
    if submission.environment is None:
        return "no requirements"
    return ", ".join(r.as_text() for r in resolution_of(submission.environment.parent))


# -- the build ------------------------------------------------------------------------------------


def _build(submission: Submission, folder: Path) -> None:
    if not sandbox.available()[0]:
        raise ArenaError(
            f"{submission.label}: installing its requirements needs the full agent sandbox "
            f"({sandbox.available()[1]}); the harness installs nothing unfenced"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".building-{folder.name}-", dir=folder.parent))
    try:
        os.chmod(work, 0o755)
        (work / "requirements.txt").write_text("\n".join(submission.requirements) + "\n")
        os.chmod(work / "requirements.txt", 0o644)
        report = _resolve(submission, work)
        _refuse_replacements(submission, report)
        (work / "pinned.txt").write_text("".join(f"{r.name}=={r.version} --hash=sha256:{r.sha256}\n" for r in report))
        os.chmod(work / "pinned.txt", 0o644)
        _pip(submission, work, ["install", "--target", str(work / "site"), "--no-deps", "--require-hashes",
                                "-r", str(work / "pinned.txt")])  # fmt: skip
        (work / RESOLUTION).write_text(json.dumps([dataclasses.asdict(r) for r in report], indent=1) + "\n")
        _seal(work)
        try:
            work.rename(folder)
        except OSError:
            if not (folder / RESOLUTION).is_file():  # not another run's finished build: a real failure
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _resolve(submission: Submission, work: Path) -> list[Resolved]:
    """pip's resolution against the harness's packages: what it would install, with wheel hashes."""
    args = ["install", "--dry-run", "--report", str(work / "report.json"), "-r", str(work / "requirements.txt")]
    if submission.lock:
        args.append("--require-hashes")
    _pip(submission, work, args)
    try:
        items = json.loads((work / "report.json").read_text())["install"]
        return sorted(
            (
                Resolved(
                    name=item["metadata"]["name"],
                    version=item["metadata"]["version"],
                    sha256=item["download_info"]["archive_info"]["hashes"]["sha256"],
                    requested=bool(item.get("requested")),
                )
                for item in items
            ),
            key=lambda r: _normal(r.name),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArenaError(f"{submission.label}: pip's resolution report is unreadable ({exc})") from None


def _refuse_replacements(submission: Submission, report: list[Resolved]) -> None:
    """A submission adds packages; it never replaces one of the harness's (its pins)."""
    have = installed()
    for item in report:
        if _normal(item.name) in have:
            what = (
                f"requirement {item.name}=={item.version}"
                if item.requested
                else f"its requirements need {item.name} {item.version}, which"
            )
            raise ArenaError(
                f"{submission.label}: {what} conflicts with the project's {item.name} {have[_normal(item.name)]} "
                "(a submission may add packages, not replace the harness's)"
            )


def _pip(submission: Submission, work: Path, args: list[str]) -> None:
    """pip in the installer's fence, wheels only; its failure as one line naming the requirement."""
    config = pip_configuration()
    command = [sys.executable, "-m", "pip", *args, "--only-binary=:all:", "--no-cache-dir", "--no-input",
               "--disable-pip-version-check", "-vv"]  # fmt: skip
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "TMPDIR": str(work),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        **{k: v for k, v in os.environ.items() if k.startswith("PIP_") and k != "PIP_CONFIG_FILE"},
        **config.env,
    }
    log = work / "pip.log"
    try:
        with open(log, "w") as out:
            done = subprocess.run(
                sandbox.wrap_installer(command, workdir=work, readable=config.paths),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=work,
                env=env,
                timeout=INSTALL_SECONDS,
            )
    except subprocess.TimeoutExpired:
        raise ArenaError(f"{submission.label}: installing its requirements took over {INSTALL_SECONDS:.0f} s") from None
    if done.returncode != 0:
        raise ArenaError(f"{submission.label}: {pip_failure(log.read_text(errors='replace'))}")


def pip_failure(text: str) -> str:
    """One line from pip's verbose output: which requirement failed, and why."""
    missing = _NO_MATCH.search(text)
    if missing:
        requirement = missing.group(1)
        name = _normal(re.split(r"[=<>!~\[]", requirement, maxsplit=1)[0])
        wanted = requirement.split("==", 1)[1] if "==" in requirement else None
        for match in _SOURCE_ONLY.finditer(text):
            if _normal(match.group(1)) == name and (wanted is None or match.group(2).endswith(f"-{wanted}")):
                return (
                    f"requirement {requirement} is published only as source (sdist); the harness installs wheels "
                    "only, so that no setup.py runs: pin a version that has a wheel"
                )
        versions = _VERSIONS.search(text)
        offered = versions.group(2).strip() if versions else ""
        if offered and offered != "none":
            return f"requirement {requirement} cannot be resolved: no wheel of that version (versions with wheels: {offered})"
        return f"requirement {requirement} cannot be resolved: no such package or version on the package index"
    if "ResolutionImpossible" in text or "conflict is caused by" in text:
        causes = text.split("The conflict is caused by:", 1)[-1].strip().splitlines()
        shown = "; ".join(line.strip() for line in causes[:3] if line.strip())
        return f"requirements conflict with each other: {shown}"
    if "THESE PACKAGES DO NOT MATCH THE HASHES" in text or "Hashes are required" in text:
        return "a requirement's wheel does not match the hash its lock file pins"
    errors = [line.strip() for line in text.splitlines() if line.startswith("ERROR:")]
    return errors[-1] if errors else "installing its requirements failed: " + text.strip().splitlines()[-1][:200]


def _seal(folder: Path) -> None:
    """Readable by every agent process, writable by none: the harness's own, read-only to others."""
    shutil.rmtree(folder / ".shm", ignore_errors=True)  # the fence's /dev/shm
    with contextlib.suppress(OSError):
        os.removexattr(folder, "system.posix_acl_access")  # the installer user's access to its work folder
    for root, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            path = Path(root) / name
            if not path.is_symlink():
                os.chown(path, os.geteuid(), os.getegid())
                path.chmod(0o755 if path.is_dir() else 0o644)
    os.chown(folder, os.geteuid(), os.getegid())
    folder.chmod(0o755)


# -- pip's configuration, seen in the fence ----------------------------------------------------------


@dataclass(frozen=True)
class PipConfiguration:
    paths: list[Path]  # files and folders to bind read-only: config files and the local paths they name
    env: dict[str, str]


def pip_configuration() -> PipConfiguration:
    """The harness machine's pip configuration (its index, mirrors, certificates, constraints),
    so the fenced pip resolves as this machine's pip would."""
    files = [Path("/etc/pip.conf"), Path("/etc/xdg/pip/pip.conf"), Path(sys.prefix) / "pip.conf"]
    user = [Path.home() / ".config" / "pip" / "pip.conf", Path.home() / ".pip" / "pip.conf"]
    if os.environ.get("PIP_CONFIG_FILE"):
        user.insert(0, Path(os.environ["PIP_CONFIG_FILE"]))
    user = [p for p in user if p.is_file()]
    paths: list[Path] = [p for p in files if p.is_file()] + user
    values = [v for k, v in os.environ.items() if k.startswith("PIP_")]
    for path in paths:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path)
        except configparser.Error:
            continue
        values += [value for section in parser.sections() for value in parser[section].values()]
    for value in values:
        for token in value.split():
            local = token.removeprefix("file://")
            if local.startswith("/") and os.path.exists(local):
                paths.append(Path(local))
    env = {"PIP_CONFIG_FILE": str(user[0])} if user else {}  # HOME is the work folder in the fence
    return PipConfiguration(sorted(set(paths)), env)
