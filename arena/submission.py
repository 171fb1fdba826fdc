"""Submissions: a folder with ``submission.toml`` and code, identified by a content hash."""

from __future__ import annotations

import ast
import difflib
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
_KNOWN = {*_REQUIRED, "description", "license", "url", "device", "includes", "kind", "families", "requirements", "llm"}
# What each optional key is for: said when a manifest has a key MetaArena does not know.
_OPTIONAL_KEYS = (
    "description (one line)",
    "license",
    "url",
    "device ('cpu', or 'auto': a GPU when the harness has one)",
    "includes (installed packages whose imported code is part of the submission's identity, e.g. ['baselines'])",
    "requirements (pinned packages the harness installs for it, e.g. ['tabulate==0.9.0'])",
    "kind ('agent' or 'reference')",
    "families (the families it plays, e.g. ['bandit'])",
    "llm (true: a language-model agent, which plays only text suites, where the harness gives it a model)",
)
KINDS = ("agent", "reference")
# Not part of the agent: recorded results, published checkpoints and caches may change without
# changing the hash.
_IGNORED_DIRS = {"__pycache__", "results", "checkpoints", ".git", ".pytest_cache"}
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
    requirements: tuple[str, ...] = ()  # pinned packages ("name==version"), or the lines of its hashed lock file
    lock: str = ""  # the hashed lock file (relative to the folder) the requirements come from, if any
    environment: Path | None = None  # where the harness installed them (arena.harness.environments)
    llm: bool = False  # a language-model agent: it plays text suites only (spec.llm is its model)

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


def content_hash(folder: Path, includes: tuple[Path, ...] = ()) -> str:
    """The submission's identity: every file of its folder, and the code of the packages it
    ``includes`` that it imports.

    A baseline's folder holds a three-line wrapper around the installed ``baselines`` package;
    the manifest's ``includes = ["baselines"]`` makes the modules of that package which the
    wrapper imports (statically, following their own imports within the package) part of the
    hash, with the package's ``__init__.py``: editing one baseline reruns its trials, not every
    baseline's. A module imported only dynamically (``importlib``) is not seen.
    """
    digest = hashlib.sha256()
    for label, path in _folder_files(folder) + imported_files(folder, includes):
        digest.update(label.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _folder_files(folder: Path) -> list[tuple[str, Path]]:
    files = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in _IGNORED_DIRS or part.startswith(".") for part in rel.parts) or path.suffix == ".pyc":
            continue
        if path.is_file():
            files.append((str(rel), path))
    return files


def imported_files(folder: Path, includes: tuple[Path, ...]) -> list[tuple[str, Path]]:
    """The files of the included packages (folders, or single modules) that the submission's
    Python files import, directly or through each other, labelled ``include:PACKAGE/PATH``."""
    roots = {(p.name if p.is_dir() else p.stem): p for p in includes}
    found: dict[Path, str] = {}
    for root_name, root in roots.items():
        if root.is_dir() and (root / "__init__.py").is_file():
            found[root / "__init__.py"] = f"include:{root_name}/__init__.py"
        elif root.is_file():
            found[root] = f"include:{root.name}"
    todo: list[tuple[Path, str | None]] = [(p, None) for _, p in _folder_files(folder) if p.suffix == ".py"]
    todo += [(path, _module_of(path, roots)) for path in found]
    seen: set[Path] = set()
    while todo:
        path, module = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path, module, is_package=path.name == "__init__.py"):
            for target in _resolve(name, roots):
                if target not in found:
                    found[target] = _label(target, roots)
                todo.append((target, _module_of(target, roots)))
    return sorted(((label, path) for path, label in found.items()), key=lambda item: item[0])


def _label(path: Path, roots: dict[str, Path]) -> str:
    for name, root in roots.items():
        if path == root:
            return f"include:{root.name}"
        if root.is_dir() and path.is_relative_to(root):
            return f"include:{name}/{path.relative_to(root)}"
    return f"include:{path}"


def _module_of(path: Path, roots: dict[str, Path]) -> str | None:
    """The dotted module name of a file of an included package."""
    for name, root in roots.items():
        if path == root:
            return name
        if root.is_dir() and path.is_relative_to(root):
            parts = [name, *path.relative_to(root).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return None


def _imports(path: Path, module: str | None, *, is_package: bool) -> list[str]:
    """Dotted names a Python file imports (``from a import b`` gives ``a`` and ``a.b``)."""
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError):
        return []  # the agent fails to import anyway; its folder's bytes are hashed whole
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                if module is None:
                    continue  # a relative import in the submission's folder: its files are hashed already
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
    return names


def _resolve(name: str, roots: dict[str, Path]) -> list[Path]:
    """The files of an included package that importing ``name`` runs: the module and the
    ``__init__.py`` of each package on the way."""
    top, *rest = name.split(".")
    root = roots.get(top)
    if root is None or not root.is_dir():
        return []
    files, here = [], root
    for part in rest:
        if (here / "__init__.py").is_file():
            files.append(here / "__init__.py")
        if (here / part).is_dir():
            here = here / part
        elif (here / f"{part}.py").is_file():
            files.append(here / f"{part}.py")
            return files
        else:
            return files  # an attribute (a class, a function), not a module
    if (here / "__init__.py").is_file():
        files.append(here / "__init__.py")
    return files


def _package_path(manifest: Path, name: str) -> Path:
    """Where an installed package's source lives, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ArenaError(f"{manifest}: included package {name!r} is not installed")
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


def _closest(key: str) -> str:
    match = difflib.get_close_matches(key, sorted(_KNOWN), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


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
    unknown = sorted(set(table) - _KNOWN)
    if unknown:
        named = ", ".join(f"{key!r}{_closest(key)}" for key in unknown)
        raise ArenaError(
            f"{manifest_path}: unknown key{'s' if len(unknown) > 1 else ''} {named} in [submission]; "
            f"required: {', '.join(_REQUIRED)}; optional: {'; '.join(_OPTIONAL_KEYS)}"
        )
    for key in _REQUIRED:
        if key not in table:
            raise ArenaError(f"{manifest_path}: [submission] is missing {key!r} (required: {', '.join(_REQUIRED)})")
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
        raise ArenaError(
            f"{manifest_path}: includes must be a list of installed package names, like ['baselines'] "
            "(the code of theirs the submission imports becomes part of its identity)"
        )
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
    requirements, lock = _requirements(manifest_path, path, table.get("requirements", []))
    if not isinstance(table.get("llm", False), bool):
        raise ArenaError(f"{manifest_path}: llm must be true or false")
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
        requirements=requirements,
        lock=lock,
        llm=table.get("llm", False),
    )


# A pinned requirement: name, optional extras, ==version. No URL, path, marker or option: these
# strings become a package installer's arguments.
_PINNED = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?(\[[A-Za-z0-9._-]+(,[A-Za-z0-9._-]+)*\])?==[A-Za-z0-9.+!_-]+$"
)
_HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


def _requirements(manifest: Path, folder: Path, value: Any) -> tuple[tuple[str, ...], str]:
    """The manifest's ``requirements``: a list of pins, or the name of a hashed lock file in the
    folder (pip's ``--require-hashes`` format: ``name==version --hash=sha256:...`` lines only)."""
    if isinstance(value, list):
        bad = [r for r in value if not isinstance(r, str) or not _PINNED.match(r.strip())]
        if bad:
            raise ArenaError(
                f"{manifest}: requirements must be pinned, like ['tabulate==0.9.0'] (or name a hashed lock file); "
                f"got {bad[0]!r}"
            )
        return tuple(sorted(r.strip() for r in value)), ""
    if not isinstance(value, str) or not _ENTRY_FILE.match(value):
        raise ArenaError(f"{manifest}: requirements must be a list of pins, or the name of a lock file in the folder")
    lock = folder / value
    if not lock.is_file():
        raise ArenaError(f"{manifest}: requirements lock file {value!r} not found in {folder}")
    lines = []
    text = re.sub(r"\\[ \t]*\r?\n", " ", lock.read_text(encoding="utf-8", errors="replace"))  # continued lines
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        pin, *hashes = line.split()
        if not _PINNED.match(pin) or not hashes or not all(_HASH.match(h) for h in hashes):
            raise ArenaError(
                f"{lock}:{number}: a lock line is 'name==version --hash=sha256:HEX' and nothing else, got {raw.strip()[:80]!r}"
            )
        lines.append(" ".join([pin, *hashes]))
    if not lines:
        raise ArenaError(f"{lock}: the lock file pins nothing")
    return tuple(lines), value


_ENTRY_FILE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # a file name inside the folder, no path


def baseline_folders() -> list[Path]:
    """The submission folders the project ships (its baselines), by name; none outside a checkout."""
    if not BASELINES.is_dir():
        return []
    return sorted(p for p in BASELINES.iterdir() if (p / MANIFEST).is_file())
