"""Eq. 8 with the student's start: one law for random-init and pruned students.

    L_S = L_T + [Eq. 8's excess] · exp(−π · H · (N_S/N_T)^κ · (D_S / D̄_S)^(−ω))

with π = 1 for a student pruned from its teacher (Zhang et al.'s protocol, `student_init =
"pruned_from_teacher"`) and 0 for a random start, N_S/N_T = 1 − p the share of the teacher it keeps,
and D̄_S the geometric mean of the table's distillation tokens. Why this form (docs/phase-map.md):
a student pruned from a trained teacher starts *ahead* of a random one (on the transformer family by
up to 1.5 nats after 150 steps), the more so the less of the teacher was pruned away (κ: a student
that keeps almost nothing is almost a random start), and the lead shrinks as distillation lengthens
(ω: the random student catches up). Under Zhang's protocol that makes the least-pruned teacher the
best one. The head start scales Eq. 8's excess over L_T, so L_S ≥ L_T is kept; H = 0 is Eq. 8
exactly, and the random rows pin Eq. 8's own parameters. A law like the others
(simgap.fit.objectives.ShiftedDistillationLaw, as simgap.fit.nested's): the same solver and bootstrap
take it as it is; simgap.fit.sections.start_law_section fits it to a table of both starts.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from simgap.fit.agreement import RATIO_RANGE, ImpliedOptimum, TeacherProtocol, optimum_over_teachers
from simgap.fit.objectives import DistillationLaw, ShiftedDistillationLaw
from simgap.fit.resample import split_weak_strong
from simgap.laws import DistillParams, SupervisedParams

PRUNED = "pruned_from_teacher"
RANDOM = "random"
STARTS = (RANDOM, PRUNED)  # the starts the law knows (a student pruned from the largest teacher is neither)
LAW = "distillation + start"  # its verdicts' `law` (simgap.fit.verdicts.Assumption)


@dataclasses.dataclass(frozen=True)
class StartParams(DistillParams):
    H: float = 0.0  # the pruned start's head start: log of the excess's reduction at N_S = N_T, D_S = D̄_S
    kappa: float = 1.0  # how fast it fades as less of the teacher is kept (N_S/N_T)^κ
    omega: float = 0.0  # how fast it fades with the distillation tokens D_S


def start_code(student_init) -> np.ndarray:
    """The law's `start` column: 2.0 where the student started pruned from its teacher, else 1.0 (1 + π:
    the fit's columns are checked positive, simgap.fit.inputs.column)."""
    return 1.0 + np.array([str(s) == PRUNED for s in np.asarray(student_init, dtype=object)], float)


def omega_unidentified(data: dict) -> bool:
    """Do the pruned rows of `data` (the law's columns) share one distillation length? Then (D_S/D̄_S)^−ω
    is one constant for every row it touches, so ω only rescales H: the fit holds it at 0 (H is then the
    head start at that length) and the report says so, rather than print a CI of zero width."""
    pruned = np.asarray(data["start"]) == start_code([PRUNED])[0]
    return len(np.unique(np.asarray(data["D"])[pruned])) < 2


@dataclasses.dataclass(frozen=True)
class StartAwareLaw(ShiftedDistillationLaw):
    """Eq. 8 (supervised law held fixed) with its excess × exp(−π·H·(N_S/N_T)^κ·(D_S/D̄_S)^(−ω));
    `log_mean_tokens` is log D̄_S.
    Data: Eq. 8's columns plus `teacher_size` (parameters, as N) and `start` (1 + π, `start_code`)."""

    log_mean_tokens: float = 0.0
    name = LAW
    params_type = StartParams
    n_extra = 3
    full_names = DistillationLaw.full_names + ("log_H", "kappa", "omega")
    grid = {**DistillationLaw.grid, "log_H": [-2.0, 0.0, 1.0], "kappa": [1.0], "omega": [0.0, 1.0]}
    columns = {**DistillationLaw.columns, "teacher_size": "teacher_size", "start": "student_init"}

    def features(self, data):
        keep = np.clip(np.asarray(data["N"], float) / np.asarray(data["teacher_size"], float), 1e-12, 1.0)
        return {**super().features(data), "pruned": np.asarray(data["start"], float) - 1.0, "logq": np.log(keep),
                "cD": np.log(np.asarray(data["D"], float)) - self.log_mean_tokens}

    def shift(self, extra, x):
        lH, kappa, omega = extra
        lead = x["pruned"] * np.exp(lH + kappa * x["logq"] - omega * x["cD"])  # π·H·(N_S/N_T)^κ·(D_S/D̄_S)^−ω
        return -lead, [-lead, -lead * x["logq"], lead * x["cD"]]


def implied_optimum(law: StartAwareLaw, pruned: bool, N_S: float, D_S: float, sup: SupervisedParams,
                    params: StartParams, protocol: TeacherProtocol, n_grid: int = 1201) -> ImpliedOptimum:
    """The teacher size that minimises the student's loss under this start (simgap.fit.agreement's
    `optimum_over_teachers`, as for Eq. 8). A pruned student needs a teacher at least its own size, so
    its search starts at N_T = N_S: an optimum there (the least-pruned teacher) is at the edge, a bound."""
    law = law.given(sup)

    def loss(N_T, L_T):
        return law.predict(params, {"N": np.full_like(N_T, N_S), "D": np.full_like(N_T, D_S), "teacher_size": N_T,
                                    "start": np.full_like(N_T, 1.0 + pruned), "teacher_loss": L_T})

    return optimum_over_teachers(loss, N_S, D_S, sup, protocol, search_range(PRUNED if pruned else RANDOM), n_grid)


def search_range(start: str) -> tuple[float, float]:
    """The teacher sizes searched for a student's implied optimum, as multiples of its size."""
    return (1.0, RATIO_RANGE[1]) if start == PRUNED else RATIO_RANGE


def implied_under(law: StartAwareLaw, start: str):
    """`implied_optimum` for one start, in the signature simgap.fit.agreement.agreement calls."""
    return lambda N_S, D_S, sup, params, protocol: implied_optimum(law, start == PRUNED, N_S, D_S, sup, params,
                                                                   protocol)


def held_out(d: dict, start: str, opt) -> np.ndarray:
    """The rows whose prediction tests `extrapolates` under `start` (a mask on the law's data `d`): that
    start's strongest runs (`opt.holdout_frac` of them by loss, or as `opt.extrapolate_by` says)."""
    m = d["start"] == start_code([start])[0]
    test = np.zeros(len(m), bool)
    test[m] = ~split_weak_strong(d["loss"][m], d["N"][m], by=opt.extrapolate_by, threshold=opt.extrapolate_threshold,
                                 holdout_frac=opt.holdout_frac)
    return test
