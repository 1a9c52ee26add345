"""Busbridge et al. Fig. 12 (the mapping problem, App. C.2) in simgap's CPU setting: the teacher's
width is fixed and its training length varied. The paper: a longer-trained (better) teacher also
hurts small students. Here: configs/fig12_teacher_length.toml (teacher w128 trained 250-3000
steps; students w8-w24 at 3000 steps).

    python experiments/fig12_teacher_length.py [--config configs/fig12_teacher_length.toml] [--out runs/figures/fig12_teacher_length]

Writes fig12_teacher_length.png, fig12_teacher_length.csv (seed-mean curves) and
fig12_teacher_length_optima.csv: per student, the optimal teacher training length (simgap.optima
with the teacher's training length as the axis, in samples) with CI, and the dip below the
longest-trained teacher with its paired CI, simultaneous over lengths.
"""

from __future__ import annotations

import sys

import figure_runs

from simgap import figures
from simgap.optima import teacher_optima


def length_optima(cfg, rows: list[dict]):
    """Per student, the optimal teacher training length (in samples; simgap.optima along teacher_budget)
    with its CI, and the dip below the longest-trained teacher (also recorded by record_results.py)."""
    dist = [r for r in rows if r["run_kind"] == "distilled" and not r["diverged"]]
    return teacher_optima(*([r[c] for r in dist] for c in ("student_size", "teacher_budget", "student_loss", "seed")),
                          n_boot=cfg.fit.optima_boot, ci=cfg.fit.ci, rng_seed=cfg.fit.seed)


def main(argv=None) -> int:
    p, args, cfg = figure_runs.script_setup(__doc__, "configs/fig12_teacher_length.toml", "runs/figures/fig12_teacher_length", argv)
    if len(cfg.grid.teacher_budgets) < 3:
        p.error(f"{args.config}: Fig. 12 needs >= 3 teacher training lengths, got {list(cfg.grid.teacher_budgets)}")
    rows, run = figure_runs.sweep_rows(cfg, sweep_dir=args.sweep, seeds=args.seeds)
    optima = length_optima(cfg, rows)
    table = figures.curve_table(rows)
    steps = 1.0 / cfg.train.batch_size  # budgets are samples; one step sees a batch
    figures.write_csv(table, args.out / "fig12_teacher_length.csv", figures.CURVE_COLUMNS)
    figures.write_csv(figures.optima_table(optima, "teacher_budget"), args.out / "fig12_teacher_length_optima.csv")
    figures.plot_length_fig12(table, optima, args.out / "fig12_teacher_length.png", steps_per_sample=steps,
                              ci=cfg.fit.ci)
    for o in optima:
        print(f"student w{o.student_size:g}: best teacher length {o.optimal_teacher * steps:.0f} steps "
              f"(grid {o.optimal_teacher_grid * steps:.0f}, {'interior' if o.interior else 'edge'}, CI "
              f"[{o.optimal_teacher_ci[0] * steps:.0f}, {o.optimal_teacher_ci[1] * steps:.0f}]); longest-trained "
              f"teacher worse by {o.dip_depth:.4f} nats, CI [{o.dip_ci[0]:.4f}, {o.dip_ci[1]:.4f}]"
              f"{' (beyond noise)' if o.dip_beyond_noise else ''}")
    print(f"wrote {args.out}/fig12_teacher_length.png and .csv (sweep: {run})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
