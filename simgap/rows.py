"""The results table is the interface between training and analysis: one tidy row per model."""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

RUN_KINDS = ("teacher", "supervised", "distilled")

# Column -> meaning. Every row has every column; NaN where a column does not apply
# (e.g. teacher_size on a supervised row). Losses are held-out losses against the ground truth.
COLUMNS: dict[str, str] = {
    "run_kind": "teacher | supervised | distilled",
    "family": "family name (kernel, mlp, transformer)",
    "seed": "seed index; a teacher and all its students share it (paired comparisons)",
    "student_size": "student capacity knob (width, d_model or basis functions); NaN on teacher rows",
    "teacher_size": "teacher capacity knob; NaN on supervised rows",
    "student_params": "student's true (unpadded) parameter count",
    "teacher_params": "teacher's true (unpadded) parameter count",
    "student_budget": "samples (or tokens) the student saw; NaN on teacher rows",
    "teacher_budget": "samples (or tokens) the teacher saw; NaN on supervised rows",
    "student_init": "random | pruned_from_teacher (Zhang et al.) | pruned_from_largest; empty on teacher rows",
    "lam": "distillation weight on the teacher term (1 = pure distillation)",
    "tau": "distillation temperature",
    "teacher_loss": "teacher's held-out loss vs ground truth",
    "student_loss": "student's held-out loss vs ground truth (supervised or distilled)",
    "supervised_loss": "held-out loss of the same student size/budget/seed trained on labels only",
    "irreducible_loss": "the task's irreducible loss E (0 for noiseless tasks; source entropy for sequences)",
    "accuracy": "held-out accuracy of the row's trained model where defined, else NaN",
    "kl_to_teacher": "held-out divergence student vs teacher (KL for classification, MSE for regression)",
    "diverged": "True when the run produced a non-finite or exploding loss",
    "flops": "training FLOPs estimate of the row's model (teacher forward passes included for distilled)",
    "wall_s": "wall time of the row's bucket divided by its number of members",
    "bucket": "id of the compiled bucket that trained the row",
}


def empty_row(**values) -> dict:
    """A row with every column present: NaN for numbers, '' for strings, unless given."""
    unknown = set(values) - set(COLUMNS)
    if unknown:
        raise KeyError(f"unknown result columns: {sorted(unknown)}")
    row = {c: math.nan for c in COLUMNS}
    row.update(run_kind="", family="", student_init="", bucket="", diverged=False)
    row.update(values)
    return row


STRING_COLUMNS = ("run_kind", "family", "student_init", "bucket")


def with_supervised_loss(rows: list[dict], baselines: list[dict] | None = None) -> list[dict]:
    """Copies of `rows` where each distilled row carries the loss of its supervised baseline (same
    student size, budget and seed; NaN when missing or diverged), taken from `baselines` (default:
    the supervised rows among `rows`)."""
    base = {(r["student_size"], r["student_budget"], r["seed"]): r["student_loss"]
            for r in (rows if baselines is None else baselines)
            if r["run_kind"] == "supervised" and not r["diverged"]}
    return [dict(r, supervised_loss=base.get((r["student_size"], r["student_budget"], r["seed"]), math.nan))
            if r["run_kind"] == "distilled" else r for r in rows]


def atomic_write_text(path, text: str) -> None:
    """Write via a temp file and rename, so a crash never leaves a half-written file."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to a temp file beside `path`, fsync it, rename it over `path`. Any failure
    (a full disk, a kill signal turned into an exception) removes the temp file before raising,
    so nothing half-written is left behind under either name."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def to_csv(rows: list[dict], header: bool = True, columns=COLUMNS) -> str:
    """Tidy CSV text with every column (default: the results table's; a cell a row lacks is empty),
    NaN as an empty cell, floats written to round-trip, booleans as true/false (`header=False`: the
    data lines only, to append to a file that has the header). simgap's one CSV writer."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    if header:
        writer.writeheader()
    for row in rows:
        writer.writerow({c: cell(row.get(c, "")) for c in columns})
    return buf.getvalue()


def cell(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):  # np.float64 too: repr(float(v)), not numpy 2's "np.float64(...)"
        return "" if math.isnan(v) else repr(float(v))
    if hasattr(v, "item"):  # numpy scalar
        return cell(v.item())
    return v


def read_csv(path) -> list[dict]:
    """Read a results CSV written by `to_csv` back into typed rows."""
    with open(path, newline="") as f:
        return parse_csv(f.read())


def parse_csv(text: str) -> list[dict]:
    """CSV text written by `to_csv` -> typed rows."""
    out = []
    for raw in csv.DictReader(io.StringIO(text, newline="")):
        row = {}
        for c in COLUMNS:
            v = raw.get(c, "")
            if c in STRING_COLUMNS:
                row[c] = v
            elif c == "diverged":
                row[c] = v == "true"
            else:
                row[c] = float(v) if v != "" else math.nan
        out.append(row)
    return out
