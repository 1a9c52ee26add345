"""Fit the supervised and distillation laws (Busbridge et al. App. F) and the linear teacher law.

Law fits are done in log space with log-sum-exp, a Huber loss on (log predicted − log observed)
and L-BFGS-B from a grid of starts (REFERENCE.md §2 "Fitting").

Start selection. The full grids are large (supervised 12,800 points with the two extra log E
values; distillation 378,000 with the extra c1 values). Every supervised grid point and a seeded
random 20,000 of the distillation grid are *evaluated* (vectorised, ≈ 0.1 s / 0.3 s); short
L-BFGS-B runs (300 iterations) start from the `n_top` best of them plus `n_random` others drawn
with a seeded RNG (for diversity); the 3 best are polished to convergence and the best kept.
Measured on 2 busy CPU cores (`experiments/fit_demo.py` data: 24 supervised, 312 distillation
rows, 1e-3 noise):
- supervised: top-5 + 3 starts 0.8–2.2 s, top-10 + 6 3–4 s, 100 random grid starts 9–15 s, all the
  same objective to 1e-12. But on 1 of 8 random-parameter recovery draws top-5 + 3 ended in a
  local minimum (4 % in-sample error) that top-10 + 6 avoided, so the supervised default is
  10 + 6 (≈ 3–6 s);
- distillation: 20k-subsampled grid + top-5 + 3: objective 3499.29 in 6.7 s; the full 378k grid
  with top-10 + 6: 3499.38 in 42.7 s; 30 + 20 starts: 3496.03 (−0.1 %) in 55 s with the same
  0.42 % max error. Default 5 + 3.
The distillation grid is extended with c1 ∈ {10, 100, 1000} because the paper's c1 ≈ 523
is far outside {0, 0.5, 1, 1.5}, and c1 is fitted as log c1 (c1 = 0 becomes 1e-3): past the break
the factor is ≈ 0 for any large c1, so c1 lies in a long flat valley that a linear parameter
crawls along for thousands of iterations; see `DIST_GRID`. log A and log B are fitted centred on
the mean log N and log D (see `_centre`), which made L-BFGS-B converge in hundreds instead of
thousands of iterations.

The objective is Σ huber_δ(r)/δ², which has the same minimiser as Σ huber_δ(r) but is O(n·|r|/δ)
instead of O(n·δ·|r|): L-BFGS-B's ftol test is relative to max(|f|, 1), so the unscaled objective
(≈ 1e-6 with δ = 1e-4) stops after a few iterations — the "too-early stop" Besiroglu et al. found
in Hoffmann's fit.

A fit is `converged` when L-BFGS-B reports success, or when it stopped for another reason but a
restart from its end point improves the objective by < 1e-9 relative (the Huber loss is not
twice differentiable, so an abnormal line-search exit at a true minimum is common), or by
< 1e-5 relative while moving no log-prediction by more than 1e-4 (a flat valley: the
predictions are settled though the parameters still drift; the message says so and the
bootstrap CIs show how weakly the parameters are identified). An
unconverged fit keeps its numbers in `raw_params`; `params` is None and `require()` raises.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import optimize, special
from threadpoolctl import threadpool_limits

from simgap import laws
from simgap.laws import DistillParams, SupervisedParams


class FitInputError(ValueError):
    """Bad input to a fit: names the column and row at fault."""


class TooFewPoints(FitInputError):
    """Not enough (distinct) points to identify the law's parameters."""


class FitNotConverged(RuntimeError):
    """Raised when the parameters of an unconverged fit are asked for."""


# ----- input validation --------------------------------------------------------------------


def _column(values, name: str, *, positive: bool = True) -> np.ndarray:
    """A 1-D float array; a NaN, inf or non-positive entry raises naming the column and row."""
    try:
        a = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError) as e:
        raise FitInputError(f"column {name!r} is not numeric: {e}") from None
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FitInputError(f"column {name!r} row {i}: value {float(a[i])!r} is not finite")
    if positive and (a <= 0).any():
        i = int(np.flatnonzero(a <= 0)[0])
        raise FitInputError(f"column {name!r} row {i}: value {float(a[i])!r} must be > 0")
    return a


def _same_length(**cols: np.ndarray) -> int:
    lengths = {k: len(v) for k, v in cols.items()}
    if len(set(lengths.values())) != 1:
        raise FitInputError(f"columns have different lengths: {lengths}")
    return next(iter(lengths.values()))


def is_single_budget(D: np.ndarray) -> bool:
    """B and β (B', β') are identifiable only with ≥ 2 distinct data budgets."""
    return len(np.unique(D)) < 2


# ----- law fits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LawFit:
    """One fitted law. `theta` is the log-space vector the optimiser worked on."""

    law: str  # "supervised" | "distillation"
    names: tuple[str, ...]
    theta: tuple[float, ...]
    converged: bool
    message: str
    reduced: bool  # single data budget: B/D^β folded into one constant (reported as B, β = 0)
    note: str
    n_points: int
    rmse_log: float
    max_rel_error: float
    mean_rel_error: float
    objective: float
    n_starts: int
    fit_time_s: float
    huber_delta: float
    data: dict = field(repr=False, compare=False, default_factory=dict)
    supervised: SupervisedParams | None = None  # the law held fixed in a distillation fit

    @property
    def raw_params(self) -> SupervisedParams | DistillParams:
        return _to_params(self.law, np.asarray(self.theta), self.reduced)

    @property
    def params(self) -> SupervisedParams | DistillParams | None:
        return self.raw_params if self.converged else None

    def require(self) -> SupervisedParams | DistillParams:
        if not self.converged:
            raise FitNotConverged(f"{self.law} fit did not converge ({self.message}); not a result")
        return self.raw_params

    def predict(self, **cols) -> np.ndarray:
        p = self.raw_params
        if self.law == "supervised":
            return laws.supervised_loss(cols["N"], cols["D"], p)
        return laws.distill_loss(cols["N"], cols["D"], cols["teacher_loss"], self.supervised, p)

    def summary(self) -> dict:
        """JSON-ready: parameters (natural scale) only when converged."""
        p = asdict(self.raw_params)
        return {
            "law": self.law,
            "converged": self.converged,
            "message": self.message,
            "params": p if self.converged else None,
            "unconverged_params": None if self.converged else p,
            "reduced_form": self.reduced,
            "note": self.note,
            "n_points": self.n_points,
            "rmse_log": self.rmse_log,
            "max_rel_error": self.max_rel_error,
            "mean_rel_error": self.mean_rel_error,
            "n_starts": self.n_starts,
            "fit_time_s": self.fit_time_s,
            "huber_delta": self.huber_delta,
        }


SUP_NAMES = ("log_E", "log_A", "log_B", "alpha", "beta", "gamma")
SUP_NAMES_REDUCED = ("log_E", "log_A", "log_C", "alpha", "gamma")
DIST_NAMES = ("log_A", "log_B", "alpha", "beta", "gamma", "c0", "log_c1", "f1", "log_d1")
DIST_NAMES_REDUCED = ("log_A", "log_C", "alpha", "gamma", "c0", "log_c1", "f1", "log_d1")

# REFERENCE.md §2 grids, plus log E ∈ {−10, −5}: synthetic tasks can have E = 0 and losses ≪ 1, where
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

# Centred fits (see _centre) work on log A − α·mean(log N): wider bounds, same meaning.
_CENTRED_BOUNDS = {"log_A": (-120.0, 120.0), "log_B": (-120.0, 120.0)}


def _to_params(law: str, th: np.ndarray, reduced: bool) -> SupervisedParams | DistillParams:
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


def _from_params(p: SupervisedParams | DistillParams, reduced: bool) -> np.ndarray:
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


def _sup_logpred(th, logN, logD, reduced):
    return _sup_terms(th, logN, logD, reduced)[-1]


def _sup_grad(th, logN, logD, reduced):
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


def _dist_logpred(th, logN, logD, logLT, logLsup, reduced):
    return _dist_terms(th, logN, logD, logLT, logLsup, reduced)[1]


def _dist_grad(th, logN, logD, logLT, logLsup, reduced):
    (g, c1, f1, t_a, t_b, S, z, sp, R), pred = _dist_terms(th, logN, logD, logLT, logLsup, reduced)
    q = np.exp(R - pred)  # d pred / d R
    pa = special.expit(t_a - t_b)
    sz = special.expit(z)
    dS = q * g
    common = [q * S, -q * logLT, -q * f1 * sp * c1, q * (-c1 * sp + c1 * sz * z), q * c1 * sz]
    if reduced:
        return np.stack([dS * pa, dS * (1 - pa), -dS * pa * logN] + common)
    return np.stack([dS * pa, dS * (1 - pa), -dS * pa * logN, -dS * (1 - pa) * logD] + common)


def _huber_scaled(r: np.ndarray, delta: float) -> np.ndarray:
    return special.huber(delta, r) / delta**2


def _huber_scaled_grad(r: np.ndarray, delta: float) -> np.ndarray:
    return np.clip(r, -delta, delta) / delta**2


def _grid(spec: dict, names: tuple[str, ...]) -> np.ndarray:
    return np.array(list(itertools.product(*(spec[n] for n in names))), float)


def _multistart(
    logpred: Callable, grad: Callable, y: np.ndarray, names: tuple[str, ...], grid: np.ndarray,
    delta: float, n_top: int, n_random: int, seed: int, extra_starts: list[np.ndarray] = (),
    max_grid: int = 20_000, start_maxiter: int = 300, n_polish: int = 3, bounds=None,
) -> tuple[np.ndarray, float, bool, str, int]:
    """Evaluate every grid point, run L-BFGS-B from the best n_top + n_random random ones."""
    bounds = bounds or [BOUNDS[n] for n in names]
    lo, hi = np.array(bounds).T
    rng = np.random.default_rng(seed)
    if len(grid) > max_grid:  # seeded subsample of a large grid (see the module docstring)
        grid = grid[rng.choice(len(grid), max_grid, replace=False)]
    grid = np.clip(grid, lo, hi)
    scores = np.concatenate([
        _huber_scaled(logpred(chunk) - y, delta).sum(axis=1) for chunk in np.array_split(grid, max(1, len(grid) // 4000))
    ])
    scores = np.where(np.isfinite(scores), scores, np.inf)
    order = np.argsort(scores)
    rest = order[n_top:]
    picks = list(order[:n_top]) + list(rng.choice(rest, size=min(n_random, len(rest)), replace=False))
    starts = [grid[i] for i in picks] + [np.clip(s, lo, hi) for s in extra_starts]
    # Short runs from every start, then polish the n_polish best to convergence: a short run's
    # rank is only a hint in the distillation law's flat valleys.
    short = sorted((_lbfgs(logpred, grad, y, x0, bounds, delta, maxiter=start_maxiter) for x0 in starts),
                   key=lambda r: r.fun)
    best = min((_lbfgs(logpred, grad, y, r.x, bounds, delta) for r in short[:n_polish]),
               key=lambda r: r.fun)
    converged, message = _converged(logpred, grad, y, best, bounds, delta)
    return best.x, float(best.fun), converged, message, len(starts)


FTOL = 1e-11  # relative to the scaled objective (≈ n·|r|/δ ≥ 1): changes below ~1e-9 nats are noise


def _lbfgs(logpred, grad, y, x0, bounds, delta, maxiter=4000):
    def fun(th):
        r = logpred(th) - y
        f = _huber_scaled(r, delta).sum()
        g = grad(th) @ _huber_scaled_grad(r, delta)
        if not np.isfinite(f):
            return 1e300, np.zeros_like(th)
        return f, g

    return optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                             options={"maxiter": maxiter, "ftol": FTOL, "gtol": 1e-8})


def _converged(logpred, grad, y, res, bounds, delta) -> tuple[bool, str]:
    if not np.all(np.isfinite(res.x)) or not np.isfinite(res.fun) or res.fun >= 1e299:
        return False, "non-finite objective"
    if res.success:
        return True, str(res.message)
    again = _lbfgs(logpred, grad, y, res.x, bounds, delta)
    if again.fun >= res.fun * (1 - 1e-9) - 1e-12:
        return True, f"stationary (restart gained < 1e-9): {res.message}"
    moved = float(np.max(np.abs(logpred(again.x) - logpred(res.x))))
    if again.fun >= res.fun * (1 - 1e-5) and moved < 1e-4:
        return True, (f"predictions stationary (restart: objective −{1 - again.fun / res.fun:.1e} rel., "
                      f"log-predictions moved ≤ {moved:.1e}); parameters weakly identified: {res.message}")
    return False, f"L-BFGS-B stopped early: {res.message}"


def _centre(theta: np.ndarray, names: tuple[str, ...], mN: float, mD: float, sign: float) -> np.ndarray:
    """log A − α·mean(log N) (and log B − β·mean(log D)): the fit runs on centred log sizes, which
    removes the strong log A–α correlation (|log N| ≈ 18) that slows L-BFGS-B by orders of
    magnitude. sign = −1 centres, +1 maps back."""
    th = np.array(theta, float)
    ix = {n: i for i, n in enumerate(names)}
    th[..., ix["log_A"]] += sign * th[..., ix["alpha"]] * mN
    if "log_B" in ix:
        th[..., ix["log_B"]] += sign * th[..., ix["beta"]] * mD
    return th


def _collinear_note(logN: np.ndarray, logD: np.ndarray) -> str:
    """D a power of N (e.g. D = 20·N for every run): the two power terms are then confounded."""
    X = np.stack([np.ones_like(logN), logN], 1)
    resid = logD - X @ np.linalg.lstsq(X, logD, rcond=None)[0]
    if np.sqrt(np.mean(resid**2)) < 1e-6 * max(1.0, np.std(logD)):
        return "D is a power of N in every row: A/N^alpha and B/D^beta are confounded (predictions only)"
    return ""


def _errors(pred_log: np.ndarray, y: np.ndarray) -> dict:
    rel = np.abs(np.expm1(pred_log - y))
    return {"rmse_log": float(np.sqrt(np.mean((pred_log - y) ** 2))),
            "max_rel_error": float(rel.max()), "mean_rel_error": float(rel.mean())}



def _solve(lp, gr, y, names, grid_spec, init, reduced, mN, mD, huber_delta, n_top, n_random, seed,
           single_start: bool):
    """Multistart L-BFGS-B in centred coordinates (or one start from `init`); returns the
    optimum in natural coordinates with its objective, convergence, start count and errors."""
    extra = [_centre(_from_params(init, reduced), names, mN, mD, -1)] if init is not None else []
    bounds = [_CENTRED_BOUNDS.get(k, BOUNDS[k]) for k in names]
    if single_start:
        res = _lbfgs(lp, gr, y, np.clip(extra[0], *np.array(bounds).T), bounds, huber_delta)
        theta, obj, n_starts = res.x, float(res.fun), 1
        conv, msg = _converged(lp, gr, y, res, bounds, huber_delta)
    else:
        grid = _centre(_grid(grid_spec, names), names, mN, mD, -1)
        theta, obj, conv, msg, n_starts = _multistart(lp, gr, y, names, grid, huber_delta,
                                                      n_top, n_random, seed, extra, bounds=bounds)
    errors = _errors(lp(theta), y)
    return _centre(theta, names, mN, mD, +1), obj, conv, msg, n_starts, errors


def _one_blas_thread(fn):
    """Run `fn` with BLAS on one thread: L-BFGS-B on ~10 parameters makes tiny BLAS calls, and
    OpenBLAS's threads spinning against JAX's made whole fits 25x slower (61 s vs 2.5 s)."""
    import functools

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)
    return wrapped


@_one_blas_thread
def fit_supervised(
    N, D, loss, *, huber_delta: float = 1e-4, n_top: int = 10, n_random: int = 6, seed: int = 0,
    init: SupervisedParams | None = None, reduced: bool | None = None, _multistart_off: bool = False,
) -> LawFit:
    """Fit L(N, D) = E + (A/N^α + B/D^β)^γ. With < 2 distinct D (or reduced=True) the data term
    B/D^β is one constant C, returned as B = C, β = 0."""
    N, D, loss = _column(N, "student_size"), _column(D, "student_tokens"), _column(loss, "loss")
    n = _same_length(student_size=N, student_tokens=D, loss=loss)
    reduced = is_single_budget(D) if reduced is None else reduced
    names = SUP_NAMES_REDUCED if reduced else SUP_NAMES
    if len(np.unique(N)) < 2:
        raise TooFewPoints("supervised law needs ≥ 2 distinct student sizes")
    if n < len(names) + 1:
        raise TooFewPoints(f"supervised law ({'reduced, ' if reduced else ''}{len(names)} parameters) "
                           f"needs ≥ {len(names) + 1} points, got {n}")
    logN, logD, y = np.log(N), np.log(D), np.log(loss)
    mN, mD = float(logN.mean()), float(logD.mean())
    cN, cD = logN - mN, logD - mD
    lp = lambda th: _sup_logpred(th, cN, cD, reduced)  # noqa: E731
    gr = lambda th: _sup_grad(th, cN, cD, reduced)  # noqa: E731
    t0 = time.perf_counter()
    theta, obj, conv, msg, n_starts, errors = _solve(
        lp, gr, y, names, SUP_GRID, init, reduced, mN, mD, huber_delta, n_top, n_random, seed, _multistart_off)
    note = (f"single data budget D = {D[0]:g}: B/D^beta is not identifiable; fitted as one constant "
            f"C (reported as B = C, beta = 0)" if reduced else _collinear_note(logN, logD))
    return LawFit("supervised", names, tuple(map(float, theta)), conv, msg, reduced, note, n,
                  **errors, objective=obj, n_starts=n_starts,
                  fit_time_s=time.perf_counter() - t0, huber_delta=huber_delta,
                  data={"N": N, "D": D, "loss": loss})


@_one_blas_thread
def fit_distillation(
    N, D, teacher_loss, loss, supervised: SupervisedParams, *, huber_delta: float = 1e-4, n_top: int = 5,
    n_random: int = 3, seed: int = 0, init: DistillParams | None = None, reduced: bool | None = None,
    _multistart_off: bool = False,
) -> LawFit:
    """Fit the distillation law (Eq. 8) with the supervised law held fixed."""
    N, D = _column(N, "student_size"), _column(D, "student_tokens")
    LT, loss = _column(teacher_loss, "teacher_loss"), _column(loss, "student_loss")
    n = _same_length(student_size=N, student_tokens=D, teacher_loss=LT, student_loss=loss)
    reduced = is_single_budget(D) if reduced is None else reduced
    if reduced != (supervised.beta == 0):
        raise FitInputError("distillation and supervised fits must agree on the reduced (single-budget) form")
    names = DIST_NAMES_REDUCED if reduced else DIST_NAMES
    if len(np.unique(N)) < 2:
        raise TooFewPoints("distillation law needs ≥ 2 distinct student sizes")
    if n < len(names) + 1:
        raise TooFewPoints(f"distillation law ({len(names)} parameters) needs ≥ {len(names) + 1} points, got {n}")
    logN, logD, logLT, y = np.log(N), np.log(D), np.log(LT), np.log(loss)
    logLsup = np.log(laws.supervised_loss(N, D, supervised))
    mN, mD = float(logN.mean()), float(logD.mean())
    cN, cD = logN - mN, logD - mD
    lp = lambda th: _dist_logpred(th, cN, cD, logLT, logLsup, reduced)  # noqa: E731
    gr = lambda th: _dist_grad(th, cN, cD, logLT, logLsup, reduced)  # noqa: E731
    t0 = time.perf_counter()
    theta, obj, conv, msg, n_starts, errors = _solve(
        lp, gr, y, names, DIST_GRID, init, reduced, mN, mD, huber_delta, n_top, n_random, seed, _multistart_off)
    note = (f"single data budget D = {D[0]:g}: B'/D^beta' fitted as one constant C' (reported as B = C', "
            f"beta = 0)" if reduced else _collinear_note(logN, logD))
    return LawFit("distillation", names, tuple(map(float, theta)), conv, msg, reduced, note, n,
                  **errors, objective=obj, n_starts=n_starts,
                  fit_time_s=time.perf_counter() - t0, huber_delta=huber_delta,
                  data={"N": N, "D": D, "teacher_loss": LT, "loss": loss}, supervised=supervised)


# ----- bootstrap ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bootstrap:
    """Percentile intervals over resampled refits; `samples` maps a name to its replicate values."""

    ci: float
    n_boot: int
    n_failed: int
    samples: dict

    def interval(self, name: str) -> tuple[float, float]:
        v = np.asarray(self.samples[name], float)
        v = v[np.isfinite(v)]
        if len(v) == 0:
            return (math.nan, math.nan)
        a = (1 - self.ci) / 2
        lo, hi = np.quantile(v, [a, 1 - a])
        return float(lo), float(hi)

    def intervals(self) -> dict[str, list[float]]:
        return {k: list(self.interval(k)) for k in self.samples}


def _refit(fit: LawFit, idx: np.ndarray, supervised: SupervisedParams | None) -> LawFit:
    d = {k: v[idx] for k, v in fit.data.items()}
    if fit.law == "supervised":
        return fit_supervised(d["N"], d["D"], d["loss"], huber_delta=fit.huber_delta, init=fit.raw_params,
                              reduced=fit.reduced, _multistart_off=True)
    return fit_distillation(d["N"], d["D"], d["teacher_loss"], d["loss"], supervised,
                            huber_delta=fit.huber_delta, init=fit.raw_params, reduced=fit.reduced,
                            _multistart_off=True)


@_one_blas_thread
def bootstrap(
    fit: LawFit, *, n_boot: int = 200, ci: float = 0.9, seed: int = 0,
    supervised_fit: LawFit | None = None,
    derived: dict[str, Callable[[SupervisedParams | DistillParams, SupervisedParams | None], float]] | None = None,
) -> Bootstrap:
    """Resample points with replacement and refit from the full-data optimum (one start: cheap).

    For a distillation fit, pass `supervised_fit` to refit the supervised law on resampled
    supervised rows in every replicate too, so the interval carries its uncertainty.
    `derived[name](params, supervised_params)` adds a derived quantity's interval.
    Unconverged replicates are dropped and counted in n_failed.
    """
    fit.require()
    rng = np.random.default_rng(seed)
    derived = derived or {}
    samples: dict[str, list[float]] = {k: [] for k in asdict(fit.raw_params)}
    samples.update({k: [] for k in derived})
    failed = 0
    for _ in range(n_boot):
        sup = fit.supervised
        if supervised_fit is not None:
            s = _refit(supervised_fit, rng.integers(0, supervised_fit.n_points, supervised_fit.n_points), None)
            if not s.converged:
                failed += 1
                continue
            sup = s.raw_params
        try:
            r = _refit(fit, rng.integers(0, fit.n_points, fit.n_points), sup)
        except TooFewPoints:
            failed += 1
            continue
        if not r.converged:
            failed += 1
            continue
        for k, v in asdict(r.raw_params).items():
            samples[k].append(v)
        for k, f in derived.items():
            samples[k].append(float(f(r.raw_params, sup)))
    return Bootstrap(ci, n_boot, failed, samples)


# ----- extrapolation -----------------------------------------------------------------------


def _starts(n_top: int | None, n_random: int | None) -> dict:
    """Only the start counts that were given, so each fitter keeps its own defaults."""
    return {k: v for k, v in (("n_top", n_top), ("n_random", n_random)) if v is not None}


def split_weak_strong(loss: np.ndarray, N: np.ndarray, *, by: str = "loss", threshold: float | None = None,
                      holdout_frac: float = 0.25) -> np.ndarray:
    """Boolean mask of training (weaker) rows. by="loss": loss ≥ threshold (default: the
    holdout_frac quantile, so the strongest holdout_frac is held out). by="size": N < threshold
    (default: the largest distinct size is held out)."""
    if by == "loss":
        t = np.quantile(loss, holdout_frac) if threshold is None else threshold
        return loss >= t
    if by == "size":
        t = np.unique(N)[-1] if threshold is None else threshold
        return N < t
    raise FitInputError(f"extrapolation split must be 'loss' or 'size', got {by!r}")


@_one_blas_thread
def extrapolation_check(fit: LawFit, train: np.ndarray, *, n_top: int | None = None, n_random: int | None = None,
                        seed: int = 0) -> dict:
    """Refit on the rows in `train` (the weaker runs), report relative error on the others."""
    d = fit.data
    test = ~train
    if test.sum() == 0:
        raise TooFewPoints("extrapolation check: no held-out rows")
    kw = dict(huber_delta=fit.huber_delta, seed=seed, reduced=fit.reduced, **_starts(n_top, n_random))
    if fit.law == "supervised":
        sub = fit_supervised(d["N"][train], d["D"][train], d["loss"][train], **kw)
        pred = laws.supervised_loss(d["N"][test], d["D"][test], sub.raw_params)
    else:
        sub = fit_distillation(d["N"][train], d["D"][train], d["teacher_loss"][train], d["loss"][train],
                               fit.supervised, **kw)
        pred = laws.distill_loss(d["N"][test], d["D"][test], d["teacher_loss"][test], fit.supervised, sub.raw_params)
    rel = np.abs(pred / d["loss"][test] - 1)
    return {"converged": sub.converged, "n_train": int(train.sum()), "n_test": int(test.sum()),
            "train_min_loss": float(d["loss"][train].min()), "test_max_loss": float(d["loss"][test].max()),
            "max_rel_error": float(rel.max()), "mean_rel_error": float(rel.mean()),
            "within_1_percent": bool(rel.max() <= 0.01)}


# ----- teacher laws ------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherLawFit:
    """T* = slope·S + intercept (form "linear"), or log T* = slope·log S + intercept ("loglog":
    T* = exp(intercept)·S^slope). R² and residuals are in the form's own space."""

    form: str
    slope: float
    intercept: float
    slope_ci: tuple[float, float]
    intercept_ci: tuple[float, float]
    ci: float
    r2: float
    residuals: tuple[float, ...]
    n_points: int
    n_excluded_edge: int
    weighted: bool

    def __call__(self, S) -> np.ndarray:
        S = np.asarray(S, float)
        return self.slope * S + self.intercept if self.form == "linear" else np.exp(self.intercept) * S**self.slope

    def summary(self) -> dict:
        d = asdict(self)
        d["residuals"] = list(self.residuals)
        if self.form == "loglog":
            d["power_law"] = {"c": math.exp(self.intercept), "p": self.slope}
        return d


def _wls(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares slope and intercept along the last axis (vectorised over replicates)."""
    sw = w.sum(-1)
    xm, ym = (w * x).sum(-1) / sw, (w * y).sum(-1) / sw
    sxx = (w * (x - xm[..., None]) ** 2).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (w * (x - xm[..., None]) * (y - ym[..., None])).sum(-1) / sxx
    return slope, ym - slope * xm


def fit_teacher_law(
    student_size, optimal_teacher, *, form: str = "linear", sigma=None, edge=None, exclude_edge: bool = True,
    n_boot: int = 2000, ci: float = 0.9, seed: int = 0,
) -> TeacherLawFit:
    """Least squares T* on S (Zhang et al.); `sigma` (per-point s.d. of T*, e.g. from a bootstrap CI)
    gives weights 1/σ²; points with edge=True (optimum at the edge of the teacher grid, so only a
    bound) are dropped unless exclude_edge=False. CIs: percentile bootstrap over points."""
    if form not in ("linear", "loglog"):
        raise FitInputError(f"teacher law form must be 'linear' or 'loglog', got {form!r}")
    S, T = _column(student_size, "student_size"), _column(optimal_teacher, "optimal_teacher")
    _same_length(student_size=S, optimal_teacher=T)
    keep = np.ones(len(S), bool)
    if edge is not None and exclude_edge:
        keep = ~np.asarray(edge, bool)
    n_excl = int((~keep).sum())
    w = np.ones(len(S)) if sigma is None else 1.0 / _column(sigma, "sigma") ** 2
    S, T, w = S[keep], T[keep], w[keep]
    if len(np.unique(S)) < 3:
        raise TooFewPoints(f"teacher law needs ≥ 3 distinct student sizes with interior optima, got "
                           f"{len(np.unique(S))} ({n_excl} edge optima excluded)")
    x, y = (S, T) if form == "linear" else (np.log(S), np.log(T))
    if form == "loglog" and sigma is not None:
        w = w * T**2  # delta method: var(log T) ≈ σ²/T²
    slope, intercept = _wls(x, y, w)
    resid = y - (slope * x + intercept)
    ym = (w * y).sum() / w.sum()
    r2 = float(1 - (w * resid**2).sum() / (w * (y - ym) ** 2).sum())
    idx = np.random.default_rng(seed).integers(0, len(x), (n_boot, len(x)))
    bs, bi = _wls(x[idx], y[idx], w[idx])
    a = (1 - ci) / 2
    q = lambda v: tuple(float(t) for t in np.nanquantile(v, [a, 1 - a]))  # noqa: E731
    return TeacherLawFit(form, float(slope), float(intercept), q(bs), q(bi), ci, r2,
                         tuple(map(float, resid)), len(x), n_excl, sigma is not None)


# ----- tables: fit whatever the columns allow ---------------------------------------------


@dataclass(frozen=True)
class FitOptions:
    huber_delta: float = 1e-4
    n_boot: int = 100  # law bootstrap replicates (refits); 0 = no CIs
    ci: float = 0.9
    seed: int = 0
    size_column: str = "student_size"  # or "student_params" for parameter counts
    teacher_size_column: str = "teacher_size"  # or "teacher_params"
    extrapolate_by: str = "loss"  # "loss" | "size"
    extrapolate_threshold: float | None = None  # default: hold out the strongest holdout_frac / largest size
    holdout_frac: float = 0.25
    n_top: int | None = None  # None: each fitter's default (supervised 10 + 6, distillation 5 + 3)
    n_random: int | None = None
    optima_boot: int = 1000
    exclude_edge: bool = True
    weighted_teacher_law: bool = False  # weights 1/σ² from the optima's CIs
    max_check_students: int = 3


TOKEN_COLUMNS = ("student_tokens", "student_budget")  # first present wins
SUPERVISED_LOSS_COLUMNS = ("loss", "student_loss")
SETTING_COLUMNS = ("lam", "tau", "student_init")  # distilled rows are grouped by these


def read_table(path) -> dict[str, np.ndarray]:
    """A tidy CSV as columns: numeric where every non-empty cell parses (empty → NaN),
    booleans for true/false columns, strings otherwise."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise FitInputError(f"cannot read table {str(path)!r}: {e}") from None
    if not rows:
        raise FitInputError(f"table {str(path)!r} has no data rows")
    out: dict[str, np.ndarray] = {}
    for name in rows[0]:
        if name is None:
            continue
        cells = [(r.get(name) or "").strip() for r in rows]
        if {c.lower() for c in cells} <= {"true", "false", ""}:
            out[name] = np.array([c.lower() == "true" for c in cells])
            continue
        try:
            out[name] = np.array([float(c) if c else math.nan for c in cells])
        except ValueError:
            out[name] = np.array(cells, dtype=object)
    return out


def _as_columns(table) -> dict[str, np.ndarray]:
    if isinstance(table, (str, Path)):
        return read_table(table)
    if not isinstance(table, dict) or not table:
        raise FitInputError("table must be a non-empty dict of columns or a CSV path")
    cols = {k: np.asarray(v) for k, v in table.items()}
    _same_length(**cols)
    return cols


def _num(cols: dict, name: str) -> np.ndarray:
    a = cols[name]
    if a.dtype == object:
        raise FitInputError(f"column {name!r} is not numeric")
    return a.astype(float)


def _first(cols: dict, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in cols), None)


def _require_rows(cols: dict, name: str, mask: np.ndarray, positive: bool = True) -> np.ndarray:
    """The column on the selected rows; NaN / non-positive raises with the table row number."""
    a = _num(cols, name)
    bad = mask & (~np.isfinite(a) | ((a <= 0) if positive else False))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FitInputError(f"column {name!r} row {i}: value {float(a[i])!r} must be finite and > 0")
    return a[mask]


def _row_kinds(cols: dict) -> tuple[np.ndarray, np.ndarray, str]:
    """(supervised mask, distilled mask, how). run_kind decides when present; otherwise a row
    with a finite teacher_loss or teacher_size is distilled and any other row supervised."""
    n = len(next(iter(cols.values())))
    keep = ~cols["diverged"].astype(bool) if "diverged" in cols and cols["diverged"].dtype == bool else np.ones(n, bool)
    if "run_kind" in cols:
        kind = cols["run_kind"].astype(str)
        return keep & (kind == "supervised"), keep & (kind == "distilled"), "run_kind"
    has_teacher = np.zeros(n, bool)
    for c in ("teacher_loss", "teacher_size", "teacher_params"):
        if c in cols and cols[c].dtype != object:
            has_teacher |= np.isfinite(cols[c].astype(float))
    return keep & ~has_teacher, keep & has_teacher, "teacher_loss/teacher_size present = distilled"


def _section(fn: Callable[[], dict]) -> dict:
    """Run one part of the analysis; too few points → skipped, no convergence → failed."""
    try:
        return {"status": "ok", **fn()}
    except TooFewPoints as e:
        return {"status": "skipped", "reason": str(e)}
    except FitNotConverged as e:
        return {"status": "failed", "reason": str(e)}


def _z(ci: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(0.5 + ci / 2))


def _supervised_section(N, D, loss, opt: FitOptions, has_tokens: bool) -> tuple[dict, LawFit | None]:
    holder: dict = {}

    def run() -> dict:
        f = fit_supervised(N, D, loss, huber_delta=opt.huber_delta, **_starts(opt.n_top, opt.n_random),
                           seed=opt.seed)
        holder["fit"] = f
        out = {"fit": f.summary(), "tokens_column": has_tokens}
        if not f.converged:
            raise FitNotConverged(f"supervised fit did not converge ({f.message})")
        q = (float(N.max()), float(D.max()))
        out["query_point"] = {"N": q[0], "D": q[1]}
        if opt.n_boot > 0:
            b = bootstrap(f, n_boot=opt.n_boot, ci=opt.ci, seed=opt.seed,
                          derived={"predicted_loss_at_query": lambda p, _: float(laws.supervised_loss(*q, p))})
            out["ci"] = b.intervals()
            out["bootstrap"] = {"n_boot": b.n_boot, "n_failed": b.n_failed, "ci": b.ci}
        out["predicted_loss_at_query"] = float(laws.supervised_loss(*q, f.raw_params))
        out["extrapolation"] = _extrapolation(f, loss, N, opt)
        return out

    sec = _section(run)
    f = holder.get("fit")
    return sec, (f if f is not None and f.converged else None)


def _extrapolation(f: LawFit, loss: np.ndarray, N: np.ndarray, opt: FitOptions) -> dict:
    """Refit on the weaker runs and score the held-out stronger ones (Busbridge's ≤ 1 % check)."""
    train = split_weak_strong(loss, N, by=opt.extrapolate_by, threshold=opt.extrapolate_threshold,
                              holdout_frac=opt.holdout_frac)
    return _section(lambda: extrapolation_check(f, train, n_top=opt.n_top, n_random=opt.n_random, seed=opt.seed))


def _students_for_checks(N: np.ndarray, D: np.ndarray, k: int) -> list[tuple[float, float]]:
    pairs = sorted(set(zip(N.tolist(), D.tolist())))
    if len(pairs) <= k:
        return pairs
    return [pairs[i] for i in np.linspace(0, len(pairs) - 1, k).round().astype(int)]


def _distillation_section(N, D, LT, LS, sup_fit: LawFit | None, opt: FitOptions) -> tuple[dict, LawFit | None]:
    holder: dict = {}

    def run() -> dict:
        if sup_fit is None:
            raise TooFewPoints("distillation law needs a converged supervised law (supervised rows in the table)")
        f = fit_distillation(N, D, LT, LS, sup_fit.raw_params, huber_delta=opt.huber_delta,
                             **_starts(opt.n_top, opt.n_random), seed=opt.seed)
        holder["fit"] = f
        out = {"fit": f.summary()}
        if not f.converged:
            raise FitNotConverged(f"distillation fit did not converge ({f.message})")
        students = _students_for_checks(N, D, opt.max_check_students)
        p, s = f.raw_params, sup_fit.raw_params
        out["optimal_teacher_loss"] = [
            {"N": n_, "D": d_, **asdict(laws.optimal_teacher_loss(n_, d_, s, p))} for n_, d_ in students
        ]
        if opt.n_boot > 0:
            derived = {f"optimal_teacher_loss[N={n_:g},D={d_:g}]":
                       (lambda pp, ss, n_=n_, d_=d_: laws.optimal_teacher_loss(n_, d_, ss, pp).teacher_loss)
                       for n_, d_ in students}
            b = bootstrap(f, n_boot=opt.n_boot, ci=opt.ci, seed=opt.seed, supervised_fit=sup_fit, derived=derived)
            out["ci"] = b.intervals()
            out["bootstrap"] = {"n_boot": b.n_boot, "n_failed": b.n_failed, "ci": b.ci,
                                "supervised_refit_each_replicate": True}
        out["property_checks"] = [asdict(c) | {"N": n_, "D": d_} for n_, d_ in students
                                  for c in laws.check_properties(s, p, [(n_, d_)])]
        out["all_properties_pass"] = all(c["passed"] for c in out["property_checks"])
        out["extrapolation"] = _extrapolation(f, LS, N, opt)
        return out

    sec = _section(run)
    f = holder.get("fit")
    return sec, (f if f is not None and f.converged else None)


def _teacher_law_section(optima_list, opt: FitOptions) -> dict:
    S = np.array([o.student_size for o in optima_list])
    T = np.array([o.optimal_teacher for o in optima_list])
    edge = np.array([not o.interior for o in optima_list])
    sigma = None
    if opt.weighted_teacher_law:
        lo, hi = np.array([o.optimal_teacher_ci for o in optima_list]).T
        sigma = (hi - lo) / (2 * _z(opt.ci))
        if not np.all(np.isfinite(sigma) & (sigma > 0)):
            sigma = None
    out = {}
    for form in ("linear", "loglog"):
        out[form] = _section(lambda form=form: fit_teacher_law(
            S, T, form=form, sigma=sigma, edge=edge, exclude_edge=opt.exclude_edge, n_boot=2000, ci=opt.ci,
            seed=opt.seed).summary())
    return out


def _budget_varies_per_student(S: np.ndarray, budget: np.ndarray) -> bool:
    """Optima are split by budget only when one student size was trained on several budgets;
    a budget that is a function of the size (D = 20·N) is not a separate axis."""
    return any(len(np.unique(budget[S == s])) > 1 for s in np.unique(S))


def _budget_key(S: np.ndarray, budget: np.ndarray, tok_c: str, size_c: str) -> tuple[np.ndarray, str]:
    """What to split optima and teacher laws by: the budget itself when its values are shared
    across student sizes, else the budget per unit size (D = 20·N and 80·N are two series of
    'tokens per parameter', not eight one-student budgets). Returns (key per row, its name)."""
    ratio = np.round(budget / S, 9 - int(np.floor(np.log10(np.max(budget / S)))))
    if len(np.unique(ratio)) < len(np.unique(budget)):
        return ratio, f"{tok_c}/{size_c}"
    return budget, tok_c


def _group_keys(cols: dict, mask: np.ndarray, names: tuple[str, ...]) -> list[tuple[dict, np.ndarray]]:
    """Split the masked rows by every listed column that is present (NaN equals NaN)."""
    present = [c for c in names if c in cols]
    keys = [tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in
                  (cols[c][i].item() if hasattr(cols[c][i], "item") else cols[c][i] for c in present))
            for i in range(len(mask))]
    groups = []
    for key in sorted({keys[i] for i in np.flatnonzero(mask)}, key=str):
        m = mask & np.array([k == key for k in keys])
        groups.append((dict(zip(present, key)), m))
    return groups


@_one_blas_thread
def fit_table(table, options: FitOptions | None = None) -> dict:
    """Fit every law the table's columns allow; returns a JSON-serialisable dict.

    Row kinds: `run_kind` ("supervised" / "distilled"; "teacher" rows are ignored) when present,
    otherwise a row with a finite teacher_loss or teacher_size is distilled, others supervised.
    Rows with diverged = true are dropped. Results are grouped by `family` (when present);
    distilled rows further by the settings columns lam, tau, student_init.
    - supervised rows with student_size, loss (or student_loss) [+ student_tokens or
      student_budget; absent or single-valued → reduced form] → supervised law;
    - distilled rows with student_size, teacher_size, student_loss [+ seed, + budget] →
      per-student optimal teacher (optima.py) → linear and log-log teacher laws;
    - distilled rows with teacher_loss (+ the supervised law above) → distillation law,
      property checks, extrapolation check.
    """
    opt = options or FitOptions()
    if not 0 < opt.ci < 1:
        raise FitInputError(f"ci must be in (0, 1), got {opt.ci}")
    cols = _as_columns(table)
    n = len(next(iter(cols.values())))
    sup_mask, dist_mask, how = _row_kinds(cols)
    size_c, tsize_c = opt.size_column, opt.teacher_size_column
    tok_c = _first(cols, TOKEN_COLUMNS)
    loss_c = _first(cols, SUPERVISED_LOSS_COLUMNS)
    if size_c not in cols:
        raise FitInputError(f"missing column {size_c!r} (needed by every law)")
    can_optima = dist_mask.any() and tsize_c in cols and "student_loss" in cols
    can_dist = dist_mask.any() and "teacher_loss" in cols and "student_loss" in cols
    can_sup = sup_mask.any() and loss_c is not None
    if not (can_optima or can_dist or can_sup):
        raise FitInputError(
            "nothing to fit: need supervised rows with (student_size, loss) or distilled rows with "
            f"(student_size, teacher_size, student_loss) or (…, teacher_loss, student_loss); got columns {sorted(cols)}")
    result: dict = {
        "input": {"n_rows": n, "n_supervised": int(sup_mask.sum()), "n_distilled": int(dist_mask.sum()),
                  "n_diverged_dropped": int(cols["diverged"].astype(bool).sum()) if "diverged" in cols
                  and cols["diverged"].dtype == bool else 0,
                  "row_kinds_from": how, "size_column": size_c, "tokens_column": tok_c,
                  "path": str(table) if isinstance(table, (str, Path)) else None},
        "options": asdict(opt),
        "families": [],
    }
    for fam_key, fam_mask in _group_keys(cols, sup_mask | dist_mask, ("family",)):
        fam: dict = {"family": fam_key.get("family", ""), "supervised": None, "settings": []}
        sm = fam_mask & sup_mask
        sup_fit = None
        if can_sup and sm.any():
            N = _require_rows(cols, size_c, sm)
            D = _require_rows(cols, tok_c, sm) if tok_c else np.ones(int(sm.sum()))
            L = _require_rows(cols, loss_c, sm)
            fam["supervised"], sup_fit = _supervised_section(N, D, L, opt, tok_c is not None)
            fam["supervised"]["data"] = {"N": N.tolist(), "D": D.tolist(), "loss": L.tolist()}
        else:
            fam["supervised"] = {"status": "skipped", "reason": "no supervised rows with a loss column"}
        for key, m in _group_keys(cols, fam_mask & dist_mask, SETTING_COLUMNS):
            setting: dict = {"key": key, "n_rows": int(m.sum())}
            if can_optima:
                S = _require_rows(cols, size_c, m)
                T = _require_rows(cols, tsize_c, m)
                LS = _require_rows(cols, "student_loss", m)
                seed = cols["seed"][m].astype(float) if "seed" in cols else None
                budget, budget_kind = None, None
                if tok_c and _budget_varies_per_student(S, cols[tok_c][m]):
                    budget, budget_kind = _budget_key(S, cols[tok_c][m].astype(float), tok_c, size_c)
                try:
                    ests = teacher_optima_rows(S, T, LS, seed, budget, opt)
                    setting["optima"] = {"status": "ok", "budget_kind": budget_kind,
                                         "per_student": [e.to_dict() for e in ests]}
                    budgets = sorted({e.budget for e in ests}, key=lambda b: (math.isnan(b), b))
                    setting["teacher_law"] = [
                        {"budget": b, **_teacher_law_section(
                            [e for e in ests if e.budget == b or (math.isnan(b) and math.isnan(e.budget))], opt)}
                        for b in budgets]
                except ValueError as e:
                    setting["optima"] = {"status": "skipped", "reason": str(e)}
            if can_dist and np.isfinite(_num(cols, "teacher_loss")[m]).any():
                N = _require_rows(cols, size_c, m)
                D = _require_rows(cols, tok_c, m) if tok_c else np.ones(int(m.sum()))
                LT = _require_rows(cols, "teacher_loss", m)
                LS = _require_rows(cols, "student_loss", m)
                setting["distillation"], _ = _distillation_section(N, D, LT, LS, sup_fit, opt)
                setting["distillation"]["data"] = {"N": N.tolist(), "D": D.tolist(), "teacher_loss": LT.tolist(),
                                                   "student_loss": LS.tolist()}
            fam["settings"].append(setting)
        result["families"].append(fam)
    return _jsonable(result)


def teacher_optima_rows(S, T, LS, seed, budget, opt: FitOptions):
    from simgap import optima

    return optima.teacher_optima(S, T, LS, seed, budget, n_boot=opt.optima_boot, ci=opt.ci, rng_seed=opt.seed)


def _jsonable(x):
    """NaN/inf → None, numpy → Python, tuples → lists, so json.dumps gives strict JSON."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return [_jsonable(v) for v in x.tolist()]
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    return x


# ----- CLI -------------------------------------------------------------------------------


def _fmt_ci(ci: dict | None, name: str) -> str:
    if not ci or name not in ci or ci[name][0] is None:
        return ""
    lo, hi = ci[name]
    return f" [{lo:.4g}, {hi:.4g}]"


def summarize(result: dict) -> str:
    """A short human-readable account of fit_table's result."""
    lines = [f"rows: {result['input']['n_rows']} ({result['input']['n_supervised']} supervised, "
             f"{result['input']['n_distilled']} distilled, {result['input']['n_diverged_dropped']} diverged dropped)"]
    ci = result["options"]["ci"]
    for fam in result["families"]:
        name = fam["family"] or "(no family column)"
        sec = fam["supervised"]
        lines.append(f"== family {name}")
        if sec["status"] == "ok":
            f = sec["fit"]
            ps = ", ".join(f"{k}={v:.4g}{_fmt_ci(sec.get('ci'), k)}" for k, v in f["params"].items())
            lines.append(f"supervised law ({f['n_points']} pts, {f['fit_time_s']:.1f} s): {ps}")
            lines.append(f"  rmse(log) {f['rmse_log']:.2e}, max rel err {f['max_rel_error']:.2%}"
                         + (f"; {f['note']}" if f["note"] else ""))
            ex = sec["extrapolation"]
            if ex["status"] == "ok":
                lines.append(f"  extrapolation to {ex['n_test']} held-out stronger runs: max rel err "
                             f"{ex['max_rel_error']:.2%}")
        else:
            lines.append(f"supervised law: {sec['status']} ({sec['reason']})")
        for st in fam["settings"]:
            key = ", ".join(f"{k}={v}" for k, v in st["key"].items())
            lines.append(f"-- distilled rows{' (' + key + ')' if key else ''}: {st['n_rows']}")
            op = st.get("optima")
            if op and op["status"] == "ok":
                for o in op["per_student"]:
                    where = "interior" if o["interior"] else f"EDGE ({o['edge']})"
                    lo, hi = o["optimal_teacher_ci"]
                    cis = f" [{lo:.3g}, {hi:.3g}]" if lo is not None else ""
                    dlo, dhi = o["dip_ci"]
                    dci = f" [{dlo:.3g}, {dhi:.3g}]" if dlo is not None else ""
                    lines.append(f"  student {o['student_size']:g}: T* = {o['optimal_teacher']:.3g}{cis} {where}; "
                                 f"dip {o['dip_depth']:.3g}{dci}")
            elif op:
                lines.append(f"  optima: {op['status']} ({op['reason']})")
            for tl in st.get("teacher_law", []):
                if tl["budget"] is not None:
                    lines.append(f"  [{op['budget_kind']} = {tl['budget']:g}]")
                lin = tl["linear"]
                if lin["status"] == "ok":
                    lines.append(f"  linear teacher law: T* = {lin['slope']:.4g}·S + {lin['intercept']:.4g} "
                                 f"(slope {ci:.0%} CI [{lin['slope_ci'][0]:.3g}, {lin['slope_ci'][1]:.3g}]), "
                                 f"R² = {lin['r2']:.4f}, {lin['n_points']} pts, {lin['n_excluded_edge']} edge excluded")
                else:
                    lines.append(f"  linear teacher law: {lin['status']} ({lin['reason']})")
                pw = tl["loglog"]
                if pw["status"] == "ok":
                    lines.append(f"  power teacher law: T* = {pw['power_law']['c']:.4g}·S^{pw['power_law']['p']:.4g}, "
                                 f"R²(log) = {pw['r2']:.4f}")
            ds = st.get("distillation")
            if ds and ds["status"] == "ok":
                f = ds["fit"]
                ps = ", ".join(f"{k}={v:.4g}{_fmt_ci(ds.get('ci'), k)}" for k, v in f["params"].items())
                lines.append(f"  distillation law ({f['n_points']} pts, {f['fit_time_s']:.1f} s): {ps}")
                lines.append(f"    rmse(log) {f['rmse_log']:.2e}, max rel err {f['max_rel_error']:.2%}")
                ex = ds["extrapolation"]
                if ex["status"] == "ok":
                    lines.append(f"    extrapolation: max rel err {ex['max_rel_error']:.2%} on {ex['n_test']} held-out")
                failed = [c["name"] for c in ds["property_checks"] if not c["passed"]]
                lines.append("    property checks: " + ("all pass" if not failed else "FAILED " + "; ".join(failed)))
            elif ds:
                lines.append(f"  distillation law: {ds['status']} ({ds['reason']})")
    return "\n".join(lines)


def write_plots(result: dict, out_dir) -> list[str]:
    """The PNGs for fit_table's result: (a)–(e) wherever the data for them exist."""
    from simgap import plots

    out_dir = Path(out_dir)
    paths = []
    for fi, fam in enumerate(result["families"]):
        tag = fam["family"] or f"f{fi}"
        sec = fam["supervised"]
        if sec["status"] == "ok":
            d = sec["data"]
            paths.append(plots.plot_supervised(d["N"], d["D"], d["loss"], out_dir / f"{tag}_supervised.png",
                                               params=sec["fit"]["params"]))
        for si, st in enumerate(fam["settings"]):
            stag = f"{tag}_s{si}"
            op = st.get("optima")
            if op and op["status"] == "ok":
                paths.append(plots.plot_u_curves(op["per_student"], out_dir / f"{stag}_u_curves.png",
                                                 ci=result["options"]["ci"]))
                for bi, tl in enumerate(st["teacher_law"]):
                    ests = [o for o in op["per_student"] if o["budget"] == tl["budget"]]
                    lo, hi = zip(*[[math.nan if v is None else v for v in o["optimal_teacher_ci"]] for o in ests])
                    paths.append(plots.plot_teacher_law(
                        [o["student_size"] for o in ests], [o["optimal_teacher"] for o in ests],
                        out_dir / f"{stag}_b{bi}_teacher_law.png", edge=[not o["interior"] for o in ests],
                        title="Optimal teacher vs student size" + (
                            f" ({op['budget_kind']} = {tl['budget']:g})" if tl["budget"] is not None else ""),
                        ci_low=lo, ci_high=hi,
                        linear=tl["linear"] if tl["linear"]["status"] == "ok" else None,
                        power=tl["loglog"]["power_law"] if tl["loglog"]["status"] == "ok" else None))
            ds = st.get("distillation")
            if ds and ds["status"] == "ok":
                d = ds["data"]
                sup, dist = SupervisedParams(**sec["fit"]["params"]), DistillParams(**ds["fit"]["params"])
                pred = laws.distill_loss(np.array(d["N"]), np.array(d["D"]), np.array(d["teacher_loss"]), sup, dist)
                paths.append(plots.plot_parity(d["student_loss"], pred, out_dir / f"{stag}_distill_parity.png"))
                paths.append(plots.plot_distill_curves(d["N"], d["D"], d["teacher_loss"], d["student_loss"],
                                                       out_dir / f"{stag}_distill_curves.png",
                                                       supervised=sup, distill=dist))
    return [str(p) for p in paths]


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m simgap.fit", description=(
        "Fit the laws a results table allows (supervised, distillation, per-student optimal teacher, "
        "linear teacher law); writes DIR/fit.json, PNG plots and a summary on stdout."))
    ap.add_argument("table", help="tidy CSV, one row per run")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--huber-delta", type=float, default=1e-4)
    ap.add_argument("--bootstrap", type=int, default=100, help="bootstrap refits per law (0: no CIs)")
    ap.add_argument("--ci", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size-column", default="student_size", choices=["student_size", "student_params"])
    ap.add_argument("--extrapolate-by", default="loss", choices=["loss", "size"])
    ap.add_argument("--extrapolate-threshold", type=float, default=None)
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args(argv)
    if not 0 < args.ci < 1:
        ap.error(f"--ci must be in (0, 1), got {args.ci}")
    if args.bootstrap < 0:
        ap.error(f"--bootstrap must be ≥ 0, got {args.bootstrap}")
    if not args.huber_delta > 0:
        ap.error(f"--huber-delta must be > 0, got {args.huber_delta}")
    opt = FitOptions(huber_delta=args.huber_delta, n_boot=args.bootstrap, ci=args.ci, seed=args.seed,
                     size_column=args.size_column,
                     teacher_size_column=args.size_column.replace("student", "teacher"),
                     extrapolate_by=args.extrapolate_by, extrapolate_threshold=args.extrapolate_threshold)
    try:
        result = fit_table(args.table, opt)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        if not args.no_plots:
            result["plots"] = write_plots(result, out)
        (out / "fit.json").write_text(json.dumps(result, indent=1, allow_nan=False))
    except (FitInputError, OSError) as e:
        print(f"simgap.fit: error: {e}", file=sys.stderr)
        return 2
    print(summarize(result))
    print(f"wrote {out / 'fit.json'}" + (f" and {len(result['plots'])} plots" if "plots" in result else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
