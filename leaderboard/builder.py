"""The static leaderboard site: scoring's boards rendered to self-contained HTML.

Stage 6 of the pipeline (… → store → scoring → site). The site reads the store only to hand its
records to :mod:`arena.scoring` and to offer them as downloads; everything it shows comes from the
boards, the submissions' manifests and the suites' metadata.

The output is plain files with relative links: no fonts, scripts or styles from elsewhere, so it
works from ``file://`` and from any static host. A rebuild writes only files whose bytes changed
and removes files it wrote before that are no longer part of the site (it keeps a list of what it
owns in ``.metaarena-site.json``); it never touches other files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jinja2

import games
from arena import scoring
from arena.errors import ArenaError
from arena.records import (
    FAILURES,
    MatchRecord,
    MetaTrainRecord,
    Status,
    SubmissionRecord,
    TrialRecord,
    as_plain,
    fields,
    to_row,
)
from arena.scorecache import ScoreCache
from arena.scoring import Aggregate, Board, Entry, Interval
from arena.store import Store
from arena.suites import Suite, installed_suite
from leaderboard import ladder_site, svg
from leaderboard.standings import standings_csv, standings_json

HERE = Path(__file__).parent
MANIFEST = ".metaarena-site.json"
SCORE_CACHE = ".metaarena-scores.sqlite"  # computed statistics by the trials they come from (arena.scorecache)
STATIC = ("style.css", "sort.js")
# What every entry's probability of improvement is computed over (with the reference agents):
# doing nothing, and learning from scratch. A pair for each pair of submissions would grow with
# the square of the board (issue 23: 417 s at 200 submissions).
SITE_BASELINES = ("random", "ppo-scratch", "dqn-scratch")
CONTEXT_LINES = 10  # other entries drawn muted behind a submission's own curves: the leaders
TRIAL_FIELDS = fields(TrialRecord)
GROUP_NOTES = {
    "interpolation": "drawn inside the meta-train ranges",
    "extrapolation": "drawn outside them: generalisation",
    "train": "drawn from the meta-train distribution",
}


@dataclass(frozen=True)
class BuildReport:
    index: Path
    written: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int


def build_site(db_path: str | Path, out_dir: str | Path, *, n_resamples: int = scoring.N_RESAMPLES) -> Path:
    """Build (or update) the static site from a results database; returns its ``index.html``."""
    return build(db_path, out_dir, n_resamples=n_resamples).index


def build(db_path: str | Path, out_dir: str | Path, *, n_resamples: int = scoring.N_RESAMPLES) -> BuildReport:
    """:func:`build_site`, also telling which files it wrote and removed."""
    store = Store(db_path, create=False)
    try:
        records, submissions, metas = store.trials(self_reported=True), store.submissions(), store.meta_trains()
        matches = store.matches()  # ladder hook: cross-play matches, if any
    finally:
        store.close()
    from leaderboard.releases import history

    out = Path(out_dir)
    _owned_files(out)  # refuse a foreign folder before writing anything into it
    cache = ScoreCache(out / SCORE_CACHE)  # a rebuild scores only the entries whose trials changed
    try:
        files = render_site(
            records, submissions, metas, n_resamples=n_resamples, matches=matches, releases=history(out), cache=cache
        )
    finally:
        cache.close()
    return write_site(out, files)


# --------------------------------------------------------------------------------------------
# Writing: only what changed, removing only what we wrote before
# --------------------------------------------------------------------------------------------


def _owned_files(out: Path) -> set[str]:
    """The files an earlier build wrote into ``out``; a one-line error where ``out`` is not a
    site folder (a file, another program's folder, a damaged manifest)."""
    manifest = out / MANIFEST
    if out.exists() and not out.is_dir():
        raise ArenaError(f"{out} is a file, not a site directory")
    if manifest.exists():
        try:
            return set(json.loads(manifest.read_text())["files"])
        except (ValueError, KeyError, TypeError, OSError):
            raise ArenaError(f"{manifest} is damaged; remove {out} and build again") from None
    if out.exists() and any(p.name not in ("releases", SCORE_CACHE) for p in out.iterdir()):  # not the site's
        raise ArenaError(f"{out} is not empty and was not built by `arena leaderboard build`; choose another --out")
    return set()


def write_site(out: Path, files: Mapping[str, bytes]) -> BuildReport:
    """Write ``files`` (relative path -> bytes) under ``out``, incrementally."""
    owned = _owned_files(out)
    manifest = out / MANIFEST
    written, unchanged = [], 0
    for rel, content in sorted(files.items()):
        path = out / rel
        try:
            if path.read_bytes() == content:
                unchanged += 1
                continue
        except OSError:
            pass
        _write_atomic(path, content)
        written.append(rel)
    removed = []
    for rel in sorted(owned - set(files)):
        path = out / rel
        if path.is_file():
            path.unlink()
            removed.append(rel)
        parent = path.parent
        while parent != out and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    listing = json.dumps({"generator": "metaarena leaderboard", "files": sorted(files)}, indent=1).encode() + b"\n"
    if not manifest.exists() or manifest.read_bytes() != listing:
        _write_atomic(manifest, listing)
    return BuildReport(out / "index.html", tuple(written), tuple(removed), unchanged)


def _write_atomic(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------------------------


def published(record: TrialRecord) -> TrialRecord:
    """A trial as the site publishes it: a test-split row without what would name its held-out
    variant (its id, its seed, an error text that may quote it); per family and group only."""
    if record.split != "test":
        return record
    return replace(record, variant=f"{record.family}({record.variant_group})", seed=0, error=None)


def trials_csv(records: Iterable[TrialRecord]) -> str:
    """Trial records as CSV, one row per trial (episode returns as a JSON list)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=TRIAL_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(to_row(published(record)) for record in records)
    return buffer.getvalue()


def trials_json(records: Iterable[TrialRecord]) -> str:
    """Trial records as a JSON array of objects."""
    return json.dumps([as_plain(published(r)) for r in records], indent=1, allow_nan=False) + "\n"


# --------------------------------------------------------------------------------------------
# The model the templates see
# --------------------------------------------------------------------------------------------


@dataclass
class SubmissionView:
    hash: str
    name: str
    version: str
    slug: str
    color: int
    authors: list[str] = field(default_factory=list)
    description: str = ""
    license: str = ""
    url: str = ""
    entry: str = ""
    folder: str = ""

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name

    @property
    def href(self) -> str:
        return f"submission/{self.slug}.html"

    @property
    def safe_url(self) -> str:
        return self.url if self.url.startswith(("https://", "http://")) else ""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "x"


def _submission_views(
    records: Sequence[TrialRecord], manifests: Sequence[SubmissionRecord]
) -> dict[str, SubmissionView]:
    by_hash = {m.hash: m for m in manifests}
    seen: dict[str, tuple[str, str]] = {}
    for record in records:
        seen.setdefault(record.submission_hash, (record.submission, record.submission_version or ""))
    names = defaultdict(list)
    for h, (name, _) in sorted(seen.items(), key=lambda kv: (kv[1], kv[0])):
        names[name].append(h)
    views: dict[str, SubmissionView] = {}
    for color, (h, (name, version)) in enumerate(sorted(seen.items(), key=lambda kv: (kv[1], kv[0]))):
        manifest = by_hash.get(h) or SubmissionRecord(hash=h, name=name, version=version)
        slug = _slug(name) if len(names[name]) == 1 else f"{_slug(name)}-{h[:8]}"
        path = Path(manifest.path)
        # The folder the row was run from: a project submission by its path in the checkout,
        # any other by the path it was stored with (a base name alone names nothing to rerun).
        folder = (
            f"{path.parent.name}/{path.name}"
            if path.parent.name == "submissions"
            else (str(path) if manifest.path else name)
        )
        views[h] = SubmissionView(
            hash=h,
            name=name,
            version=version,
            slug=slug,
            color=color,
            authors=list(manifest.authors),
            description=manifest.description,
            license=manifest.license,
            url=manifest.url,
            entry=manifest.entry,
            folder=folder,
        )
    return views


def _expected_runs(board: Board) -> int | None:
    """Runs per budget the suite plans for this split, when its metadata is at hand."""
    suite = installed_suite(board.suite, board.suite_version)
    if suite is None:
        return None
    if board.split in ("dev", "train"):
        try:
            return len(suite.variants(board.split)) * suite.seeds  # type: ignore[arg-type]
        except ArenaError:
            return None
    return sum(p.n_interpolation + p.n_extrapolation + p.n_out_of_support for p in suite.families) * suite.seeds


def _meta_runs(board: Board, metas: Sequence[MetaTrainRecord]) -> int:
    """Meta-training runs a meta-trained entry's trials are crossed with (1 for the others)."""
    suite = installed_suite(board.suite, board.suite_version)
    return len(suite.meta_train_seed_list()) if suite is not None else 1


def _meta_state(rows: Sequence[MetaTrainRecord], families: Sequence[str]) -> tuple[str, str, str]:
    """(label, css class, explanation) of a submission's meta-training on a board."""
    by_family = {r.family: r for r in rows}
    relevant = [by_family[f] for f in families if f in by_family]
    if not relevant:
        return ("—", "none", "no meta-training recorded (the suite may have no meta-train budget)")
    failed = [r for r in relevant if r.status not in (Status.OK, Status.SKIPPED)]
    if failed:
        names = ", ".join(f"{r.family}: {r.status}" for r in failed)
        return ("failed", "bad", f"meta-training failed ({names}); those trials are scored at the floor")
    ok = [r for r in relevant if r.status == Status.OK]
    if ok:
        steps = sum(int(r.steps_used or 0) for r in ok)
        families_ok = ", ".join(r.family for r in ok)
        return (
            "verified",
            "good",
            f"meta-trained by the harness within the suite's budget: {steps:,} steps ({families_ok})",
        )
    return ("none", "none", "the agent defines no meta-training: it adapts from its initial state")


def _status_badges(statuses: Mapping[str, int]) -> list[tuple[str, int, str]]:
    out = []
    for status, count in statuses.items():
        if count or status == "ok":
            out.append(
                (status, count, "good" if status == Status.OK else "bad" if status in ("error", "oom") else "warn")
            )
    return out


def _failures_total(statuses: Mapping[str, int]) -> int:
    return sum(c for s, c in statuses.items() if s in FAILURES)


def board_anchor(board: Board) -> str:
    model = f"-{board.model}" if board.model else ""
    return _slug(f"{board.suite}-v{board.suite_version}-{board.split}{model}")


def family_href(board: Board, family: str) -> str:
    model = f"-{_slug(board.model)}" if board.model else ""
    return f"family/{_slug(board.suite)}-{_slug(family)}{model}.html"


@dataclass
class Row:
    entry: Entry
    sub: SubmissionView
    head: Aggregate | None  # at the largest budget
    whisker: Any  # of the adaptation area's interval, the headline
    per_budget: list[Aggregate | None]
    badges: list[tuple[str, int, str]]
    failures: int
    meta: tuple[str, str, str]
    expected: int | None  # trials planned in total, when known
    command: str  # the `arena run` that recomputes this row
    groups: list[Aggregate | None] = field(default_factory=list)  # per board group, at the largest budget
    online: float | None = None  # the online view's area, where the board has one
    success: float | None = None  # success rate at the largest budget, for families with a goal
    tokens: float | None = None  # text boards: model tokens per trial (mean)
    unparsable: int = 0  # text boards: answers that named no legal move, all trials

    @property
    def complete(self) -> bool:
        return self.expected is None or self.entry.n_trials >= self.expected

    @property
    def rank_label(self) -> str:
        if self.entry.kind == "reference":
            return "ref"
        if self.entry.all_failed:
            return "–"  # ranked last, with no rank to read: nothing it did was scored
        return ("=" if self.entry.tied else "") + str(self.entry.rank)


@dataclass
class BoardView:
    board: Board
    anchor: str
    suite: Suite | None
    rows: list[Row]
    references: list[Row]
    curve: Any
    profile: Any
    online: bool  # whether the rows carry the online view's area
    improvement: list[tuple[SubmissionView, list[tuple[SubmissionView, Interval | None]]]]
    families: list[tuple[str, str]]  # (family, href)
    releases: list[tuple[int, str]] = field(default_factory=list)  # (number, href of its release.json)
    self_reported: list[Row] = field(default_factory=list)  # imported results: ranked among themselves, apart

    @property
    def title(self) -> str:
        model = f" · model {self.board.model}" if self.board.model else ""
        return f"{self.board.suite} v{self.board.suite_version} · {self.board.split} split{model}"


def _shared_range(intervals: Iterable[Interval | None]) -> tuple[float, float]:
    low, high = svg.value_range(list(intervals))
    margin = 0.04 * (high - low)
    return low - margin, high + margin


def _board_view(
    board: Board,
    subs: Mapping[str, SubmissionView],
    metas: Sequence[MetaTrainRecord],
    online: Board | None = None,
    commands: Mapping[tuple[str, str, int, str], str] | None = None,
    usage: Mapping[tuple[str, str], tuple[float, int]] | None = None,
) -> BoardView:
    headline = board.headline_budget
    everyone = [*board.entries, *board.references]
    low, high = _shared_range(e.area for e in everyone)
    per_budget_expected = _expected_runs(board)
    online_areas = {e.hash: e.area.estimate for e in (*online.entries, *online.references)} if online else {}

    def row(entry: Entry) -> Row:
        sub = subs[entry.hash]
        meta_rows = [
            m
            for m in metas
            if m.submission_hash == entry.hash and m.suite == board.suite and m.suite_version == board.suite_version
        ]
        meta = _meta_state(meta_rows, board.families)
        runs = _meta_runs(board, metas) if meta[0] == "verified" else 1
        expected = per_budget_expected * len(board.budgets) * runs if per_budget_expected is not None else None
        largest = entry.budgets.get(headline)
        tokens, unparsable = (usage or {}).get((board.id, entry.hash), (None, 0))
        return Row(
            entry=entry,
            sub=sub,
            head=entry.headline(headline),
            whisker=svg.whisker(entry.area, low, high, sub.color),
            per_budget=[entry.headline(b) for b in board.budgets],
            badges=_status_badges(entry.statuses),
            failures=_failures_total(entry.statuses),
            meta=meta,
            expected=expected,
            command=(commands or {}).get((entry.hash, board.suite, board.suite_version, board.split))
            or reproduce_command(sub, board),
            groups=[largest.groups.get(g) if largest else None for g in board.groups],
            online=online_areas.get(entry.hash),
            success=largest.success_rate if largest else None,
            tokens=tokens,
            unparsable=unparsable,
        )

    rows = [row(e) for e in board.entries]
    references = [row(e) for e in board.references]
    self_reported = [row(e) for e in board.self_reported]
    series = [svg.Series(subs[e.hash].label, subs[e.hash].color, e.curve(board.budgets)) for e in board.entries]
    series += [
        svg.Series(subs[e.hash].label, subs[e.hash].color, e.curve(board.budgets), dashed=True)
        for e in board.references
    ]
    curve = svg.curve_chart(board.budgets, series, title=f"Adaptation curves, {board.suite} {board.split}")
    profile_series = [
        (subs[e.hash].label, subs[e.hash].color, e.budgets[headline].profile)
        for e in board.entries
        if headline in e.budgets
    ]
    profile = svg.profile_chart(
        board.taus, profile_series, title=f"Performance profiles at {svg.budget_label(headline)} steps"
    )
    # Columns: whatever the entries were compared with (the baselines and references); the
    # matrix stays one column per target however many submissions the board holds.
    targets = [y for y in board.everyone if any(ids[1] == y.id for ids in board.improvement)]
    improvement = []
    if targets:
        for x in board.entries:
            cells = [(subs[y.hash], board.improvement.get((x.id, y.id))) for y in targets]
            improvement.append((subs[x.hash], cells))
    return BoardView(
        board=board,
        anchor=board_anchor(board),
        suite=installed_suite(board.suite, board.suite_version),
        rows=rows,
        references=references,
        curve=curve,
        profile=profile,
        online=bool(online_areas),
        improvement=improvement,
        families=[(f, family_href(board, f)) for f in board.families],
        self_reported=self_reported,
    )


# --------------------------------------------------------------------------------------------
# Per-submission and per-family pages
# --------------------------------------------------------------------------------------------


def _grouped_failures(entry: Entry, held_out: bool = False) -> list[dict[str, Any]]:
    """Failures by (status, error); ``held_out`` (the test split): no variant ids, seeds or error texts."""
    groups: dict[tuple[str, str | None], list[scoring.Failure]] = defaultdict(list)
    for failure in entry.failures:
        groups[(failure.status, None if held_out else failure.error)].append(failure)
    out = []
    for (status, error), items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        out.append(
            {
                "status": status,
                "error": error or ("(not published for the test split)" if held_out else "(no error text)"),
                "summary": _summary(error or ""),
                "count": len(items),
                "trials": [
                    f"{f.variant.split('(')[0]} · {svg.budget_label(f.budget)} steps"
                    if held_out
                    else f"{f.variant} · {svg.budget_label(f.budget)} steps · seed {f.seed}"
                    for f in items[:50]
                ],
                "more": max(0, len(items) - 50),
            }
        )
    return out


def _summary(error: str) -> str:
    """The line of an error text that says most: a traceback's or a log tail's last line."""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    return (lines[-1] if lines else "(no error text)")[:200]


def _submission_section(
    view: BoardView, entry: Entry, subs: Mapping[str, SubmissionView], metas: Sequence[MetaTrainRecord]
) -> dict[str, Any]:
    board = view.board
    sub = subs[entry.hash]
    # Context lines: the board's leaders, not every entry (a page per submission drawing every
    # other submission made the site grow with the square of the board).
    others = [e for e in board.entries if e.hash != entry.hash][:CONTEXT_LINES]

    def series_for(family: str | None) -> list[svg.Series]:
        context = [svg.Series(subs[e.hash].label, -1, e.curve(board.budgets, family)) for e in others]
        lines = [
            svg.Series(subs[e.hash].label, subs[e.hash].color, e.curve(board.budgets, family), dashed=True)
            for e in board.references
            if e.hash != entry.hash
        ]
        return [*context, *lines, svg.Series(sub.label, sub.color, entry.curve(board.budgets, family))]

    overall = svg.curve_chart(board.budgets, series_for(None), title=f"{sub.label}: adaptation curve, all families")
    family_charts = [
        (
            family,
            family_href(board, family),
            svg.curve_chart(board.budgets, series_for(family), title=f"{sub.label} on {family}", width=380, height=240),
        )
        for family in board.families
    ]
    improvement = [
        (subs[y.hash], iv, svg.whisker(iv, 0.0, 1.0, sub.color, marks=(0.5,)))
        for y in board.everyone
        if (iv := board.improvement.get((entry.id, y.id))) is not None
    ]
    row = next(r for r in (*view.rows, *view.references, *view.self_reported) if r.entry.id == entry.id)
    meta_rows = sorted(
        (
            m
            for m in metas
            if m.submission_hash == entry.hash and m.suite == board.suite and m.suite_version == board.suite_version
        ),
        key=lambda m: m.family,
    )
    return {
        "view": view,
        "board": board,
        "entry": entry,
        "row": row,
        "overall": overall,
        "family_charts": family_charts,
        "improvement": improvement,
        "failures": _grouped_failures(entry, held_out=board.split == "test"),
        "meta_rows": meta_rows,
        "command": row.command,
    }


def _stored_commands(records: Iterable[TrialRecord]) -> dict[tuple[str, str, int, str], str]:
    """The command that ran each (submission, board)'s latest trial, where the run stored one."""
    latest: dict[tuple[str, str, int, str], tuple[str, str]] = {}
    for r in records:
        key = (r.submission_hash, r.suite, r.suite_version, r.split)
        if r.command and (key not in latest or r.finished_at >= latest[key][0]):
            latest[key] = (r.finished_at, r.command)
    return {key: command for key, (_, command) in latest.items()}


def reproduce_command(sub: SubmissionView, board: Board) -> str:
    """The ``arena run`` command that recomputes a board's row for a submission, for rows stored
    before runs stored their own (schema 5) and for imported ones."""
    # The exact suite version: a bare name means the latest version, which may be another board.
    command = f"arena run {sub.folder} --suite {board.suite}@{board.suite_version} --split {board.split}"
    if board.split == "test":
        command += " --test-seed-file SECRET_SEED_FILE"
    return command


def _param_rows(suite: Suite | None, family: str) -> list[dict[str, Any]]:
    try:
        fam = games.get_family(family)
    except games.SpecError:
        return []
    plan = None
    if suite is not None:
        plan = next((p for p in suite.families if p.family == family), None)
    rows = []
    for name, param in fam.params.items():
        train = plan.train.get(name) if plan else None
        extra = plan.extrapolation.get(name) if plan else None
        rows.append(
            {
                "name": name,
                "doc": param.doc,
                "space": param.describe(),
                "default": str(param.default),
                "train": train.describe() if train else f"{param.default} (default)",
                "extrapolation": extra.describe() if extra else "as in train",
                "varies": bool(train and train.kind != "fixed") or bool(extra),
            }
        )
    rows.sort(key=lambda r: (not r["varies"], r["name"]))
    return rows


def _family_section(view: BoardView, family: str, subs: Mapping[str, SubmissionView]) -> dict[str, Any]:
    board = view.board
    headline = board.headline_budget

    def family_head(entry: Entry) -> Aggregate | None:
        score = entry.budgets.get(headline)
        return score.families.get(family) if score else None

    def plays(entry: Entry) -> bool:
        return any(family in s.families for s in entry.budgets.values())

    def area(entry: Entry) -> float:
        value = entry.family_areas.get(family, math.nan)
        return value if math.isfinite(value) else -math.inf

    ranked = sorted((e for e in board.entries if plays(e)), key=lambda e: (-area(e), subs[e.hash].label))
    references = [e for e in board.references if plays(e)]
    low, high = _shared_range(agg.iqm if (agg := family_head(e)) else None for e in [*ranked, *references])
    rows = []
    for position, entry in enumerate([*ranked, *references], start=1):
        head = family_head(entry)
        score = entry.budgets.get(headline)
        groups = score.family_groups.get(family, {}) if score else {}
        rows.append(
            {
                "rank": "ref" if entry.kind == "reference" else position,
                "sub": subs[entry.hash],
                "head": head,
                "whisker": svg.whisker(head.iqm if head else None, low, high, subs[entry.hash].color),
                "groups": [groups.get(g) for g in board.groups],
                "area": entry.family_areas.get(family, math.nan),
                "success": score.family_success.get(family) if score else None,
                "per_budget": [s.families.get(family) if (s := entry.budgets.get(b)) else None for b in board.budgets],
            }
        )
    # The test split's variants are held out: its pages show families and groups, never ids.
    variants = [(v, fg[1]) for v, fg in board.variants.items() if fg[0] == family and board.split != "test"]
    variant_rows = []
    for variant, group in variants:
        scores = []
        for entry in [*ranked, *references]:
            score = entry.budgets.get(headline)
            scores.append(score.variants.get(variant) if score else None)
        finite = [s for s in scores if s is not None and math.isfinite(s)]
        best = max(finite) if finite else None
        variant_rows.append({"variant": variant, "group": group, "scores": scores, "best": best})
    series = [svg.Series(subs[e.hash].label, subs[e.hash].color, e.curve(board.budgets, family)) for e in ranked]
    series += [
        svg.Series(subs[e.hash].label, subs[e.hash].color, e.curve(board.budgets, family), dashed=True)
        for e in references
    ]
    return {
        "view": view,
        "board": board,
        "rows": rows,
        "ranked": [subs[e.hash] for e in [*ranked, *references]],
        "variant_rows": variant_rows,
        "has_success": any(r["success"] is not None for r in rows),
        "chart": svg.curve_chart(board.budgets, series, title=f"{family}: adaptation curves"),
    }


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["fmt"] = svg.fmt
    env.filters["budget"] = svg.budget_label
    env.filters["sortkey"] = _sort_key
    env.filters["short"] = lambda h: str(h)[:12]
    env.filters["style"] = svg.style_class
    env.filters["when"] = _when
    env.filters["summary"] = _summary
    env.globals["GROUP_NOTES"] = GROUP_NOTES
    return env


def _when(stamp: str) -> str:
    """An ISO timestamp as ``2026-11-25 12:05 UTC``."""
    try:
        moment = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _sort_key(value: float | None) -> str:
    return repr(float(value)) if value is not None and math.isfinite(value) else "-Infinity"


def _text_usage(records: Sequence[TrialRecord]) -> dict[tuple[str, str], tuple[float, int]]:
    """Text boards: by (board id, submission hash), model tokens per trial and unparsable answers."""
    tokens: dict[tuple[str, str], list[int]] = {}
    unparsable: dict[tuple[str, str], int] = {}
    for r in records:
        if r.model:
            key = (scoring.board_id(r.suite, r.suite_version, r.split, r.model), r.submission_hash)
            tokens.setdefault(key, []).append(r.tokens_used)
            unparsable[key] = unparsable.get(key, 0) + r.unparsable_answers
    return {key: (sum(used) / len(used), unparsable[key]) for key, used in tokens.items()}


def render_site(
    records: Sequence[TrialRecord],
    submissions: Sequence[SubmissionRecord],
    meta_trains: Sequence[MetaTrainRecord],
    *,
    n_resamples: int = scoring.N_RESAMPLES,
    matches: Sequence[MatchRecord] = (),
    releases: Mapping[tuple[str, int, str], Sequence[int]] | None = None,
    cache: MutableMapping[str, Any] | None = None,
) -> dict[str, bytes]:
    """Every file of the site, by relative path; ``releases``: the published releases of each
    board (``leaderboard.releases.history``), linked from it."""
    env = _environment()
    references = {s.hash for s in submissions if s.kind == "reference"}
    boards = scoring.score(
        records, baselines=SITE_BASELINES, references=references, n_resamples=n_resamples, cache=cache
    )
    online = {
        b.id: b
        for b in scoring.score(
            records,
            baselines=SITE_BASELINES,
            references=references,
            view="online",
            n_resamples=n_resamples,
            cache=cache,
        )
        if set(b.families) == set(next(x for x in boards if x.id == b.id).families)
    }
    subs = _submission_views(records, submissions)
    commands = _stored_commands(records)
    usage = _text_usage(records)
    views = [_board_view(b, subs, meta_trains, online.get(b.id), commands, usage) for b in boards]
    for view in views:
        b = view.board
        numbers = (releases or {}).get((b.suite, b.suite_version, b.split), ())
        view.releases = [(n, f"releases/{b.suite}/{b.suite_version}/{b.split}/{n}/release.json") for n in numbers]
    as_of = max((b.finished_at for b in boards), default="")
    suites = []
    for board in boards:
        suite = installed_suite(board.suite, board.suite_version)
        if suite is not None and suite not in suites:
            suites.append(suite)
    common = {"as_of": as_of, "n_trials": len(records), "n_boards": len(boards)}
    files: dict[str, str] = {}

    def page(path: str, template: str, **context: Any) -> None:
        root = "../" * path.count("/")
        files[path] = env.get_template(template).render(root=root, page=path, **common, **context)

    ladders = ladder_site.views(matches, subs)  # ladder hook: one page per suite version with matches
    for ladder in ladders:
        page(ladder.href, "ladder.html", ladder=ladder)
    page("index.html", "index.html", views=views, suites=suites, ladders=ladders)
    for sub in subs.values():
        sections = [
            _submission_section(view, entry, subs, meta_trains)
            for view in views
            if (entry := view.board.entry(sub.hash)) is not None
        ]
        page(sub.href, "submission.html", sub=sub, sections=sections)
    family_pages: dict[str, list[tuple[str, BoardView]]] = defaultdict(list)
    for view in views:
        for family, href in view.families:
            family_pages[href].append((family, view))
    for href, items in family_pages.items():
        family = items[0][0]
        suite = items[0][1].suite
        try:
            description = games.get_family(family).description
        except games.SpecError:
            description = ""
        page(
            href,
            "family.html",
            family=family,
            suite_name=items[0][1].board.suite,
            description=description,
            params=_param_rows(suite, family),
            sections=[_family_section(view, family, subs) for _, view in items],
        )
    page(
        "methodology.html",
        "methodology.html",
        views=views,
        suites=suites,
        taus=scoring.DEFAULT_TAUS,
        n_resamples=n_resamples,
    )
    page("submit.html", "submit.html")
    data = {
        "data/trials.csv": trials_csv(records),
        "data/trials.json": trials_json(records),
        "data/standings.csv": standings_csv(boards),
        "data/standings.json": standings_json(boards),
    }
    sizes = {path: len(text.encode()) for path, text in data.items()}
    page("downloads.html", "downloads.html", sizes=sizes, fields=TRIAL_FIELDS)
    files.update(data)
    out = {path: text.encode() for path, text in files.items()}
    for name in STATIC:
        out[f"static/{name}"] = (HERE / "static" / name).read_bytes()
    return out
