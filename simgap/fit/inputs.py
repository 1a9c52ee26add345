"""Errors of the fitting code and the validation of its input columns."""

from __future__ import annotations

import numpy as np


class FitInputError(ValueError):
    """Bad input to a fit: names the column and row at fault."""


class TooFewPoints(FitInputError):
    """Not enough (distinct) points to identify the law's parameters."""


class FitNotConverged(RuntimeError):
    """Raised when the parameters of an unconverged fit are asked for."""


def column(values, name: str, *, positive: bool = True) -> np.ndarray:
    """A 1-D float array; a NaN, inf or non-positive entry raises naming the column and its row,
    counted from 1 as `simgap.fit.checks.where` and a user reading the table count them."""
    try:
        a = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError) as e:
        raise FitInputError(f"column {name!r} is not numeric: {e}") from None
    bad = ~np.isfinite(a)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FitInputError(f"column {name!r} row {i + 1}: value {float(a[i])!r} is not finite")
    if positive and (a <= 0).any():
        i = int(np.flatnonzero(a <= 0)[0])
        raise FitInputError(f"column {name!r} row {i + 1}: value {float(a[i])!r} must be > 0")
    return a


def same_length(**cols: np.ndarray) -> int:
    lengths = {k: len(v) for k, v in cols.items()}
    if len(set(lengths.values())) != 1:
        raise FitInputError(f"columns have different lengths: {lengths}")
    return next(iter(lengths.values()))


def is_single_budget(D: np.ndarray) -> bool:
    """B and β (B', β') are identifiable only with ≥ 2 distinct data budgets."""
    return len(np.unique(D)) < 2
