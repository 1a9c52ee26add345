"""Which of a fitted law's parameters do the runs identify? Measured by profiles, not counted.

A parameter is profiled by refitting the law with it held at a value (the other parameters free,
a few starts plus the free fit's optimum and a start on the αγ ridge) and comparing the fits by a
likelihood ratio of the objective the fits minimise, LR = k·n·log(objective_held / objective_best)
(`_lr_factor`; best: the best of every fit tried, so a held fit that beats the "free" one exposes
a free fit short of its optimum rather than rejecting anything). A value is *rejected* when LR
exceeds the χ²₁ quantile at the analysis' CI level. (An LR from the squared residuals of these
Huber fits rejected γ = 1 on data drawn with γ = 1 at LR 4.3: a least-absolute-deviation fit need
not have the least squares.)

- `identified(name)`: fits holding the parameter at half and at twice its estimate are both
  rejected. On a D = 20·N grid Eq. 1 is E + K·N^(−αγ) and only αγ is fitted: γ from 0.04 to 5 fit
  as well (measured: LR < 0.7 everywhere), and a bootstrap started at the optimum stays there,
  which is how a check said "γ = 0.049 [0.042, 0.064], fails" on a law whose γ no data could tell.
- `rejected(name, value)`: the runs exclude this value. `chinchilla_form` fails only when γ = 1 is
  rejected, and holds only when both ends of its tolerance are.
- `spread(f)`: the range of a derived quantity over the fits the runs do not reject (App. E.6's
  supervised limit E + (A/N^α)^γ reads the law at D → ∞: identified only if it barely moves).

Supervised fits take ≈ 0.1 s each, so a profile of α, β and γ costs about a second.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import stats

from simgap.fit.inputs import FitInputError, TooFewPoints
from simgap.fit.objectives import BOUNDS
from simgap.fit.solver import LawFit, fit_law

PROFILED = ("alpha", "beta", "gamma")  # the exponents: the directions a grid of D ∝ N leaves flat
PROFILE_STARTS = (5, 3)  # (n_top, n_random) of each held fit, plus the free optimum as a start


@dataclass(frozen=True)
class HeldFit:
    """One refit with `name` held at `value`."""

    name: str
    value: float
    lr: float  # vs the best fit tried; NaN: the held fit failed
    params: object = field(repr=False, compare=False, default=None)


@dataclass(frozen=True)
class Identification:
    """Profiles of one fitted law: every held fit and the χ²₁ critical value they are judged by."""

    held: tuple[HeldFit, ...]
    critical: float
    estimates: dict = field(default_factory=dict)  # name -> the free fit's value
    free_params: object = field(repr=False, compare=False, default=None)

    def _lr(self, name: str, value: float) -> float:
        return next((h.lr for h in self.held if h.name == name and math.isclose(h.value, value, rel_tol=1e-9)),
                    math.nan)

    def _profiled(self, name: str, value: float) -> bool:
        return any(h.name == name and math.isclose(h.value, value, rel_tol=1e-9) for h in self.held)

    def rejected(self, name: str, value: float) -> bool:
        """The runs exclude `name` = `value` (False when it was not profiled or its fit failed)."""
        lr = self._lr(name, value)
        return bool(math.isfinite(lr) and lr > self.critical)

    def identified(self, name: str) -> bool:
        """Fits at half and at twice the estimate are both rejected (True when not profiled so)."""
        if name not in self.estimates or not self._profiled(name, self.estimates[name] / 2):
            return True
        v = self.estimates[name]
        return self.rejected(name, v / 2) and self.rejected(name, min(2 * v, _upper(name)))

    def unidentified(self) -> tuple[str, ...]:
        return tuple(n for n in self.estimates if not self.identified(n))

    def flat_range(self, name: str) -> tuple[float, float]:
        """The held values of `name` the runs do not reject, with the estimate: how far it can move."""
        vals = [h.value for h in self.held if h.name == name and math.isfinite(h.lr) and h.lr <= self.critical]
        vals.append(self.estimates.get(name, math.nan))
        return (min(vals), max(vals))

    def spread(self, f: Callable[[object], float]) -> float:
        """max − min of f over the free fit and every held fit the runs do not reject."""
        ps = [self.free_params] + [h.params for h in self.held if math.isfinite(h.lr) and h.lr <= self.critical]
        v = [f(p) for p in ps if p is not None]
        v = [x for x in v if math.isfinite(x)]
        return float(max(v) - min(v)) if v else math.nan

    def describe(self, runs_note: str = "") -> str:
        """For people: "" when every profiled parameter is identified."""
        bad = self.unidentified()
        if not bad:
            return ""
        ranges = ", ".join(f"{n} (fits as well from {self.flat_range(n)[0]:.3g} to {self.flat_range(n)[1]:.3g})"
                           for n in bad)
        return (f"not identified by these runs: {ranges}; supervised runs at ≥ 2 budgets per size (D varied apart "
                "from N) and a wider range of sizes identify them" + (f" ({runs_note})" if runs_note else ""))

    def to_json(self) -> dict:
        return {"critical": self.critical, "unidentified": list(self.unidentified()),
                "held": [{"name": h.name, "value": h.value, "lr": h.lr} for h in self.held]}


def _upper(name: str) -> float:
    return BOUNDS.get(name, (0.0, math.inf))[1]


def _lr_factor(fit: LawFit) -> float:
    """LR = factor·n·log(objective_held / objective_best): the fits minimise a Huber loss on log
    residuals, which is the squared error when residuals ≪ δ (Gaussian: n·log of the RSS ratio,
    factor 1) and the absolute error when ≫ δ. There the drop-in-dispersion statistic is
    2·ΔS/τ with τ = 1/(2f(0)); for Gaussian run noise τ = (π/2)·mean|r|, so the factor is 4/π (2
    for Laplace noise, where 4/π is conservative). With 2, a true E = 0.2 on D = 20·N tables was
    rejected in 4 of 18 at the 10 % level."""
    r = np.log(fit.law.predict(fit.raw_params, fit.data)) - np.log(fit.data["loss"])
    return 4 / math.pi if np.median(np.abs(r)) > fit.huber_delta else 1.0


def _ridge_start(p, name: str, value: float):
    """A start for γ held at `value` on the αγ ridge: (A/N^α)^γ = (A^(γ/g)/N^(αγ/g))^g keeps the free
    fit's curve where one term dominates, while a start from the free fit with only γ changed is far
    from the held optimum (the few-start multistart of a held fit may miss it)."""
    if name != "gamma" or not p.gamma > 0:
        return None
    r = p.gamma / value
    return dataclasses.replace(p, gamma=value, A=p.A**r, alpha=p.alpha * r, B=p.B**r, beta=p.beta * r)


def _held(fit: LawFit, name: str, value: float, starts, seed: int):
    """The best converged fit of `fit`'s law with `name` = `value`: a multistart plus one run from
    each of `starts` (None entries skipped); None when none converges."""
    fixed = {**dict(fit.fixed), name: float(value)}
    kw = dict(huber_delta=fit.huber_delta, reduced=fit.reduced, fixed=fixed)
    found = []
    try:
        found.append(fit_law(fit.law, fit.data, init=fit.raw_params, n_top=PROFILE_STARTS[0],
                             n_random=PROFILE_STARTS[1], seed=seed, **kw))
        found += [fit_law(fit.law, fit.data, init=dataclasses.replace(q, **{name: float(value)}), single_start=True,
                          **kw) for q in starts if q is not None]
    except (TooFewPoints, FitInputError):
        return None
    ok = [h for h in found if h.converged]
    return min(ok, key=lambda h: h.objective) if ok else None


def profile(fit: LawFit, values: dict[str, tuple[float, ...]], ci: float = 0.9, seed: int = 0,
            around: bool = True) -> Identification:
    """Refit `fit`'s law with each name in `values` held at each of its values (module docstring).
    With `around`, every name is also profiled at half and twice its estimate, for `identified`.
    Held values are fitted outward from the estimate, each also started from its neighbour's optimum."""
    p = fit.raw_params
    free = {fit.law.natural_name(c) for c in fit.names}  # β is gone in the single-budget form
    estimates = {n: float(getattr(p, n)) for n in values if n in free and n not in dict(fit.fixed)}
    held_fits = []
    for name, est in estimates.items():
        grid = sorted(set(values[name]) | ({est / 2, min(2 * est, _upper(name))} if around else set()))
        for side in ([v for v in grid if v >= est], [v for v in reversed(grid) if v < est]):
            prev = None
            for v in side:
                h = _held(fit, name, v, [_ridge_start(p, name, v), prev], seed)
                prev = None if h is None else h.raw_params
                held_fits.append((name, float(v), h))
    best = min([fit.objective] + [h.objective for _, _, h in held_fits if h is not None])
    k = _lr_factor(fit) * fit.n_points
    held = tuple(HeldFit(name, v, math.nan if h is None else k * math.log(max(h.objective, 1e-300) / best),
                         None if h is None else h.raw_params)
                 for name, v, h in sorted(held_fits, key=lambda t: (t[0], t[1])))
    return Identification(held, float(stats.chi2.ppf(ci, 1)), estimates, p)
