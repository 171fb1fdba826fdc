"""The static leaderboard site, built from real result databases.

Fast tests build from trial records written through ``Store.add_trial``. The ``browser`` tests open
every page type in Debian's headless Chromium; one of them uses a real ``arena run`` of the smoke
suite. Screenshots go to ``artifacts/`` (gitignored).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from arena.cli.standings import standings_table
from arena.errors import ArenaError
from arena.records import MetaTrainRecord, SubmissionRecord, TrialRecord
from arena.store import Store
from arena.suites import load_suite
from leaderboard import build, build_site, builder, make_server, write_standings
from tests.conftest import make_trial

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
N_RESAMPLES = 200  # enough for the site's content; scoring's own tests check the statistics

# name -> (IQM level at each smoke budget, failures as (status, error) by trial index)
SAMPLE = {
    "random": ((0.0, 0.0), {}),
    "ppo-lite": ((0.15, 0.55), {}),
    "maml-x": (
        (0.35, 0.7),
        {
            3: ("timeout", "no answer from the agent within the time limit (adaptation)"),
            9: ("timeout", "no answer from the agent within the time limit (adaptation)"),
            12: (
                "error",
                'Traceback (most recent call last):\n  File "agent.py", line 40, in adapt\n'
                "    self.net(obs)\nRuntimeError: shape mismatch: <8> vs <9>",
            ),
        },
    ),
}


def make_sample_db(path: Path) -> Store:
    """Three submissions on the smoke suite's real dev variants, with timeouts and an error."""
    suite = load_suite("smoke@1")
    store = Store(path)
    rng = np.random.default_rng(0)
    variants = suite.variants("dev")
    for name, (levels, failures) in SAMPLE.items():
        digest = f"{name:x<8}".encode().hex() * 4
        store.add(
            SubmissionRecord(
                hash=digest,
                name=name,
                version="1.0.0",
                authors=("Ada Lovelace", "Alan Turing") if name == "maml-x" else ("MetaArena team",),
                entry="agent:Agent",
                description=f"The {name} agent.",
                license="MIT",
                url="https://example.org/maml-x" if name == "maml-x" else "",
                path=str(ROOT / "submissions" / name),
            )
        )
        index = 0
        for tv in variants:
            for budget, level in zip(suite.budgets, levels, strict=True):
                for seed in range(suite.seeds):
                    status, error = failures.get(index, ("ok", None))
                    score = float(level + rng.normal(0, 0.12)) if status == "ok" else 0.0
                    store.add(
                        TrialRecord(
                            submission_hash=digest,
                            suite=suite.name,
                            suite_version=suite.version,
                            split="dev",
                            variant=tv.variant.id,
                            budget=budget,
                            seed=seed,
                            submission=name,
                            submission_version="1.0.0",
                            family=tv.family,
                            variant_group=tv.group,
                            status=status,
                            eval_return=score * 100 if status == "ok" else None,
                            normalized_score=score,
                            episode_returns=(score * 100,) * 3 if status == "ok" else (),
                            steps_used=budget,
                            wall_seconds=0.5,
                            adapt_seconds=0.2,
                            error=error,
                            arena_version="0.1.0",
                            finished_at=f"2026-11-25T10:{index:02d}:00+00:00",
                        )
                    )
                    index += 1
        for plan in suite.families:
            store.add(
                MetaTrainRecord(
                    submission_hash=digest,
                    suite=suite.name,
                    suite_version=suite.version,
                    family=plan.family,
                    status="ok" if name == "maml-x" else "skipped",
                    steps_used=2000 if name == "maml-x" else 0,
                    wall_seconds=3.0,
                    checkpoint=None,
                    finished_at="2026-11-25T09:00:00+00:00",
                )
            )
    return store


@pytest.fixture
def sample_db(tmp_path: Path) -> Path:
    db = tmp_path / "arena.db"
    make_sample_db(db).close()
    return db


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        for key in ("href", "src"):
            if values.get(key) and tag in ("a", "link", "script", "img"):
                self.links.append(str(values[key]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text())
    return parser


def internal_link_problems(site: Path) -> list[str]:
    """Every relative href/src of every page must name an existing file (and anchor)."""
    problems = []
    root = site.resolve()
    pages = {p.resolve(): parse(p) for p in site.rglob("*.html")}
    for page, parsed in pages.items():
        where = page.relative_to(root)
        for link in parsed.links:
            if re.match(r"^[a-z]+:", link):
                if not link.startswith("https://example.org"):  # the sample submission's own website
                    problems.append(f"{where}: external link {link}")
                continue
            target, _, anchor = link.partition("#")
            path = (page.parent / target).resolve() if target else page
            if root not in path.parents or not path.is_file():
                problems.append(f"{where}: broken link {link}")
            elif anchor and path in pages and anchor not in pages[path].ids:
                problems.append(f"{where}: missing anchor {link}")
    return problems


def ranked_names(index: Path) -> list[str]:
    html = index.read_text()
    table = html[html.index("<tbody>") : html.index("</tbody>")]
    return re.findall(r'href="submission/[^"]+\.html">.*?<b>([^<]+)</b>', table)


# --------------------------------------------------------------------------------------------
# Fast tests
# --------------------------------------------------------------------------------------------


def test_site_pages_and_downloads(sample_db: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    index = build_site(sample_db, site, n_resamples=N_RESAMPLES)
    assert index == site / "index.html"
    assert ranked_names(index) == ["maml-x", "ppo-lite", "random"]
    html = index.read_text()
    assert "smoke" in html and "dev split" in html
    assert "verified" in html and "2 timeout" in html and "1 error" in html
    for page in ("methodology.html", "submit.html", "downloads.html", "family/smoke-cartpole.html"):
        assert (site / page).is_file(), page
    maml = (site / "submission" / "maml-x.html").read_text()
    assert "RuntimeError: shape mismatch" in maml  # the error text is shown
    assert "arena run submissions/maml-x --suite smoke@1 --split dev" in maml
    assert "Ada Lovelace" in maml and "https://example.org/maml-x" in maml
    assert maml.count("<svg") >= 4  # overall curve, one per family, whiskers
    family = (site / "family" / "smoke-cartpole.html").read_text()
    assert "gravity" in family and "length" in family and "[2.0, 3.0]" in family  # what varies
    assert "extrapolation" in family
    methodology = (site / "methodology.html").read_text()
    assert "arena run submissions/random --suite smoke@1 --split dev" in methodology
    assert "trim_mean" in methodology and "stratified" in methodology

    store = Store(sample_db)
    n = len(store.trials())
    rows = list(csv.DictReader(io.StringIO((site / "data" / "trials.csv").read_text())))
    assert len(rows) == n and {"submission", "variant", "normalized_score", "error"} <= set(rows[0])
    assert len(json.loads((site / "data" / "trials.json").read_text())) == n
    standings = json.loads((site / "data" / "standings.json").read_text())
    assert [e["submission"] for e in standings["boards"][0]["entries"]] == ["maml-x", "ppo-lite", "random"]
    assert internal_link_problems(site) == []


def test_site_is_self_contained(sample_db: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_site(sample_db, site, n_resamples=N_RESAMPLES)
    for page in site.rglob("*.html"):
        text = page.read_text()
        assert not re.search(r'<(link|script|img)[^>]*(href|src)="(https?:)?//', text), page
        assert "@import" not in text and "fonts.googleapis" not in text
    css = (site / "static" / "style.css").read_text()
    assert "url(" not in css and "prefers-color-scheme: dark" in css


def test_rebuild_writes_only_what_changed_and_removes_stale_files(sample_db: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    first = build(sample_db, site, n_resamples=N_RESAMPLES)
    assert "index.html" in first.written and first.removed == ()
    (site / "notes.txt").write_text("mine")  # not the builder's: never touched
    again = build(sample_db, site, n_resamples=N_RESAMPLES)
    assert again.written == () and again.removed == () and again.unchanged == len(first.written)

    with sqlite3.connect(sample_db) as conn:  # a submission's results withdrawn
        conn.execute("DELETE FROM trials WHERE submission = 'ppo-lite'")
    third = build(sample_db, site, n_resamples=N_RESAMPLES)
    assert third.removed == ("submission/ppo-lite.html",)
    assert not (site / "submission" / "ppo-lite.html").exists()
    assert "index.html" in third.written and "static/style.css" not in third.written
    assert (site / "notes.txt").read_text() == "mine"
    assert ranked_names(site / "index.html") == ["maml-x", "random"]


def test_incomplete_rows_and_meta_training_states(sample_db: Path, tmp_path: Path) -> None:
    with sqlite3.connect(sample_db) as conn:  # a run still in progress
        conn.execute("DELETE FROM trials WHERE submission = 'ppo-lite' AND seed = 1 AND budget = 500")
    index = build_site(sample_db, tmp_path / "site", n_resamples=N_RESAMPLES)
    html = index.read_text()
    assert re.search(
        r"12 <span class=\"badge warn\" title=\"12 of the 16 planned trials are stored\">of 16</span>", html
    )
    assert html.count("of 16</span>") == 1

    families = ["bandit", "cartpole"]
    row = MetaTrainRecord(
        submission_hash="h", suite="s", suite_version=1, family="bandit", status="ok", steps_used=2000
    )
    assert builder._meta_state([], families)[0] == "—"
    assert builder._meta_state([row, replace(row, family="cartpole")], families)[0] == "verified"
    assert builder._meta_state([replace(row, status="skipped")], families)[0] == "none"
    state = builder._meta_state([row, replace(row, family="cartpole", status="timeout")], families)
    assert state[:2] == ("failed", "bad") and "cartpole: timeout" in state[2]


def test_empty_database_gives_a_friendly_page(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    Store(db).close()
    index = build_site(db, tmp_path / "site")
    html = index.read_text()
    assert "No results yet" in html and "arena run submissions/random --suite smoke" in html
    assert internal_link_problems(tmp_path / "site") == []
    assert (tmp_path / "site" / "data" / "trials.csv").read_text().startswith("submission_hash,")


def test_refuses_missing_database_and_foreign_directories(sample_db: Path, tmp_path: Path) -> None:
    with pytest.raises(ArenaError, match="no results database"):
        build_site(tmp_path / "missing.db", tmp_path / "site")
    assert not (tmp_path / "missing.db").exists()
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("important")
    with pytest.raises(ArenaError, match="not empty"):
        build_site(sample_db, foreign)
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.tex"]


def test_serve_binds_localhost(sample_db: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_site(sample_db, site, n_resamples=N_RESAMPLES)
    server = make_server(site, 0)
    assert server.server_address[0] == "127.0.0.1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as response:
            assert response.status == 200 and b"maml-x" in response.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/style.css", timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/css")
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(ArenaError, match="no site"):
        make_server(tmp_path / "nowhere", 0)


def _text(table: Any, width: int = 200) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(table)
    return console.export_text()


def test_terminal_standings(sample_db: Path) -> None:
    records = Store(sample_db).trials()
    text = _text(standings_table(records, n_resamples=N_RESAMPLES))
    assert "smoke v1 · dev split" in text and "area [95% CI]" in text and "2 timeout" in text
    names = re.findall(r"^\s*\d+\s+(maml-x|ppo-lite|random) ", text, flags=re.M)
    assert names == ["maml-x", "ppo-lite", "random"]
    # On an 80-column terminal each entry stays one line: name, version and CI unwrapped.
    narrow = _text(standings_table(records, n_resamples=N_RESAMPLES), width=80)
    rows = re.findall(
        r"^\s*\d+\s+(maml-x|ppo-lite|random) \S+\s+-?\d\.\d\d \[-?\d\.\d\d, -?\d\.\d\d\]", narrow, flags=re.M
    )
    assert rows == ["maml-x", "ppo-lite", "random"], narrow
    out = io.StringIO()
    write_standings(records, out, "csv", n_resamples=N_RESAMPLES)
    assert [row["submission"] for row in csv.DictReader(io.StringIO(out.getvalue()))] == [
        "maml-x",
        "ppo-lite",
        "random",
    ]
    out = io.StringIO()
    write_standings(records, out, "json", n_resamples=N_RESAMPLES)
    assert json.loads(out.getvalue())["boards"][0]["entries"][0]["submission"] == "maml-x"

    # Several boards: one table, a section each, named in a first column.
    both = records + [replace(r, split="test") for r in records if r.submission != "random"]
    text = _text(standings_table(both, n_resamples=0))
    assert "smoke v1 · test" in text and "smoke v1 · dev" in text
    assert "no trials stored" in _text(standings_table([]))


# --------------------------------------------------------------------------------------------
# In a real browser
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def check_in_browser(browser: Any, site: Path, expected_ranking: list[str], screenshot: str) -> None:
    """Open each page type from file://: rows, SVG sizes, console errors, links, sorting."""
    assert internal_link_problems(site) == []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))

    pages = [
        "index.html",
        *sorted(str(p.relative_to(site)) for p in (site / "submission").glob("*.html")),
        *sorted(str(p.relative_to(site)) for p in (site / "family").glob("*.html")),
        "methodology.html",
        "submit.html",
        "downloads.html",
    ]
    for rel in pages:
        page.goto((site / rel).as_uri())
        assert page.title().endswith("MetaArena"), rel
        sizes = page.eval_on_selector_all(
            "svg", "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })"
        )
        assert all(w > 0 and h > 0 for w, h in sizes), (rel, sizes)
        if rel != "index.html" and rel.startswith(("submission/", "family/")):
            assert len(sizes) >= 2, rel  # curves are drawn
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        for href in hrefs:
            if href.startswith("file://"):
                target = Path(urllib.request.url2pathname(href.removeprefix("file://").split("#")[0]))
                assert target.is_file(), (rel, href)

    page.goto((site / "index.html").as_uri())
    names = page.eval_on_selector_all("table.standings tbody tr td.sub b", "els => els.map(e => e.textContent)")
    assert names == expected_ranking
    ranks = page.eval_on_selector_all("table.standings tbody tr td.rank", "els => els.map(e => e.textContent)")
    assert ranks == [str(i) for i in range(1, len(expected_ranking) + 1)] or len(set(ranks)) < len(ranks)
    curve = page.locator("figure svg.chart").first.bounding_box()
    assert curve is not None and curve["width"] > 300 and curve["height"] > 150
    # Progressive enhancement: the headers became sort buttons; sorting by name reorders rows.
    page.locator("table.standings thead th").nth(1).locator("button.sort").click()
    by_name = page.eval_on_selector_all("table.standings tbody tr td.sub b", "els => els.map(e => e.textContent)")
    assert by_name == sorted(expected_ranking)
    page.locator("table.standings thead th").nth(0).locator("button.sort").click()
    again = page.eval_on_selector_all("table.standings tbody tr td.sub b", "els => els.map(e => e.textContent)")
    assert again == expected_ranking

    ARTIFACTS.mkdir(exist_ok=True)
    page.goto((site / "index.html").as_uri())
    page.screenshot(path=str(ARTIFACTS / f"{screenshot}.png"), full_page=True)
    dark = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    dark_page = dark.new_page()
    dark_page.goto((site / "index.html").as_uri())
    dark_page.screenshot(path=str(ARTIFACTS / f"{screenshot}-dark.png"), full_page=True)
    dark.close()
    context.close()
    assert errors == []


@pytest.mark.browser
def test_sample_site_in_browser(browser: Any, sample_db: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    build_site(sample_db, site, n_resamples=N_RESAMPLES)
    check_in_browser(browser, site, ["maml-x", "ppo-lite", "random"], "overview-sample")


def _arena_cli() -> Path:
    cli = Path(sys.executable).parent / "arena"
    if not cli.exists():
        pytest.skip(f"no `arena` console script next to {sys.executable}")
    probe = subprocess.run([cli, "run", "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"`arena run` is not available yet: {reason}")
    return cli


@pytest.mark.browser
def test_smoke_run_site_in_browser(browser: Any, tmp_path: Path) -> None:
    cli = _arena_cli()
    db = tmp_path / "arena.db"
    env = {**os.environ, "ARENA_DB": str(db)}
    run = subprocess.run(
        [cli, "run", "submissions/random", "--suite", "smoke", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    trials = Store(db).trials()
    suite = load_suite("smoke")  # the latest version, as `--suite smoke` ran it
    assert len(trials) == len(suite.variants("dev")) * len(suite.budgets) * suite.seeds
    site = tmp_path / "site"
    build_site(db, site)
    assert (site / "submission" / "random.html").is_file()
    check_in_browser(browser, site, ["random"], "overview")


def make_crowded_db(path: Path, submissions: int = 20) -> Store:
    """``submissions`` submissions with shifted scores on smoke@1's dev variants."""
    suite = load_suite("smoke@1")
    store = Store(path)
    rng = np.random.default_rng(1)
    for k in range(submissions):
        name, digest = f"agent-{k:02d}", f"{k:064x}"
        store.add(SubmissionRecord(hash=digest, name=name, version="1", authors=("t",), entry="agent:Agent",
                                   description="", license="MIT", url="", path=""))  # fmt: skip
        for tv in suite.variants("dev"):
            for budget in suite.budgets:
                for seed in range(suite.seeds):
                    score = float(k / submissions + budget / 1000 + rng.normal(0, 0.05))
                    store.add(
                        make_trial(submission_hash=digest, suite=suite.name, suite_version=suite.version,
                                   variant=tv.variant.id, budget=budget, seed=seed, submission=name,
                                   submission_version="1", family=tv.family, variant_group=tv.group,
                                   eval_return=score, normalized_score=score, episode_returns=(score,))
                    )  # fmt: skip
    return store


@pytest.mark.browser
def test_twenty_submissions_stay_apart_and_narrow_screens_scroll_tables_not_pages(browser: Any, tmp_path: Path) -> None:
    make_crowded_db(tmp_path / "crowd.db").close()
    site = tmp_path / "site"
    build_site(tmp_path / "crowd.db", site, n_resamples=N_RESAMPLES)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto((site / "index.html").as_uri())
    styles = page.evaluate(
        """() => [...document.querySelector('svg.chart').querySelectorAll('g.series')]
             .filter(g => !g.classList.contains('muted'))
             .map(g => { const line = g.querySelector('.line'); const s = getComputedStyle(line);
                         return s.stroke + ' / ' + s.strokeDasharray; })"""
    )
    assert len(styles) == 20 and len(set(styles)) == 20, styles  # 20 distinct (colour, pattern) pairs
    toggle = page.locator("ul.legend li[data-label] button.toggle").first  # legends toggle their lines
    label = toggle.evaluate("b => b.parentElement.dataset.label")
    toggle.click()
    hidden = page.evaluate("() => [...document.querySelectorAll('svg g.series.hidden')].map(g => g.dataset.label)")
    assert hidden and set(hidden) == {label}, hidden
    toggle.click()
    assert page.evaluate("() => document.querySelectorAll('svg g.series.hidden').length") == 0
    for width in (420, 1400):
        page.set_viewport_size({"width": width, "height": 900})
        for name in ("index.html", "family/smoke-bandit.html", "submission/agent-00.html"):
            page.goto((site / name).as_uri())
            overflow = page.evaluate(
                """(width) => [...document.querySelectorAll('body *')]
                     .filter(e => e.getBoundingClientRect().right > width + 1 && !e.closest('.table-scroll'))
                     .map(e => e.tagName + '.' + e.className)"""
                , width)  # fmt: skip
            assert overflow == [], (width, name, overflow[:5])
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (width, name)
    page.set_viewport_size({"width": 420, "height": 900})
    page.goto((site / "index.html").as_uri())
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "crowded-420.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.screenshot(path=str(ARTIFACTS / "crowded-1400.png"), full_page=True)
    page.close()


def test_a_submission_whose_every_trial_failed_ranks_last_and_is_marked(tmp_path: Path) -> None:
    store = make_crowded_db(tmp_path / "f.db", submissions=2)
    store.add(SubmissionRecord(hash="f" * 64, name="broken", version="1", authors=("t",), entry="agent:Agent",
                               description="", license="MIT", url="", path=""))  # fmt: skip
    for trial in [t for t in store.trials() if t.submission == "agent-00"]:
        store.add(replace(trial, submission_hash="f" * 64, submission="broken", status="error",
                          eval_return=None, normalized_score=None, episode_returns=(), error="boom"))  # fmt: skip
    store.close()
    index = build_site(tmp_path / "f.db", tmp_path / "site", n_resamples=N_RESAMPLES)
    assert ranked_names(index) == ["agent-01", "agent-00", "broken"]
    html = index.read_text()
    assert re.search(r'title="every trial failed: ranked last">–</td>', html), "the failed row is not marked"


def test_releases_are_numbered_immutable_linked_and_hide_test_variants(sample_db: Path, tmp_path: Path) -> None:
    from leaderboard.releases import release

    site = tmp_path / "site"
    (first,) = release(sample_db, site, n_resamples=N_RESAMPLES)
    assert (first.suite, first.suite_version, first.split, first.number, first.created) == ("smoke", 1, "dev", 1, True)
    files = {p.name: p.read_bytes() for p in first.folder.iterdir()}
    assert set(files) == {"standings.json", "trials.csv.gz", "release.json"}
    manifest = json.loads(files["release.json"])
    assert manifest["files"]["standings.json"] == hashlib.sha256(files["standings.json"]).hexdigest()
    assert manifest["trials"] == 3 * 16 and manifest["metaarena"]["commit"]
    build_site(sample_db, site, n_resamples=N_RESAMPLES)
    assert 'href="releases/smoke/1/dev/1/release.json"' in (site / "index.html").read_text()  # linked

    (again,) = release(sample_db, site, n_resamples=N_RESAMPLES)  # the same trials: nothing rewritten
    assert (again.number, again.created) == (1, False)
    assert {p.name: p.read_bytes() for p in first.folder.iterdir()} == files

    store = Store(sample_db)
    trial = next(t for t in store.trials() if t.submission == "random")
    store.add(replace(trial, seed=99))  # a new trial: release 2, release 1 untouched
    store.close()
    (second,) = release(sample_db, site, n_resamples=N_RESAMPLES)
    assert (second.number, second.created) == (2, True)
    assert {p.name: p.read_bytes() for p in first.folder.iterdir()} == files
    assert json.loads((second.folder.parent / "latest.json").read_text())["release"] == 2

    test_db = tmp_path / "test.db"
    store = Store(test_db)
    for t in Store(sample_db).trials():
        store.add(replace(t, split="test"))
    store.close()
    (held_out,) = release(test_db, tmp_path / "test-site", n_resamples=N_RESAMPLES)
    standings = (held_out.folder / "standings.json").read_text()
    rows = gzip.decompress((held_out.folder / "trials.csv.gz").read_bytes()).decode()
    assert held_out.split == "test" and "cartpole(" not in standings and "bandit(" not in standings
    assert "cartpole(" not in rows and "bandit(" not in rows and ",seed," not in rows.splitlines()[0]
    assert "variant_group" in rows.splitlines()[0]  # scores per family and group stay


def test_leaderboard_release_command_releases_then_builds(sample_db: Path, tmp_path: Path) -> None:
    def release() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "arena.cli", "leaderboard", "release", "--db", str(sample_db), "--out",
             str(tmp_path / "site")], capture_output=True, text=True, timeout=300, cwd=ROOT,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "smoke v1 dev: new release 1" in release()
    assert "smoke v1 dev: unchanged since release 1" in release()
    assert (tmp_path / "site" / "index.html").is_file()


def _workflow_arena_lines(name: str) -> list[str]:
    text = (ROOT / "docs" / "workflows" / name).read_text()
    return [line.strip() for line in text.splitlines() if line.strip().startswith("arena ")]


@pytest.mark.parametrize(
    ("workflow", "variables"),
    [("leaderboard-pages.yml", {}), ("submission-check.yml", {"SUBMISSION": "submissions/random"})],
)
def test_the_workflow_templates_commands_work(workflow: str, variables: dict[str, str], tmp_path: Path) -> None:
    """What the GitHub workflows in docs/workflows/ run, run here (the hosting is not tested)."""
    lines = _workflow_arena_lines(workflow)
    assert lines, f"{workflow} runs no arena command"
    env = {
        **os.environ, **variables, "DB": str(tmp_path / "w.db"), "SITE": str(tmp_path / "site"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }  # fmt: skip
    for line in lines:
        done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=900, cwd=ROOT, env=env)
        assert done.returncode == 0, (line, done.stdout[-1500:], done.stderr[-1500:])
    if workflow == "leaderboard-pages.yml":
        assert (tmp_path / "site" / "index.html").is_file()
        assert list((tmp_path / "site" / "releases").glob("*/*/dev/1/release.json"))


def test_self_reported_rows_stand_apart_and_are_not_ranked_with_harness_rows(sample_db: Path, tmp_path: Path) -> None:
    from arena.records import Provenance

    store = Store(sample_db)
    store.add(SubmissionRecord(hash="e" * 64, name="elsewhere", version="1", authors=("t",), entry="agent:Agent",
                               description="", license="MIT", url="", path=""))  # fmt: skip
    for trial in [t for t in store.trials() if t.submission == "random"]:
        store.add(replace(trial, submission_hash="e" * 64, submission="elsewhere", normalized_score=0.95,
                          provenance=Provenance.SELF_REPORTED))  # fmt: skip
    store.close()
    index = build_site(sample_db, tmp_path / "site", n_resamples=N_RESAMPLES)
    html = index.read_text()
    _, _, rest = html.partition('<tbody class="self-reported">')
    apart, _, _ = rest.partition("</tbody>")
    assert "elsewhere" in apart and "Self-reported" in apart  # its own band
    assert ranked_names(index) == ["maml-x", "ppo-lite", "random"]  # its 0.95s rank no harness-run row
    assert (tmp_path / "site" / "submission" / "elsewhere.html").is_file()


def test_a_rebuild_reuses_what_it_computed_and_gives_the_same_bytes(tmp_path: Path) -> None:
    from arena.scorecache import ScoreCache

    make_crowded_db(tmp_path / "c.db", submissions=4).close()
    site = tmp_path / "site"
    build_site(tmp_path / "c.db", site, n_resamples=N_RESAMPLES)
    cold = (site / "index.html").read_bytes()
    cached = ScoreCache(site / builder.SCORE_CACHE)
    stored = len(cached)
    cached.close()
    assert stored >= 4  # an entry per submission and view, and their probabilities of improvement
    report = builder.build(tmp_path / "c.db", site, n_resamples=N_RESAMPLES)
    assert report.written == () and (site / "index.html").read_bytes() == cold  # the same numbers, from the cache
    fresh = tmp_path / "fresh"
    build_site(tmp_path / "c.db", fresh, n_resamples=N_RESAMPLES)
    assert (fresh / "index.html").read_bytes() == cold  # with or without it
    from arena import scoring

    records = Store(tmp_path / "c.db").trials()
    again = ScoreCache(site / builder.SCORE_CACHE)
    scoring.score(records, baselines=builder.SITE_BASELINES, n_resamples=N_RESAMPLES, cache=again)
    assert again.hits >= 4 and again.misses == 0  # nothing computed twice
    again.close()


def test_a_harness_row_and_a_self_reported_row_of_one_submission_appear_apart(sample_db: Path, tmp_path: Path) -> None:
    """The same submission's imported results of the same trials: the harness's row ranks, the
    imported one is shown in its own band (the terminal standings keep the harness's only)."""
    from arena.records import Provenance

    store = Store(sample_db)
    for trial in [t for t in store.trials() if t.submission == "random"]:
        store.add(replace(trial, provenance=Provenance.SELF_REPORTED, normalized_score=0.97))
    assert [t.provenance for t in store.trials() if t.submission == "random"] == ["harness"] * 16
    store.close()
    index = build_site(sample_db, tmp_path / "site", n_resamples=N_RESAMPLES)
    _, _, rest = index.read_text().partition('<tbody class="self-reported">')
    apart, _, _ = rest.partition("</tbody>")
    assert "random" in apart
    assert ranked_names(index) == ["maml-x", "ppo-lite", "random"]


def test_a_test_split_site_names_no_held_out_variant(sample_db: Path, tmp_path: Path) -> None:
    test_db = tmp_path / "test.db"
    store = Store(test_db)
    variants = set()
    for t in Store(sample_db).trials():
        store.add(replace(t, split="test"))
        variants.add(t.variant)
    store.close()
    site = tmp_path / "site"
    build_site(test_db, site, n_resamples=N_RESAMPLES)
    for path in site.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".csv", ".json"):
            text = path.read_text()
            assert not [v for v in variants if v in text], path  # no id of a held-out variant anywhere
    assert "test split" in (site / "index.html").read_text()


def test_a_text_suite_has_a_board_per_model_with_its_tokens(tmp_path: Path) -> None:
    """The model is the operator's choice: each one's trials make their own board, whose title
    and Model column name it, with tokens per trial and the unparsable answers."""
    db = tmp_path / "text.db"
    store = Store(db)
    for name, digest in (("llm-a", "a" * 64), ("llm-b", "b" * 64)):
        store.add(SubmissionRecord(hash=digest, name=name, version="1", authors=("t",), entry="agent:Agent"))
        for model, tokens in (("small-model", 300), ("big-model", 900)):
            for budget in (0, 20):
                for variant, score in (("rps(task=1)", 0.2), ("rps(task=2)", 0.4)):
                    store.add(
                        make_trial(
                            submission_hash=digest, submission=name, suite="text-v1", family="rps",
                            variant=variant, budget=budget, model=model, normalized_score=score,
                            tokens_used=tokens + budget, llm_calls=5, unparsable_answers=1 if name == "llm-b" else 0,
                        )
                    )  # fmt: skip
    store.close()
    out = tmp_path / "site"
    build(db, out, n_resamples=200)
    index = (out / "index.html").read_text()
    assert "text-v1 v1 · dev split · model small-model" in index
    assert "text-v1 v1 · dev split · model big-model" in index
    assert index.count('title="The language model every agent of this board was given') == 2
    assert "<code>big-model</code>" in index and "<code>small-model</code>" in index
    assert ">910<" in index  # big-model's mean tokens per trial: (900 + 920) / 2
    # llm-b's 4 trials on each board had one unparsable answer each.
    assert re.search(r'data-sort="4">4</td>', index)
