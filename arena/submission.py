"""Submissions: a folder with ``submission.toml`` and code, identified by a content hash."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import games
from arena.errors import ArenaError

MANIFEST = "submission.toml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# module:Class with dotted identifiers only: no paths, so an entry can't point outside the folder.
_ENTRY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
_PACKAGE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REQUIRED = ("name", "version", "authors", "entry")
_KNOWN = {*_REQUIRED, "description", "license", "url", "device", "includes", "kind", "families"}
KINDS = ("agent", "reference")
# Not part of the agent: recorded results and caches may change without changing the hash.
_IGNORED_DIRS = {"__pycache__", "results", ".git", ".pytest_cache"}
BASELINES = Path(__file__).resolve().parent.parent / "submissions"  # the project's own submissions


@dataclass(frozen=True)
class Submission:
    path: Path
    name: str
    version: str
    authors: tuple[str, ...]
    entry: str
    hash: str
    description: str = ""
    license: str = ""
    url: str = ""
    device: str = "cpu"  # "auto": a GPU when the harness has one
    manifest: dict[str, Any] = field(default_factory=dict)
    kind: str = "agent"  # "reference": a line to read scores against (Thompson sampling, PSRL), never ranked
    families: tuple[str, ...] = ()  # a reference agent's families: the ones it models

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


def content_hash(folder: Path, includes: tuple[Path, ...] = ()) -> str:
    """The submission's identity: every file of its folder, and of the code it ``includes``.

    A baseline's folder holds a three-line wrapper around the installed ``baselines`` package;
    the manifest's ``includes = ["baselines"]`` makes that code part of the hash, so changing it
    reruns its trials.
    """
    digest = hashlib.sha256()
    for label, root in (("", folder), *((f"include:{p.name}/", p) for p in includes)):
        for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
            rel = path.relative_to(root) if root.is_dir() else Path(path.name)
            if any(part in _IGNORED_DIRS or part.startswith(".") for part in rel.parts) or path.suffix == ".pyc":
                continue
            if path.is_file():
                digest.update((label + str(rel)).encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _package_path(manifest: Path, name: str) -> Path:
    """Where an installed package's source lives, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ArenaError(f"{manifest}: included package {name!r} is not installed")
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


def load_submission(folder: str | Path) -> Submission:
    """Read and validate a submission folder; every problem is a one-line ArenaError."""
    path = Path(folder).resolve()
    if not path.is_dir():
        raise ArenaError(f"{folder}: not a directory")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ArenaError(f"{folder}: no {MANIFEST} (see README: 'Submitting an agent')")
    try:
        data = tomllib.loads(manifest_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ArenaError(f"{manifest_path}: not valid TOML: {exc}") from None
    table = data.get("submission")
    if not isinstance(table, dict):
        raise ArenaError(f"{manifest_path}: missing [submission] table")
    for key in _REQUIRED:
        if key not in table:
            raise ArenaError(f"{manifest_path}: [submission] is missing {key!r}")
    unknown = sorted(set(table) - _KNOWN)
    if unknown:
        raise ArenaError(
            f"{manifest_path}: unknown key {unknown[0]!r} in [submission]; valid: {', '.join(sorted(_KNOWN))}"
        )
    name = table["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise ArenaError(
            f"{manifest_path}: name must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    entry = table["entry"]
    if not isinstance(entry, str) or not _ENTRY.match(entry):
        raise ArenaError(
            f"{manifest_path}: entry must look like 'module:Class' (dotted module inside the folder), got {entry!r}"
        )
    module_file = path / (entry.split(":")[0].replace(".", "/") + ".py")
    package_init = path / entry.split(":")[0].replace(".", "/") / "__init__.py"
    if not module_file.is_file() and not package_init.is_file():
        raise ArenaError(f"{manifest_path}: entry module {entry.split(':')[0]!r} not found in {path}")
    authors = table["authors"]
    if not isinstance(authors, list) or not authors or not all(isinstance(a, str) and a for a in authors):
        raise ArenaError(f"{manifest_path}: authors must be a non-empty list of names")
    includes = table.get("includes", [])
    if not isinstance(includes, list) or not all(isinstance(i, str) and _PACKAGE.match(i) for i in includes):
        raise ArenaError(f"{manifest_path}: includes must be a list of installed package names, like ['baselines']")
    included = tuple(_package_path(manifest_path, name) for name in includes)
    device = table.get("device", "cpu")
    if device not in ("cpu", "auto"):
        raise ArenaError(f"{manifest_path}: device must be 'cpu' or 'auto', got {device!r}")
    for key in ("version", "description", "license", "url"):
        if key in table and not isinstance(table[key], str):
            raise ArenaError(f"{manifest_path}: {key} must be a string")
    if len(table.get("description", "")) > 300:
        raise ArenaError(f"{manifest_path}: description must be one line of at most 300 characters")
    kind = table.get("kind", "agent")
    if kind not in KINDS:
        raise ArenaError(f"{manifest_path}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    families = table.get("families", [])
    if not isinstance(families, list) or not all(isinstance(f, str) for f in families):
        raise ArenaError(f"{manifest_path}: families must be a list of family names, like ['bandit']")
    for family in families:
        if family not in games.family_names():
            raise ArenaError(
                f"{manifest_path}: unknown family {family!r}{games.did_you_mean(family, games.family_names())}"
            )
    if kind == "reference" and not families:
        raise ArenaError(f"{manifest_path}: a reference agent names the families it models: families = [...]")
    return Submission(
        path=path,
        name=name,
        version=table["version"],
        authors=tuple(authors),
        entry=entry,
        hash=content_hash(path, included),
        description=table.get("description", ""),
        license=table.get("license", ""),
        url=table.get("url", ""),
        device=device,
        manifest=table,
        kind=kind,
        families=tuple(families),
    )


def baseline_folders() -> list[Path]:
    """The submission folders the project ships (its baselines), by name; none outside a checkout."""
    if not BASELINES.is_dir():
        return []
    return sorted(p for p in BASELINES.iterdir() if (p / MANIFEST).is_file())
