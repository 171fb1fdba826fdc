"""The ``arena`` command line: one module per command (or group of listing commands).

Every user error ends as one line on stderr and exit code 2; :func:`main` is the console script.
"""

from __future__ import annotations

import sys

from arena.cli import bench, catalog, ladder, reproduce, results, run, site  # noqa: F401  (they register commands)
from arena.cli.app import app
from arena.errors import ArenaError


def main() -> None:
    from games import SpecError

    try:
        app()
    except (ArenaError, SpecError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)


__all__ = ["app", "main"]
