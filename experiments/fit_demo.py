"""Write a results CSV from the papers' reference laws and run `python -m simgap.fit` on it.

The table mimics a sweep: supervised rows (8 sizes × 3 budgets, 2e9–5e10), and distilled rows where 4
students (D = 20·N and 80·N) learn from 13 teachers (N_T from 1e9 to 1e12, D_T = 20·N_T, teacher loss from
the supervised law) over 3 seeds. Losses get multiplicative log-normal noise (default 1e-3) and a
per-seed offset, so the fit CLI has something to be uncertain about.

    python experiments/fit_demo.py [--out runs/fit_demo] [--noise 1e-3] [--bootstrap 50]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from simgap import laws
from simgap import rows as rows_lib

SUP, DIST = laws.BUSBRIDGE_SUPERVISED, laws.BUSBRIDGE_DISTILL
COLUMNS = ("run_kind", "seed", "student_size", "teacher_size", "student_tokens", "teacher_loss", "student_loss")


def reference_rows(*, noise: float = 1e-3, seed: int = 0, n_seeds: int = 3, n_teachers: int = 13) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for N in np.geomspace(5e7, 3e9, 8):
        for D in (2e9, 1e10, 5e10):  # a budget grid independent of N, so B and β are identifiable
            L = laws.supervised_loss(N, D, SUP) * np.exp(rng.normal(0, noise))
            rows.append(dict(run_kind="supervised", seed=0, student_size=N, student_tokens=D, student_loss=L))
    teachers = np.geomspace(1e9, 1e12, n_teachers)
    teacher_loss = laws.supervised_loss(teachers, 20 * teachers, SUP)
    for s in range(n_seeds):
        offset = rng.normal(0, noise)  # a seed shifts all of its runs together (paired design)
        for N in (1e8, 2e8, 5e8, 1e9):
            for D in (20 * N, 80 * N):
                for T, LT in zip(teachers, teacher_loss):
                    L = laws.distill_loss(N, D, LT, SUP, DIST) * np.exp(offset + rng.normal(0, noise))
                    rows.append(dict(run_kind="distilled", seed=s, student_size=N, teacher_size=T,
                                     student_tokens=D, teacher_loss=LT, student_loss=L))
    return rows


def write_csv(rows: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(rows_lib.to_csv(rows, columns=COLUMNS))
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/fit_demo")
    ap.add_argument("--noise", type=float, default=1e-3)
    ap.add_argument("--bootstrap", type=int, default=50)
    args = ap.parse_args()
    table = write_csv(reference_rows(noise=args.noise), Path(args.out) / "reference_table.csv")
    cmd = [sys.executable, "-m", "simgap.fit", str(table), "--out", args.out, "--bootstrap", str(args.bootstrap)]
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
