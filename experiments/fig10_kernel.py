"""Busbridge et al. Fig. 10 from simgap's kernel family: teacher and student errors against the
teacher's capacity m (closed form, App. C.1: alpha_1..alpha_1000 ~ U[-1, 1], T = 5, D = 4.5,
students n = 300..800). The paper: the teacher error falls steadily, each student's error is lowest
from m = n on, then rises.

    python experiments/fig10_kernel.py [--config configs/kernel.toml] [--out runs/figures/fig10_kernel]

Writes fig10_kernel.png, fig10_kernel.csv (the seed-mean curves) and fig10_kernel_flat.csv (per
student: where its error is at its minimum, and its rise by m = 1000).
"""

from __future__ import annotations

import sys

import figure_runs

from simgap import figures


def main(argv=None) -> int:
    p, args, cfg = figure_runs.script_setup(__doc__, "configs/kernel.toml", "runs/figures/fig10_kernel", argv)
    rows, run = figure_runs.sweep_rows(cfg, sweep_dir=args.sweep, seeds=args.seeds)
    table = figures.curve_table(rows)
    flat = figures.flat_minimum_table(table)
    figures.write_csv(table, args.out / "fig10_kernel.csv", figures.CURVE_COLUMNS)
    figures.write_csv(flat, args.out / "fig10_kernel_flat.csv")
    figures.plot_kernel_fig10(table, args.out / "fig10_kernel.png", ci=cfg.fit.ci)
    for f in flat:
        print(f"student n={f['student_size']:g}: error lowest ({f['min_error']:.4g}) for m in "
              f"[{f['first_m_at_min']:g}, {f['last_m_at_min']:g}]; {f['error_at_m_below_n']:.4g} just below m = n; "
              f"{f['error_at_largest_m']:.4g} at m = {f['largest_m']:g} (+{f['rise_to_largest_m']:.4g})")
    print(f"wrote {args.out}/fig10_kernel.png and .csv (sweep: {run})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
