"""How far to trust a fit: bootstrap intervals and the extrapolation check.

Bootstrap: resample the points with replacement and refit from the full-data optimum (one start,
cheap). A resample that cannot be fitted (too few distinct sizes, no convergence) is dropped and
counted in `n_failed`; a derived quantity that cannot be computed for one replicate is NaN there,
left out of its interval and counted in `n_derived_failed`. Neither discards the law, and the
point estimate never depends on them.
Extrapolation (Busbridge et al.'s check): fit on the weaker runs and predict the held-out stronger
ones; they report ≤ 1 % relative error on runs with L_S < 2.3 from fits on L_S ≥ 2.3.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Callable

import numpy as np

from simgap import workers as workers_lib
from simgap.config import MAX_BOOT
from simgap.fit.inputs import FitInputError, TooFewPoints
from simgap.fit.objectives import Law
from simgap.fit.solver import LawFit, fit_law, one_blas_thread
from simgap.intervals import percentile_interval


@dataclass(frozen=True)
class Bootstrap:
    """Percentile intervals over resampled refits; `samples` maps a name to its replicate values."""

    ci: float
    n_boot: int
    n_failed: int
    samples: dict
    supervised_refit: bool = False  # the supervised law a law holds fixed was refitted in every replicate
    n_derived_failed: dict = field(default_factory=dict)  # derived name -> replicates where it was NaN
    # each fitted replicate: (its parameters, the supervised parameters it held fixed when refitted, else None)
    replicates: tuple = field(default=(), repr=False)

    def interval(self, name: str) -> tuple[float, float]:
        return percentile_interval(self.samples[name], self.ci)

    def intervals(self) -> dict[str, tuple[float, float]]:
        return {k: self.interval(k) for k in self.samples}


def _resample(fit: LawFit, law: Law, idx: np.ndarray) -> LawFit | None:
    """One converged refit of `law` on the rows `idx` of the fit's data (one start, from the
    full-data optimum), or None when it cannot be fitted."""
    try:
        r = fit_law(law, {k: v[idx] for k, v in fit.data.items()}, huber_delta=fit.huber_delta,
                    init=fit.raw_params, reduced=fit.reduced, fixed=dict(fit.fixed), single_start=True)
    except (TooFewPoints, FitInputError):  # e.g. a resample holding a single student size: dropped and counted
        return None
    return r if r.converged else None


def _replicate(task) -> tuple[Law, object]:
    """One bootstrap replicate: (the law refitted, with its refitted supervised law if any; its
    params or None = dropped)."""
    fit, idx, supervised_fit, sup_idx = task
    law = fit.law
    if supervised_fit is not None:
        s = _resample(supervised_fit, supervised_fit.law, sup_idx)
        if s is None:
            return law, None
        law = law.given(s.raw_params)
    r = _resample(fit, law, idx)
    return law, (None if r is None else r.raw_params)


PARALLEL_MIN = 16  # fewer replicates than this run in-process: a pool start-up (~1 s) would not pay
BATCH = 256  # replicates whose rows are drawn and fitted at once


@one_blas_thread
def bootstrap(
    fit: LawFit, *, n_boot: int = 200, ci: float = 0.9, seed: int = 0,
    supervised_fit: LawFit | None = None,
    derived: dict[str, Callable[[object, Law], float]] | None = None,
    workers: int | None = None,
) -> Bootstrap:
    """Percentile CIs of every parameter (and of `derived[name](params, law)`, the replicate's
    parameters and its law, whose held-fixed supervised law is the replicate's own).

    For a distillation fit, pass `supervised_fit` to refit the supervised law on resampled
    supervised rows in every replicate too, so the interval carries its uncertainty.
    Replicates that cannot be fitted are dropped and counted in n_failed.

    Every replicate's rows are drawn first, in order (supervised rows, then the law's rows), so
    the replicates are independent tasks: `workers` processes (default: simgap.workers) fit
    them in parallel with the same results as one process, in the same order.
    """
    fit.require()
    if not 0 <= n_boot <= MAX_BOOT:
        raise FitInputError(f"bootstrap replicates must be in 0..{MAX_BOOT}, got {n_boot}")
    rng = np.random.default_rng(seed)
    workers = 1 if n_boot < PARALLEL_MIN else workers
    results = []
    for start in range(0, n_boot, BATCH):  # rows drawn per batch: memory O(BATCH × rows), not n_boot × rows
        tasks = []
        for _ in range(min(BATCH, n_boot - start)):
            sup_idx = None if supervised_fit is None else rng.integers(0, supervised_fit.n_points,
                                                                        supervised_fit.n_points)
            tasks.append((fit, rng.integers(0, fit.n_points, fit.n_points), supervised_fit, sup_idx))
        results += workers_lib.map(_replicate, tasks, workers=workers, min_items=1)
    derived = derived or {}
    samples: dict[str, list[float]] = {k: [] for k in asdict(fit.raw_params)}
    samples.update({k: [] for k in derived})
    failed, replicates = 0, []
    for law, params in results:
        if params is None:
            failed += 1
            continue
        replicates.append((params, law.supervised if supervised_fit is not None else None))
        for k, v in asdict(params).items():
            samples[k].append(v)
        for k, f in derived.items():
            samples[k].append(_derived_value(f, params, law))
    n_nan = {k: int(np.sum(~np.isfinite(samples[k]))) for k in derived}
    return Bootstrap(ci, n_boot, failed, samples, supervised_fit is not None, n_nan, tuple(replicates))


def _derived_value(f: Callable, params, law: Law) -> float:
    """A replicate's derived quantity, NaN when it cannot be computed for that replicate (e.g. an
    optimal teacher loss when the refitted E lies above every teacher loss the law can use):
    like an unfittable resample, it is left out of the interval and counted, never fatal."""
    try:
        return float(f(params, law))
    except (ValueError, ArithmeticError):
        return math.nan


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
    fit: LawFit | None = field(default=None, repr=False, compare=False)  # the refit (read by the extrapolates check)
    mean_signed_error: float = math.nan  # mean of pred/observed − 1: the `extrapolates` estimate

    def to_json(self) -> dict:  # judged by the `extrapolates` assumption (simgap.fit.eq8_assumptions), not here
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "fit"}
        return {"status": "ok", **own}


@one_blas_thread
def extrapolation_check(fit: LawFit, train: np.ndarray, *, n_top: int | None = None, n_random: int | None = None,
                        seed: int = 0) -> Extrapolation:
    """Refit on the rows in `train` (the weaker runs), report relative error on the others."""
    d = fit.data
    test = ~train
    if test.sum() == 0:
        raise TooFewPoints("extrapolation check: no held-out rows")
    sub = fit_law(fit.law, {k: v[train] for k, v in d.items()}, huber_delta=fit.huber_delta, seed=seed,
                  reduced=fit.reduced, fixed=dict(fit.fixed), n_top=n_top, n_random=n_random)
    pred = fit.law.predict(sub.raw_params, {k: v[test] for k, v in d.items()})
    signed = pred / d["loss"][test] - 1
    rel = np.abs(signed)
    return Extrapolation(sub.converged, int(train.sum()), int(test.sum()), float(d["loss"][train].min()),
                         float(d["loss"][test].max()), float(rel.max()), float(rel.mean()), sub, float(signed.mean()))
