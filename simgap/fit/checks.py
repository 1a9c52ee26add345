"""What a user hands `fit_table`, checked before any fit: each function is pure and either
returns cleaned data or raises one FitInputError naming what is wrong in the user's terms.

- `clean_columns`: the `diverged` column as booleans whatever wrote it (true/false, 1/0,
  1.0/0.0 as pandas writes a float column, yes/no; an empty or `nan` cell is "not flagged"),
  and `run_kind` values simgap knows (an unknown kind, e.g. "distillation", would otherwise
  drop every such row silently);
- `fitted_columns`: the columns the fits read, on the rows they read: a loss that never varies
  (nothing to fit) and a budget column with some empty cells are named;
- `options`: fixed parameters finite and >= 0, each named once, a finite extrapolation
  threshold; returns warnings (a bootstrap too small for its interval).
"""

from __future__ import annotations

import math

import numpy as np

from simgap.config import FitOptions
from simgap.fit.inputs import FitInputError

RUN_KINDS = ("supervised", "distilled", "teacher")  # "teacher" rows are read and ignored
FLAG_TRUE, FLAG_FALSE = {"true", "1", "1.0", "yes", "y", "t"}, {"false", "0", "0.0", "no", "n", "f"}
_UNSET = {"", "nan"}
TEACHER_LENGTH_COLUMNS = ("teacher_tokens", "teacher_budget")  # as simgap.fit.table reads them, first found
LINE = "__line__"  # simgap.fit.reader's hidden column: each data row's line in the file


def where(cols: dict, i: int) -> str:
    """Row i as a user counts it: the 1-based data row, and the file line when read from a file."""
    if LINE not in cols:
        return f"row {i + 1}"
    line = cols[LINE][i]  # a number, or "FILE line N" in several tables read as one
    return f"row {i + 1} ({line if isinstance(line, str) else f'line {int(line)}'})"


def _text(v) -> str:
    if isinstance(v, (float, np.floating)) and math.isnan(v):
        return "nan"
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip().lower()


def diverged_flags(cols: dict) -> np.ndarray:
    """The `diverged` column as booleans; any other value raises naming it and its row."""
    a = np.asarray(cols["diverged"])
    if a.dtype == bool:
        return a
    text = [_text(v) for v in a.tolist()]
    for i, t in enumerate(text):
        if t not in FLAG_TRUE | FLAG_FALSE | _UNSET:
            raise FitInputError(f"column 'diverged' {where(cols, i)}: {a[i]!r} is not a flag "
                                "(expected true/false, 1/0 or empty)")
    return np.array([t in FLAG_TRUE for t in text])


def run_kinds(cols: dict) -> np.ndarray:
    """`run_kind` in lower case; a value simgap does not know raises naming every one seen."""
    kinds = np.array([str(v).strip().lower() for v in np.asarray(cols["run_kind"]).tolist()], dtype=object)
    unknown = sorted(set(kinds.tolist()) - set(RUN_KINDS))
    if unknown:
        counts = ", ".join(f"{k!r} ({int((kinds == k).sum())} rows)" for k in unknown)
        i = int(np.flatnonzero(np.isin(kinds, unknown))[0])
        raise FitInputError(f"column 'run_kind' has values simgap does not know: {counts}, first at "
                            f"{where(cols, i)}; accepted: {', '.join(RUN_KINDS)}")
    return kinds


def clean_columns(cols: dict) -> dict:
    """`cols` with `diverged` as booleans and `run_kind` checked (module docstring)."""
    out = dict(cols)
    if "diverged" in out:
        out["diverged"] = diverged_flags(out)
    if "run_kind" in out:
        out["run_kind"] = run_kinds(out)
    return out


_EMPTY_ADVICE = {
    "budget": "give every run its budget, or drop the column to fit the single-budget form",
    "teacher length": "give every distilled run its teacher's training length, or drop the column (one length)",
}


def fitted_columns(cols: dict, rows: dict[str, tuple[str | None, np.ndarray]]) -> None:
    """`rows` maps a role ("supervised loss", "distilled student loss", "budget") to (column,
    mask of the rows that role reads). A loss that is one value on every row it is fitted on
    leaves nothing to fit; a budget column empty on some of its rows (but not all: that is the
    single-budget form) cannot place those runs, nor a teacher length empty on some distilled rows
    its teacher (it would be a series of its own)."""
    length = next((c for c in TEACHER_LENGTH_COLUMNS if c in cols), None)
    if length and "distilled" in rows:
        rows = {**rows, "teacher length": (length, rows["distilled"][1])}
    for role, (name, mask) in rows.items():
        if name is None or name not in cols or not mask.any() or np.asarray(cols[name]).dtype == object:
            continue
        a = np.asarray(cols[name], dtype=float)
        if role in _EMPTY_ADVICE:
            empty = mask & np.isnan(a)
            if empty.any() and not empty.sum() == mask.sum():
                i = int(np.flatnonzero(empty)[0])
                raise FitInputError(f"column {name!r} {where(cols, i)} is empty ({int(empty.sum())} of "
                                    f"{int(mask.sum())} fitted rows): {_EMPTY_ADVICE[role]}")
        elif mask.sum() > 1:
            values = np.unique(a[mask][np.isfinite(a[mask])])
            if len(values) == 1:
                raise FitInputError(f"column {name!r} is {values[0]:g} on all {int(mask.sum())} {role} rows: "
                                    "losses that never vary leave nothing to fit (is it a placeholder?)")


def _fixed(kind: str, pairs) -> None:
    seen: dict[str, list] = {}
    for name, value in pairs:
        seen.setdefault(name, []).append(value)
    twice = {k: v for k, v in seen.items() if len(v) > 1}
    if twice:
        k, v = next(iter(twice.items()))
        raise FitInputError(f"fixed {kind} parameters: {k} is given {len(v)} times "
                            f"({', '.join(f'{k}={x}' for x in v)}); give each once")
    for name, value in pairs:
        if value == "irreducible" and name == "E":
            continue
        if isinstance(value, str) or not (math.isfinite(value) and value >= 0):
            raise FitInputError(f"fixed {kind} parameter {name} = {value}: must be a finite number >= 0")


def min_bootstrap(ci: float) -> int:
    """Replicates below which a percentile interval's tails rest on one or two replicates."""
    return math.ceil(round(2 / (1 - ci), 9))  # 2 / (1 − 0.9) is 20.000000000000004 in floats: 20


def options(opt: FitOptions) -> list[str]:
    """Raise on options no fit can honour; return warnings for ones it can, badly."""
    _fixed("supervised", opt.fixed_supervised)
    _fixed("distillation", opt.fixed_distillation)
    t = opt.extrapolate_threshold
    if t is not None and not (isinstance(t, (int, float)) and math.isfinite(t)):
        raise FitInputError(f"extrapolate threshold {t}: must be a finite number (or omitted: the "
                            "strongest runs are held out)")
    low = min_bootstrap(opt.ci)
    if 0 < opt.n_boot < low:
        return [f"{opt.n_boot} bootstrap replicates give unreliable {opt.ci:.0%} intervals (they may even "
                f"exclude the point estimate): use at least {low}, or 0 for none"]
    return []


def series_column(cols: dict, mask: np.ndarray, name: str | None) -> tuple[np.ndarray | None, str | None]:
    """The user's teacher-series column on the masked rows (None when not named); a name the
    table lacks raises naming the columns it has."""
    if name is None:
        return None, None
    if name not in cols:
        raise FitInputError(f"teacher series column {name!r} is not in the table; its columns are "
                            f"{', '.join(sorted(c for c in cols if c != LINE))}")
    return np.asarray(cols[name])[mask], name
