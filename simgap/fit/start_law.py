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
(simgap.fit.objectives.Law): the same solver and bootstrap take it as it is.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from simgap import laws
from simgap.fit.objectives import DistillationLaw, _dist_grad, _dist_terms
from simgap.laws import DistillParams

PRUNED = "pruned_from_teacher"


@dataclasses.dataclass(frozen=True)
class StartParams(DistillParams):
    H: float = 0.0  # the pruned start's head start: log of the excess's reduction at N_S = N_T, D_S = D̄_S
    kappa: float = 1.0  # how fast it fades as less of the teacher is kept (N_S/N_T)^κ
    omega: float = 0.0  # how fast it fades with the distillation tokens D_S


def start_code(student_init) -> np.ndarray:
    """The law's `start` column: 2.0 where the student started pruned from its teacher, else 1.0 (1 + π:
    the fit's columns are checked positive, simgap.fit.inputs.column)."""
    return 1.0 + np.array([str(s) == PRUNED for s in np.asarray(student_init, dtype=object)], float)


@dataclasses.dataclass(frozen=True)
class StartAwareLaw(DistillationLaw):
    """Eq. 8 (supervised law held fixed) with its excess × exp(−π·H·(N_S/N_T)^κ·(D_S/D̄_S)^(−ω));
    `log_mean_tokens` is log D̄_S.
    Data: Eq. 8's columns plus `teacher_size` (parameters, as N) and `start` (1 + π, `start_code`)."""

    log_mean_tokens: float = 0.0
    name = "distillation + start"
    params_type = StartParams
    full_names = DistillationLaw.full_names + ("log_H", "kappa", "omega")
    grid = {**DistillationLaw.grid, "log_H": [-2.0, 0.0, 1.0], "kappa": [1.0], "omega": [0.0, 1.0]}
    columns = {**DistillationLaw.columns, "teacher_size": "teacher_size", "start": "student_init"}

    def features(self, data):
        keep = np.clip(np.asarray(data["N"], float) / np.asarray(data["teacher_size"], float), 1e-12, 1.0)
        return {**super().features(data), "pruned": np.asarray(data["start"], float) - 1.0, "logq": np.log(keep),
                "cD": np.log(np.asarray(data["D"], float)) - self.log_mean_tokens}

    def _parts(self, theta, x, reduced):
        theta = np.asarray(theta, float)
        base, extra = theta[..., :-3], theta[..., -3:]
        lH, kappa, omega = (extra[..., i, None] for i in range(3)) if theta.ndim > 1 else extra
        terms, pred = _dist_terms(base, x["logN"], x["logD"], x["logLT"], x["logLsup"], reduced)
        lead = x["pruned"] * np.exp(lH + kappa * x["logq"] - omega * x["cD"])  # π·H·(N_S/N_T)^κ·(D_S/D̄_S)^−ω
        R2 = terms[-1] - lead
        return terms[-1], pred, lead, np.logaddexp(x["logLT"], R2)

    def logpred(self, theta, x, reduced):
        return self._parts(theta, x, reduced)[-1]

    def logpred_and_grad(self, theta, x, reduced):
        R, pred, lead, total = self._parts(theta, x, reduced)
        _, base = _dist_grad(np.asarray(theta)[:-3], x["logN"], x["logD"], x["logLT"], x["logLsup"], reduced)
        w = np.exp(R - lead - total)  # d total / d (R − lead)
        # Eq. 8's rows are exp(R − pred)·dR/dθ, so they scale by w·exp(pred − R) = exp(pred − lead − total)
        return total, np.vstack([base * np.exp(pred - lead - total), -w * lead, -w * lead * x["logq"],
                                 w * lead * x["cD"]])

    def predict(self, params, data):
        base = {f.name: getattr(params, f.name) for f in dataclasses.fields(DistillParams)}
        excess = np.exp(laws.log_distill_excess(data["N"], data["D"], data["teacher_loss"], self.supervised,
                                                DistillParams(**base)))
        x = self.features(data)
        lead = x["pruned"] * params.H * np.exp(params.kappa * x["logq"] - params.omega * x["cD"])
        return data["teacher_loss"] + excess * np.exp(-lead)
