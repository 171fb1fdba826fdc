"""A local preview of the built site: ``http.server`` bound to 127.0.0.1 only."""

from __future__ import annotations

import functools
import http.server
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arena.errors import ArenaError


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_server(out_dir: str | Path, port: int = 8000) -> http.server.ThreadingHTTPServer:
    """A server for ``out_dir`` on 127.0.0.1 (port 0 picks a free one); not started."""
    root = Path(out_dir)
    if not (root / "index.html").is_file():
        raise ArenaError(f"no site in {root}: run `arena leaderboard build --out {root}` first")
    handler = functools.partial(_QuietHandler, directory=str(root))
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise ArenaError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}; pass another --port") from None


def serve(out_dir: str | Path, port: int = 8000, *, ready: Callable[[str], None] | None = None) -> None:
    """Serve the site until Ctrl-C; ``ready`` receives the URL once it listens."""
    server = make_server(out_dir, port)
    with server:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        if ready is not None:
            ready(url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
