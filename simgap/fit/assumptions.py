"""Each law's assumptions, tested on the table's own runs: an effect, a CI, a verdict (simgap.fit.verdicts).

Checks on optima (gap_exists, linear, slope_pinned, ratio_independent_of_budget,
break_at_fixed_ratio) resample seeds: a seed's runs (every teacher, student and budget) are drawn
together, as in simgap.optima, the same draws for every student, and each replicate relocates
every student's optimum (the refined vertex of its seed-mean curve) before the statistic is
recomputed (`seed_optima`: one resample per setting, which the teacher laws' own CIs use too, so
`linear` and `slope_pinned` read the fitted laws' slope and exponent CIs and the report can quote
one interval). Their intervals are Hesterberg's expanded percentile intervals (simgap.intervals),
which matched nominal coverage of a known optimum with 5-8 seeds. The supervised checks read the
supervised law's bootstrap over points. gap_exists reads the dip's paired, simultaneous CI.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from simgap.config import FitOptions
from simgap.fit.identify import profile
from simgap.fit.objectives import LOG_FLOOR
from simgap.fit.results import LawSection, OptimaSection, Skipped, ok
from simgap.fit.teacher import TeacherLawFit, wls
from simgap.fit.verdicts import Assumption, assumption, equivalence, more_data, same_key, undecided
from simgap.intervals import mc_widened, seed_interval
from simgap.optima import refine_log_quadratic, resample_seeds, seed_curves


@dataclass(frozen=True)
class SettingRuns:
    """One setting's distilled runs as columns: what the seed bootstrap resamples."""

    student: np.ndarray  # the size column the optima use
    student_tokens: np.ndarray  # D of the supervised law (ones in its single-budget form)
    teacher: np.ndarray
    loss: np.ndarray
    seed: np.ndarray
    budget: np.ndarray  # the series key optima are split by (NaN: not split)
    teacher_budget: np.ndarray  # NaN: teachers of one training length
    teacher_loss: np.ndarray  # NaN: not in the table
    budget_kind: str | None = None  # what `budget` is (a column, or a column per size); None: not split
    series_kind: str | None = None  # what `teacher_budget` is; None: one series

    def teacher_quality(self) -> np.ndarray:
        """1 / L_T per row, L_T the seed-mean loss of the row's teacher (size × training length): the
        teacher-loss axis, ascending in quality, on which Eq. 8 says the teacher enters."""
        config = np.stack([self.teacher, np.nan_to_num(self.teacher_budget, nan=-1.0)], 1)
        _, inv = np.unique(config, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        return 1.0 / (np.bincount(inv, self.teacher_loss) / np.bincount(inv))[inv]

    def n_teachers(self) -> int:
        """Distinct teachers (size × training length)."""
        return len(np.unique(np.stack([self.teacher, np.nan_to_num(self.teacher_budget, nan=-1.0)], 1), axis=0))


def _key(x: float):
    return None if math.isnan(x) else float(x)


class _SeedBoot:
    """One seed resample for a whole setting; each student's optimum on any teacher axis."""

    def __init__(self, seeds: np.ndarray, n_boot: int, ci: float, rng_seed: int):
        self.seeds = np.unique(seeds)
        self.n_boot, self.rng_seed, self.ci = n_boot, rng_seed, ci

    def optimum(self, axis, loss, seed) -> tuple[float, np.ndarray, bool] | None:
        """(log optimum, its replicates, interior) of one student's curve; None below 3 teachers."""
        t, _, grid = seed_curves(axis, loss, seed, self.seeds)
        if len(t) < 3:
            return None
        log_t = np.log(t)
        point, i = refine_log_quadratic(log_t, np.nanmean(grid, 0)[None])
        reps = np.full(self.n_boot, np.nan)  # NaN where a resample holds none of this student's runs (or one seed)
        drawn = resample_seeds(grid, self.n_boot, self.rng_seed)  # the same draws for every student
        if drawn is not None:
            boot = drawn[0]
            seen = np.isfinite(boot).any(axis=1)
            reps[seen] = refine_log_quadratic(log_t, boot[seen])[0]
        return float(point[0]), reps, bool(0 < i[0] < len(t) - 1)

    def interval(self, samples, point: float) -> tuple[float, float]:
        return seed_interval(samples, self.ci, len(self.seeds), point)


def _slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of y on x along the last axis (y may hold replicates in rows)."""
    x = np.broadcast_to(x, y.shape)
    return wls(x, y, np.ones_like(y))[0]


def _series_label(b: float, tb: float, many_b: bool, many_tb: bool) -> str:
    parts = ([f"budget {b:g}"] if many_b and not math.isnan(b) else []) + (
        [f"teacher budget {tb:g}"] if many_tb and not math.isnan(tb) else [])
    return ", ".join(parts)


def gap_checks(optima: OptimaSection, opt: FitOptions, where: str) -> list[Assumption]:
    """gap_exists per student: holds when the dip (loss of the largest teacher − loss at the optimum,
    paired by seed, simultaneous over teachers) is beyond noise; fails when its upper CI bound is
    below the tolerance (any gap is smaller than that)."""
    tol = opt.tolerance("gap_exists")
    tbs = optima.teacher_budgets or (math.nan,) * len(optima.per_student)
    many_b = len({_key(o.budget) for o in optima.per_student}) > 1
    out = []
    for o, tb in zip(optima.per_student, tbs):
        label = ", ".join(filter(None, [f"student {o.student_size:g}",
                                        _series_label(o.budget, tb, many_b, optima.teacher_budget_kind is not None)]))
        kw = dict(effect="dip: loss(largest teacher) − loss(optimum), nats, paired by seed", subject=label, where=where,
                  student=o.student_size, budget=o.budget, teacher_budget=tb)
        lo, hi = o.dip_ci
        if not (math.isfinite(lo) and math.isfinite(hi)):
            out.append(undecided("gap_exists", "≥ 2 seeds (a CI for the dip)", o.dip_depth, o.dip_ci, tol, **kw))
        elif lo > 0:
            out.append(assumption("gap_exists", o.dip_depth, o.dip_ci, tol, "holds", **kw))
        elif hi < tol:
            out.append(assumption("gap_exists", o.dip_depth, o.dip_ci, tol, "fails", **kw))
        else:
            half = (hi - lo) / 2
            target = max(o.dip_depth, tol - o.dip_depth)
            extra = "; or larger teachers (the optimum is the largest teacher)" if o.edge == "largest" else ""
            out.append(assumption("gap_exists", o.dip_depth, o.dip_ci, tol, "undecided",
                                  f"a dip CI half-width ≤ {target:.3g} nats (now {half:.3g}): "
                                  f"{more_data(half, target, o.n_seeds)}{extra}", **kw))
    return out


@dataclass(frozen=True)
class SeriesOptima:
    """One series' (student budget × teachers' length) students on the teacher-size axis, located on
    the seed-mean curve and on every seed resample (the same draws for every student): the one seed
    bootstrap that the teacher laws' CIs and the ratio checks read."""

    budget: float  # NaN: optima not split by budget
    teacher_budget: float  # NaN: teachers of one training length
    found: dict  # student size -> (log optimum, its replicates, interior); students with ≥ 3 teachers
    ci: float
    n_seeds: int

    def is_series(self, budget: float, teacher_budget: float) -> bool:
        return same_key(self.budget, budget) and same_key(self.teacher_budget, teacher_budget)

    def interior(self) -> dict:
        return {s: v for s, v in self.found.items() if v[2]}

    def replicates(self, students) -> np.ndarray | None:
        """Replicates × students of T* (NaN where a resample misses a student); None with one seed
        or a student this series did not locate."""
        if self.n_seeds < 2 or any(s not in self.found for s in students):
            return None
        return np.exp(_common_replicates([self.found[s][1] for s in students]))

    def interval(self, samples, point: float) -> tuple[float, float]:
        return seed_interval(samples, self.ci, self.n_seeds, point)


def seed_optima(runs: SettingRuns, opt: FitOptions) -> list[SeriesOptima]:
    """Every series' students relocated on one seed resample of the whole setting (series sorted by key)."""
    boot = _SeedBoot(runs.seed, opt.optima_boot, opt.ci, opt.seed)
    keys = sorted({(_key(b), _key(t)) for b, t in zip(runs.budget, runs.teacher_budget)},
                  key=lambda k: tuple(-1 if v is None else v for v in k))
    out = []
    for b, tb in keys:
        m = (np.isnan(runs.budget) if b is None else runs.budget == b) & (
            np.isnan(runs.teacher_budget) if tb is None else runs.teacher_budget == tb)
        found = {s: boot.optimum(runs.teacher[m & (runs.student == s)], runs.loss[m & (runs.student == s)],
                                 runs.seed[m & (runs.student == s)]) for s in np.unique(runs.student[m])}
        out.append(SeriesOptima(math.nan if b is None else b, math.nan if tb is None else tb,
                                {s: v for s, v in found.items() if v is not None}, opt.ci, len(boot.seeds)))
    return out


def teacher_law_checks(series: list[SeriesOptima], teacher_laws, opt: FitOptions, where: str) -> list[Assumption]:
    """linear (the power law's exponent) and slope_pinned (the linear law's slope) per series, read
    from the series' fitted teacher laws (`TeacherLawSection`s, whose CIs are this seed bootstrap),
    and ratio_independent_of_budget between series."""
    many_b = len({_key(s.budget) for s in series}) > 1
    many_tb = len({_key(s.teacher_budget) for s in series}) > 1
    out = []
    for sr in series:
        kw = dict(subject=_series_label(sr.budget, sr.teacher_budget, many_b, many_tb), where=where,
                  budget=sr.budget, teacher_budget=sr.teacher_budget)
        tl = next((t for t in teacher_laws if sr.is_series(t.budget, t.teacher_budget)), None)
        lin, pw = (tl.linear, tl.loglog) if tl is not None else (None, None)
        if not (isinstance(lin, TeacherLawFit) and isinstance(pw, TeacherLawFit)):
            why = lin.reason if isinstance(lin, Skipped) else f"≥ 3 students with an interior optimum (got {len(sr.interior())})"
            need = (f"{why}: teachers on both sides of each student's optimum, seeds to narrow its CI, "
                    "or more students")
            out += [undecided("linear", need, tolerance=opt.tolerance("linear"), **kw),
                    undecided("slope_pinned", need, tolerance=opt.tolerance("slope_pinned"), **kw)]
            continue
        source = _CI_SOURCE.get(lin.ci_over, lin.ci_over)
        out.append(equivalence("linear", pw.slope, pw.slope_ci, 1.0, opt.tolerance("linear"), sr.n_seeds,
                               effect=f"exponent p of T* ∝ S^p (1: proportional; {source})", **kw))
        out.append(_pinned(lin.slope, lin.slope_ci, opt.tolerance("slope_pinned"), sr.n_seeds, source, **kw))
    return out + _ratio_checks(series, opt, where, many_b, many_tb)


def _common_replicates(reps: list[np.ndarray]) -> np.ndarray:
    """Replicates × students: row i is the same seed resample for every student."""
    return np.stack(reps, axis=1)


_CI_SOURCE = {"seeds": "seed bootstrap",
              "residuals": "one seed: least-squares t-interval from the residuals, assuming the students' optima err "
                           "independently"}


def _pinned(k: float, ci, tol: float, n_seeds: int, source: str = "seed bootstrap", **kw) -> Assumption:
    """slope_pinned: a precision target, so it holds or is undecided (more seeds always pin it)."""
    lo, hi = ci
    kw["effect"] = f"slope of the linear teacher law T* = k·S + b ({source}); tolerance relative to k"
    if not (math.isfinite(lo) and math.isfinite(hi)) or k == 0:
        return undecided("slope_pinned", "a CI: ≥ 2 seeds", k, ci, tol, **kw)
    rel = max(abs(hi - k), abs(k - lo)) / abs(k)
    if rel <= tol:
        return assumption("slope_pinned", k, ci, tol, "holds", **kw)
    return assumption("slope_pinned", k, ci, tol, "undecided",
                      f"CI half-width {rel:.0%} of the slope (≤ {tol:.0%} wanted): {more_data(rel, tol, n_seeds)}", **kw)


def _ratio_checks(series: list[SeriesOptima], opt: FitOptions, where: str, many_b: bool, many_tb: bool):
    tol = opt.tolerance("ratio_independent_of_budget")
    effect = "T*/S of this series over the reference's, geometric mean over common students (1: the same)"
    if len(series) < 2:
        return [undecided("ratio_independent_of_budget",
                          "a second student budget or teacher training length (one series: nothing to compare)",
                          tolerance=tol, effect=effect, where=where)]
    ref, out = series[0], []
    label = lambda s: _series_label(s.budget, s.teacher_budget, many_b, many_tb)  # noqa: E731
    for sr in series[1:]:
        kw = dict(effect=effect, subject=f"{label(sr)} vs {label(ref)}", where=where, budget=sr.budget,
                  teacher_budget=sr.teacher_budget, reference=(ref.budget, ref.teacher_budget))
        found, base = sr.interior(), ref.interior()
        common = sorted(set(found) & set(base))
        if not common:
            out.append(undecided("ratio_independent_of_budget", "students with interior optima in both series",
                                 tolerance=tol, **kw))
            continue
        d = np.mean([found[s][0] - base[s][0] for s in common])
        reps = _common_replicates([found[s][1] for s in common] + [base[s][1] for s in common])
        k = len(common)
        d_boot = (reps[:, :k] - reps[:, k:]).mean(axis=1)
        out.append(equivalence("ratio_independent_of_budget", math.exp(d), tuple(np.exp(sr.interval(d_boot, d))),
                               1.0, tol, sr.n_seeds, **kw))
    return out


def break_checks(runs: SettingRuns, supervised_loss: Callable | None, opt: FitOptions,
                 where: str, supervised_replicates: tuple[Callable, ...] = ()) -> list[Assumption]:
    """break_at_fixed_ratio per student budget: the slope of log L_T* (each student's best teacher on
    the teacher-loss axis, all sizes and lengths) on log L~_S = supervised_loss(N, D) (the fitted
    supervised law; None when there is none) is 1. With `supervised_replicates` (the supervised
    law's bootstrap refits), seed replicate i reads L~_S from refit i (cycled), so the CI carries the
    supervised law's uncertainty too."""
    tol = opt.tolerance("break_at_fixed_ratio")
    effect = "slope of log L_T* on log L~_S across students (1: a fixed ratio)"
    if not np.isfinite(runs.teacher_loss).all():
        return []
    if supervised_loss is None:
        return [undecided("break_at_fixed_ratio", "a converged supervised law (supervised rows) for L~_S",
                          tolerance=tol, effect=effect, where=where)]
    boot = _SeedBoot(runs.seed, opt.optima_boot, opt.ci, opt.seed)
    quality = runs.teacher_quality()  # optimised on 1/L_T, as the optima on the teacher-loss axis
    out = []
    many_b = len({_key(b) for b in runs.budget}) > 1
    for b in sorted({_key(b) for b in runs.budget}, key=lambda v: -1 if v is None else v):
        m = np.isnan(runs.budget) if b is None else runs.budget == b
        found, lsup = {}, {}
        for s in np.unique(runs.student[m]):
            r = m & (runs.student == s)
            v = boot.optimum(quality[r], runs.loss[r], runs.seed[r])
            if v is not None and v[2]:
                found[s] = v
                lsup[s] = float(supervised_loss(s, runs.student_tokens[r][0]))
        kw = dict(effect=effect, subject=f"budget {b:g}" if many_b and b is not None else "", where=where,
                  budget=math.nan if b is None else b)
        if len(found) < 3:
            out.append(undecided("break_at_fixed_ratio", f"≥ 3 students whose best teacher by L_T is interior (got "
                                 f"{len(found)}): teachers stronger and weaker than each student's optimum",
                                 tolerance=tol, **kw))
            continue
        S = sorted(found)
        x = np.log([lsup[s] for s in S])
        if np.ptp(x) < 1e-6:
            out.append(undecided("break_at_fixed_ratio", "students whose supervised losses differ", tolerance=tol, **kw))
            continue
        y = -np.array([found[s][0] for s in S])  # log L_T* = −log(quality*)
        reps = -_common_replicates([found[s][1] for s in S])
        xr = x
        if supervised_replicates:
            tokens = [runs.student_tokens[m & (runs.student == s)][0] for s in S]
            per = np.log([[float(f(s, d)) for s, d in zip(S, tokens)] for f in supervised_replicates])
            xr = per[np.arange(len(reps)) % len(per)]
        k = float(_slope(x, y))
        out.append(equivalence("break_at_fixed_ratio", k, boot.interval(_slope(xr, reps), k), 1.0, tol,
                               len(boot.seeds), **kw))
    return out


def _identified_gamma(a: Assumption, sup: LawSection, tol: float) -> Assumption:
    """chinchilla_form decided by the bootstrap CI only where the profile of γ agrees
    (simgap.fit.identify): fails needs γ = 1 rejected, holds needs 1 ± tol rejected; a bootstrap
    started at one optimum of a flat valley is tight however little the runs say about γ. A γ the
    runs do not identify (half and twice the estimate fit as well) is undecided whatever the CI, and
    says so: more runs of the same grid would not decide it."""
    ident = sup.identification
    if ident is None:
        return a
    if ident.identified("gamma"):
        if a.verdict == "fails" and ident.rejected("gamma", 1.0) or a.verdict == "undecided":
            return a
        if a.verdict == "holds" and ident.rejected("gamma", 1 - tol) and ident.rejected("gamma", 1 + tol):
            return a
    lo, hi = ident.flat_range("gamma")
    held = {"fails": "γ = 1 fits as well as the fit, ", "holds": f"γ = {1 - tol:g} or {1 + tol:g} fits as well, "}
    why = (f"γ is not identified by these runs: {held.get(a.verdict, '')}γ from (at least) {lo:.3g} to {hi:.3g} fits "
           f"as well (likelihood ratio ≤ {ident.critical:.2f}), whatever the bootstrap CI (refits from one optimum) "
           "says; supervised runs at ≥ 2 budgets per size (D varied apart from N) identify it"
           + (f" ({sup.fit.note})" if sup.fit.note else ""))
    return dataclasses.replace(a, verdict="undecided", needs=why)


def _profiled_E(a: Assumption, sup: LawSection, irreducible: float, tol: float, opt: FitOptions) -> Assumption:
    """irreducible_loss decided by the bootstrap CI only where a profile of E agrees (as γ for
    chinchilla_form): fails needs E = E_true rejected, holds needs E_true ± tol rejected (an end
    below 0 is excluded anyway). On a D = 20·N grid E trades against the power term: the bootstrap
    around one optimum called a true E "fails" in 26 of 44 tables."""
    if a.verdict == "undecided" or sup.identification is None:  # None: the supervised law was not profiled
        return a
    values = tuple(v for v in (irreducible, irreducible - tol, irreducible + tol) if v >= 0)
    ident = profile(sup.fit, {"E": values}, ci=opt.ci, seed=opt.seed, around=False)
    if a.verdict == "fails" and ident.rejected("E", irreducible):
        return a
    if a.verdict == "holds" and all(ident.rejected("E", v) for v in values if v != irreducible):
        return a
    held = f"E = E_true = {irreducible:.4g}" if a.verdict == "fails" else f"E = E_true ± {tol:.3g}"
    return dataclasses.replace(a, verdict="undecided", needs=(
        f"E is not identified by these runs: held at {held} the law fits as well (likelihood ratio ≤ "
        f"{ident.critical:.2f}), whatever the bootstrap CI (refits from one optimum) says; runs that reach "
        "lower losses (larger sizes and budgets, D varied apart from N) identify it"))


def supervised_checks(sup: LawSection | object, irreducible: float | None, opt: FitOptions,
                      where: str) -> list[Assumption]:
    """chinchilla_form (γ = 1) and, when the table knows it, irreducible_loss (E = E_true), from the
    supervised law's bootstrap over points."""
    out = []
    if not ok(sup):
        out.append(undecided("chinchilla_form", "a converged supervised law", tolerance=opt.tolerance("chinchilla_form"),
                             where=where))
        return out
    fixed, n = dict(sup.fit.fixed), sup.fit.n_points
    p = sup.fit.raw_params
    kw = dict(where=where)
    tol = opt.tolerance("chinchilla_form")
    # γ and E are only tested where the runs identify them: more distinct (size, budget) points than
    # free parameters (the transformer preset's 2 student sizes at 1 budget gave γ = 1.52 [1.52, 1.52])
    n_free = len(sup.fit.names) - len(fixed)
    distinct = len({(a, b) for a, b in zip(sup.fit.data["N"], sup.fit.data["D"])})
    if distinct <= n_free:
        need = (f"a supervised law the runs identify: {distinct} distinct (size, budget) points for {n_free} free "
                "parameters; more student sizes or budgets (or fix some parameters in [fit])")
        return [undecided(name, need, tolerance=opt.tolerance(name), **kw)
                for name in ("chinchilla_form",) + (("irreducible_loss",) if irreducible is not None else ())]
    if "gamma" in fixed:
        out.append(undecided("chinchilla_form", "gamma free in the fit (it is held fixed)", p.gamma, tolerance=tol, **kw))
    elif "gamma" not in sup.ci:
        out.append(undecided("chinchilla_form", "a bootstrap (bootstrap > 0)", p.gamma, tolerance=tol, **kw))
    else:
        out.append(_identified_gamma(equivalence("chinchilla_form", p.gamma, sup.ci["gamma"], 1.0, tol, n, unit="runs",
                                                 decide_ci=mc_widened(sup.bootstrap.samples["gamma"], opt.ci),
                                                 effect="gamma of L = E + (A/N^α + B/D^β)^γ", **kw), sup, tol))
    if irreducible is None:
        return out
    reducible = float(np.min(sup.fit.data["loss"])) - irreducible
    tol = opt.tolerance("irreducible_loss") * max(reducible, 0.0)
    kw["effect"] = (f"E − E_true (E_true = {irreducible:.4g}), nats; tolerance {opt.tolerance('irreducible_loss'):g} "
                    "of the best run's reducible loss")
    if "E" in fixed:
        out.append(undecided("irreducible_loss", f"E free in the fit (it is held fixed at {fixed['E']:g})",
                             fixed["E"] - irreducible, tolerance=tol, **kw))
    elif "E" not in sup.ci:
        out.append(undecided("irreducible_loss", "a bootstrap (bootstrap > 0)", p.E - irreducible, tolerance=tol, **kw))
    else:
        lo, hi = sup.ci["E"]
        # E lives in log coordinates, floored at LOG_FLOOR["E"] (1e-11): a CI end there is E = 0, so
        # E_true = 0 is inside the CI (the mlp preset was called "fails" on a lower end of 1.4e-11)
        lo = 0.0 if lo <= 10 * LOG_FLOOR["E"] else lo
        wlo, whi = mc_widened(sup.bootstrap.samples["E"], opt.ci)
        wlo = 0.0 if wlo <= 10 * LOG_FLOOR["E"] else wlo
        a = equivalence("irreducible_loss", p.E - irreducible, (lo - irreducible, hi - irreducible), 0.0, tol,
                        n, unit="runs", decide_ci=(wlo - irreducible, whi - irreducible), **kw)
        out.append(_profiled_E(a, sup, irreducible, tol, opt))
    return out
