"""Zhang et al.'s plot from simgap's own sweeps: each student's optimal teacher against the student's
size, in parameters, with the fitted linear teacher law T* = k·S + b (their fit on GPT-2/Pythia pilots:
T* = 2.498·S − 11.498 in millions, R² = 0.9957). One panel per sweep (and per budget series within it)
that shows interior optima; optima at an edge, or whose CI reaches one, are drawn as bounds and kept
out of the fit.

    python experiments/zhang_teacher_law.py [--runs DIR ...] [--out runs/figures/zhang_teacher_law]

Each DIR is a finished sweep directory (its laws.json, written by `python -m simgap.sweep`: the
optima and the teacher laws fitted there, read back typed, not refitted); the
default is the sweeps the Fig. 11 and Fig. 10 scripts train: runs/figures/sweeps/default (the MLP
mapping problem) and runs/figures/sweeps/kernel (kernel regression, where the truth is T* = S).
Writes zhang_teacher_law.png, zhang_teacher_law.csv (the optima plotted) and
zhang_teacher_law_fits.csv (one fitted line per panel, with its slope CI).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import figure_runs

from simgap import figures
from simgap.config import load_config
from simgap.fit.results import ok
from simgap.fit.results_read import read_optima
from simgap.fit.verdicts import same_key

FIT_COLUMNS = ("run", "config", "family", "student_budget", "teacher_budget", "n_interior", "n_students", "slope",
               "slope_lo", "slope_hi", "intercept", "r2", "n_points")  # the fit's cells are empty without a line
DEFAULT_RUNS = (figure_runs.SWEEP_ROOT / "default", figure_runs.SWEEP_ROOT / "kernel")



def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, nargs="+", default=list(DEFAULT_RUNS), metavar="DIR")
    p.add_argument("--out", type=Path, default=Path("runs/figures/zhang_teacher_law"))
    args = p.parse_args(argv)
    for run in args.runs:
        if not (run / "laws.json").is_file() or not (run / "config.toml").is_file():
            p.error(f"{run}: not a finished sweep directory (no laws.json/config.toml); run "
                    "`python -m simgap.sweep --out DIR` (or experiments/fig11_width.py, fig10_kernel.py) first")
    panels, points, fits = [], [], []
    for run in args.runs:
        cfg = load_config(run / "config.toml")
        for setting in read_optima(run / "laws.json"):
            if not ok(setting.optima):
                continue
            for tl in setting.teacher_law:  # one fitted line per series (student budget, teachers' length)
                opt = sorted((s for s in setting.optima.students if (math.isnan(tl.budget) or s.params.budget == tl.budget)
                              and same_key(s.teacher_budget, tl.teacher_budget)), key=lambda s: s.student_params)
                sb, tb = opt[0].budget, opt[0].teacher_budget
                if not any(s.params.interior for s in opt):
                    print(f"{cfg.name} (student budget {sb:g}, teacher budget {tb:g}): no interior optimum, no panel")
                    continue
                lin = tl.linear if ok(tl.linear) else None
                if lin is None:
                    print(f"{cfg.name}: no line: {tl.linear.reason}")
                S, T = [s.student_params for s in opt], [s.params.optimal_teacher for s in opt]
                title = f"{cfg.name} ({cfg.family})" + (f", student budget {sb:g}" if len(setting.teacher_law) > 1 else "")
                panels.append(figures.TeacherLawPanel(title, tuple(opt), lin))
                points += [{"run": str(run), "config": cfg.name, "family": cfg.family, **s.row()} for s in opt]
                fit_row = {"run": str(run), "config": cfg.name, "family": cfg.family, "student_budget": sb,
                           "teacher_budget": tb, "n_interior": sum(s.params.interior for s in opt),
                           "n_students": len(opt)}
                if lin is not None:
                    fit_row.update(slope=lin.slope, slope_lo=lin.slope_ci[0], slope_hi=lin.slope_ci[1],
                                   intercept=lin.intercept, r2=lin.r2, n_points=lin.n_points)
                    print(f"{title}: {lin.describe()} (slope {lin.ci:.0%} CI "
                          f"[{lin.slope_ci[0]:.3g}, {lin.slope_ci[1]:.3g}], R² {lin.r2:.3f}, {lin.n_points} located "
                          f"optima of {len(opt)}); T*/S = {', '.join(f'{t / s:.2g}' for s, t in zip(S, T))}")
                fits.append(fit_row)
    if not panels:
        print("no sweep shows an interior optimum: nothing to plot", file=sys.stderr)
        return 1
    figures.write_csv(points, args.out / "zhang_teacher_law.csv")
    figures.write_csv(fits, args.out / "zhang_teacher_law_fits.csv", FIT_COLUMNS)
    figures.plot_teacher_laws(panels, args.out / "zhang_teacher_law.png")
    print(f"wrote {args.out}/zhang_teacher_law.png and .csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
