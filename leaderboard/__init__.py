"""The leaderboard: the static site, built from scoring's boards."""

from leaderboard.builder import BuildReport, build, build_site, render_site, trials_csv, trials_json
from leaderboard.serve import make_server, serve
from leaderboard.standings import standings_csv, standings_json, write_standings

__all__ = [
    "BuildReport",
    "build",
    "build_site",
    "make_server",
    "render_site",
    "serve",
    "standings_csv",
    "standings_json",
    "trials_csv",
    "trials_json",
    "write_standings",
]
