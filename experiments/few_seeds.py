"""How the teacher-law checks behave with the few seeds real pilots have (docs/verdicts.md, "Few
seeds and one seed"): per seed count, on tables from a known U-curve law (simgap.fit.simulate),
the share of `linear` called fails where T* = 2.5·S (false) and where T* ∝ S^1.3 (power), the
coverage of the per-student T* CIs and of the linear law's slope CI at nominal 90 %, and
`gap_exists` called holds where no student has a gap (every optimum beyond the grid).

    python experiments/few_seeds.py [--tables 50] [--seeds 1,2,3,4,5,8]
"""

from __future__ import annotations

import argparse
import collections

import numpy as np

from simgap.config import FitOptions
from simgap.fit import simulate as sim
from simgap.fit.table import fit_table

OPT = FitOptions(n_boot=0)  # teacher-law tables: the seed bootstrap of the optima only


def measure(n_seeds: int, n_tables: int) -> dict:
    truth = sim.TeacherLawTruth()
    c = collections.Counter()
    for i in range(n_tables):
        r = fit_table(sim.teacher_law_table(truth, n_seeds, np.random.default_rng(1000 + i)), OPT)
        c.update("linear " + a.verdict for a in r.assumptions if a.name == "linear")
        for _, st in r.settings():
            for o in st.optima.per_student:
                lo, hi = o.optimal_teacher_ci
                if o.interior and np.isfinite(lo):
                    c["T* n"] += 1
                    c["T* hit"] += lo <= truth.optimum(o.student_size) <= hi
            for tl in st.teacher_law:
                lo, hi = tl.linear.slope_ci if hasattr(tl.linear, "slope_ci") else (np.nan, np.nan)
                if np.isfinite(lo):
                    c["slope n"] += 1
                    c["slope hit"] += lo <= truth.k <= hi
        steep = fit_table(sim.teacher_law_table(sim.TeacherLawTruth(p=1.3), n_seeds, np.random.default_rng(5000 + i)), OPT)
        c.update("power " + a.verdict for a in steep.assumptions if a.name == "linear")
        none = fit_table(sim.teacher_law_table(sim.TeacherLawTruth(k=60.0), n_seeds, np.random.default_rng(9000 + i)), OPT)
        c.update("nogap " + a.verdict for a in none.assumptions if a.name == "gap_exists")
    return c


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, default=50)
    ap.add_argument("--seeds", default="1,2,3,4,5,8")
    a = ap.parse_args(argv)
    print("| seeds | `linear` fails (T* = 2.5·S) | holds | T* CI coverage | slope CI coverage | `linear` fails "
          "(T* ∝ S^1.3) | `gap_exists` holds without a gap |\n" + "|---" * 7 + "|")
    for k in (int(x) for x in a.seeds.split(",")):
        c = measure(k, a.tables)
        pct = lambda h, n: f"{c[h]}/{c[n]} ({c[h] / c[n]:.0%})" if c[n] else "–"  # noqa: E731
        print(f"| {k} | {c['linear fails']}/{a.tables} | {c['linear holds']}/{a.tables} | {pct('T* hit', 'T* n')} | "
              f"{pct('slope hit', 'slope n')} | {c['power fails']}/{a.tables} | "
              f"{c['nogap holds']}/{sum(v for k_, v in c.items() if k_.startswith('nogap'))} |", flush=True)


if __name__ == "__main__":
    main()
