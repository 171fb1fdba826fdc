"""The leaderboard: the static site and the terminal standings, built from scoring's boards."""

from leaderboard.builder import BuildReport, build, build_site, render_site, trials_csv, trials_json
from leaderboard.serve import make_server, serve
from leaderboard.standings import boards_table, standings_table, write_standings

__all__ = [
    "BuildReport",
    "boards_table",
    "build",
    "build_site",
    "make_server",
    "render_site",
    "serve",
    "standings_table",
    "trials_csv",
    "trials_json",
    "write_standings",
]
