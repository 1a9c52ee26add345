"""Link the two laws: the optimal teacher *size* that Eq. 8 implies, and whether it agrees with measured optima.

Eq. 8 (Busbridge et al. 2025) gives the student's loss from the teacher's loss L_T only. With a
supervised law for the teacher, L_T = L(N_T, D_T), and a protocol saying how the teacher is
trained (D_T as a function of N_T), it becomes a curve L_S(N_T) whose argmin is the implied
optimal teacher T*(S). Zhang et al. (ACL 2025) fitted T* = 2.498·S − 11.498 (millions of
parameters, R² = 0.9957) on GPT-2/Pythia pilots (`simgap.laws.ZHANG_LINEAR`).

Protocols (`TeacherProtocol`):
- "tokens_per_param": D_T = k·N_T (k = 20, Chinchilla's ratio, by default);
- "fixed_tokens": every teacher sees the same D_T;
- "compute_optimal": the teacher that the compute-optimal allocation (compute.py, scenario
  "teacher trained for this student" unless stated) picks at total compute
  C = multiple · 6·N_S·D_S, D_S the student's tokens — see `implied_optimum`.
"""

from __future__ import annotations


import numpy as np

from simgap import laws
from simgap.fit.agreement import (RATIO_RANGE, Agreement, ImpliedOptimum,  # noqa: F401
                                   TeacherProtocol, student_loss_vs_teacher)
from simgap.fit.teacher import TeacherLawPair, fit_both  # noqa: F401
from simgap.fit.agreement import agreement as fit_agreement
from simgap.fit.agreement import implied_optimum as fixed_protocol_optimum
from simgap.laws import DistillParams, SupervisedParams
from simgap.plan import compute


def implied_optimum(N_S: float, D_S: float, sup: SupervisedParams, dist: DistillParams,
                    protocol: TeacherProtocol, n_grid: int = 1201) -> ImpliedOptimum:
    """`simgap.fit.agreement.implied_optimum`, plus the compute-optimal protocol: the teacher the
    allocation (compute.py) picks at C = multiple · 6·N_S·D_S."""
    if protocol.kind == "compute_optimal":
        C = protocol.compute_multiple * 6.0 * N_S * D_S
        a = compute.optimise(N_S, C, sup, dist, compute.SCENARIOS[protocol.scenario])
        return ImpliedOptimum(N_S, a.student_tokens, a.teacher, a.teacher_tokens, a.teacher_loss, a.student_loss,
                              float(laws.supervised_loss(N_S, a.student_tokens, sup)), a.teacher_interior)
    return fixed_protocol_optimum(N_S, D_S, sup, dist, protocol, n_grid)


def agreement(sup: SupervisedParams, dist: DistillParams, student_params, measured_T, measured_T_ci,
              student_budget, teacher_protocol: TeacherProtocol, **kw) -> Agreement:
    """`simgap.fit.agreement.agreement` under any protocol, the compute-optimal one included."""
    return fit_agreement(sup, dist, student_params, measured_T, measured_T_ci, student_budget, teacher_protocol,
                         implied=implied_optimum, **kw)


def implied_optima(students, sup: SupervisedParams, dist: DistillParams, protocol: TeacherProtocol,
                   student_tokens=None, tokens_per_param: float = 20.0) -> list[ImpliedOptimum]:
    """T*(S) over student sizes; D_S = student_tokens (one per student, or one for all) or tokens_per_param·N_S."""
    S = np.asarray(students, float).reshape(-1)
    D = (tokens_per_param * S if student_tokens is None
         else np.broadcast_to(np.asarray(student_tokens, float), S.shape))
    return [implied_optimum(float(s), float(d), sup, dist, protocol) for s, d in zip(S, D)]
