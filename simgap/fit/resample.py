"""How far to trust a fit: bootstrap intervals and the extrapolation check.

Bootstrap: resample the points with replacement and refit from the full-data optimum (one start,
cheap). A resample that cannot be fitted (too few distinct sizes, no convergence) is dropped and
counted in `n_failed`; it never discards the law, and the point estimate never depends on it.
Extrapolation (Busbridge et al.'s check): fit on the weaker runs and predict the held-out stronger
ones; they report ≤ 1 % relative error on runs with L_S < 2.3 from fits on L_S ≥ 2.3.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from simgap import laws
from simgap import workers as workers_lib
from simgap.fit.inputs import FitInputError, TooFewPoints
from simgap.fit.solver import LawFit, fit_distillation, fit_supervised, one_blas_thread
from simgap.intervals import percentile_interval
from simgap.laws import DistillParams, SupervisedParams


@dataclass(frozen=True)
class Bootstrap:
    """Percentile intervals over resampled refits; `samples` maps a name to its replicate values."""

    ci: float
    n_boot: int
    n_failed: int
    samples: dict

    def interval(self, name: str) -> tuple[float, float]:
        return percentile_interval(self.samples[name], self.ci)

    def intervals(self) -> dict[str, tuple[float, float]]:
        return {k: self.interval(k) for k in self.samples}


def _refit(fit: LawFit, idx: np.ndarray, supervised: SupervisedParams | None) -> LawFit:
    d = {k: v[idx] for k, v in fit.data.items()}
    if fit.law == "supervised":
        return fit_supervised(d["N"], d["D"], d["loss"], huber_delta=fit.huber_delta, init=fit.raw_params,
                              reduced=fit.reduced, fixed=dict(fit.fixed), _multistart_off=True)
    return fit_distillation(d["N"], d["D"], d["teacher_loss"], d["loss"], supervised,
                            huber_delta=fit.huber_delta, init=fit.raw_params, reduced=fit.reduced,
                            fixed=dict(fit.fixed), _multistart_off=True)


def _resample(fit: LawFit, idx: np.ndarray, supervised: SupervisedParams | None) -> LawFit | None:
    """One converged refit on the resample `idx`, or None when it cannot be fitted."""
    try:
        r = _refit(fit, idx, supervised)
    except TooFewPoints:  # e.g. a resample holding a single student size
        return None
    return r if r.converged else None


def _replicate(task) -> tuple[object, object]:
    """One bootstrap replicate: (supervised params or None, params or None); None = dropped."""
    fit, idx, supervised_fit, sup_idx = task
    sup = fit.supervised
    if supervised_fit is not None:
        s = _resample(supervised_fit, sup_idx, None)
        if s is None:
            return None, None
        sup = s.raw_params
    r = _resample(fit, idx, sup)
    return sup, (None if r is None else r.raw_params)


PARALLEL_MIN = 16  # fewer replicates than this run in-process: a pool start-up (~1 s) would not pay


@one_blas_thread
def bootstrap(
    fit: LawFit, *, n_boot: int = 200, ci: float = 0.9, seed: int = 0,
    supervised_fit: LawFit | None = None,
    derived: dict[str, Callable[[SupervisedParams | DistillParams, SupervisedParams | None], float]] | None = None,
    workers: int | None = None,
) -> Bootstrap:
    """Percentile CIs of every parameter (and of `derived[name](params, supervised_params)`).

    For a distillation fit, pass `supervised_fit` to refit the supervised law on resampled
    supervised rows in every replicate too, so the interval carries its uncertainty.
    Replicates that cannot be fitted are dropped and counted in n_failed.

    Every replicate's rows are drawn first, in order (supervised rows, then the law's rows), so
    the replicates are independent tasks: `workers` processes (default: simgap.workers) fit
    them in parallel with the same results as one process, in the same order.
    """
    fit.require()
    rng = np.random.default_rng(seed)
    tasks = []
    for _ in range(n_boot):
        sup_idx = None if supervised_fit is None else rng.integers(0, supervised_fit.n_points, supervised_fit.n_points)
        tasks.append((fit, rng.integers(0, fit.n_points, fit.n_points), supervised_fit, sup_idx))
    results = workers_lib.map(_replicate, tasks, workers=workers, min_items=PARALLEL_MIN)
    derived = derived or {}
    samples: dict[str, list[float]] = {k: [] for k in asdict(fit.raw_params)}
    samples.update({k: [] for k in derived})
    failed = 0
    for sup, params in results:
        if params is None:
            failed += 1
            continue
        for k, v in asdict(params).items():
            samples[k].append(v)
        for k, f in derived.items():
            samples[k].append(float(f(params, sup)))
    return Bootstrap(ci, n_boot, failed, samples)


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


@dataclass(frozen=True)
class Extrapolation:
    """A law refitted on the weaker runs, scored on the held-out stronger ones."""

    converged: bool
    n_train: int
    n_test: int
    train_min_loss: float
    test_max_loss: float
    max_rel_error: float
    mean_rel_error: float

    @property
    def within_1_percent(self) -> bool:
        return self.max_rel_error <= 0.01

    def to_json(self) -> dict:
        return {"status": "ok", **asdict(self), "within_1_percent": self.within_1_percent}


def start_counts(n_top: int | None, n_random: int | None) -> dict:
    """Only the start counts that were given, so each fitter keeps its own defaults."""
    return {k: v for k, v in (("n_top", n_top), ("n_random", n_random)) if v is not None}


@one_blas_thread
def extrapolation_check(fit: LawFit, train: np.ndarray, *, n_top: int | None = None, n_random: int | None = None,
                        seed: int = 0) -> Extrapolation:
    """Refit on the rows in `train` (the weaker runs), report relative error on the others."""
    d = fit.data
    test = ~train
    if test.sum() == 0:
        raise TooFewPoints("extrapolation check: no held-out rows")
    kw = dict(huber_delta=fit.huber_delta, seed=seed, reduced=fit.reduced, fixed=dict(fit.fixed),
              **start_counts(n_top, n_random))
    if fit.law == "supervised":
        sub = fit_supervised(d["N"][train], d["D"][train], d["loss"][train], **kw)
        pred = laws.supervised_loss(d["N"][test], d["D"][test], sub.raw_params)
    else:
        sub = fit_distillation(d["N"][train], d["D"][train], d["teacher_loss"][train], d["loss"][train],
                               fit.supervised, **kw)
        pred = laws.distill_loss(d["N"][test], d["D"][test], d["teacher_loss"][test], fit.supervised, sub.raw_params)
    rel = np.abs(pred / d["loss"][test] - 1)
    return Extrapolation(sub.converged, int(train.sum()), int(test.sum()), float(d["loss"][train].min()),
                         float(d["loss"][test].max()), float(rel.max()), float(rel.mean()))
