"""simgap's one reader of user tables: a tidy CSV (or a dict of columns) as numpy columns, for
`simgap.fit` and the planner's `--teachers` and `--design` tables. Tables from other tools are read
as they come: a UTF-8 byte-order mark, `;` or tab separators, padded cells. Each data row keeps its
file line (hidden column `LINE`) so later checks can name it (simgap.fit.checks)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from simgap.fit.checks import FLAG_FALSE, FLAG_TRUE, LINE
from simgap.fit.inputs import FitInputError, same_length


def read_table(path) -> dict[str, np.ndarray]:
    """A tidy CSV as columns: numeric where every non-empty cell parses (empty → NaN; a column of
    empty cells is all NaN), booleans for true/false columns (and 1/0, yes/no for `diverged`),
    strings otherwise."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise FitInputError(f"cannot read table {str(path)!r}: {e}") from None
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count) if first else ","
    try:
        records = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as e:
        raise FitInputError(f"cannot read table {str(path)!r}: {e}") from None
    numbered = [(i + 1, r) for i, r in enumerate(records) if any(c.strip() for c in r)]
    if len(numbered) < 2:
        raise FitInputError(f"table {str(path)!r} has no data rows")
    header = [h.strip() for h in numbered[0][1]]
    for line, r in numbered[1:]:
        if len(r) != len(header):
            raise FitInputError(f"table {str(path)!r} line {line}: {len(r)} cells, the header has {len(header)}")
    out: dict[str, np.ndarray] = {LINE: np.array([line for line, _ in numbered[1:]])}
    for j, name in enumerate(header):
        cells = [r[j].strip() for _, r in numbered[1:]]
        low = {c.lower() for c in cells} - {""}  # an empty cell is missing: never False, 0 or a category
        if low and (low <= {"true", "false"} or (name == "diverged" and low <= FLAG_TRUE | FLAG_FALSE)):
            out[name] = np.array([c.lower() in FLAG_TRUE for c in cells])
        elif name == "run_kind":
            out[name] = np.array([c.lower() for c in cells], dtype=object)
        else:
            try:
                out[name] = np.array([float(c) if c else math.nan for c in cells])
            except ValueError:
                out[name] = np.array(cells, dtype=object)
    return out


COST_COLUMNS = ("wall_s", "bucket")  # how a run was scheduled and timed, not what it was


def read_tables(paths) -> tuple[dict[str, np.ndarray], int]:
    """Several CSVs as one table (e.g. two sweeps that differ only in the student's start): the union
    of their columns, a column a table lacks empty there (a missing `diverged` is "not flagged"). A row
    that repeats a row of an earlier table in every column but COST_COLUMNS is the same run (the
    supervised baselines two sweeps share) and is kept once. Returns (columns, repeats dropped)."""
    tables = [(str(p), read_table(p)) for p in paths]
    names = list(dict.fromkeys(c for _, t in tables for c in t if c != LINE))
    cols: dict[str, np.ndarray] = {}
    for c in names:
        parts = [t.get(c) for _, t in tables]
        if all(p is not None and p.dtype == bool for p in parts) or (
                c == "diverged" and all(p is None or p.dtype == bool for p in parts)):
            cols[c] = np.concatenate([p if p is not None else np.zeros(len(t[LINE]), bool)
                                      for p, (_, t) in zip(parts, tables)])
        elif all(p is None or p.dtype.kind == "f" for p in parts):
            cols[c] = np.concatenate([p if p is not None else np.full(len(t[LINE]), math.nan)
                                      for p, (_, t) in zip(parts, tables)])
        else:  # text in some table: text everywhere, a missing or empty cell ""
            cols[c] = np.array([("" if isinstance(v, float) and math.isnan(v) else str(v)) for p, (_, t) in
                                zip(parts, tables) for v in (p if p is not None else [""] * len(t[LINE]))], dtype=object)
    cols[LINE] = np.array([f"{path} line {int(n)}" for path, t in tables for n in t[LINE]], dtype=object)
    table_of = np.concatenate([np.full(len(t[LINE]), i) for i, (_, t) in enumerate(tables)])
    run = [c for c in names if c not in COST_COLUMNS]
    first: dict[str, int] = {}
    keep = np.ones(len(table_of), bool)
    for i, key in enumerate(zip(*(cols[c].tolist() for c in run))):
        k = str(key)
        if k in first and table_of[first[k]] != table_of[i]:
            keep[i] = False
        first.setdefault(k, i)
    return {c: v[keep] for c, v in cols.items()}, int((~keep).sum())


def as_columns(table) -> dict[str, np.ndarray]:
    """A CSV path (read_table), several (read_tables) or a non-empty dict of equal-length columns, as
    numpy arrays."""
    if isinstance(table, (str, Path)):
        return read_table(table)
    if isinstance(table, (list, tuple)) and table and all(isinstance(t, (str, Path)) for t in table):
        return read_tables(table)[0]
    if not isinstance(table, dict) or not table:
        raise FitInputError("table must be a non-empty dict of columns or a CSV path")
    cols = {k: np.asarray(v) for k, v in table.items()}
    same_length(**cols)
    return cols
