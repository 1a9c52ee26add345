"""The runs `--until-decided` can add to a run directory (simgap.decide): what each addition is,
which are possible now, and what each is worth, i.e. expected CI shrinkage per FLOP.

Candidates (FLOPs: simgap.engine's useful FLOPs of exactly the units they add):
- "seeds": the whole grid on as many new seeds again: every CI narrows by ≈ 1 − 1/√2;
- "teachers": a teacher between grid points on each side of each student's optimal teacher (all
  seeds); for the slope targets its shrinkage is simgap.plan.design's parametric bootstrap,
  otherwise assumed that of one more seed's worth;
- "teacher length": every teacher at twice the longest training length: makes
  ratio_independent_of_budget (one series) and teacher_only_through_loss (L_T and N_T move
  together) decidable at all;
- "student": a student at the geometric midpoint of the widest gap between adjacent students
  with interior optima, supervised and distilled from every teacher trained so far; for the slope
  targets its shrinkage is plan.design's bootstrap with its curve interpolated between its
  neighbours', otherwise (and for break_at_fixed_ratio) assumed that of one more point of the
  law's n: 1 − √(n/(n+1)); 0 for gap_exists of the existing students.
These predictions are models; each kind's is scaled by the share its earlier rounds achieved
(`realization`), so an addition that is cheap but does not move the CIs stops being picked.
Each addition extends one axis of the grid so far (`grid_now`) and adds only the runs that grid
did not have (`new_units`): new seeds get every teacher size and length added by earlier rounds,
and no teacher (size, length, seed) is ever trained twice.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from simgap import engine, flops as flops_lib
from simgap.fit.results import StudentOptimum
from simgap.fit.results_read import assumption_from_json
from simgap.fit.verdicts import Assumption
from simgap.plan import design
from simgap.plan.compute import PlanError

SEEDS, TEACHERS, LENGTH, STUDENT = "seeds", "teachers", "teacher length", "student"
ONE_SERIES = ("ratio_independent_of_budget", "teacher_only_through_loss")
SLOPE = ("slope_pinned", "linear")
OPTIMA_CHECKS = ("gap_exists", "linear", "slope_pinned", "ratio_independent_of_budget", "break_at_fixed_ratio")
# where each two-sided check holds exactly (gap_exists: a dip of 0); slope_pinned is relative to its slope
EXACT = {"chinchilla_form": 1.0, "linear": 1.0, "ratio_independent_of_budget": 1.0, "break_at_fixed_ratio": 1.0,
         "irreducible_loss": 0.0, "gap_exists": 0.0, "agrees_with_optima": 0.0}
REACH = 100  # more than this many times the seeds: "more seeds alone will not do it" (simgap.fit.verdicts)


def assumptions_of(records: list[dict]) -> list[Assumption]:
    """A round's recorded targets or verdicts (decide.json holds each as Assumption.to_json) read back."""
    return [a if isinstance(a, Assumption) else assumption_from_json(a) for a in records]


def extend(grid: engine.Grid, addition: dict) -> engine.Grid:
    """`grid` with one addition's axis extended (seeds, teacher sizes, teacher lengths or students)."""
    kind = addition["kind"]
    if kind == SEEDS:
        return dataclasses.replace(grid, seeds=tuple(grid.seeds) + tuple(addition["seeds"]))
    if kind == TEACHERS:
        return dataclasses.replace(grid, teacher_sizes=tuple(sorted({*grid.teacher_sizes, *addition["teacher_sizes"]})))
    if kind == STUDENT:
        return dataclasses.replace(grid, student_sizes=tuple(sorted({*grid.student_sizes, *addition["student_sizes"]})))
    return dataclasses.replace(grid, teacher_budgets=tuple(grid.teacher_budgets) + tuple(addition["teacher_budgets"]))


def grid_now(grid: engine.Grid, rounds: list[dict]) -> engine.Grid:
    """The grid every recorded round has extended so far (each round extends one axis of it)."""
    for r in rounds:
        grid = extend(grid, r["addition"])
    return grid


def new_units(family, before: engine.Grid, after: engine.Grid, train, prefix: str = "",
              seeds_per_unit: int = 0) -> list[engine.Unit]:
    """The units of `after` less every run `before` already has: a round trains what is new only
    (new seeds get every teacher size and length added so far, a new student is distilled from the
    teachers already trained, none of which is trained again). With `seeds_per_unit` k, a unit's
    new runs are split into units of k seeds each (ids …-c0, -c1, …): with k the grid's seed count,
    a round's programs have the grid's shapes and reuse its compiles instead of making new ones."""
    old = {(u.kind, m) for u in engine.plan(family, before, train) for m in u.members}
    out = []
    for u in engine.plan(family, after, train):
        ms = tuple(m for m in u.members if (u.kind, m) not in old)
        seeds = sorted({m.seed for m in ms})
        per = seeds_per_unit or len(seeds) or 1
        chunks = [set(seeds[i:i + per]) for i in range(0, len(seeds), per)]
        for j, chunk in enumerate(chunks):
            part = tuple(m for m in ms if m.seed in chunk)
            sources = {k for m in part if (k := engine.prune_source(family, after, u.kind, m)) is not None}
            needs = tuple(sorted(({m.teacher for m in part} if u.kind == "distilled" else set()) | sources))
            uid = prefix + u.uid + (f"-c{j}" if len(chunks) > 1 else "")
            out.append(dataclasses.replace(u, uid=uid, members=part, needs=needs))
    return out


def candidates(cfg, rounds: list[dict], optima: tuple[StudentOptimum, ...], family_step: int = 1,
               family=None) -> list[dict]:
    """The additions possible now (their grids are planned and costed in `rank`); new sizes are
    multiples of the family's size step (`family`, when given, says which pairs a new student gets)."""
    g = grid_now(cfg.grid, rounds)
    seeds_now, teachers_now = sorted(g.seeds), sorted(g.teacher_sizes)
    out = [{"kind": SEEDS, "seeds": list(range(max(seeds_now) + 1, max(seeds_now) + 1 + len(seeds_now)))}]
    new = set()
    for o in optima:
        t = o.knob.optimal_teacher  # teacher sizes are the grid's knob
        if not (o.params.interior and math.isfinite(t)):
            continue
        below = max((x for x in teachers_now if x <= t), default=None)
        above = min((x for x in teachers_now if x > t), default=None)
        for a, b in ((below, t), (t, above)):
            if a is not None and b is not None:
                mid = family_step * int(round(math.sqrt(a * b) / family_step))  # a size the family has
                if mid not in teachers_now and min(a, b) < mid < max(a, b):
                    new.add(mid)
    new |= _to_three(teachers_now, family_step)
    if new:
        out.append({"kind": TEACHERS, "teacher_sizes": sorted(new)})
    if 0 not in g.teacher_budgets:
        out.append({"kind": LENGTH, "teacher_budgets": [2 * max(g.teacher_budgets)]})
    student = student_between(g, optima, family_step, family)
    if student is not None:
        out.append({"kind": STUDENT, "student_sizes": [student]})
    return out


def _to_three(sizes: list[int], step: int) -> set[int]:
    """With fewer than 3 teacher sizes (no optimum can be located): the geometric midpoint of each
    adjacent pair, then twice the largest, until there are 3."""
    out = {m for a, b in zip(sizes, sizes[1:]) if a < (m := step * int(round(math.sqrt(a * b) / step))) < b}
    while sizes and len(sizes) + len(out) < 3:
        out.add(2 * max([*sizes, *out]))
    return out if len(sizes) < 3 else set()


def student_between(grid: engine.Grid, optima: tuple[StudentOptimum, ...], step: int = 1,
                    family=None) -> int | None:
    """Another student size: the geometric midpoint of the widest gap (in log size) between two
    adjacent students of the grid that both have an interior optimum (in some series), where it is
    a new size on the family's size `step` and is paired with ≥ 3 teachers, enough to locate its
    optimum (under pruned_from_teacher only larger teachers pair; with `grid.teacher_params_ratio`
    only those in its window, which needs `family`'s parameter counts).
    Not one beyond the largest student: its teachers would be the grid's, and as T* grows with
    the student its optimum would more likely sit at the grid's edge (a bound, not a point)."""
    count = family.param_count if family is not None else (lambda n: n)  # without a family: sizes for parameters
    inner = {int(o.student_size) for o in optima if o.params.interior}
    students = sorted(grid.student_sizes)
    gaps = sorted(((math.log(b / a), a, b) for a, b in zip(students, students[1:]) if {a, b} <= inner), reverse=True)
    for _, a, b in gaps:
        mid = step * int(round(math.sqrt(a * b) / step))  # a size the family has
        enough = sum(grid.runs_pair(mid, t, count) for t in grid.teacher_sizes) >= 3
        if a < mid < b and mid not in grid.student_sizes and enough:
            return mid
    return None


def design_shrinkage(rows: list[dict], student: int | None = None) -> dict[tuple, dict[str, float]]:
    """simgap.plan.design's parametric bootstrap on each (student budget, teacher length) series: the
    fraction of the teacher-law slope's CI width that doubling the seeds / adding teachers next to
    each optimum / a student at `student` (its curve interpolated between its neighbours') removes.
    A series the design cannot be built from (or, for the student, whose students do not bracket
    it) is left out: its targets fall back to expected_shrinkage's stated assumptions."""
    dist = [r for r in rows if r["run_kind"] == "distilled" and not r["diverged"]]
    out = {}
    for key in sorted({(r["student_budget"], r["teacher_budget"], r["lam"], r["tau"]) for r in dist}):
        sel = [r for r in dist if (r["student_budget"], r["teacher_budget"], r["lam"], r["tau"]) == key]
        cols = {c: np.array([r[c] for r in sel], float) for c in ("student_size", "teacher_size", "student_loss", "seed")}
        try:
            pilot = design.pilot_from_columns(cols)
            base = design.predict(pilot, max(pilot.students), n_boot=300)
            try:
                ranked, kinds = design.rank_additions(pilot, max(pilot.students), n_boot=300, base=base,
                                                      student_at=student), {"student": STUDENT}
            except PlanError:  # the student is outside this series' students
                ranked, kinds = design.rank_additions(pilot, max(pilot.students), n_boot=300, base=base), {}
        except (PlanError, ValueError, FloatingPointError):
            continue
        kinds |= {"seeds": SEEDS, "teacher": TEACHERS}
        if base.slope_width > 0:
            out[key[:2]] = {kinds[c["kind"]]: max(0.0, 1 - c["slope_ci_width"] / base.slope_width)
                            for c in ranked if c["kind"] in kinds}
    return out


def series_of(target: Assumption, keys) -> tuple | None:
    """The (student budget, teacher length) series of `keys` a teacher-law target was tested on: its
    typed `budget` and `teacher_budget` (NaN where the analysis did not split by it, which matches
    any series; its `subject` is a label for people and is not read)."""
    b, tb = target.budget, target.teacher_budget
    split_b, split_tb = math.isfinite(b), math.isfinite(tb)
    match = [k for k in keys if (not split_b or b == k[0]) and (not split_tb or tb == k[1])]
    return match[0] if len(match) == 1 or (match and not split_b and not split_tb) else None


def seeds_factor(target: Assumption) -> float:
    """How many times its seeds would decide a two-sided `target`, if its CI shrinks as 1/√seeds
    (the verdict's own "≈ k× the seeds"); 1 for a check without that form."""
    name, est, tol, half = target.name, target.estimate, target.tolerance, target.half_width
    if not (math.isfinite(est) and math.isfinite(tol) and math.isfinite(half)) or not (name in EXACT or name == "slope_pinned"):
        return 1.0
    if name == "slope_pinned":  # its verdict's rule: the CI's farther end from the slope (simgap.fit.assumptions)
        half = max(target.ci[1] - est, est - target.ci[0])
        want = tol * abs(est)
    else:
        off = abs(est - EXACT[name])
        want = max(tol - off, off)  # holds needs half ≤ tol − off, fails half < off: the nearer
    return (half / want) ** 2 if want > 0 else math.inf


def expected_shrinkage(addition: dict, target: Assumption, n_series: int, design: dict[str, float],
                       n_inner: int = 0, n_seeds: int = 2, n_teachers: int = 3, reach: float = REACH) -> float:
    """Fraction of the target's CI half-width the addition is expected to remove (0 … 1); 0 for a
    target it cannot move: one the analysis did not produce (only teachers, up to 3 sizes, make the
    optimum checks), one without a CI (seeds give one only to a 1-seed grid), one that needs more
    than `reach`× the seeds (REACH, or less: what the budget left can pay for, simgap.decide).
    `design`: plan.design's shrinkage per kind in the target's series;
    `n_inner`: students with a located optimum, the points a teacher law is fitted on."""
    kind, name = addition["kind"], target.name
    if not target.tested:
        return 1.0 if kind == TEACHERS and name in OPTIMA_CHECKS and n_teachers < 3 else 0.0
    if seeds_factor(target) > reach:
        return 0.0
    if kind == SEEDS and not math.isfinite(target.half_width):
        return 1 - math.sqrt(0.5) if n_seeds < 2 else 0.0
    if name in SLOPE and kind in design:
        return design[kind]
    if kind == SEEDS:
        return 1 - math.sqrt(0.5)  # twice the seeds: CIs shrink as 1/√seeds
    if kind == LENGTH:
        return 1.0 if name in ONE_SERIES and n_series < 2 else 0.0
    if kind == STUDENT:  # assumed: one more interior point of ~n_inner, a slope's CI ∝ 1/√points
        helps = name in SLOPE + ("break_at_fixed_ratio",) or (name == "ratio_independent_of_budget" and n_series >= 2)
        return 1 - math.sqrt(n_inner / (n_inner + 1)) if helps and n_inner >= 2 else 0.0
    if name in SLOPE + ("break_at_fixed_ratio",):
        return 1 - math.sqrt(0.5 ** (1 / 3))  # assumed: a finer grid near T* ≈ a third of doubling the seeds
    return 0.0  # gap_exists: a teacher between grid points adds a comparison to its simultaneous band (wider, not narrower)


PRIOR = 0.25  # predicted shrinkage counted as achieved before any round of a kind has run


def realization(rounds: list[dict]) -> dict[str, float]:
    """Per addition kind, the share of its predicted CI shrinkage that its earlier rounds achieved:
    (achieved + PRIOR) / (predicted + PRIOR), in [0, 1], pooled over the kind's rounds and targets.
    A target counts as achieved as predicted when the round decided it or gave it a CI it lacked;
    else 1 − half-width after / before (negative when the CI widened). The predictions are models
    (1/√seeds, plan.design's bootstrap with interpolated curves); this keeps a kind whose rounds do
    not deliver (e.g. students whose optima are too noisy to move a slope) from being picked again
    only because it is cheap."""
    got: dict[str, list[float]] = {}
    for r in rounds:
        if not r.get("gains") or r.get("after") is None:
            continue
        after = {a.key(): a for a in assumptions_of(r["after"])}
        g = got.setdefault(r["addition"]["kind"], [0.0, 0.0])
        for t, h0, predicted in zip(assumptions_of(r["targets"]), r["half_widths_before"], r["gains"]):
            h0 = math.inf if h0 is None else h0
            if predicted <= 0 or t.key() not in after:
                continue
            a = after[t.key()]
            if a.verdict != "undecided" or (not math.isfinite(h0) and math.isfinite(a.half_width)):
                achieved = predicted
            elif math.isfinite(h0) and h0 > 0:
                achieved = 1 - a.half_width / h0
            else:
                achieved = 0.0
            g[0] += min(achieved, predicted)
            g[1] += predicted
    return {k: min(1.0, max(0.0, (a + PRIOR) / (p + PRIOR))) for k, (a, p) in got.items()}


def unit_flops(family, cfg, units) -> float:
    """The useful FLOPs of exactly these units (a candidate's cost; the grid's, for a round's rate)."""
    return sum(flops_lib.useful_flops(family, u, cfg.train) for u in units)


def rank(family, cfg, rounds: list[dict], todo: list[Assumption], optima: tuple[StudentOptimum, ...], rows: list[dict],
         reach: float = REACH) -> list[dict]:
    """Each candidate with its FLOPs (useful FLOPs of its units) and expected shrinkage per FLOP, best
    first; a target needing more than `reach`× the seeds gains from none."""
    now = grid_now(cfg.grid, rounds)
    adds = candidates(cfg, rounds, optima, family.size_step, family)
    student = next((a["student_sizes"][0] for a in adds if a["kind"] == STUDENT), None)
    design = design_shrinkage(rows, student) if any(t.name in SLOPE for t in todo) else {}
    n_inner = len({o.student_size for o in optima if o.params.located})  # the teacher law's points
    achieved = realization(rounds)
    out = []
    for add in adds:
        try:
            units = new_units(family, now, extend(now, add), cfg.train)
        except ValueError as e:  # e.g. a pruned init the added grid cannot serve
            out.append({"addition": add, "flops": math.inf, "score": 0.0, "why": f"not possible: {e}"})
            continue
        flops = unit_flops(family, cfg, units)
        factor = achieved.get(add["kind"], 1.0)
        gains = [factor * expected_shrinkage(add, t, len(now.teacher_budgets), design.get(series_of(t, design), {}),
                                             n_inner, len(now.seeds), len(now.teacher_sizes), reach)
                 for t in todo]  # one per target, in todo's order
        score = sum(gains) / flops if flops > 0 else 0.0
        why = ", ".join(f"{t.label}: −{v:.0%}" for t, v in zip(todo, gains) if v > 0) or "no target gains"
        if factor < 1.0:
            why += f" (× {factor:.2f}: what earlier {add['kind']} rounds achieved of their prediction)"
        out.append({"addition": add, "flops": flops, "score": score, "gains": gains, "why": why})
    return sorted(out, key=lambda c: -c["score"])


def describe(add: dict) -> str:
    if add["kind"] == SEEDS:
        return f"{len(add['seeds'])} more seeds ({add['seeds'][0]}–{add['seeds'][-1]}) on the whole grid"
    if add["kind"] == TEACHERS:
        return f"teachers {add['teacher_sizes']} around the students' optimal teachers"
    if add["kind"] == STUDENT:
        return f"student {add['student_sizes'][0]} (supervised and distilled from every teacher so far)"
    return f"every teacher also at training length {add['teacher_budgets'][0]:g}"
