"""Writes docs/examples/pilot_runs.csv, the pilot table examples/validate_your_pilot.ipynb fits.

A pilot as someone's own distillation runs would give it: 3 seeds of supervised runs (7 sizes x 4
token budgets) and of 4 students (1e8-1e9 parameters, 20 tokens per parameter) distilled from 7
teachers (1e9-1e12) trained at 20 and 80 tokens per parameter, drawn from Busbridge et al.'s
fitted laws (simgap.fit.simulate.eq8_table) with 0.3 % seed noise and one planted violation: the
teacher's size matters beyond its loss (eta = 0.01, so `teacher_only_through_loss` should fail).
Sizes and tokens are written as whole numbers, losses to 5 decimals, as a training log gives them.

    python examples/make_pilot_table.py     # tests/test_notebooks.py checks the file is its output
"""

import csv
import io
import sys
from pathlib import Path

import numpy as np

from simgap.fit import simulate

OUT = Path(__file__).resolve().parent.parent / "docs" / "examples" / "pilot_runs.csv"
TRUTH = simulate.Eq8Truth(eta=0.01, noise=3e-3)
SEEDS, RNG_SEED = 3, 29
WHOLE = ("seed", "student_size", "student_tokens", "teacher_size", "teacher_budget")


def cell(name: str, x) -> str:
    if isinstance(x, str):
        return x
    if not np.isfinite(x):
        return ""
    return str(int(round(x))) if name in WHOLE else f"{x:.5f}"


def pilot_csv() -> str:
    cols = simulate.eq8_table(TRUTH, SEEDS, np.random.default_rng(RNG_SEED))
    names = list(cols)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(names)
    for i in range(len(cols[names[0]])):
        w.writerow([cell(n, cols[n][i]) for n in names])
    return buf.getvalue()


if __name__ == "__main__":
    OUT.write_text(pilot_csv())
    print(f"wrote {OUT}", file=sys.stderr)
