"""Which teachers a student's optimum is located over: one series, or one per teacher length.

A teacher's training length is a separate axis only when some teacher size was trained for
several lengths (Busbridge et al.'s Fig. 12). When each teacher size has one length — the
common pilot, D_T = 20·N_T (or simgap's `teacher_budgets = [0]`, the family's default rule) —
splitting by the absolute length would leave one teacher per series and no optimum to locate,
so every teacher is one series. When lengths are an axis, series are the absolute length, or
the length per unit teacher size when that makes fewer series (20·N_T and 80·N_T are two
series of "tokens per parameter", not ten one-teacher lengths); a column the user names
(FitOptions.teacher_series_column) overrides both.
"""

from __future__ import annotations

import numpy as np

from simgap.fit.inputs import FitInputError


def teacher_series(T: np.ndarray, tb: np.ndarray | None, tb_name: str | None, t_name: str,
                   named: np.ndarray | None = None, named_as: str | None = None) -> tuple[np.ndarray, str | None]:
    """(series key per row, NaN where there is one series; what the series are, None for one).

    `T`, `tb`: the rows' teacher sizes and lengths (tb None or all-NaN: no length column);
    `named`: the user's grouping column on the same rows, `named_as` its name."""
    one = np.full(len(T), np.nan)
    if named is not None:
        key = np.asarray(named, dtype=float) if named.dtype != object else None
        if key is None or not np.isfinite(key).all():
            raise FitInputError(f"teacher series column {named_as!r} must be numeric on every distilled row")
        return (key, named_as) if len(np.unique(key)) > 1 else (one, None)
    if tb is None or not np.isfinite(tb).any():
        return one, None
    if not any(len(np.unique(tb[T == t])) > 1 for t in np.unique(T)):
        return one, None  # one length per teacher size: not an axis
    ratio = np.round(tb / T, 9 - int(np.floor(np.log10(np.nanmax(tb / T)))))
    if len(np.unique(ratio)) < len(np.unique(tb)):
        return ratio, f"{tb_name}/{t_name}"
    return tb, tb_name
