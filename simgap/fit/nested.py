"""Eq. 8 plus one teacher-size factor: the nested law behind `teacher_only_through_loss`.

    L_S = L_T + (N_T / N̄_T)^η · [Eq. 8's excess term]

with N̄_T the geometric mean teacher size of the table, so η = 0 is Eq. 8 exactly and η says how
much a teacher's size changes its student at a fixed teacher loss L_T. It is a law like the
others (simgap.fit.objectives.Law), fitted by the same solver and bootstrap: here from the Eq. 8
optimum with η = 0, and refitted on resampled rows for η's CI.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from simgap.config import FitOptions
from simgap.fit.objectives import DistillationLaw, ShiftedDistillationLaw
from simgap.fit.resample import bootstrap
from simgap.fit.results import LawSection
from simgap.fit.solver import fit_law
from simgap.fit.verdicts import Assumption, equivalence, undecided
from simgap.intervals import mc_widened
from simgap.laws import DistillParams


@dataclasses.dataclass(frozen=True)
class TeacherSizeParams(DistillParams):
    eta: float = 0.0  # exponent of N_T / N̄_T on the excess term (0: Eq. 8)


@dataclasses.dataclass(frozen=True)
class TeacherSizeLaw(ShiftedDistillationLaw):
    """Eq. 8 (supervised law held fixed) times (N_T / N̄_T)^η; `log_mean_teacher` is log N̄_T."""

    log_mean_teacher: float = 0.0
    name = "distillation + teacher size"
    params_type = TeacherSizeParams
    n_extra = 1
    full_names = DistillationLaw.full_names + ("eta",)
    grid = {**DistillationLaw.grid, "eta": [0.0]}
    columns = {**DistillationLaw.columns, "teacher_size": "teacher_size"}

    def features(self, data):
        return {**super().features(data), "cNT": np.log(data["teacher_size"]) - self.log_mean_teacher}

    def shift(self, extra, x):
        (eta,) = extra
        return eta * x["cNT"], [x["cNT"]]


def teacher_only_check(ds: LawSection, teacher_size: np.ndarray, teacher_budget: np.ndarray, opt: FitOptions,
                       where: str, supervised_fit=None) -> Assumption:
    """η of the nested law, read in nats: how much the student loss moves from the smallest to the
    largest teacher at a fixed L_T (the mean Eq. 8 excess × ((N_T,max/N_T,min)^η − 1)). With
    `supervised_fit`, every bootstrap replicate refits the supervised law too (its uncertainty
    reaches η's CI)."""
    tol = opt.tolerance("teacher_only_through_loss")
    kw = dict(effect="student-loss change (nats) from the smallest to the largest teacher at a fixed L_T, "
                     "from η of Eq. 8 × (N_T/N̄_T)^η", where=where)
    if len(np.unique(teacher_budget[np.isfinite(teacher_budget)])) < 2:
        return undecided("teacher_only_through_loss", "teachers of a second training length: with one length, L_T and "
                         "N_T move together and the data cannot separate them", tolerance=tol, **kw)
    if len(np.unique(teacher_size[np.isfinite(teacher_size)])) < 2:  # then (N_T/N̄_T)^η = 1: η is not identified
        return undecided("teacher_only_through_loss", "teachers of a second size: with one teacher size (several "
                         "lengths) its size cannot show in these data", tolerance=tol, **kw)
    f = ds.fit
    law = TeacherSizeLaw(f.law.supervised, float(np.mean(np.log(teacher_size))))
    data = {**f.data, "teacher_size": teacher_size}
    start = TeacherSizeParams(**dataclasses.asdict(f.raw_params), eta=0.0)
    nested = fit_law(law, data, huber_delta=f.huber_delta, init=start, reduced=f.reduced, fixed=dict(f.fixed),
                     single_start=True)
    if not nested.converged:
        return undecided("teacher_only_through_loss", f"a nested fit that converges ({nested.message})", tolerance=tol, **kw)
    span = float(np.log(teacher_size.max() / teacher_size.min()))
    excess = float(np.mean(f.data["loss"] - f.data["teacher_loss"]))

    def nats(eta: float) -> float:
        return excess * math.expm1(eta * span)

    eta = nested.raw_params.eta
    if opt.n_boot <= 0:
        return undecided("teacher_only_through_loss", "a bootstrap (bootstrap > 0)", nats(eta), tolerance=tol, **kw)
    b = bootstrap(nested, n_boot=opt.n_boot, ci=opt.ci, seed=opt.seed, supervised_fit=supervised_fit)
    lo, hi = b.interval("eta")
    wlo, whi = mc_widened(b.samples["eta"], opt.ci)
    kw["effect"] += f"; η = {eta:.3g} [{lo:.3g}, {hi:.3g}]"
    return equivalence("teacher_only_through_loss", nats(eta), (nats(lo), nats(hi)), 0.0, tol, f.n_points,
                       unit="runs", decide_ci=(nats(wlo), nats(whi)), **kw)
