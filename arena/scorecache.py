"""Computed statistics kept between runs, keyed by the trials they come from.

:func:`arena.scoring.score` looks up each entry (and each probability of improvement) under the
digest of its trials and of how it is computed; what it finds is not computed again. A rebuild
of the site after one new submission then bootstraps that submission only: its cost grows with
what changed, not with the board.

The cache is a small SQLite file of pickled values beside what it serves (the site's folder).
It is the operator's own file, written only by the harness; a value that does not load (another
version of the code, a damaged file) is computed again, never trusted.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

FORMAT = 1  # bump when what is pickled changes shape


class ScoreCache(MutableMapping[str, Any]):
    """A persistent ``str -> value`` mapping; writes are batched until :meth:`close`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, value BLOB)")
        self._pending: dict[str, bytes] = {}
        self.hits = self.misses = 0

    def _key(self, key: str) -> str:
        return f"{FORMAT}:{key}"

    def __getitem__(self, key: str) -> Any:
        blob = self._pending.get(self._key(key))
        if blob is None:
            row = self._db.execute("SELECT value FROM scores WHERE key = ?", (self._key(key),)).fetchone()
            if row is None:
                self.misses += 1
                raise KeyError(key)
            blob = row[0]
        try:
            value = pickle.loads(blob)
        except Exception:  # another version's value, or a damaged row: compute it again
            self.misses += 1
            raise KeyError(key) from None
        self.hits += 1
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self._pending[self._key(key)] = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def __delitem__(self, key: str) -> None:
        self._pending.pop(self._key(key), None)
        self._db.execute("DELETE FROM scores WHERE key = ?", (self._key(key),))

    def __iter__(self) -> Iterator[str]:
        prefix = f"{FORMAT}:"
        stored = {k for (k,) in self._db.execute("SELECT key FROM scores")}
        return iter(sorted(k[len(prefix) :] for k in stored | set(self._pending) if k.startswith(prefix)))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def close(self) -> None:
        """Write what was computed and close the file."""
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO scores VALUES (?, ?)", self._pending.items())
        self._pending.clear()
        self._db.close()
