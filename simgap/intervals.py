"""The two interval helpers every analysis shares: percentile intervals and normal z-scores."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def percentile_interval(samples, ci: float) -> tuple[float, float]:
    """Central `ci` percentile interval of the finite samples; (NaN, NaN) when there are none."""
    v = np.asarray(samples, float).reshape(-1)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return (math.nan, math.nan)
    a = (1 - ci) / 2
    lo, hi = np.quantile(v, [a, 1 - a])
    return float(lo), float(hi)


def z_of(ci: float) -> float:
    """Two-sided normal quantile: an interval ±z·σ holds `ci` of a normal distribution."""
    return float(stats.norm.ppf(0.5 + ci / 2))


def expanded_level(ci: float, n: int) -> float:
    """Percentile level that gives a `ci` interval from a bootstrap over n units (Hesterberg's
    expanded percentile interval): matches a t-interval's width for a mean of n."""
    if n < 2:
        raise ValueError(f"expanded_level needs n >= 2 units, got {n}")
    return float(2 * stats.norm.cdf(np.sqrt(n / (n - 1)) * stats.t.ppf(0.5 + ci / 2, n - 1)) - 1)
