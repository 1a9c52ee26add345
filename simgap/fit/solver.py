"""One multistart L-BFGS-B solver for every law object (simgap.fit.objectives): `fit_law`, and the
two shorthands `fit_supervised`, `fit_distillation`.

Start selection. The full start grids are large (supervised 12,800 points with the two extra log E
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

A fit is `converged` when L-BFGS-B reports success, or when it stopped for another reason but a
restart from its end point improves the objective by < 1e-9 relative (the Huber loss is not
twice differentiable, so an abnormal line-search exit at a true minimum is common), or by
< 1e-5 relative while moving no log-prediction by more than 1e-4 (a flat valley: the
predictions are settled though the parameters still drift; the message says so and the
bootstrap CIs show how weakly the parameters are identified). An unconverged fit keeps its
numbers in `raw_params`; `params` is None and `require()` raises.
"""

from __future__ import annotations

import functools
import itertools
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import optimize
from threadpoolctl import threadpool_limits

from simgap import workers
from simgap.fit import objectives as obj
from simgap.fit.inputs import FitNotConverged, TooFewPoints, column, is_single_budget, same_length
from simgap.laws import SupervisedParams


@dataclass(frozen=True)
class LawFit:
    """One fitted law. `theta` is the log-space vector the optimiser worked on."""

    law: obj.Law
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
    data: dict = field(repr=False, compare=False, default_factory=dict)  # the law's columns and "loss"
    at_bounds: tuple[tuple[str, str], ...] = ()  # (parameter, "lower"/"upper") ended on a bound of the search box
    fixed: tuple[tuple[str, float], ...] = ()  # (natural name, value) held fixed, e.g. (("E", 0.0),)

    @property
    def describes_data(self) -> bool:
        """False when a fitted exponent sits at its lower bound: with α = 0 the loss does not fall
        with size (β = 0: with data; γ → 0: at all), so the law's form does not describe the data
        even though the optimiser converged."""
        flat = {"alpha", "gamma"} | (set() if self.reduced else {"beta"})
        return not any(side == "lower" and name in flat for name, side in self.at_bounds)

    @property
    def bounds_text(self) -> str:
        """"alpha at its lower bound, …" for people."""
        return ", ".join(f"{name} at its {side} bound" for name, side in self.at_bounds)

    @property
    def raw_params(self):
        return self.law.to_params(np.asarray(self.theta), self.reduced)

    @property
    def params(self):
        return self.raw_params if self.converged else None

    def require(self):
        if not self.converged:
            raise FitNotConverged(f"{self.law.name} fit did not converge ({self.message}); not a result")
        return self.raw_params

    def predict(self, **cols) -> np.ndarray:
        return self.law.predict(self.raw_params, cols)

    def to_json(self) -> dict:
        """JSON-ready: parameters (natural scale) only when converged."""
        p = asdict(self.raw_params)
        return {
            "law": self.law.name,
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
            "at_bounds": list(self.at_bounds),
            "fixed": dict(self.fixed),
            "describes_data": self.describes_data,
        }


@dataclass(frozen=True, eq=False)
class _Model:
    """A law's log-prediction and its gradient on fixed centred data. An object, not a closure,
    so its bound methods can be sent to worker processes (simgap.workers) with the short runs."""

    law: obj.Law
    x: dict  # centred logN, logD and the law's features
    reduced: bool

    def logpred(self, th):
        return self.law.logpred(th, self.x, self.reduced)

    def logpred_and_grad(self, th):
        return self.law.logpred_and_grad(th, self.x, self.reduced)

    def rows(self, idx: np.ndarray) -> "_Model":
        return _Model(self.law, {k: v[idx] for k, v in self.x.items()}, self.reduced)


def _short_run(job) -> tuple[float, np.ndarray]:
    """One start's short L-BFGS-B run (a worker task): (objective, end point)."""
    model, y, x0, bounds, delta, maxiter = job
    r = _lbfgs(model, y, x0, bounds, delta, maxiter=maxiter)
    return float(r.fun), r.x


def _grid(spec: dict, names: tuple[str, ...]) -> np.ndarray:
    return np.array(list(itertools.product(*(spec[n] for n in names))), float)


def _multistart(
    model: _Model, y: np.ndarray, names: tuple[str, ...], grid: np.ndarray,
    delta: float, n_top: int, n_random: int, seed: int, extra_starts: list[np.ndarray] = (),
    max_grid: int = 20_000, start_maxiter: int = 300, n_polish: int = 3, bounds=None,
) -> tuple[np.ndarray, float, bool, str, int]:
    """Evaluate every grid point, run L-BFGS-B from the best n_top + n_random random ones."""
    bounds = bounds or [obj.BOUNDS[n] for n in names]
    lo, hi = np.array(bounds).T
    rng = np.random.default_rng(seed)
    if len(grid) > max_grid:  # seeded subsample of a large grid (see the module docstring)
        grid = grid[rng.choice(len(grid), max_grid, replace=False)]
    grid = np.clip(grid, lo, hi)
    scores = _score_starts(model, y, grid, delta, seed)
    scores = np.where(np.isfinite(scores), scores, np.inf)
    order = np.argsort(scores)
    rest = order[n_top:]
    picks = list(order[:n_top]) + list(rng.choice(rest, size=min(n_random, len(rest)), replace=False))
    starts = [grid[i] for i in picks] + [np.clip(s, lo, hi) for s in extra_starts]
    # Short runs from every start (on every core: simgap.workers), then polish the n_polish best to
    # convergence: a short run's rank is only a hint in the distillation law's flat valleys.
    jobs = [(model, y, x0, bounds, delta, start_maxiter) for x0 in starts]
    short = sorted(workers.map(_short_run, jobs, min_items=8), key=lambda r: r[0])
    best = min((_lbfgs(model, y, x, bounds, delta) for _, x in short[:n_polish]), key=lambda r: r.fun)
    converged, message = _converged(model, y, best, bounds, delta)
    return best.x, float(best.fun), converged, message, len(starts)


SCORE_ROWS = 2000  # rows the start grid is scored on (all of them in tables up to this size)
SCORE_ELEMENTS = 1_000_000  # starts × rows scored at once: ~8 MB per temporary, whatever the table


def _score_starts(model: _Model, y: np.ndarray, grid: np.ndarray, delta: float, seed: int) -> np.ndarray:
    """Each start's objective, only to rank the starts. Memory stays O(SCORE_ELEMENTS) and time
    O(starts × SCORE_ROWS), not growing with the table (once starts × all rows took 4 GB and
    minutes at 22k rows): a table longer than SCORE_ROWS is ranked on a seeded subsample of its
    rows (the short and polishing runs always see every row)."""
    if len(y) > SCORE_ROWS:
        rows = np.sort(np.random.default_rng([seed, len(y)]).choice(len(y), SCORE_ROWS, replace=False))
        model, y = model.rows(rows), y[rows]
    per_chunk = max(1, SCORE_ELEMENTS // len(y))
    return np.concatenate([obj.huber_scaled(model.logpred(grid[i:i + per_chunk]) - y, delta).sum(axis=1)
                           for i in range(0, len(grid), per_chunk)])


FTOL = 1e-11  # relative to the scaled objective (≈ n·|r|/δ ≥ 1): changes below ~1e-9 nats are noise


def _lbfgs(model: _Model, y, x0, bounds, delta, maxiter=4000):
    def fun(th):
        pred, jac = model.logpred_and_grad(th)
        r = pred - y
        f = obj.huber_scaled(r, delta).sum()
        g = jac @ obj.huber_scaled_grad(r, delta)
        if not np.isfinite(f):
            return 1e300, np.zeros_like(th)
        return f, g

    return optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                             options={"maxiter": maxiter, "ftol": FTOL, "gtol": 1e-8})


def _converged(model: _Model, y, res, bounds, delta) -> tuple[bool, str]:
    if not np.all(np.isfinite(res.x)) or not np.isfinite(res.fun) or res.fun >= 1e299:
        return False, "non-finite objective"
    if res.success:
        return True, str(res.message)
    again = _lbfgs(model, y, res.x, bounds, delta)
    if again.fun >= res.fun * (1 - 1e-9) - 1e-12:
        return True, f"stationary (restart gained < 1e-9): {res.message}"
    moved = float(np.max(np.abs(model.logpred(again.x) - model.logpred(res.x))))
    if again.fun >= res.fun * (1 - 1e-5) and moved < 1e-4:
        return True, (f"predictions stationary (restart: objective −{1 - again.fun / res.fun:.1e} rel., "
                      f"log-predictions moved ≤ {moved:.1e}); parameters weakly identified: {res.message}")
    return False, f"L-BFGS-B stopped early: {res.message}"


def d_power_of_n(logN: np.ndarray, logD: np.ndarray) -> bool:
    """log D is a linear function of log N in every row (e.g. D = 20·N): A/N^α and B/D^β are then
    confounded, and nothing that moves D apart from N (D → ∞ at a fixed N) is in the data."""
    X = np.stack([np.ones_like(logN), logN], 1)
    resid = logD - X @ np.linalg.lstsq(X, logD, rcond=None)[0]
    return bool(np.sqrt(np.mean(resid**2)) < 1e-6 * max(1.0, np.std(logD)))


def _collinear_note(logN: np.ndarray, logD: np.ndarray) -> str:
    if d_power_of_n(logN, logD):
        return "D is a power of N in every row: A/N^alpha and B/D^beta are confounded (predictions only)"
    return ""


def _errors(pred_log: np.ndarray, y: np.ndarray) -> dict:
    rel = np.abs(np.expm1(pred_log - y))
    return {"rmse_log": float(np.sqrt(np.mean((pred_log - y) ** 2))),
            "max_rel_error": float(rel.max()), "mean_rel_error": float(rel.mean())}


def _solve(law, model, y, names, init, reduced, mN, mD, huber_delta, n_top, n_random, seed,
           single_start: bool, fixed_theta: dict[str, float]):
    """Multistart L-BFGS-B in centred coordinates (or one start from `init`); returns the
    optimum in natural coordinates with its objective, convergence, start count and errors."""
    extra = [obj.centre(law.from_params(init, reduced), names, mN, mD, -1)] if init is not None else []
    bounds = [(fixed_theta[k],) * 2 if k in fixed_theta else obj.CENTRED_BOUNDS.get(k, obj.BOUNDS[k])
              for k in names]  # a fixed parameter is a box of zero width: L-BFGS-B never moves it
    if single_start:
        res = _lbfgs(model, y, np.clip(extra[0], *np.array(bounds).T), bounds, huber_delta)
        theta, objective, n_starts = res.x, float(res.fun), 1
        conv, msg = _converged(model, y, res, bounds, huber_delta)
    else:
        grid = obj.centre(_grid(law.grid, names), names, mN, mD, -1)
        theta, objective, conv, msg, n_starts = _multistart(model, y, names, grid, huber_delta,
                                                            n_top, n_random, seed, extra, bounds=bounds)
    errors = _errors(model.logpred(theta), y)
    return obj.centre(theta, names, mN, mD, +1), objective, conv, msg, n_starts, errors


def one_blas_thread(fn):
    """Run `fn` with BLAS on one thread: L-BFGS-B on ~10 parameters makes tiny BLAS calls, and
    OpenBLAS's threads spinning against JAX's made whole fits 25x slower (61 s vs 2.5 s)."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)
    return wrapped


@one_blas_thread
def fit_law(
    law: obj.Law, data: dict, *, huber_delta: float = 1e-4, n_top: int | None = None, n_random: int | None = None,
    seed: int = 0, init=None, reduced: bool | None = None, fixed: dict[str, float] | None = None,
    single_start: bool = False,
) -> LawFit:
    """Fit `law` to `data` (its columns N, D, … and "loss"; checked here). With < 2 distinct D (or
    reduced=True) the data term B/D^β is one constant C, returned as B = C, β = 0. `fixed` holds
    natural parameters at given values (e.g. {"E": 0.0} for a task whose irreducible loss is
    known, {"gamma": 1.0} for Chinchilla's form). `single_start`: one L-BFGS-B run from `init`
    (a bootstrap replicate's refit) instead of the multistart grid."""
    data = {k: column(data[k], c) for k, c in law.columns.items()}
    same_length(**{law.columns[k]: v for k, v in data.items()})
    reduced = is_single_budget(data["D"]) if reduced is None else reduced
    law.check_form(reduced)
    names = law.names(reduced)
    fixed_theta = law.fixed_theta(dict(fixed or {}), reduced)
    n_free = len(names) - len(fixed_theta)
    N, D = data["N"], data["D"]
    if len(np.unique(N)) < 2:
        raise TooFewPoints(f"{law.name} law needs ≥ 2 distinct student sizes")
    if len(N) < n_free + 1:
        raise TooFewPoints(f"{law.name} law ({'reduced, ' if reduced else ''}{n_free} free parameters) "
                           f"needs ≥ {n_free + 1} points, got {len(N)}")
    features = law.features(data)
    logN, logD, y = np.log(N), np.log(D), np.log(data["loss"])
    # centring moves log A with α (see objectives.centre), so a fixed A or B is fitted uncentred
    mN = 0.0 if "log_A" in fixed_theta else float(logN.mean())
    mD = 0.0 if {"log_B", "log_C"} & set(fixed_theta) else float(logD.mean())
    t0 = time.perf_counter()
    model = _Model(law, {"logN": logN - mN, "logD": logD - mD, **features}, reduced)
    theta, objective, conv, msg, n_starts, errors = _solve(
        law, model, y, names, init, reduced, mN, mD, huber_delta,
        law.n_top if n_top is None else n_top, law.n_random if n_random is None else n_random, seed,
        single_start, fixed_theta)
    p = law.prime
    note = (f"single data budget D = {D[0]:g}: B{p}/D^beta{p} is not identifiable; fitted as one "
            f"constant C{p} (reported as B = C{p}, beta = 0)" if reduced else _collinear_note(logN, logD))
    return LawFit(law, names, tuple(map(float, theta)), conv, msg, reduced, note, len(N), **errors,
                  objective=objective, n_starts=n_starts, fit_time_s=time.perf_counter() - t0,
                  huber_delta=huber_delta, data=data, at_bounds=_at_bounds(names, theta, fixed_theta),
                  fixed=tuple(sorted((fixed or {}).items())))


def fit_supervised(N, D, loss, **kw) -> LawFit:
    """The supervised law (objectives.SupervisedLaw) on columns N, D, loss; keywords as `fit_law`."""
    return fit_law(obj.SUPERVISED, {"N": N, "D": D, "loss": loss}, **kw)


def fit_distillation(N, D, teacher_loss, loss, supervised: SupervisedParams, **kw) -> LawFit:
    """The distillation law (Eq. 8) with the supervised law held fixed; keywords as `fit_law`
    (`fixed` by DistillParams names)."""
    return fit_law(obj.DistillationLaw(supervised), {"N": N, "D": D, "teacher_loss": teacher_loss, "loss": loss}, **kw)


def _at_bounds(names, theta, fixed_theta, rtol: float = 1e-6) -> tuple[tuple[str, str], ...]:
    """(name, "lower"/"upper") for each shape parameter on its bound (scale parameters log A,
    log B, log C have bounds far outside any data and are not reported)."""
    out = []
    for name, v in zip(names, theta):
        if name in obj.SCALE_NAMES or name in fixed_theta:
            continue
        lo, hi = obj.BOUNDS[name]
        tol = rtol * max(1.0, hi - lo)
        out += [(name, "lower")] if v <= lo + tol else [(name, "upper")] if v >= hi - tol else []
    return tuple(out)
