"""Busbridge et al. Fig. 11 (the mapping problem, App. C.2) in simgap's CPU setting: each
student's loss against the teacher's width. The paper (students d_ffn 128-362, teachers 128-512):
the width-256 student improves, then worsens as the teacher grows. Here: configs/default.toml
(students w8-w32, teachers w16-w128, lr 1e-3, 3000 steps, 8 seeds).

    python experiments/fig11_width.py [--config configs/default.toml] [--out runs/figures/fig11_width]

Writes fig11_width.png, fig11_width.csv (seed-mean curves, supervised baselines, teachers) and
fig11_width_optima.csv (per student: optimal teacher width with CI, dip below the widest teacher
with its paired CI, simultaneous over teachers, and whether it is beyond seed noise).
"""

from __future__ import annotations

import sys

import figure_runs

from simgap import figures
from simgap.fit.results import ok
from simgap.fit.results_read import read_optima


def main(argv=None) -> int:
    p, args, cfg = figure_runs.script_setup(__doc__, "configs/default.toml", "runs/figures/fig11_width", argv)
    rows, run = figure_runs.sweep_rows(cfg, sweep_dir=args.sweep, seeds=args.seeds)
    # the sweep's own analysis (laws.json): each student's optimum on the width axis, not recomputed here
    optima = [o for s in read_optima(run / "laws.json") if ok(s.optima) for o in s.optima.by_knob]
    table = figures.curve_table(rows)
    figures.write_csv(table, args.out / "fig11_width.csv", figures.CURVE_COLUMNS)
    figures.write_csv(figures.optima_table(optima, "teacher_width"), args.out / "fig11_width_optima.csv")
    figures.plot_width_fig11(table, optima, args.out / "fig11_width.png", ci=cfg.fit.ci)
    for o in optima:
        print(f"student w{o.student_size:g}: best teacher w{o.optimal_teacher:.3g} (grid w{o.optimal_teacher_grid:g}, "
              f"{'interior' if o.interior else 'edge'}, CI [{o.optimal_teacher_ci[0]:.3g}, {o.optimal_teacher_ci[1]:.3g}]); "
              f"widest teacher worse by {o.dip_depth:.4f} nats, CI [{o.dip_ci[0]:.4f}, {o.dip_ci[1]:.4f}]"
              f"{' (beyond noise)' if o.dip_beyond_noise else ''}")
    print(f"wrote {args.out}/fig11_width.png and .csv (sweep: {run})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
