"""The Eq. 8 extrapolation error to expect from a pilot: a parametric bootstrap of the law fit.

The fitted distillation law (with the supervised law held fixed, as simgap.fit does) is taken as
the truth; the pilot's own (N_S, D_S, L_T) design is re-drawn with log-normal noise of the fit's
rmse(log), Eq. 8 is refitted, and the refit predicts the target student's best loss and best
teacher loss. The spread of those predictions around the plug-in values is the error to expect
when extrapolating from a pilot of this size and noise (the law's form assumed right).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simgap import fit as fit_lib
from simgap import laws
from simgap.laws import DistillParams, SupervisedParams


@dataclass(frozen=True)
class Eq8Extrapolation:
    target_student: float
    target_tokens: float
    student_loss: float  # plug-in: best L_S at the target (optimal teacher)
    teacher_loss: float  # plug-in: that teacher's loss
    student_loss_rel_error: tuple[float, float]  # (median |rel err|, 90th percentile |rel err|) over refits
    teacher_loss_rel_error: tuple[float, float]
    n_boot: int
    n_failed: int  # refits that did not converge (left out)
    noise_log: float


def expected_error(sup: SupervisedParams, dist: DistillParams, N, D, teacher_loss, noise_log: float,
                   target_student: float, target_tokens: float, *, n_boot: int = 20, seed: int = 0,
                   n_top: int = 2, n_random: int = 1) -> Eq8Extrapolation:
    N, D, LT = (np.asarray(a, float) for a in (N, D, teacher_loss))
    if not (len(N) == len(D) == len(LT) and len(N) >= 10):
        raise ValueError(f"need ≥ 10 distillation rows with equal-length N, D, teacher_loss, got {len(N)}")
    if not (math.isfinite(noise_log) and noise_log > 0):
        raise ValueError(f"noise (rmse of log loss) must be > 0, got {noise_log!r}")
    truth = laws.optimal_teacher_loss(target_student, target_tokens, sup, dist)
    clean = laws.distill_loss(N, D, LT, sup, dist)
    rng = np.random.default_rng(seed)
    errs_s, errs_t, failed = [], [], 0
    for i in range(n_boot):
        LS = clean * np.exp(rng.normal(0.0, noise_log, len(N)))
        f = fit_lib.fit_distillation(N, D, LT, LS, sup, n_top=n_top, n_random=n_random, seed=seed + i, init=dist)
        if not f.converged:
            failed += 1
            continue
        o = laws.optimal_teacher_loss(target_student, target_tokens, sup, f.raw_params)
        errs_s.append(abs(o.student_loss / truth.student_loss - 1))
        errs_t.append(abs(o.teacher_loss / truth.teacher_loss - 1))
    if not errs_s:
        raise ValueError(f"none of {n_boot} Eq. 8 refits converged")
    q = lambda e: (float(np.median(e)), float(np.quantile(e, 0.9)))  # noqa: E731
    return Eq8Extrapolation(float(target_student), float(target_tokens), truth.student_loss, truth.teacher_loss,
                            q(errs_s), q(errs_t), n_boot, failed, float(noise_log))
