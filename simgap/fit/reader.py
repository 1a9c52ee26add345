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


def as_columns(table) -> dict[str, np.ndarray]:
    """A CSV path (read_table) or a non-empty dict of equal-length columns, as numpy arrays."""
    if isinstance(table, (str, Path)):
        return read_table(table)
    if not isinstance(table, dict) or not table:
        raise FitInputError("table must be a non-empty dict of columns or a CSV path")
    cols = {k: np.asarray(v) for k, v in table.items()}
    same_length(**cols)
    return cols
