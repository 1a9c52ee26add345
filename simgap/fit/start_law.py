"""Eq. 8 plus a handicap of the student's start: one law for random-init and pruned students.

    L_S = L_T + [Eq. 8's excess] + π · H · p^κ · (D_S / D̄_S)^(−ω)

with π = 1 for a student pruned from its teacher (Zhang et al.'s protocol, `student_init =
"pruned_from_teacher"`) and 0 for a random start, p = 1 − N_S/N_T the fraction of the teacher pruned
away, and D̄_S the geometric mean of the table's distillation tokens. Why this form (docs/phase-map.md,
docs/families.md): under Zhang's protocol the student is best with the least-pruned teacher, its loss
rising with the pruned fraction (κ), and the damage washes out as distillation lengthens (ω); a random
start has no handicap, so H = 0 is Eq. 8 exactly and the random rows pin Eq. 8's own parameters.
It is a law like the others (simgap.fit.objectives.Law): the same solver and bootstrap take it as it is.
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
    H: float = 0.0  # nats: the pruned start's handicap at p = 1 and D_S = D̄_S
    kappa: float = 1.0  # growth with the pruned fraction p = 1 − N_S/N_T
    omega: float = 0.0  # decay with the distillation tokens D_S


def start_code(student_init) -> np.ndarray:
    """The law's `start` column: 2.0 where the student started pruned from its teacher, else 1.0 (1 + π:
    the fit's columns are checked positive, simgap.fit.inputs.column)."""
    return 1.0 + np.array([str(s) == PRUNED for s in np.asarray(student_init, dtype=object)], float)


@dataclasses.dataclass(frozen=True)
class StartAwareLaw(DistillationLaw):
    """Eq. 8 (supervised law held fixed) plus π·H·p^κ·(D_S/D̄_S)^(−ω); `log_mean_tokens` is log D̄_S.
    Data: Eq. 8's columns plus `teacher_size` (parameters, as N) and `start` (1 + π, `start_code`)."""

    log_mean_tokens: float = 0.0
    name = "distillation + start"
    params_type = StartParams
    full_names = DistillationLaw.full_names + ("log_H", "kappa", "omega")
    grid = {**DistillationLaw.grid, "log_H": [-4.0, -2.0, 0.0], "kappa": [1.0], "omega": [0.0, 1.0]}
    columns = {**DistillationLaw.columns, "teacher_size": "teacher_size", "start": "student_init"}

    def features(self, data):
        p = np.clip(1.0 - np.asarray(data["N"], float) / np.asarray(data["teacher_size"], float), 1e-12, 1.0)
        pruned = np.asarray(data["start"], float) - 1.0
        return {**super().features(data), "pruned": pruned, "logp": np.where(pruned > 0, np.log(p), 0.0),
                "cD": np.log(np.asarray(data["D"], float)) - self.log_mean_tokens}

    def _parts(self, theta, x, reduced):
        theta = np.asarray(theta, float)
        base, extra = theta[..., :-3], theta[..., -3:]
        lH, kappa, omega = (extra[..., i, None] for i in range(3)) if theta.ndim > 1 else extra
        _, pred = _dist_terms(base, x["logN"], x["logD"], x["logLT"], x["logLsup"], reduced)
        log_h = lH + kappa * x["logp"] - omega * x["cD"]
        total = np.where(x["pruned"] > 0, np.logaddexp(pred, log_h), pred)
        return pred, log_h, total

    def logpred(self, theta, x, reduced):
        return self._parts(theta, x, reduced)[-1]

    def logpred_and_grad(self, theta, x, reduced):
        pred, log_h, total = self._parts(theta, x, reduced)
        _, base = _dist_grad(np.asarray(theta)[:-3], x["logN"], x["logD"], x["logLT"], x["logLsup"], reduced)
        w = np.where(x["pruned"] > 0, np.exp(log_h - total), 0.0)  # d total / d log_h
        return total, np.vstack([base * (1 - w), w, w * x["logp"], -w * x["cD"]])

    def predict(self, params, data):
        base = {f.name: getattr(params, f.name) for f in dataclasses.fields(DistillParams)}
        excess = np.exp(laws.log_distill_excess(data["N"], data["D"], data["teacher_loss"], self.supervised,
                                                DistillParams(**base)))
        x = self.features(data)
        handicap = x["pruned"] * params.H * np.exp(params.kappa * x["logp"] - params.omega * x["cD"])
        return data["teacher_loss"] + excess + handicap
