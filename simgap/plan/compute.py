"""Compute-optimal distillation (Busbridge et al. 2025, §5).

Total cost of distilling an N_S-parameter student on D_S tokens from an N_T-parameter teacher
trained on D_T tokens:  C = 3F(N_S)·D_S + F(N_T)·(δ_logit·D_S + δ_pre·3·D_T),  F(N) ≈ 2N FLOPs
per token forward (3F = forward + backward). Scenarios (δ_pre, δ_logit):
- "free"      (0, 0): the teacher exists and its logits cost nothing (amortised);
- "inference" (0, 1): the teacher exists, its forward passes on D_S are paid;
- "trained"   (1, 1): the teacher is trained for this one student;
- "pretraining" (1, 0): the teacher is trained here but its logits cost nothing (e.g. stored);
and the baseline "supervised": the student trained on labels with all of C (D = C/(3F(N_S))).
For fixed N_S and C we minimise Eq. 8's L_S over (D_S, N_T, D_T) with SLSQP in log space under
the equality constraint cost = C, from several feasible starts; the teacher's loss is the
supervised law L(N_T, D_T). Searched box: N_T ∈ N_S·[1e-2, 1e4], D_T/N_T ∈ [1, 1e5] (1e5
tokens per parameter is, for these laws, an effectively fully trained teacher), D_S ≥ N_S
(one token per parameter; less is outside any fitted law's range).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
from scipy import optimize

from simgap import laws
from simgap.laws import DistillParams, SupervisedParams

TEACHER_RATIO = (1e-2, 1e4)  # N_T / N_S
TEACHER_TOKENS_PER_PARAM = (1.0, 1e5)  # D_T / N_T
MIN_STUDENT_TOKENS_PER_PARAM = 1.0


@dataclass(frozen=True)
class Scenario:
    name: str
    delta_pre: float
    delta_logit: float
    description: str
    students_per_teacher: float = 1.0  # K: δ_pre already divided by it (see teachers.shared)


SCENARIOS = {
    "free": Scenario("free", 0.0, 0.0, "teacher exists, logits free"),
    "inference": Scenario("inference", 0.0, 1.0, "teacher exists, inference paid"),
    "trained": Scenario("trained", 1.0, 1.0, "teacher trained for this student"),
    "pretraining": Scenario("pretraining", 1.0, 0.0, "teacher trained for this student, its logits free"),
}


class PlanError(ValueError):
    """Bad planning input (budget, sizes, law): one sentence naming what is wrong."""


def flops_per_token(N, c1: float = 0.0, c2: float = 0.0):
    """F(N) = 2N(1 + c1·N^(−1/3) + c2·N^(−2/3)); c1 = c2 = 0 is the usual F ≈ 2N."""
    N = np.asarray(N, float)
    return 2.0 * N * (1.0 + c1 * N ** (-1 / 3) + c2 * N ** (-2 / 3))


def cost(N_S, D_S, N_T, D_T, scenario: Scenario, F: Callable = flops_per_token) -> dict:
    """The three parts of the spend and their total."""
    student = 3 * F(N_S) * D_S
    inference = scenario.delta_logit * F(N_T) * D_S
    teacher = scenario.delta_pre * 3 * F(N_T) * D_T
    return {"student_training": student, "teacher_inference": inference, "teacher_training": teacher,
            "total": student + inference + teacher}


def check_laws(sup: SupervisedParams, dist: DistillParams) -> None:
    """Raise PlanError when a law is outside the range compute planning needs."""
    for name, v in (("E", sup.E), ("A", sup.A), ("B", sup.B), ("alpha", sup.alpha), ("beta", sup.beta),
                    ("gamma", sup.gamma)):
        if not (math.isfinite(v) and (v >= 0 if name == "E" else v > 0)):
            raise PlanError(f"supervised law parameter {name} = {v!r} is outside its valid range "
                            f"({'≥ 0' if name == 'E' else '> 0'}; β = 0 means a single-budget fit, which cannot "
                            f"say how loss falls with tokens)")
    for name in ("A", "B", "alpha", "beta", "gamma", "f1", "d1"):
        v = getattr(dist, name)
        if not (math.isfinite(v) and v > 0):
            raise PlanError(f"distillation law parameter {name}' = {v!r} is outside its valid range (> 0)")
    for name in ("c0", "c1"):
        v = getattr(dist, name)
        if not (math.isfinite(v) and v >= 0):
            raise PlanError(f"distillation law parameter {name} = {v!r} is outside its valid range (≥ 0)")


def supervised_at_compute(N_S: float, C: float, sup: SupervisedParams, F: Callable = flops_per_token) -> float:
    """L(N_S, C/(3F(N_S))): the student trained on labels with all of C."""
    return float(laws.supervised_loss(N_S, C / (3 * F(N_S)), sup))


@dataclass(frozen=True)
class Allocation:
    """The optimum for one (N_S, C, scenario)."""

    scenario: str
    student: float
    compute: float
    student_tokens: float  # D_S
    teacher: float  # N_T
    teacher_tokens: float  # D_T
    teacher_loss: float
    student_loss: float
    supervised_loss: float  # the student trained on labels with all of C
    converged: bool
    message: str
    constraint_residual: float  # spend / C − 1
    spend: dict  # student_training, teacher_inference, teacher_training, total (FLOPs)
    n_starts: int
    teacher_interior: bool  # False: N_T (or, for a teacher trained here, D_T/N_T) sits at the edge of the box
    flags: tuple[str, ...] = ()  # teacher_size_at_edge, teacher_tokens_at_edge, student_tokens_at_floor, not_converged
    students_per_teacher: float = 1.0

    @property
    def gain(self) -> float:
        """Supervised minus distilled L_S: positive when distillation wins at this compute."""
        return self.supervised_loss - self.student_loss

    def to_json(self) -> dict:
        return asdict(self) | {"gain": self.gain}


def _box(N_S: float, C: float, F: Callable) -> list[tuple[float, float]]:
    d_max = C / (3 * F(N_S))
    return [(math.log(MIN_STUDENT_TOKENS_PER_PARAM * N_S), math.log(d_max)),
            (math.log(N_S * TEACHER_RATIO[0]), math.log(N_S * TEACHER_RATIO[1])),
            (math.log(TEACHER_TOKENS_PER_PARAM[0]), math.log(TEACHER_TOKENS_PER_PARAM[1]))]


def _student_tokens_for(N_S, C, N_T, D_T, sc: Scenario, F) -> np.ndarray:
    """D_S that spends exactly C for a given teacher (≤ 0 when the teacher alone costs ≥ C)."""
    return (C - sc.delta_pre * 3 * F(N_T) * D_T) / (3 * F(N_S) + sc.delta_logit * F(N_T))


def _loss(x, N_S, sup, dist):
    """x = (log D_S, log N_T, log D_T/N_T)."""
    D_S, N_T = np.exp(x[0]), np.exp(x[1])
    L_T = laws.supervised_loss(N_T, N_T * np.exp(x[2]), sup)
    return laws.distill_loss(N_S, D_S, L_T, sup, dist)


def optimise(N_S: float, C: float, sup: SupervisedParams, dist: DistillParams, scenario: Scenario,
             F: Callable = flops_per_token, n_grid: int = 7, tol: float = 1e-6) -> Allocation:
    """argmin L_S over (D_S, N_T, D_T) with spend = C: SLSQP from the best points of a feasible grid.

    Starts: an n_grid × n_grid grid over (log N_T, log D_T/N_T), D_S solved from the budget; the
    4 best feasible points (and 2 spread ones) start SLSQP. The best SLSQP result that satisfies the
    constraint to `tol` is kept, and it is never worse than the best grid point.
    """
    check_laws(sup, dist)
    if not (math.isfinite(N_S) and N_S > 0 and math.isfinite(C) and C > 0):
        raise PlanError(f"student size and compute must be finite and > 0, got N_S = {N_S!r}, C = {C!r}")
    box = _box(N_S, C, F)
    if box[0][1] < box[0][0]:
        raise PlanError(f"compute {C:.3g} FLOPs is too small for a {N_S:.3g}-parameter student: it needs "
                        f"≥ {3 * float(F(N_S)) * N_S * MIN_STUDENT_TOKENS_PER_PARAM:.3g} FLOPs for one token per parameter")
    X, vals = _grid_starts(N_S, C, sup, dist, scenario, F, box, n_grid)
    order = np.argsort(vals)
    picks = list(order[:4]) + list(order[4:][:: max(1, len(order[4:]) // 2)][:2])
    x, converged, message = _polish(N_S, C, sup, dist, scenario, F, box, X[picks], X[order[0]], vals[order[0]], tol)
    x = np.clip(x, *np.array(box).T)
    if scenario.delta_pre == 0 and scenario.delta_logit == 0:
        x = _canonical_free_teacher(x, N_S, sup, box)
    D_S, N_T, D_T = math.exp(x[0]), math.exp(x[1]), math.exp(x[1] + x[2])
    spend = {k: float(v) for k, v in cost(N_S, D_S, N_T, D_T, scenario, F).items()}
    size_inside, tokens_inside = _inside(x, box, scenario, sup)
    floor = x[0] <= box[0][0] + (box[0][1] - box[0][0]) * 1e-3 and box[0][1] > box[0][0]
    flags = tuple(f for f, on in (("teacher_size_at_edge", not size_inside), ("teacher_tokens_at_edge", not tokens_inside),
                                  ("student_tokens_at_floor", floor), ("not_converged", not converged)) if on)
    return Allocation(scenario.name, float(N_S), float(C), D_S, N_T, D_T, float(laws.supervised_loss(N_T, D_T, sup)),
                      float(_loss(x, N_S, sup, dist)), supervised_at_compute(N_S, C, sup, F), converged, message,
                      spend["total"] / C - 1, spend, len(picks), bool(size_inside and tokens_inside), flags,
                      scenario.students_per_teacher)


def _grid_starts(N_S, C, sup, dist, scenario: Scenario, F, box, n_grid: int) -> tuple[np.ndarray, np.ndarray]:
    """The feasible points of an n_grid × n_grid grid over (log N_T, log D_T/N_T), D_S from the budget,
    as rows x = (log D_S, log N_T, log D_T/N_T), with their student losses."""
    v = np.linspace(*box[1], n_grid)
    w = np.linspace(*box[2], n_grid)
    V, W = (a.ravel() for a in np.meshgrid(v, w))
    D_S = _student_tokens_for(N_S, C, np.exp(V), np.exp(V + W), scenario, F)
    ok = D_S >= N_S * MIN_STUDENT_TOKENS_PER_PARAM
    if not ok.any():
        raise PlanError(f"compute {C:.3g} FLOPs is too small for any teacher in scenario {scenario.name!r}: even the "
                        f"smallest teacher ({TEACHER_RATIO[0]:g}·N_S on {TEACHER_TOKENS_PER_PARAM[0]:g} token/param) "
                        f"leaves the student < {MIN_STUDENT_TOKENS_PER_PARAM:g} token per parameter")
    X = np.stack([np.log(np.where(ok, D_S, 1.0)), V, W], axis=1)[ok]
    return X, _loss(X.T, N_S, sup, dist)


def _polish(N_S, C, sup, dist, scenario: Scenario, F, box, starts, best_grid, best_grid_loss: float, tol: float):
    """SLSQP with spend = C from each start: (x, converged, message) of the best run that keeps the
    budget to `tol`, or the best grid point when none does or it beats them all."""
    logC = math.log(C)

    def spend_gap(x):
        return math.log(float(cost(N_S, math.exp(x[0]), math.exp(x[1]), math.exp(x[1] + x[2]), scenario, F)["total"])) - logC

    lo, hi = np.array(box).T
    good = []
    for x0 in starts:
        r = optimize.minimize(lambda x: float(_loss(x, N_S, sup, dist)), x0, method="SLSQP", bounds=box,
                              constraints=[{"type": "eq", "fun": spend_gap}], options={"ftol": 1e-13, "maxiter": 500})
        if abs(spend_gap(r.x)) <= tol and np.all(r.x >= lo - 1e-9) and np.all(r.x <= hi + 1e-9) and np.isfinite(r.fun):
            good.append(r)
    if not good:
        return best_grid, False, "no SLSQP run satisfied the budget constraint; best feasible grid point reported"
    best = min(good, key=lambda r: r.fun)
    if best.fun > best_grid_loss:  # SLSQP lost to a grid point (never expected): report the grid point
        return best_grid, False, f"SLSQP ({best.message}) ended above the best start; grid point kept"
    return best.x, bool(best.success), str(best.message)


def _inside(x, box, scenario: Scenario, sup) -> tuple[bool, bool]:
    """Is the teacher's size (and its tokens) inside the searched box, not at its edge?"""
    step_v, step_w = (box[1][1] - box[1][0]) * 1e-3, (box[2][1] - box[2][0]) * 1e-3
    # An existing teacher (δ_pre = 0) trained to the box's 1e5 tokens per parameter is the natural answer, not an edge.
    tokens_inside = scenario.delta_pre == 0 or box[2][0] + step_w < x[2] < box[2][1] - step_w
    size_inside = box[1][0] + step_v < x[1] < box[1][1] - step_v
    if scenario.delta_pre == 0 and scenario.delta_logit == 0:  # a free teacher is fixed by its loss alone:
        N_T, D_T = math.exp(x[1]), math.exp(x[1] + x[2])
        L_T = float(laws.supervised_loss(N_T, D_T, sup))  # at the edge when no teacher in the box is stronger/weaker
        L_lo = float(laws.supervised_loss(math.exp(box[1][1]), math.exp(box[1][1] + box[2][1]), sup))
        L_hi = float(laws.supervised_loss(math.exp(box[1][0]), math.exp(box[1][0] + box[2][0]), sup))
        size_inside = L_lo * (1 + 1e-6) < L_T < L_hi * (1 - 1e-6)
    return size_inside, tokens_inside


def _canonical_free_teacher(x, N_S, sup, box, tokens_per_param: float = 20.0):
    """A free teacher is fixed only through its loss: report the one trained on 20 tokens per
    parameter that has that loss (when it lies in the box), so the answer does not wander."""
    L_T = float(laws.supervised_loss(math.exp(x[1]), math.exp(x[1] + x[2]), sup))
    g = lambda v: float(laws.supervised_loss(math.exp(v), tokens_per_param * math.exp(v), sup)) - L_T  # noqa: E731
    if g(box[1][0]) * g(box[1][1]) >= 0:
        return x
    v = optimize.brentq(g, box[1][0], box[1][1], xtol=1e-12)
    return np.array([x[0], v, math.log(tokens_per_param)])


def optimise_free(N_S: float, C: float, sup: SupervisedParams, dist: DistillParams,
                  F: Callable = flops_per_token) -> laws.TeacherOptimum:
    """The bound for the free-teacher scenario: D_S = C/(3F(N_S)), best teacher loss in [E, ∞)."""
    return laws.optimal_teacher_loss(N_S, C / (3 * F(N_S)), sup, dist)


def sweep_compute(N_S: float, computes, sup, dist, scenario: Scenario, F: Callable = flops_per_token) -> list[Allocation]:
    return [optimise(N_S, float(c), sup, dist, scenario, F) for c in computes]


def crossovers(N_S: float, computes, sup, dist, scenario: Scenario, F: Callable = flops_per_token,
               allocations: list[Allocation] | None = None) -> list[dict]:
    """Computes where gain = L_sup − L_S changes sign along `computes`, refined by Brent in log C.

    Each entry: {"compute", "direction"}: "distillation starts winning" (gain turns positive as C
    grows) or "distillation stops winning".
    """
    allocs = allocations or sweep_compute(N_S, computes, sup, dist, scenario, F)
    logc = np.log([a.compute for a in allocs])
    g = np.array([a.gain for a in allocs])
    out = []
    for i in np.flatnonzero(np.sign(g[:-1]) * np.sign(g[1:]) < 0):
        fn = lambda u: optimise(N_S, math.exp(u), sup, dist, scenario, F).gain  # noqa: E731
        u = optimize.brentq(fn, logc[i], logc[i + 1], xtol=1e-4)
        out.append({"compute": float(math.exp(u)),
                    "direction": "distillation starts winning" if g[i + 1] > 0 else "distillation stops winning"})
    return out
