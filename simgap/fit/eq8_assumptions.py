"""Eq. 8's assumptions that need the fitted law: limit_properties and extrapolates (verdicts:
simgap.fit.verdicts). break_at_fixed_ratio reads the data alone (simgap.fit.assumptions).

limit_properties: P1-P4 (+ App. E.6, simgap.laws.check_properties) at the checked students, for the
fitted law and for each bootstrap replicate of its parameters (with the supervised law refitted in
the same replicate, so its uncertainty reaches the check); the effect is the number of failed
checks. E.6 is left out when the runs cannot test it (`_e6_untested`).
extrapolates: Busbridge et al.'s check (the law section's fit on the weaker runs, predicting the
held-out stronger ones) as a bias: the mean relative error pred/observed − 1 over the held-out
runs, with a CI from refits on resampled weaker runs. Not the max over runs: one run's error is mostly its seed noise
and the max grows with the number of held-out runs, while a law that does not extrapolate is off
in one direction on all of them.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from simgap import laws
from simgap.config import FitOptions
from simgap.fit.resample import bootstrap, split_weak_strong
from simgap.fit import start_law
from simgap.fit.agreement import agrees_checks
from simgap.fit.results import LawSection, StartLawSection, ok
from simgap.fit.nested import teacher_only_check
from simgap.fit.solver import d_power_of_n
from simgap.fit.verdicts import Assumption, assumption, by_rule, mc_undecided, more_data, undecided
from simgap.intervals import mc_widened, percentile_interval

EXTRAPOLATION_BOOT = 50  # refits for the bias CI (a second Eq. 8 fit per table: kept cheaper than the law's own)


E6_TOL = 0.02  # nats: simgap.laws.check_supervised_limit's tolerance


def _e6_untested(ds: LawSection, sup: LawSection) -> tuple[str, str]:
    """(why App. E.6 cannot be tested on these runs, what would test it); ("", "") when it can. E.6 takes D → ∞ at a fixed N, so
    it reads A'/N^α' and the supervised limit E + (A/N^α)^γ alone:
    - every student's D a power of its N (one tokens-per-parameter ratio): the fit cannot tell A'/N^α'
      from B'/D^β', and E.6 is whatever split the optimiser landed in (measured: 0.4-1.3 nats off on
      Eq. 8's own data);
    - a supervised law whose D → ∞ limit the runs do not pin: the limit moves by more than E.6's
      tolerance over supervised fits the runs do not reject (simgap.fit.identify; measured on pilots
      with supervised runs at D = 20·N and 80·N only: γ anywhere from 0.04 to 5, E.6 gaps −0.23 to +0.10)."""
    if d_power_of_n(np.log(ds.fit.data["N"]), np.log(ds.fit.data["D"])):
        return ("E.6 not tested: the students' D is a power of N, so the data hold no D → ∞ limit",
                "E.6 needs students at a second tokens-per-parameter ratio")
    ident = sup.identification
    if ident is None:
        return "", ""
    sizes = sorted({c.N for c in ds.students})
    spread = max((ident.spread(lambda q, n=n: float(laws.supervised_loss(n, np.inf, q))) for n in sizes), default=0.0)
    if spread > E6_TOL:
        return (f"E.6 not tested: the supervised law's D → ∞ limit moves by {spread:.3g} nats over fits the runs do "
                f"not reject (tolerance {E6_TOL})",
                "E.6 needs a supervised law whose D → ∞ limit the runs pin: supervised runs at ≥ 2 budgets per size")
    return "", ""


def limit_check(ds: LawSection, sup: LawSection, opt: FitOptions, where: str) -> Assumption:
    """limit_properties over the bootstrap replicates, each with the supervised law refitted with it."""
    tol = opt.tolerance("limit_properties")
    why, untested = _e6_untested(ds, sup)
    e6 = not why
    kw = dict(effect="failed limit checks over the checked students: P1-P4" + (", E.6" if e6 else f" ({why})"),
              where=where)
    untested = f"; {untested}" if untested else ""

    def failed(checks) -> int:
        return sum(not c.passed for c in checks if e6 or c.name != laws.SUPERVISED_LIMIT)

    point = failed(c for _, c in ds.property_checks)
    if not ds.bootstrap:
        return undecided("limit_properties", "a bootstrap (bootstrap > 0)" + untested, point, tolerance=tol, **kw)
    students = [(c.N, c.D) for c in ds.students]
    counts = [failed(laws.check_properties(s or sup.fit.raw_params, p, students)) for p, s in ds.bootstrap.replicates]
    ci = percentile_interval(counts, opt.ci)
    holds, fails = (lambda c: c[1] <= tol), (lambda c: c[0] > tol)
    verdict, wide = by_rule(ci, holds, fails), mc_widened(counts, opt.ci)
    if verdict != "undecided":
        if by_rule(wide, holds, fails) == verdict:
            return assumption("limit_properties", point, ci, tol, verdict, untested.lstrip("; "), **kw)
        return mc_undecided("limit_properties", point, ci, wide, tol, untested, **kw)
    return assumption("limit_properties", point, ci, tol, "undecided",
                      f"a tighter Eq. 8 fit: {np.mean(np.array(counts) > tol):.0%} of the bootstrap refits break a "
                      "limit property; more runs (seeds, teachers around each student's optimum) narrow them"
                      + untested, **kw)


def extrapolation_check(ds: LawSection, opt: FitOptions, where: str, n_seeds: int,
                        supervised_fit=None) -> Assumption:
    tol = opt.tolerance("extrapolates")
    kw = dict(effect="mean relative error of the held-out stronger runs (pred/observed − 1), refitted on the weaker",
              where=where)
    d, f, ex = ds.fit.data, ds.fit, ds.extrapolation
    if not ok(ex) or ex.fit is None:
        return undecided("extrapolates", f"an Eq. 8 fit on the weaker runs ({getattr(ex, 'reason', 'none')})",
                         tolerance=tol, **kw)
    if not ex.fit.converged:
        return undecided("extrapolates", "an Eq. 8 fit on the weaker runs that converges", tolerance=tol, **kw)
    train = split_weak_strong(d["loss"], d["N"], by=opt.extrapolate_by, threshold=opt.extrapolate_threshold,
                              holdout_frac=opt.holdout_frac)  # the rows simgap.fit.sections held out
    return held_out_bias(f.law, ex.fit, {k: v[~train] for k, v in d.items()}, opt, n_seeds, supervised_fit, **kw)


def held_out_bias(law, sub, held: dict, opt: FitOptions, n_seeds: int, supervised_fit=None, **kw) -> Assumption:
    """`extrapolates` from a refit `sub` on the weaker runs and the held-out rows `held`: the mean
    relative error pred/observed − 1, its CI from refits on resampled weaker runs."""
    tol = opt.tolerance("extrapolates")

    def bias(p, law) -> float:
        return float(np.mean(law.predict(p, held) / held["loss"] - 1))

    estimate = bias(sub.raw_params, law)
    if opt.n_boot <= 0:
        return undecided("extrapolates", "a bootstrap (bootstrap > 0)", estimate, tolerance=tol, **kw)
    b = bootstrap(sub, n_boot=min(opt.n_boot, EXTRAPOLATION_BOOT), ci=opt.ci, seed=opt.seed, derived={"bias": bias},
                  supervised_fit=supervised_fit)
    lo, hi = b.interval("bias")
    if not math.isfinite(lo):
        return undecided("extrapolates", "bootstrap refits that converge", estimate, tolerance=tol, **kw)
    holds, fails = (lambda c: -tol <= c[0] and c[1] <= tol), (lambda c: c[0] > tol or c[1] < -tol)
    verdict, wide = by_rule((lo, hi), holds, fails), mc_widened(b.samples["bias"], opt.ci)
    if verdict != "undecided":
        if by_rule(wide, holds, fails) == verdict:
            return assumption("extrapolates", estimate, (lo, hi), tol, verdict, **kw)
        return mc_undecided("extrapolates", estimate, (lo, hi), wide, tol, **kw)
    # the CI is asymmetric: the factor r it must shrink by (about the estimate) for the near end to
    # clear the tolerance on the estimate's side (fails) or both ends to fall inside it (holds)
    e = estimate
    if abs(e) > tol:
        r = (e - tol) / (e - lo) if e > tol else (-tol - e) / (hi - e)
    else:
        r = min((e + tol) / max(e - lo, 1e-300), (tol - e) / max(hi - e, 1e-300))
    half = (hi - lo) / 2
    return assumption("extrapolates", estimate, (lo, hi), tol, "undecided",
                      f"a CI half-width ≤ {half * r:.3g} (now {half:.3g}): {more_data(half, half * r, n_seeds)}", **kw)


def eq8_checks(ds, sup, runs, opt: FitOptions, where: str, n_seeds: int = 1) -> list[Assumption]:
    """teacher_only_through_loss, limit_properties and extrapolates for one setting's distillation
    law (`runs`: the same rows, simgap.fit.assumptions.SettingRuns; None for a table without teacher
    sizes, which cannot test teacher_only_through_loss; `n_seeds` then counts its seeds)."""
    names = ("teacher_only_through_loss", "limit_properties", "extrapolates")
    if ds is None:
        return []
    if not (ok(ds) and ok(sup)):
        reason = ds.reason if not ok(ds) else "a converged supervised law"
        return [undecided(n, f"a converged Eq. 8 fit ({reason})", tolerance=opt.tolerance(n), where=where)
                for n in names]
    if runs is None:
        only = undecided("teacher_only_through_loss", "a teacher_size column: which teacher each run distilled from",
                         tolerance=opt.tolerance("teacher_only_through_loss"), where=where)
    else:
        only = teacher_only_check(ds, runs.teacher, runs.teacher_budget, opt, where, supervised_fit=sup.fit)
        n_seeds = len(np.unique(runs.seed))
    return [only, limit_check(ds, sup, opt, where), extrapolation_check(ds, opt, where, n_seeds, sup.fit)]


def start_checks(sec: StartLawSection, sup: LawSection, opt: FitOptions, family_where: str,
                 n_seeds: int) -> list[Assumption]:
    """The start-aware law's verdicts, each under one start and keyed by that start's setting, law
    "distillation + start": `extrapolates` (that start's strongest runs held out, the law refitted on
    every other row) and `agrees_with_optima` (its implied T* per student with an interior optimum)."""
    def keyed(a: Assumption, setting: dict) -> Assumption:
        where = ", ".join(x for x in (family_where, ", ".join(f"{k} = {v}" for k, v in setting.items())) if x)
        return dataclasses.replace(a, law=start_law.LAW, setting=tuple(setting.items()), where=where)

    out = []
    for start in start_law.STARTS:
        setting = {**sec.key, "student_init": start}
        kw = dict(effect=f"mean relative error of the {start} students' held-out strongest runs (pred/observed "
                         "− 1), the start-aware law refitted on every other row")
        ex = next((r.extrapolation for r in sec.starts if r.start == start), None)
        if not (ok(sec.law) and ok(sup)):
            a = undecided("extrapolates", f"a converged start-aware fit ({getattr(sec.law, 'reason', 'no supervised law')})",
                          tolerance=opt.tolerance("extrapolates"), **kw)
        elif not ok(ex) or not ex.fit.converged:
            a = undecided("extrapolates", f"a start-aware fit without this start's strongest runs that converges "
                          f"({getattr(ex, 'reason', '')})", tolerance=opt.tolerance("extrapolates"), **kw)
        else:
            d = sec.law.fit.data
            test = start_law.held_out(d, start, opt)
            a = held_out_bias(sec.law.fit.law, ex.fit, {k: v[test] for k, v in d.items()}, opt, n_seeds, sup.fit, **kw)
        out.append(keyed(a, setting))
    for s in sec.agreement:
        if s.series.agreement is not None:
            out += [keyed(a, s.setting) for a in agrees_checks(s.series.agreement, opt, "", n_seeds,
                                                                s.series.teacher_budget, s.series.budgets)]
    return out
