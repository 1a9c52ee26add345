"""`python -m simgap.sweep --until-decided`: after the grid, add runs until the law assumptions are decided.

Each round: read the analysis' assumptions (laws.json); take the undecided ones (all, or those
named with --decide) as targets; rank the candidate additions (simgap.plan.additions: more
seeds, teachers, a teacher length, a student) by expected CI shrinkage per FLOP; add the best as
new units in the same run directory; train only those; analyse again. It stops when every target
is decided, when no addition can move the targets left (each is said, with what it needs), or when
--max-minutes / --max-flops would be exceeded. The run directory stays locked from the first round
to the final report.
DIR/decide.json records every round (what was added and why, the targets' CIs after it) and is
written before a round trains, so a killed round resumes: its units are planned again and only
those not yet done are trained (by a plain --resume too, which adds no round).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from pathlib import Path

from simgap import distributed, engine, memory, plots, rundir
from simgap import rows as rows_lib
from simgap.config import ASSUMPTION_TOLERANCES, ConfigError
from simgap.families import from_config
from simgap.fit.results import to_json
from simgap.fit.results_read import load
from simgap.fit.verdicts import Assumption, undecided
from simgap.plan.additions import (OPTIMA_CHECKS, REACH, assumptions_of, describe, extend, grid_now, new_units, rank,
                                   seeds_factor, unit_flops)

LOG = "decide.json"
EQ8 = ("teacher_only_through_loss", "limit_properties", "extrapolates", "agrees_with_optima")  # need the Eq. 8 fit


def check_names(names: tuple[str, ...]) -> None:
    """--decide names must be assumption names (one clear error otherwise)."""
    bad = [n for n in names if n not in ASSUMPTION_TOLERANCES]
    if bad:
        raise ConfigError(f"--decide: unknown assumption {bad[0]!r}; expected names from {sorted(ASSUMPTION_TOLERANCES)}")


def load_rounds(out: Path | None) -> list[dict]:
    """The rounds DIR/decide.json records ([] when there is none); a damaged file is one error."""
    path = Path(out or ".") / LOG
    if out is None or not path.exists():
        return []
    try:
        rounds = json.loads(path.read_text())["rounds"]
        if isinstance(rounds, list) and all(isinstance(r, dict) and "addition" in r for r in rounds):
            return rounds
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        pass
    raise rundir.RunDirError(f"{path} is damaged (not a list of rounds); move it away to resume the grid alone")


def save_rounds(out: Path, rounds: list[dict]) -> None:
    rows_lib.atomic_write_text(Path(out) / LOG, json.dumps(to_json({"rounds": rounds}), indent=1, allow_nan=False))


def round_units(family, cfg, rounds: list[dict]) -> list[engine.Unit]:
    """Every recorded round's units, their ids prefixed by the round (r1-teacher-w64-b…), in
    units of the grid's seed count (compiled once, by the grid)."""
    out, grid = [], cfg.grid
    for r in rounds:
        after = extend(grid, r["addition"])
        out += new_units(family, grid, after, cfg.train, f"r{r['round']}-", seeds_per_unit=len(cfg.grid.seeds))
        grid = after
    return out


def targets(assumptions, names: tuple[str, ...], grid=None) -> list[Assumption]:
    """The undecided assumptions (all, or those named). A named one the analysis did not produce
    at all is a target too: undecided and not tested, with what would produce it."""
    out = [a for a in assumptions if a.verdict == "undecided" and (not names or a.name in names)]
    produced = {a.name for a in assumptions}
    return out + [dataclasses.replace(undecided(n, not_produced(n, grid)), tested=False)
                  for n in dict.fromkeys(names) if n not in produced]


def not_produced(name: str, grid) -> str:
    """What the analysis needs to test `name` at all (a sweep's analysis did not produce it)."""
    if name in OPTIMA_CHECKS:
        n = len(grid.teacher_sizes) if grid is not None else None
        return ("not tested: the optimum analysis needs ≥ 3 teacher sizes" + (f" (the grid has {n})" if n is not None else "")
                + " and distilled runs that did not diverge")
    if name == "agrees_with_optima":
        return ("not tested: an Eq. 8 fit (distilled runs with their teachers' losses) and students with an interior "
                "optimal teacher (≥ 3 teacher sizes)")
    if name in EQ8:
        return "not tested: an Eq. 8 fit (distilled runs with their teachers' losses)"
    if name == "irreducible_loss":
        return "not tested: runs whose family knows its irreducible loss"
    return "not tested: a supervised law (supervised runs: grid.supervised = true)"


def _locked(out: Path):
    """The run directory's lock, held by the writing process for the whole run (simgap.rundir)."""
    return rundir.locked(out) if distributed.is_writer() else contextlib.nullcontext()


def until_decided(cfg, out: Path, names: tuple[str, ...] = (), max_minutes: float = 30.0,
                  max_flops: float = math.inf, run=None, echo=print, more: bool = True) -> list[dict]:
    """Train the grid (and any recorded rounds), then add rounds until the targets are decided or
    only targets no addition can move remain (more=False: add none; a plain resume of DIR).
    `run(cfg, out, extra_units, eq8=…)` trains what is missing and analyses (simgap.sweep.run_sweep).
    The run directory stays locked from the first round to the final report.
    Rounds are cheap: every analysis reuses the fits whose rows did not change (simgap.fit.memo);
    and when the targets are named and none is an Eq. 8 check, the rounds' analyses skip Eq. 8 (its
    fit, bootstrap and nested law: most of the time) and one full analysis ends the run, the same
    as a fresh analysis of the final table."""
    family = from_config(cfg)
    light = more and bool(names) and not set(names) & set(EQ8)
    try:  # as the sweep does, before the run directory is made (locking it makes it)
        memory.check_buckets(family, engine.plan(family, cfg.grid, cfg.train), cfg.train.batch_size)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    with _locked(out):
        rounds = _rounds(cfg, out, names, (max_minutes, max_flops), run, echo, family, light, more)
        if light:
            echo("until-decided: final analysis (with Eq. 8)")
            run(cfg, out, round_units(family, cfg, rounds), eq8=True)
            write_report(out, rounds)
    return rounds


def _rounds(cfg, out, names, budget, run, echo, family, light: bool, more: bool) -> list[dict]:
    start, rounds = time.perf_counter(), load_rounds(out)
    # seconds per FLOP of the latest round (its training, compiles and analysis); not measured by a
    # first call that resumes a directory (it may train nothing), and the grid's cold start (every
    # program compiled) is only used until a round has been measured
    rate, measured = 0.0, not (Path(out) / "results.csv").exists()
    while True:
        t0 = time.perf_counter()
        run(cfg, out, round_units(family, cfg, rounds), eq8=not light)
        done = rounds[-1]["flops"] if rounds else unit_flops(family, cfg, engine.plan(family, cfg.grid, cfg.train))
        if measured and done > 0:
            rate = (time.perf_counter() - t0) / done
        measured = True
        laws = load(Path(out) / "laws.json")
        if rounds and rounds[-1].get("after") is None:
            round_names = {t.name for t in assumptions_of(rounds[-1]["targets"])}  # its targets, whatever --decide says now
            rounds[-1]["after"] = [to_json(a) for a in laws.assumptions if a.name in round_names]
            save_rounds(out, rounds)
        write_report(out, rounds)
        if not more:
            return rounds
        todo = targets(laws.assumptions, names, grid_now(cfg.grid, rounds))
        nxt = _next_round(family, cfg, out, rounds, todo, laws, (time.perf_counter() - start) / 60, rate, budget, echo)
        if nxt is None:
            return rounds
        rounds.append(nxt)
        save_rounds(out, rounds)  # before training: a kill resumes this round
        echo(f"until-decided round {len(rounds)}: {describe(nxt['addition'])} ({nxt['flops']:.3g} FLOPs; {nxt['why']})")


def _next_round(family, cfg, out, rounds, todo, laws, minutes: float, rate: float, budget, echo) -> dict | None:
    """The next round's record, or None (and why, said) when the loop ends: every target decided,
    none an addition can move (each said with what it needs), or the budget spent."""
    if not todo:
        echo(f"until-decided: every targeted assumption is decided after {len(rounds)} round(s)")
        return None
    max_minutes = budget[0]
    rows = rows_lib.read_csv(Path(out) / "results.csv")
    reach = _reach(family, cfg, rounds, minutes, rate, budget)
    ranked = rank(family, cfg, rounds, todo, laws.students, rows, reach)
    stuck = [t for i, t in enumerate(todo) if not any(c.get("gains", [0] * len(todo))[i] > 0 for c in ranked)]
    ranked = [c for c in ranked if c["score"] > 0]
    fits = _fitting(ranked, rounds, minutes, rate, budget)
    if not fits:
        for t in stuck:  # said once, when the loop ends
            why = (f"it needs ≈ {seeds_factor(t):.1f}× the seeds, the budget left pays for ≈ {reach:.1f}×"
                   if 1 < seeds_factor(t) <= REACH and seeds_factor(t) > reach else t.needs or "no addition moves it")
            echo(f"until-decided: {t.label} cannot be decided by this grid: {why}")
    if not ranked:
        echo(f"until-decided: stopping after {len(rounds)} round(s): no addition can decide what is left "
             f"({', '.join(sorted({t.name for t in todo}))})")
        return None
    spent = sum(r["flops"] for r in rounds)
    if not fits:
        nxt = ranked[0]
        echo(f"until-decided: budget spent ({minutes:.1f} of {max_minutes:g} min, {spent:.3g} FLOPs): the next round "
             f"({describe(nxt['addition'])}) would take ≈ {nxt['flops'] * rate / 60:.1f} min and {nxt['flops']:.3g} "
             "FLOPs; still undecided: " + ", ".join(sorted({t.name for t in todo})))
        return None
    best = fits[0]
    return {"round": len(rounds) + 1, "addition": best["addition"], "flops": best["flops"],
            "why": best["why"], "gains": best["gains"], "targets": [to_json(t) for t in todo],
            "half_widths_before": [t.half_width for t in todo],
            "candidates": [{"addition": c["addition"], "flops": c["flops"], "score": c["score"]} for c in ranked],
            "after": None}


def _reach(family, cfg, rounds: list[dict], minutes: float, rate: float, budget) -> float:
    """How many times the seeds so far the budget left can still pay for (at most REACH): 1 + the
    FLOPs left (by --max-flops, and by --max-minutes at the latest measured seconds per FLOP) over
    the FLOPs of every run so far. A target needing more seeds than that is not chased."""
    max_minutes, max_flops = budget
    spent = sum(r["flops"] for r in rounds)
    so_far = unit_flops(family, cfg, engine.plan(family, cfg.grid, cfg.train)) + spent
    left = max_flops - spent
    if rate > 0:
        left = min(left, (max_minutes - minutes) * 60 / rate)
    return min(REACH, 1 + max(left, 0.0) / so_far) if so_far > 0 else REACH


def _fitting(ranked: list[dict], rounds: list[dict], minutes: float, rate: float, budget) -> list[dict]:
    """--max-minutes is a cap, not a deadline to start by: the additions whose predicted time (their
    FLOPs at the latest measured rate) and FLOPs fit in what is left, best first."""
    max_minutes, max_flops = budget
    spent = sum(r["flops"] for r in rounds)
    return [c for c in ranked if minutes + c["flops"] * rate / 60 <= max_minutes and spent + c["flops"] <= max_flops]


def first_round_plan(cfg, out: Path | None, names: tuple[str, ...], echo=print) -> None:
    """--dry-run --until-decided: the first round's ranked candidates, from a finished analysis in `out`."""
    path = Path(out) / "laws.json" if out else None
    if not (path and path.exists()):
        echo("until-decided: the first round is planned from the grid's analysis; run the grid first "
             "(or pass --resume DIR of a finished sweep) to see it")
        return
    laws = load(path)
    family = from_config(cfg)
    rounds = load_rounds(out)
    todo = targets(laws.assumptions, names, grid_now(cfg.grid, rounds))
    echo(f"until-decided: {len(todo)} undecided target(s): " + ", ".join(sorted({t.name for t in todo})))
    for c in rank(family, cfg, rounds, todo, laws.students, rows_lib.read_csv(Path(out) / "results.csv")):
        echo(f"  {describe(c['addition'])}: {c['flops']:.3g} FLOPs, score {c['score']:.3g} ({c['why']})")


def history(rounds: list[dict]) -> dict[str, list[tuple[float, float]]]:
    """Per assumption: (cumulative round FLOPs, CI half-width) before round 1 and after every round."""
    out: dict[str, list[tuple[float, float]]] = {}
    names: dict[str, str] = {}  # an assumption's typed key -> its label, for people
    spent = 0.0
    for r in rounds:
        if r is rounds[0]:
            for t, h in zip(assumptions_of(r["targets"]), r["half_widths_before"]):
                names.setdefault(t.key(), t.label)
                out.setdefault(t.key(), []).append((0.0, math.inf if h is None else h))
        spent += r["flops"]
        for a in assumptions_of(r.get("after") or []):
            names.setdefault(a.key(), a.label)
            out.setdefault(a.key(), []).append((spent, a.half_width))
    return {names[k]: v for k, v in out.items()}


def report_section(rounds: list[dict], plot: str | None) -> list[str]:
    """report.md's "Until decided" section: each round's addition, cost and the targets' CIs after it."""
    if not rounds:
        return []
    L = ["## Until decided", "", f"{len(rounds)} round(s) after the grid (`decide.json`); CI half-width of each "
         "targeted assumption against the FLOPs the rounds added" + (f": `{plot}`." if plot else "."), "",
         "| round | added | FLOPs | why | verdicts after |", "|---|---|---|---|---|"]
    for r in rounds:
        after = assumptions_of(r.get("after") or [])
        verdicts = ", ".join(f"{a.label}: {a.verdict}" for a in after) or "(training)"
        L.append(f"| {r['round']} | {describe(r['addition'])} | {r['flops']:.3g} | {r['why']} | {verdicts} |")
    return L + [""]


def write_report(out: Path, rounds: list[dict]) -> None:
    """Add the rounds to report.md (and plot CI half-width against cumulative FLOPs)."""
    path = Path(out) / "report.md"
    if not rounds or not path.exists():
        return
    name = plots.plot_ci_history(history(rounds), Path(out) / "until_decided.png")
    text = path.read_text().split("## Until decided")[0].rstrip() + "\n\n"
    rows_lib.atomic_write_text(path, text + "\n".join(report_section(rounds, Path(name).name)))
