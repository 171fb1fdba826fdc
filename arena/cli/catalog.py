"""``arena games``, ``arena suites``, ``arena suite``: what there is to play."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

import games
from arena.cli.app import Format, app, check_format, console, err, listing, print_json, print_rows
from arena.errors import ArenaError


def _family_dict(family: games.Family) -> dict[str, Any]:
    env = games.make(games.Variant.of(family.name))
    return {
        "name": family.name,
        "group": family.group,
        "players": family.players,
        "description": family.description,
        "observation_space": str(env.observation_space),
        "action_space": str(env.action_space),
        "action_type": type(env.action_space).__name__,
        "max_episode_steps": family.max_episode_steps,
        "example": family.example or family.name,
        "parameters": {
            key: {
                "kind": p.kind,
                "default": str(p.default) if p.kind == "spec" else p.default,
                "range": p.describe(),
                "doc": p.doc,
            }
            for key, p in family.params.items()
        },
    }


@app.command("games")
def games_command(
    name: Annotated[str | None, typer.Argument(help="show one family in detail")] = None,
    fmt: Format = "table",
) -> None:
    """List game families, their parameters and ranges."""
    check_format(fmt, ("table", "json", "jsonl"))
    if name is not None:
        family = games.get_family(name)
        info = _family_dict(family)
        env = games.make(info["example"], render_mode="ansi")
        env.reset(seed=0)
        info["rendering"] = str(env.render())
        if fmt == "json":
            print_json(info)
            return
        if print_rows([info], fmt):
            return
        console.print(f"[bold]{family.name}[/bold] ({family.group}, {family.players} player(s)): {family.description}")
        console.print(
            f"observations {info['observation_space']}, actions {info['action_space']}, time limit {family.max_episode_steps}"
        )
        table = listing("parameter", "default", "range", "meaning", wrap=("range", "meaning"))
        for key, p in info["parameters"].items():
            table.add_row(key, str(p["default"]), p["range"], p["doc"])
        console.print(table)
        console.print(f"example: {info['example']}")
        console.print(info["rendering"], markup=False, highlight=False)
        return
    rows = [_family_dict(f) for f in games.families().values()]
    if print_rows(rows, fmt):
        return
    table = listing(
        "family", "group", "players", "actions", "parameters", "description", wrap=("parameters", "description")
    )
    for row in rows:
        params = ", ".join(row["parameters"])  # names only: `arena games NAME` gives their ranges
        table.add_row(row["name"], row["group"], str(row["players"]), row["action_type"], params, row["description"])
    console.print(table)
    console.print("`arena games NAME`: a family's parameter ranges, an example, its rendering.")


def _suite_dict(suite: Any, with_variants: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": suite.name,
        "version": suite.version,
        "description": suite.description,
        "families": [p.family for p in suite.families],
        "budgets": list(suite.budgets),
        "adapt_seconds": list(suite.adapt_seconds),
        "seeds": suite.seeds,
        "eval_episodes": suite.eval_episodes,
        "meta_train_steps": suite.meta_train_steps,
        "meta_train_seeds": suite.meta_train_seeds,
        "dev_variants": len(suite.variants("dev")),
    }
    data["dev_trials"] = data["dev_variants"] * len(suite.budgets) * suite.seeds * len(suite.meta_train_seed_list())
    if with_variants:
        data["distributions"] = {
            p.family: {
                "train": {k: d.describe() for k, d in p.train.items()},
                "extrapolation": {k: d.describe() for k, d in p.extrapolation.items()},
                "out_of_support": {k: d.describe() for k, d in p.out_of_support.items()},
                "interpolation_variants": p.n_interpolation,
                "extrapolation_variants": p.n_extrapolation,
                "out_of_support_variants": p.n_out_of_support,
                "eval_episodes": suite.eval_episodes_of(p.family),
                "meta_train_steps": suite.meta_train_steps_of(p.family),
            }
            for p in suite.families
        }
        data["dev"] = [
            {"variant": tv.variant.id, "group": tv.group, "reference": vars(suite.reference(tv.variant))}
            for tv in suite.variants("dev")
        ]
    return data


@app.command("suites")
def suites_command(fmt: Format = "table") -> None:
    """List the built-in suites."""
    from arena.suites import load_suite, suite_names

    check_format(fmt, ("table", "json", "jsonl"))
    rows = [_suite_dict(load_suite(name), False) for name in suite_names()]
    if print_rows(rows, fmt):
        return
    from leaderboard.svg import budget_label

    table = listing(
        "suite", "version", "families", "budgets", "seeds", "dev trials", "description", wrap=("description",)
    )
    for row in rows:
        table.add_row(
            row["name"], str(row["version"]), str(len(row["families"])), " ".join(map(budget_label, row["budgets"])),
            str(row["seeds"]), str(row["dev_trials"]), row["description"],
        )  # fmt: skip
    console.print(table)


@app.command("suite")
def suite_command(
    args: Annotated[
        list[str], typer.Argument(help="NAME (a suite name or TOML path), or: calibrate NAME", show_default=False)
    ],
    fmt: Format = "table",
    episodes: Annotated[int, typer.Option(help="calibrate: episodes per variant")] = 20,
) -> None:
    """Show what one suite holds; `arena suite calibrate NAME` re-measures its references; `arena suite check NAME` runs the checks a new suite must pass."""
    if args[0] in ("calibrate", "check"):
        if len(args) != 2:
            raise ArenaError(f"usage: arena suite {args[0]} NAME")
        if args[0] == "calibrate":
            _calibrate(args[1], fmt, episodes)
        else:
            _check(args[1])
        return
    if len(args) != 1:
        raise ArenaError("usage: arena suite NAME  (or: arena suite calibrate NAME, arena suite check NAME)")
    name = args[0]
    from arena.suites import load_suite

    check_format(fmt)
    suite = load_suite(name)
    data = _suite_dict(suite, True)
    if fmt == "json":
        print_json(data)
        return
    console.print(f"[bold]{suite.name}[/bold] version {suite.version}: {suite.description}", soft_wrap=False)
    console.print(
        f"budgets {list(suite.budgets)} steps (adapt seconds {list(suite.adapt_seconds)}), {suite.seeds} seed(s), "
        f"{suite.eval_episodes} eval episodes, meta-train {suite.meta_train_steps} steps per family"
        + (f" x {suite.meta_train_seeds} seeds" if suite.meta_train_seeds else ""),
        soft_wrap=False,
    )
    table = listing(
        "family", "train distribution", "extrapolation", "out of support", "variants (int+ext+oos)",
        wrap=("train distribution", "extrapolation", "out of support"),
    )  # fmt: skip
    for fam, dist in data["distributions"].items():
        table.add_row(
            fam,
            ", ".join(f"{k}={v}" for k, v in dist["train"].items()),
            ", ".join(f"{k}={v}" for k, v in dist["extrapolation"].items()),
            ", ".join(f"{k}={v}" for k, v in dist["out_of_support"].items()),
            f"{dist['interpolation_variants']}+{dist['extrapolation_variants']}+{dist['out_of_support_variants']}",
        )
    console.print(table)
    table = listing("dev variant", "group", "random", "reference", wrap=("dev variant",))
    for row in data["dev"]:
        ref = row["reference"]
        table.add_row(row["variant"], row["group"], f"{ref['random']:.3g}", f"{ref['reference']:.3g}")
    console.print(table)


def _check(name: str) -> None:
    """The checks a new suite must pass (arena/suites/checks.py): one line per finding."""
    from arena.suites import checks, load_suite

    suite = load_suite(name)
    findings = checks.check(suite)  # raises (one line, exit 2) for a suite that must pass them
    for finding in findings:
        err.print(f"warning: {finding.text} (published before the checks: kept as it is)", highlight=False)
    if not findings:
        console.print(
            f"{suite.id} passes the suite checks: no constant action is near-optimal, every maze is reachable"
        )


def _calibrate(name: str, fmt: str, episodes: int) -> None:
    """Print re-measured references as TOML to paste into a NEW suite version (published ones never change)."""
    from arena.suites import load_suite
    from arena.suites.calibrate import calibrate

    check_format(fmt, ("table", "json", "toml"))
    suite = load_suite(name)
    from arena.suites import checks

    for finding in checks.check(suite):  # refuses (one line, exit 2) a new suite that fails them
        err.print(f"warning: {finding.text} (published before the checks: kept as it is)", highlight=False)
    err.print(f"calibrating {suite.id}: random policy, {episodes} episodes per variant...")
    refs = calibrate(suite, episodes=episodes)
    if fmt == "json":
        print_json(refs)
        return
    lines = [f"# references for {suite.id}, re-measured by `arena suite calibrate {name}`"]
    for key, ref in refs.items():
        table = (
            f"families.{key}.reference"
            if "(" not in key and key in {p.family for p in suite.families}
            else f'references."{key}"'
        )
        reference = "nan" if ref["reference"] is None else repr(float(ref["reference"]))
        lines += [
            f"[{table}]",
            f"random = {float(ref['random'])!r}",
            f"reference = {reference}",
            f"method = {json.dumps(ref['method'])}",
            "",
        ]
    sys.stdout.write("\n".join(lines))
