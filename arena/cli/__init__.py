"""The ``arena`` command line: one module per command (or group of listing commands).

Every user error ends as one line on stderr and exit code 2; :func:`main` is the console script.
"""

from __future__ import annotations

import sys
import warnings

from arena.cli import bench, catalog, check, debug, imports, ladder, reproduce, results, run, site  # noqa: F401  (they register commands)
from arena.cli.app import app
from arena.errors import ArenaError


def _one_line_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> str:
    return f"warning: {message}\n"


def main() -> None:
    from games import SpecError

    warnings.formatwarning = _one_line_warning  # a warning is one line too, without the source line
    try:
        app()
    except (ArenaError, SpecError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
    except KeyboardInterrupt:  # before a run started (or SIGTERM there): nothing to resume
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)


__all__ = ["app", "main"]
