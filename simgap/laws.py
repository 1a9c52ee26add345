"""The scaling laws simgap tests against, as plain vectorised NumPy.

Supervised law (Busbridge et al. 2025, Eq. 1):  L(N, D) = E + (A/N^α + B/D^β)^γ.
Distillation law (Busbridge et al. 2025, Eq. 8):
    L_S = L_T + L_T^(−c0) · (1 + (L_T / (d1·L̃_S))^(1/f1))^(−c1·f1) · (A'/N_S^α' + B'/D_S^β')^γ'
with L̃_S = L(N_S, D_S). Linear teacher law (Zhang et al. 2025): T* = k·S + b.

Everything is computed in log space where a term can under- or overflow: with the paper's values
c1·f1 ≈ 47, so the broken-power-law factor spans hundreds of orders of magnitude.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize

ArrayLike = np.ndarray | float


@dataclass(frozen=True)
class SupervisedParams:
    """L(N, D) = E + (A/N^alpha + B/D^beta)^gamma."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    gamma: float = 1.0


@dataclass(frozen=True)
class DistillParams:
    """Distillation-law parameters (the primed A', B', α', β', γ' and c0, c1, f1, d1)."""

    A: float
    B: float
    alpha: float
    beta: float
    gamma: float
    c0: float
    c1: float
    f1: float
    d1: float


TEACHER_LAW_FORMS = ("linear", "loglog")


@dataclass(frozen=True)
class TeacherLaw:
    """The optimal teacher T* against the student size S (Zhang et al. 2025), in one of two forms:
    "linear", T* = slope·S + intercept (sizes in the unit the law was fitted in; Zhang et al.:
    millions), or "loglog", log T* = slope·log S + intercept, the power law T* = c·S^p with
    p = slope and c = exp(intercept). The one teacher-law type: Zhang's reference, every fitted
    law (simgap.fit.teacher.TeacherLawFit) and the agreement's and planner's laws."""

    form: str
    slope: float
    intercept: float

    def __post_init__(self):
        if self.form not in TEACHER_LAW_FORMS:
            raise ValueError(f"teacher law form must be one of {TEACHER_LAW_FORMS}, got {self.form!r}")

    def __call__(self, student_size: ArrayLike) -> np.ndarray:
        S = np.asarray(student_size, float)
        return self.slope * S + self.intercept if self.form == "linear" else np.exp(self.intercept) * S**self.slope

    def describe(self, unit: str = "") -> str:
        """"T* = 2.5·S − 11.5" or "T* = 70·S^0.65"."""
        if self.form == "linear":
            sign = "−" if self.intercept < 0 else "+"
            return f"T* = {self.slope:.4g}·S {sign} {abs(self.intercept):.4g}{unit}"
        return f"T* = {math.exp(self.intercept):.4g}·S^{self.slope:.4g}"


CHINCHILLA = SupervisedParams(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28, gamma=1.0)
BUSBRIDGE_SUPERVISED = SupervisedParams(E=1.220, A=3355.0, B=18186.0, alpha=0.408, beta=0.431, gamma=0.452)
BUSBRIDGE_DISTILL = DistillParams(
    A=2243.0, B=24181.0, alpha=0.321, beta=0.637, gamma=0.764, c0=2.549, c1=522.6, f1=0.090, d1=1.315
)
ZHANG_LINEAR = TeacherLaw("linear", 2.498, -11.498)
ZHANG_R2 = 0.9957  # the R² of that fit, as Zhang et al. report it


def _log_power_sum(N: ArrayLike, D: ArrayLike, A: float, B: float, alpha: float, beta: float) -> np.ndarray:
    """log(A/N^α + B/D^β), stable for any magnitudes (B = 0 drops the data term)."""
    N, D = np.asarray(N, float), np.asarray(D, float)
    log_a = np.log(A) - alpha * np.log(N)
    if B == 0:
        return log_a + 0.0 * D
    # beta == 0 is the reduced form (B is then the folded constant B/D^β); avoid 0·log(inf).
    log_b = np.log(B) - (beta * np.log(D) if beta != 0 else np.zeros_like(D))
    return np.logaddexp(log_a, log_b)


def supervised_loss(N: ArrayLike, D: ArrayLike, p: SupervisedParams) -> np.ndarray:
    """L(N, D); D = inf gives the unlimited-data limit E + (A/N^α)^γ."""
    return p.E + np.exp(p.gamma * _log_power_sum(N, D, p.A, p.B, p.alpha, p.beta))


def log_middle_factor(teacher_loss: ArrayLike, supervised: ArrayLike, d: DistillParams) -> np.ndarray:
    """log of (1 + (L_T/(d1·L̃_S))^(1/f1))^(−c1·f1), via softplus so it never over/underflows."""
    z = (np.log(teacher_loss) - np.log(d.d1) - np.log(supervised)) / d.f1
    return -d.c1 * d.f1 * np.logaddexp(0.0, z)


def log_distill_excess(
    N_S: ArrayLike, D_S: ArrayLike, teacher_loss: ArrayLike, sup: SupervisedParams, d: DistillParams
) -> np.ndarray:
    """log(L_S − L_T): finite even where L_S − L_T underflows to 0 in float64."""
    L_T = np.asarray(teacher_loss, float)
    L_sup = supervised_loss(N_S, D_S, sup)
    return (
        -d.c0 * np.log(L_T)
        + log_middle_factor(L_T, L_sup, d)
        + d.gamma * _log_power_sum(N_S, D_S, d.A, d.B, d.alpha, d.beta)
    )


def distill_loss(
    N_S: ArrayLike, D_S: ArrayLike, teacher_loss: ArrayLike, sup: SupervisedParams, d: DistillParams
) -> np.ndarray:
    """Student loss L_S from the teacher's loss L_T (Busbridge Eq. 8)."""
    L_T = np.asarray(teacher_loss, float)
    return L_T + np.exp(log_distill_excess(N_S, D_S, L_T, sup, d))


@dataclass(frozen=True)
class TeacherOptimum:
    """The teacher loss minimising L_S for one student, searched over [lower, upper]."""

    teacher_loss: float
    student_loss: float
    supervised_loss: float
    lower: float
    upper: float
    interior: bool  # False: the best teacher sits at a bound (no capacity gap within the range)
    beats_supervised: bool  # some teacher gives a lower loss than training on labels

    @property
    def gain(self) -> float:
        """L̃_S − min L_S: positive when distillation helps this student."""
        return self.supervised_loss - self.student_loss


def teacher_loss_range(N_S: float, D_S: float, sup: SupervisedParams, d: DistillParams) -> tuple[float, float]:
    """A sensible L_T range: from near the irreducible loss to well past the break at d1·L̃_S.

    No teacher beats E; when E ≈ 0 (a noiseless task) the floor is 1e-3·L̃_S instead. When the
    break lies at or below that floor (a fit with E ≥ 4·d1·L̃_S: every teacher is on the weak side)
    the range still spans a factor 4 above it, so an optimum (at its lower end) is found, not an error.
    """
    L_sup = float(supervised_loss(N_S, D_S, sup))
    lower = max(sup.E, 1e-3 * L_sup)
    return lower, max(4.0 * d.d1 * L_sup, 4.0 * lower)


def log_argmin(f, lo: float, hi: float, n_grid: int = 1201, xatol: float = 1e-9) -> tuple[float, float]:
    """argmin of f(u) over u ∈ [lo, hi] (u a log size or log loss): a grid (a sharp break can hide
    between coarse points) refined by bounded Brent around the best grid point; never worse than
    that point. Returns (u, f(u)). `f` takes an array of u. simgap's one such argmin."""
    u = np.linspace(lo, hi, n_grid)
    vals = f(u)
    i = int(np.argmin(vals))
    res = optimize.minimize_scalar(lambda x: float(f(np.asarray(x))), bounds=(u[max(i - 1, 0)], u[min(i + 1, n_grid - 1)]),
                                   method="bounded", options={"xatol": xatol})
    return (float(res.x), float(res.fun)) if res.fun <= vals[i] else (float(u[i]), float(vals[i]))


def optimal_teacher_loss(
    N_S: float,
    D_S: float,
    sup: SupervisedParams,
    dist: DistillParams,
    bounds: tuple[float, float] | None = None,
    n_grid: int = 2001,
) -> TeacherOptimum:
    """argmin over L_T of L_S: `log_argmin` on log L_T (the curve can have a narrow dip)."""
    lower, upper = bounds if bounds is not None else teacher_loss_range(N_S, D_S, sup, dist)
    if not 0 < lower < upper:
        raise ValueError(f"need 0 < lower < upper for the teacher-loss range, got ({lower}, {upper})")
    lo, hi = np.log(lower), np.log(upper)
    u_best, l_best = log_argmin(lambda u: distill_loss(N_S, D_S, np.exp(u), sup, dist), lo, hi, n_grid, xatol=1e-10)
    grid = np.linspace(lo, hi, n_grid)  # the optimum is interior when not within a grid step of either end
    step = grid[1] - grid[0]
    interior = bool(grid[0] + step < u_best < grid[-1] - step)
    L_sup = float(supervised_loss(N_S, D_S, sup))
    return TeacherOptimum(
        teacher_loss=float(np.exp(u_best)),
        student_loss=float(l_best),
        supervised_loss=L_sup,
        lower=float(lower),
        upper=float(upper),
        interior=interior,
        beats_supervised=bool(l_best < L_sup),
    )


# ----- limit-property checks ---------------------------------------------------------------


@dataclass(frozen=True)
class PropertyCheck:
    """One limit property: pass/fail plus the numbers it was decided on."""

    name: str
    passed: bool
    detail: str
    values: dict


def check_p1_large_student(
    sup: SupervisedParams, dist: DistillParams, teacher_loss: float, N_S: float, D_S: float, tol: float = 1e-3
) -> PropertyCheck:
    """P1: L_S → L_T as N_S, D_S → ∞. Scales the student by 10^k, k = 0..12, and asks that the
    gap L_S − L_T shrinks monotonically and ends below tol·L_T."""
    scales = 10.0 ** np.arange(0, 13)
    gaps = distill_loss(N_S * scales, D_S * scales, teacher_loss, sup, dist) - teacher_loss
    monotone = bool(np.all(np.diff(gaps) <= 1e-12 * teacher_loss))
    final = float(gaps[-1] / teacher_loss)
    return PropertyCheck(
        "P1 L_S -> L_T as N_S, D_S -> inf",
        monotone and final < tol,
        f"relative gap {gaps[0] / teacher_loss:.3g} at scale 1 -> {final:.3g} at scale 1e12 (tol {tol})",
        {"scales": scales.tolist(), "gap": gaps.tolist(), "monotone": monotone},
    )


def check_p2_bad_teacher(
    sup: SupervisedParams, dist: DistillParams, N_S: float, D_S: float, tol: float = 1e-3
) -> PropertyCheck:
    """P2: L_S / L_T → 1 as L_T → ∞; evaluated at L_T = L̃_S·10^k, k = 0..6."""
    L_sup = float(supervised_loss(N_S, D_S, sup))
    L_T = L_sup * 10.0 ** np.arange(0, 7)
    ratio = distill_loss(N_S, D_S, L_T, sup, dist) / L_T
    return PropertyCheck(
        "P2 L_S/L_T -> 1 as L_T -> inf",
        bool(abs(ratio[-1] - 1) < tol and np.all(ratio >= 1)),
        f"L_S/L_T - 1 = {ratio[0] - 1:.3g} at L_T = L~_S -> {ratio[-1] - 1:.3g} at 1e6 L~_S (tol {tol})",
        {"teacher_loss": L_T.tolist(), "ratio": ratio.tolist()},
    )


def check_p3_capacity_gap(
    sup: SupervisedParams, dist: DistillParams, N_S: float, D_S: float, n_grid: int = 4001
) -> PropertyCheck:
    """P3: dL_S/dL_T < 0 somewhere in [lower, d1·L̃_S] (a better teacher makes a worse student).

    The derivative is a central difference in log L_T on a grid over teacher_loss_range's lower
    end up to d1·L̃_S; reports the L_T interval where it is negative.
    """
    L_sup = float(supervised_loss(N_S, D_S, sup))
    lower, _ = teacher_loss_range(N_S, D_S, sup, dist)
    L_T = np.exp(np.linspace(np.log(lower), np.log(dist.d1 * L_sup), n_grid))
    slope = np.gradient(distill_loss(N_S, D_S, L_T, sup, dist), L_T)
    neg = slope < 0
    interval = [float(L_T[neg].min()), float(L_T[neg].max())] if neg.any() else None
    return PropertyCheck(
        "P3 capacity gap: dL_S/dL_T < 0 below d1*L~_S",
        bool(neg.any()),
        f"negative slope for L_T in {interval}" if interval else "no L_T with dL_S/dL_T < 0",
        {"supervised_loss": L_sup, "break": dist.d1 * L_sup, "negative_interval": interval,
         "min_slope": float(slope.min())},
    )


def check_p4_transition(
    sup: SupervisedParams, dist: DistillParams, N_S: float, D_S: float, rtol: float = 0.01
) -> PropertyCheck:
    """P4: the broken power law turns at L_T/L̃_S ≈ d1.

    Located from the law's output, not its formula: the slope s(u) of log(L_S − L_T) against
    u = log(L_T/L̃_S) runs from −c0 (weak teachers… strong side) to −c0 − c1; the transition is
    where s is half-way between its two far-side values (for Eq. 8 that is also the knee where
    the two asymptotes meet). Passes when |ratio/d1 − 1| < rtol. Also reports the onset, where
    the middle factor has fallen to 1/2 (≈ 0.68·d1 with the paper's c1, f1).
    """
    L_sup = float(supervised_loss(N_S, D_S, sup))
    u = np.linspace(np.log(dist.d1) - 40 * dist.f1, np.log(dist.d1) + 40 * dist.f1, 8001)
    L_T = L_sup * np.exp(u)
    s = np.gradient(log_distill_excess(N_S, D_S, L_T, sup, dist), u)
    if s[0] - s[-1] < 1e-6:  # c1 ≈ 0: no broken power law to locate
        return PropertyCheck("P4 transition at L_T/L~_S = d1", False, "no break: the slope does not change",
                             {"slope_weak_side": float(s[-1]), "slope_strong_side": float(s[0])})
    half = 0.5 * (s[0] + s[-1])
    k = int(np.argmax(s <= half))  # slope decreases monotonically through the break
    frac = (s[k - 1] - half) / (s[k - 1] - s[k]) if k > 0 else 0.0
    ratio = float(np.exp(u[k - 1] + frac * (u[k] - u[k - 1]))) if k > 0 else float(np.exp(u[0]))
    logm = log_middle_factor(L_T, L_sup, dist)
    j = int(np.argmax(logm <= np.log(0.5)))
    onset = float(np.exp(u[j]))
    return PropertyCheck(
        "P4 transition at L_T/L~_S = d1",
        bool(abs(ratio / dist.d1 - 1) < rtol),
        f"half-slope knee at L_T/L~_S = {ratio:.4f} vs d1 = {dist.d1:.4f} (rtol {rtol}); "
        f"middle factor = 1/2 at {onset:.4f}",
        {"knee_ratio": ratio, "d1": dist.d1, "onset_ratio": onset,
         "slope_weak_side": float(s[-1]), "slope_strong_side": float(s[0])},
    )


SUPERVISED_LIMIT = "E.6 best teacher + unlimited data reaches the supervised limit"  # its PropertyCheck's name


def check_supervised_limit(
    sup: SupervisedParams, dist: DistillParams, N_S: float, tol: float = 0.02
) -> PropertyCheck:
    """Busbridge App. E.6: with D_S = ∞ and the best teacher, L_S ≈ E + (A·N^−α)^γ."""
    limit = float(supervised_loss(N_S, np.inf, sup))
    best = optimal_teacher_loss(N_S, np.inf, sup, dist)
    gap = best.student_loss - limit
    return PropertyCheck(
        SUPERVISED_LIMIT,
        bool(abs(gap) < tol),
        f"min L_S = {best.student_loss:.4f} vs E + (A N^-a)^g = {limit:.4f}: gap {gap:+.4f} nats (tol {tol})",
        {"N_S": N_S, "best_student_loss": best.student_loss, "supervised_limit": limit, "gap": gap,
         "best_teacher_loss": best.teacher_loss},
    )


def check_properties(
    sup: SupervisedParams,
    dist: DistillParams,
    students: list[tuple[float, float]],
    teacher_loss: float | None = None,
) -> list[PropertyCheck]:
    """P1–P4 and the E.6 limit at each (N_S, D_S); P1 uses teacher_loss (default: each L̃_S)."""
    checks = []
    for N_S, D_S in students:
        L_T = teacher_loss if teacher_loss is not None else float(supervised_loss(N_S, D_S, sup))
        checks += [
            check_p1_large_student(sup, dist, L_T, N_S, D_S),
            check_p2_bad_teacher(sup, dist, N_S, D_S),
            check_p3_capacity_gap(sup, dist, N_S, D_S),
            check_p4_transition(sup, dist, N_S, D_S),
        ]
        if np.isfinite(D_S) and sup.beta > 0 and dist.beta > 0:  # reduced forms have no D → ∞ limit
            checks.append(check_supervised_limit(sup, dist, N_S))
    return checks
