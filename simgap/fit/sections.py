"""One analysis each: a law with its CIs and checks, or a teacher law over per-student optima.

Each returns a typed section (simgap.fit.results) or `Skipped` with the reason: too few points is
"skipped", a fit that did not converge is "failed"; neither stops the rest of the table.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from simgap import laws
from simgap.config import FitOptions
from simgap.fit import start_law
from simgap.fit.agreement import RATIO_RANGE, SeriesAgreement, TeacherProtocol, agreement
from simgap.fit.identify import profile
from simgap.fit.inputs import FitNotConverged, TooFewPoints
from simgap.fit.resample import bootstrap, extrapolation_check, split_weak_strong
from simgap.fit.results import (LawSection, Misfit, OptimaSection, Skipped, StartLawSection, StartRows, StudentCheck,
                                TeacherLawSection, TeacherLossOptimum, ok)
from simgap.fit.solver import LawFit, fit_distillation, fit_law, fit_supervised
from simgap.fit.teacher import fit_teacher_law
from simgap.intervals import z_of
from simgap.optima import TeacherOptimumEstimate, teacher_optima


def guarded(fn: Callable[[], object]):
    """Run one analysis; too few points → skipped, no convergence → failed."""
    try:
        return fn()
    except TooFewPoints as e:
        return Skipped(str(e))
    except FitNotConverged as e:
        return Skipped(str(e), status="failed")


def supervised_section(N, D, loss, opt: FitOptions) -> LawSection | Skipped:
    def run() -> LawSection:
        f = fit_supervised(N, D, loss, huber_delta=opt.huber_delta, n_top=opt.n_top, n_random=opt.n_random,
                           seed=opt.seed, fixed=dict(opt.fixed_supervised))
        f.require()
        q = (float(N.max()), float(D.max()))
        b = None
        if opt.n_boot > 0:
            b = bootstrap(f, n_boot=opt.n_boot, ci=opt.ci, seed=opt.seed,
                          derived={"predicted_loss_at_query": lambda p, _: float(laws.supervised_loss(*q, p))})
        tol = opt.tolerance("chinchilla_form")
        ident = profile(f, {"alpha": (), "beta": (), "gamma": (1 - tol, 1.0, 1 + tol)}, ci=opt.ci, seed=opt.seed)
        return LawSection(f, b, _extrapolation(f, loss, N, opt), query=q,
                          predicted_loss_at_query=float(laws.supervised_loss(*q, f.raw_params)), identification=ident)

    return guarded(run)


def distillation_section(N, D, LT, LS, sup: LawSection | Skipped, opt: FitOptions) -> LawSection | Skipped:
    def run() -> LawSection:
        if not isinstance(sup, LawSection):
            raise TooFewPoints("distillation law needs a converged supervised law (supervised rows in the table)")
        s = sup.fit.raw_params
        f = fit_distillation(N, D, LT, LS, s, huber_delta=opt.huber_delta, n_top=opt.n_top, n_random=opt.n_random,
                             seed=opt.seed, fixed=dict(opt.fixed_distillation))
        p = f.require()
        students = _students_for_checks(N, D, opt.max_check_students)
        b = None
        if opt.n_boot > 0:
            derived = {f"optimal_teacher_loss[N={n_:g},D={d_:g}]":
                       (lambda pp, law, n_=n_, d_=d_: laws.optimal_teacher_loss(n_, d_, law.supervised, pp).teacher_loss)
                       for n_, d_ in students}
            b = bootstrap(f, n_boot=opt.n_boot, ci=opt.ci, seed=opt.seed, supervised_fit=sup.fit, derived=derived)
        seen = (float(LT.min()), float(LT.max()))
        checks = tuple(StudentCheck(n_, d_, laws.optimal_teacher_loss(n_, d_, s, p),
                                    tuple(laws.check_properties(s, p, [(n_, d_)])), seen) for n_, d_ in students)
        pred = f.predict(**f.data)
        return LawSection(f, b, _extrapolation(f, LS, N, opt), students=checks, predicted=pred,
                          misfit=_largest_misfit(f.data, pred, s))

    return guarded(run)


def _largest_misfit(d: dict, pred: np.ndarray, sup) -> Misfit | None:
    """The residuals' largest systematic shift along N_S, D_S or L_T/L~_S (mean log residual per
    third of each axis with ≥ 3 distinct values); None when no axis has 3 values."""
    r = np.log(pred / d["loss"])
    ratio = d["teacher_loss"] / laws.supervised_loss(d["N"], d["D"], sup)
    worst = None
    for name, x in (("N_S", d["N"]), ("D_S", d["D"]), ("L_T/L~_S", ratio)):
        if len(np.unique(x)) < 3:
            continue
        for part, idx in zip(("lowest", "middle", "highest"), np.array_split(np.argsort(x, kind="stable"), 3)):
            shift = float(r[idx].mean())
            if abs(shift) > abs(worst.mean_log_residual if worst else 0.0):
                worst = Misfit(name, part, shift)
    return worst


def _extrapolation(f: LawFit, loss: np.ndarray, N: np.ndarray, opt: FitOptions):
    """Refit on the weaker runs and score the held-out stronger ones (Busbridge's ≤ 1 % check)."""
    train = split_weak_strong(loss, N, by=opt.extrapolate_by, threshold=opt.extrapolate_threshold,
                              holdout_frac=opt.holdout_frac)
    return guarded(lambda: extrapolation_check(f, train, n_top=opt.n_top, n_random=opt.n_random, seed=opt.seed))


def _students_for_checks(N: np.ndarray, D: np.ndarray, k: int) -> list[tuple[float, float]]:
    pairs = sorted(set(zip(N.tolist(), D.tolist())))
    if len(pairs) <= k:
        return pairs
    return [pairs[i] for i in np.linspace(0, len(pairs) - 1, k).round().astype(int)]


def teacher_law_section(budget: float, optima: list[TeacherOptimumEstimate], opt: FitOptions,
                        teacher_budget: float = float("nan"), seeds=None) -> TeacherLawSection:
    """Linear and power teacher laws over one budget series' optima, with CIs from `seeds` (the
    series' `SeriesOptima`: the optima's seed bootstrap; None: no CI). Optima that only bound T*
    are excluded: those at an edge of their teachers and those whose CI reaches one (`located`)."""
    S = np.array([o.student_size for o in optima])
    T = np.array([o.optimal_teacher for o in optima])
    edge = np.array([not o.located for o in optima])
    sigma = None
    if opt.weighted_teacher_law:
        lo, hi = np.array([o.optimal_teacher_ci for o in optima]).T
        sigma = (hi - lo) / (2 * z_of(opt.ci))
        if not np.all(np.isfinite(sigma) & (sigma > 0)):
            sigma = None
    reps = None if seeds is None else seeds.replicates(S.tolist())
    n_seeds = None if reps is None else seeds.n_seeds
    # one seed: no seed-to-seed spread to resample; the CI is the least-squares t-interval from the
    # residuals instead (it assumes the optima's errors independent: docs/verdicts.md, "One seed")
    one_seed = seeds is not None and seeds.n_seeds == 1
    fits = {form: guarded(lambda form=form: fit_teacher_law(
        S, T, form=form, sigma=sigma, edge=edge, exclude_edge=opt.exclude_edge, replicates=reps, n_seeds=n_seeds,
        ci=opt.ci, residual_ci=one_seed)) for form in ("linear", "loglog")}
    return TeacherLawSection(budget, fits["linear"], fits["loglog"], teacher_budget)


def start_law_section(key: dict, data: dict, sup: LawSection | Skipped, opt: FitOptions) -> StartLawSection:
    """The start-aware law (simgap.fit.start_law) on the distilled rows of both starts (`data`: its
    columns N, D, teacher_loss, teacher_size, start, loss), with bootstrap CIs (every replicate
    refits the supervised law too) and, per start, its in-sample error and the held-out strongest
    part of that start's runs (`opt.holdout_frac` by loss) predicted by a refit on every other row."""
    def run() -> LawSection:
        if not ok(sup):
            raise TooFewPoints("the start-aware law needs a converged supervised law (supervised rows in the table)")
        law = start_law.StartAwareLaw(sup.fit.raw_params, float(np.mean(np.log(data["D"]))))
        fixed = dict(opt.fixed_distillation)
        if start_law.omega_unidentified(data):  # one length: ω moves the lead by a constant, H's to carry
            fixed.setdefault("omega", 0.0)
        f = fit_law(law, data, huber_delta=opt.huber_delta, n_top=opt.n_top, n_random=opt.n_random, seed=opt.seed,
                    fixed=fixed)
        f.require()
        b = bootstrap(f, n_boot=opt.n_boot, ci=opt.ci, seed=opt.seed, supervised_fit=sup.fit) if opt.n_boot > 0 else None
        return LawSection(f, b, Skipped("held out per start (the section's `starts`)"), predicted=f.predict(**f.data))

    sec = guarded(run)
    if not ok(sec):
        return StartLawSection(key, sec)
    starts = []
    for name in start_law.STARTS:
        m = sec.fit.data["start"] == start_law.start_code([name])[0]
        train = ~start_law.held_out(sec.fit.data, name, opt)
        ex = guarded(lambda: extrapolation_check(sec.fit, train, n_top=opt.n_top, n_random=opt.n_random,
                                                 seed=opt.seed))
        err = np.log(sec.predicted[m] / data["loss"][m])
        starts.append(StartRows(name, int(m.sum()), float(np.sqrt(np.mean(err ** 2))), ex))
    return StartLawSection(key, sec, tuple(starts))


def agreement_section(sup: LawSection | Skipped, dist, optima: OptimaSection | Skipped | None, implied=None,
                      law: str = "Eq. 8", search: tuple[float, float] = RATIO_RANGE) -> tuple[SeriesAgreement, ...]:
    """Do the two laws agree on a setting? Per series of teacher length: the optimal teacher size that
    the fitted Eq. 8 implies (teachers trained on that length, their loss from the fitted supervised
    law) against the measured interior optima with a finite CI. Empty when either law did not fit.
    `implied`, `law`, `search`: another law's implied optimum in its place (the start-aware law's)."""
    if not (ok(sup) and ok(dist) and ok(optima)):
        return ()
    series: dict[float, list] = {}
    for o in optima.students:
        if o.params.interior and math.isfinite(o.params.optimal_teacher_ci[0]):
            series.setdefault(o.teacher_budget, []).append(o)
    # single-budget supervised form: D is folded into a constant there, so any finite teacher D_T will do; the
    # students' own D_S is passed as it is (a distillation law over several lengths, and the start-aware
    # law's fading head start, read it even when the supervised law has one budget)
    reduced = sup.fit.reduced
    reps = dist.bootstrap.replicates if dist.bootstrap else ()  # (Eq. 8 params, refitted supervised params or None)
    out = []
    for tb, pts in series.items():
        where = dict(teacher_budget=tb, budgets=tuple(float(o.budget) for o in pts))
        tokens = 1.0 if reduced else pts[0].teacher_tokens
        # a table that does not say how long its teachers trained: Chinchilla's D_T = 20·N_T, named in the verdict
        protocol = TeacherProtocol("fixed_tokens", tokens=tokens) if math.isfinite(tokens) else TeacherProtocol()
        try:
            a = agreement(sup.fit.raw_params, dist.fit.raw_params,
                          [o.student_params for o in pts], [o.params.optimal_teacher for o in pts],
                          [(o.params.optimal_teacher_ci[0], o.params.optimal_teacher_ci[1]) for o in pts],
                          [o.budget if math.isfinite(o.budget) else 1.0 for o in pts], protocol, replicates=reps,
                          implied=implied,
                          law=law, search=search)
            out.append(SeriesAgreement(a, "", reduced, **where))
        except (ValueError, ArithmeticError) as e:
            out.append(SeriesAgreement(None, str(e), reduced, **where))
    return tuple(out)


def teacher_loss_optima(runs, budget, opt: FitOptions) -> tuple[TeacherLossOptimum, ...]:
    """Each student's optimum over every teacher of `runs` (a setting's SettingRuns: size × training
    length), ordered by the teacher's seed-mean loss L_T: Eq. 8 says the teacher enters only through
    L_T. Optimised on 1/L_T (teacher quality, ascending), so the dip is loss(best teacher) −
    loss(optimum), paired by seed."""
    if runs.n_teachers() < 3 or not np.all(np.isfinite(runs.teacher_loss)):
        return ()
    quality = runs.teacher_quality()
    out = []
    for e in teacher_optima(runs.student, quality, runs.loss, runs.seed, budget, n_boot=opt.optima_boot, ci=opt.ci,
                            rng_seed=opt.seed):
        lo, hi = e.optimal_teacher_ci
        out.append(TeacherLossOptimum(
            e.student_size, e.budget, 1.0 / e.optimal_teacher, (1.0 / hi, 1.0 / lo), e.interior,
            {"smallest": "worst", "largest": "best"}.get(e.edge, ""), e.min_loss, e.dip_depth, e.dip_ci,
            e.dip_beyond_noise, tuple(1.0 / q for q in e.teacher_sizes), e.mean_loss, e.n_seeds))
    return tuple(out)
