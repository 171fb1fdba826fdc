"""Manifests and identities: what makes a submission's hash, what its manifest may say."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.errors import ArenaError
from arena.submission import load_submission

MANIFEST = '[submission]\nname = "{name}"\nversion = "1"\nauthors = ["T"]\nentry = "agent:Agent"\n{extra}'


def _package(root: Path) -> Path:
    """An installed-looking package of two agents sharing a helper, and one module nobody imports."""
    package = root / "lib" / "zoo"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "common.py").write_text("SCALE = 1\n")
    (package / "alpha.py").write_text("from .common import SCALE\n\nclass Alpha:\n    scale = SCALE\n")
    (package / "beta.py").write_text("from zoo import common\n\nclass Beta:\n    pass\n")
    (package / "unused.py").write_text("X = 1\n")
    return package


def _wrapper(root: Path, name: str, module: str, cls: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "submission.toml").write_text(MANIFEST.format(name=name, extra='includes = ["zoo"]\n'))
    (folder / "agent.py").write_text(f"from zoo.{module} import {cls} as Agent\n")
    return folder


def test_a_hash_covers_the_included_code_a_submission_imports_and_no_more(tmp_path, monkeypatch) -> None:
    package = _package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    alpha, beta = _wrapper(tmp_path, "alpha", "alpha", "Alpha"), _wrapper(tmp_path, "beta", "beta", "Beta")
    before = {f.name: load_submission(f).hash for f in (alpha, beta)}

    (package / "unused.py").write_text("X = 2\n")  # imported by neither: no rerun
    assert {f.name: load_submission(f).hash for f in (alpha, beta)} == before

    (package / "alpha.py").write_text((package / "alpha.py").read_text() + "# tuned\n")  # one baseline edited
    assert load_submission(alpha).hash != before["alpha"]
    assert load_submission(beta).hash == before["beta"]

    before = {f.name: load_submission(f).hash for f in (alpha, beta)}
    (package / "common.py").write_text("SCALE = 2\n")  # imported by both, relatively and absolutely
    assert all(load_submission(f).hash != before[f.name] for f in (alpha, beta))


def test_the_baselines_hash_only_the_modules_they_import() -> None:
    from arena.submission import BASELINES, imported_files

    random = load_submission(BASELINES / "random")
    files = [label for label, _ in imported_files(random.path, (Path(__file__).resolve().parents[2] / "baselines",))]
    assert files == ["include:baselines/__init__.py", "include:baselines/random_agent.py"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('entrypoint = "agent:Agent"\nfoo = 1\n', "unknown keys 'entrypoint' (did you mean 'entry'?), 'foo'"),
        ("gpu = true\n", "device ('cpu', or 'auto': a GPU when the harness has one)"),
        ("colour = 1\n", "includes (installed packages whose imported code is part of the submission's identity"),
    ],
)
def test_manifest_errors_name_every_unknown_key_and_explain_the_options(tmp_path, extra, message) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "submission.toml").write_text(MANIFEST.format(name="m", extra=extra))
    (folder / "agent.py").write_text("")
    with pytest.raises(ArenaError) as caught:
        load_submission(folder)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_key_is_named_with_what_is_required(tmp_path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "submission.toml").write_text('[submission]\nversion = "1"\nauthors = ["T"]\nentry = "agent:Agent"\n')
    with pytest.raises(
        ArenaError, match=r"\[submission\] is missing 'name' \(required: name, version, authors, entry\)"
    ):
        load_submission(folder)
