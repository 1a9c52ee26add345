"""The laws as objectives for the solver: log-space predictions, their gradients, parameter
names, start grids and bounds. A new law adds its `*_logpred`/`*_grad` pair and grid here.

Both laws are fitted in log space with log-sum-exp (Busbridge et al. App. F, after Hoffmann et al.):
    log L = LSE[log E, γ·LSE(log A − α log N, log B − β log D)]
and for Eq. 8, log L_S = LSE[log L_T, −c0·log L_T − c1·f1·softplus(z) + γ'·LSE(...)], with
z = (log L_T − log d1 − log L̃_S)/f1. The gradients are hand-derived (d log-pred / d θ) and
checked against finite differences in the tests.

Start grids (Busbridge et al. App. F): supervised log A, log B ∈ {0,5,10,15,20},
log E ∈ {−1,−0.5,0,0.5,1,1.5}, α, β, γ ∈ {0,0.5,1,1.5}; distillation log A', log B' ∈
{0,5,10,15,20}, α', β', γ' ∈ {0,0.5,1}, c0, c1, f1 ∈ {0,0.5,1,1.5}, log d1 ∈ {−1,…,1}. simgap adds
log E ∈ {−10, −5} (synthetic tasks can have E = 0 and losses ≪ 1, where every start with E above the
data sits on a plateau) and c1 ∈ {10, 100, 1000} (the paper's c1 ≈ 523 is far outside the grid).
c1 is fitted as log c1 (c1 = 0 becomes 1e-3): past the break the factor is ≈ 0 for any large c1, so
c1 lies in a long flat valley that a linear parameter crawls along for thousands of iterations.
log A and log B are fitted centred on the mean log N and log D (`centre`), which made L-BFGS-B
converge in hundreds instead of thousands of iterations.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from simgap.fit.inputs import FitInputError
from simgap.laws import DistillParams, SupervisedParams


SUP_NAMES = ("log_E", "log_A", "log_B", "alpha", "beta", "gamma")
SUP_NAMES_REDUCED = ("log_E", "log_A", "log_C", "alpha", "gamma")
DIST_NAMES = ("log_A", "log_B", "alpha", "beta", "gamma", "c0", "log_c1", "f1", "log_d1")
DIST_NAMES_REDUCED = ("log_A", "log_C", "alpha", "gamma", "c0", "log_c1", "f1", "log_d1")

# Busbridge et al.'s App. F grids (module docstring), plus log E ∈ {−10, −5}: synthetic tasks can have E = 0 and losses ≪ 1, where
# every start with E above the data sits on a plateau (the power term's gradients vanish).
# log E goes down to −25 in the bounds, so E → 0 is allowed rather than forbidden.
SUP_GRID = {
    "log_E": [-10, -5, -1, -0.5, 0, 0.5, 1, 1.5], "log_A": [0, 5, 10, 15, 20], "log_B": [0, 5, 10, 15, 20],
    "alpha": [0, 0.5, 1, 1.5], "beta": [0, 0.5, 1, 1.5], "gamma": [0, 0.5, 1, 1.5],
    "log_C": [-8, -4, -2, 0, 2],  # reduced form only: the folded data term B/D^β
}
DIST_GRID = {
    "log_A": [0, 5, 10, 15, 20], "log_B": [0, 5, 10, 15, 20], "alpha": [0, 0.5, 1], "beta": [0, 0.5, 1],
    "gamma": [0, 0.5, 1], "c0": [0, 0.5, 1, 1.5], "log_c1": np.log([1e-3, 0.5, 1, 1.5, 10, 100, 1000]).tolist(),
    "f1": [0, 0.5, 1, 1.5], "log_d1": [-1, -0.5, 0, 0.5, 1], "log_C": [-8, -4, -2, 0, 2],
}
BOUNDS = {
    "log_E": (-25.0, 10.0), "log_A": (-30.0, 60.0), "log_B": (-30.0, 60.0), "log_C": (-30.0, 30.0),
    "alpha": (0.0, 5.0), "beta": (0.0, 5.0), "gamma": (0.01, 5.0),
    "c0": (0.0, 20.0), "log_c1": (math.log(1e-3), math.log(5000.0)), "f1": (0.005, 5.0), "log_d1": (-3.0, 3.0),
}

# Centred fits (see centre) work on log A − α·mean(log N): wider bounds, same meaning.
CENTRED_BOUNDS = {"log_A": (-120.0, 120.0), "log_B": (-120.0, 120.0)}


def to_params(law: str, th: np.ndarray, reduced: bool) -> SupervisedParams | DistillParams:
    if law == "supervised":
        if reduced:
            lE, lA, lC, a, g = th
            return SupervisedParams(E=math.exp(lE), A=math.exp(lA), B=math.exp(lC), alpha=float(a), beta=0.0, gamma=float(g))
        lE, lA, lB, a, b, g = th
        return SupervisedParams(E=math.exp(lE), A=math.exp(lA), B=math.exp(lB), alpha=float(a), beta=float(b), gamma=float(g))
    if reduced:
        lA, lC, a, g, c0, lc1, f1, ld = th
        lB, b = lC, 0.0
    else:
        lA, lB, a, b, g, c0, lc1, f1, ld = th
    return DistillParams(A=math.exp(lA), B=math.exp(lB), alpha=float(a), beta=float(b), gamma=float(g),
                         c0=float(c0), c1=math.exp(lc1), f1=float(f1), d1=math.exp(ld))


def from_params(p: SupervisedParams | DistillParams, reduced: bool) -> np.ndarray:
    if isinstance(p, SupervisedParams):
        v = [math.log(max(p.E, 1e-11)), math.log(p.A), math.log(p.B), p.alpha, p.beta, p.gamma]
        return np.array([v[0], v[1], v[2], v[3], v[5]] if reduced else v)
    v = [math.log(p.A), math.log(p.B), p.alpha, p.beta, p.gamma, p.c0, math.log(max(p.c1, 1e-3)), p.f1,
         math.log(p.d1)]
    return np.array(v[:2] + v[2:3] + v[4:] if reduced else v)


def _cols(th: np.ndarray) -> list[np.ndarray]:
    """Parameter columns shaped to broadcast against data: (P,) -> scalars, (M, P) -> (M, 1)."""
    th = np.asarray(th, float)
    return [th[..., i, None] if th.ndim > 1 else th[i] for i in range(th.shape[-1])]


def _sup_terms(th, logN, logD, reduced):
    if reduced:
        lE, lA, lC, a, g = _cols(th)
        t_a, t_b = lA - a * logN, lC + 0.0 * logN
    else:
        lE, lA, lB, a, b, g = _cols(th)
        t_a, t_b = lA - a * logN, lB - b * logD
    S = np.logaddexp(t_a, t_b)
    return lE, g, t_a, t_b, S, np.logaddexp(lE, g * S)


def sup_logpred(th, logN, logD, reduced):
    return _sup_terms(th, logN, logD, reduced)[-1]


def sup_grad(th, logN, logD, reduced):
    """d log-pred / d theta, shape (P, n)."""
    lE, g, t_a, t_b, S, pred = _sup_terms(th, logN, logD, reduced)
    wE = np.exp(lE - pred)
    wP = 1.0 - wE
    pa = special.expit(t_a - t_b)
    dS = wP * g
    if reduced:
        return np.stack([wE, dS * pa, dS * (1 - pa), -dS * pa * logN, wP * S])
    return np.stack([wE, dS * pa, dS * (1 - pa), -dS * pa * logN, -dS * (1 - pa) * logD, wP * S])


def _dist_terms(th, logN, logD, logLT, logLsup, reduced):
    if reduced:
        lA, lC, a, g, c0, lc1, f1, ld = _cols(th)
        t_a, t_b = lA - a * logN, lC + 0.0 * logN
    else:
        lA, lB, a, b, g, c0, lc1, f1, ld = _cols(th)
        t_a, t_b = lA - a * logN, lB - b * logD
    S = np.logaddexp(t_a, t_b)
    z = (logLT - ld - logLsup) / f1
    sp = np.logaddexp(0.0, z)
    c1 = np.exp(lc1)
    R = -c0 * logLT - c1 * f1 * sp + g * S
    return (g, c1, f1, t_a, t_b, S, z, sp, R), np.logaddexp(logLT, R)


def dist_logpred(th, logN, logD, logLT, logLsup, reduced):
    return _dist_terms(th, logN, logD, logLT, logLsup, reduced)[1]


def dist_grad(th, logN, logD, logLT, logLsup, reduced):
    (g, c1, f1, t_a, t_b, S, z, sp, R), pred = _dist_terms(th, logN, logD, logLT, logLsup, reduced)
    q = np.exp(R - pred)  # d pred / d R
    pa = special.expit(t_a - t_b)
    sz = special.expit(z)
    dS = q * g
    common = [q * S, -q * logLT, -q * f1 * sp * c1, q * (-c1 * sp + c1 * sz * z), q * c1 * sz]
    if reduced:
        return np.stack([dS * pa, dS * (1 - pa), -dS * pa * logN] + common)
    return np.stack([dS * pa, dS * (1 - pa), -dS * pa * logN, -dS * (1 - pa) * logD] + common)


def huber_scaled(r: np.ndarray, delta: float) -> np.ndarray:
    """huber_δ(r)/δ²: the same minimiser as Σ huber_δ(r), but O(n·|r|/δ) instead of O(n·δ·|r|).
    L-BFGS-B's ftol test is relative to max(|f|, 1), so the unscaled objective (≈ 1e-6 with
    δ = 1e-4) stops after a few iterations: the "too-early stop" Besiroglu et al. found in
    Hoffmann et al.'s fit. Residuals are summed, not averaged, for the same reason."""
    return special.huber(delta, r) / delta**2


def huber_scaled_grad(r: np.ndarray, delta: float) -> np.ndarray:
    return np.clip(r, -delta, delta) / delta**2


def centre(theta: np.ndarray, names: tuple[str, ...], mN: float, mD: float, sign: float) -> np.ndarray:
    """log A − α·mean(log N) (and log B − β·mean(log D)): the fit runs on centred log sizes, which
    removes the strong log A–α correlation (|log N| ≈ 18) that slows L-BFGS-B by orders of
    magnitude. sign = −1 centres, +1 maps back."""
    th = np.array(theta, float)
    ix = {n: i for i, n in enumerate(names)}
    th[..., ix["log_A"]] += sign * th[..., ix["alpha"]] * mN
    if "log_B" in ix:
        th[..., ix["log_B"]] += sign * th[..., ix["beta"]] * mD
    return th


_THETA_OF = {"E": "log_E", "A": "log_A", "B": "log_B", "c1": "log_c1", "d1": "log_d1"}


def fixed_theta(law: str, fixed: dict[str, float], reduced: bool) -> dict[str, float]:
    """Natural-scale fixed values ({"E": 0, "gamma": 1}) → the solver's coordinates ({"log_E": …}).

    E = 0 becomes log E at its lower bound (E ≈ 1e-11). In the reduced (single-budget) form B is
    the folded constant C and β does not exist (fixing β = 0 there is accepted as a no-op)."""
    names = (SUP_NAMES_REDUCED if reduced else SUP_NAMES) if law == "supervised" else (
        DIST_NAMES_REDUCED if reduced else DIST_NAMES)
    allowed = ("E", "A", "B", "alpha", "beta", "gamma") if law == "supervised" else (
        "A", "B", "alpha", "beta", "gamma", "c0", "c1", "f1", "d1")
    out = {}
    for k, v in fixed.items():
        if k not in allowed:
            raise FitInputError(f"cannot fix {k!r} in the {law} law; its parameters are {', '.join(allowed)}")
        if reduced and k == "beta":
            if v != 0:
                raise FitInputError(f"cannot fix beta = {v} in the single-budget ({law}) fit: beta is not identifiable")
            continue
        name = "log_C" if reduced and k == "B" else _THETA_OF.get(k, k)
        value = math.log(v) if name.startswith("log_") and v > 0 else v
        if name.startswith("log_") and v <= 0:
            if k != "E":
                raise FitInputError(f"{law} law: {k} must be > 0 to be fixed, got {v}")
            value = BOUNDS["log_E"][0]
        lo, hi = BOUNDS[name] if name in BOUNDS and name not in CENTRED_BOUNDS else (-math.inf, math.inf)
        if not lo <= value <= hi:
            raise FitInputError(f"{law} law: {k} = {v} is outside the fit's range")
        assert name in names
        out[name] = float(value)
    return out
