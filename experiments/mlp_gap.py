"""Reproduce the MLP capacity-gap curves: student loss vs teacher width, paired across seeds.

    .venv/bin/python experiments/mlp_gap.py configs/mlp.toml [--seeds N] [--csv rows.csv]

For each student width it prints the mean (over seeds) student loss for every teacher width,
the best teacher, and each teacher's paired difference to the best one (mean +- standard
error over seeds, and in how many seeds the best teacher wins). An interior optimum beyond
seed noise means: the best teacher is not the widest, and the widest teacher's paired
difference is more than two standard errors above zero.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from simgap import engine, rows as rows_lib
from simgap.config import load_config
from simgap.families import get_family


def curves(rows: list[dict]) -> dict[int, dict]:
    """Per student width: teacher widths, loss per (teacher, seed), best teacher, paired diffs."""
    by = defaultdict(dict)  # student -> {(teacher, seed): loss}
    sup = defaultdict(list)
    for r in rows:
        if r["run_kind"] == "distilled":
            by[r["student_size"]][(r["teacher_size"], r["seed"])] = r["student_loss"]
        elif r["run_kind"] == "supervised":
            sup[r["student_size"]].append(r["student_loss"])
    out = {}
    for s, losses in sorted(by.items()):
        teachers = sorted({t for t, _ in losses})
        seeds = sorted({k for _, k in losses})
        loss_TxS = np.array([[losses[(t, k)] for k in seeds] for t in teachers])
        mean_T = loss_TxS.mean(1)  # best = first teacher within float noise of the minimum (flat regions)
        best = int(np.flatnonzero(mean_T <= mean_T.min() + 1e-6 * abs(mean_T.min()))[0])
        diff_TxS = loss_TxS - loss_TxS[best]
        se = diff_TxS.std(1, ddof=1) / np.sqrt(len(seeds)) if len(seeds) > 1 else np.full(len(teachers), np.nan)
        out[s] = dict(teachers=teachers, mean=mean_T, diff=diff_TxS.mean(1), se=se,
                      wins=(diff_TxS > 0).sum(1), seeds=len(seeds), best=teachers[best],
                      supervised=float(np.mean(sup[s])) if sup[s] else np.nan,
                      interior=best < len(teachers) - 1 and diff_TxS[-1].mean() > 2 * se[-1])
    return out


def report(rows: list[dict]) -> str:
    lines = []
    t_loss = defaultdict(list)
    for r in rows:
        if r["run_kind"] == "teacher":
            t_loss[r["teacher_size"]].append((r["teacher_loss"], r["accuracy"]))
    lines.append("teachers: " + "  ".join(
        f"w{int(t)}: {np.mean([l for l, _ in v]):.4f} (acc {np.mean([a for _, a in v]):.3f})"
        for t, v in sorted(t_loss.items())))
    for s, c in curves(rows).items():
        lines.append(f"student w{int(s)} (supervised {c['supervised']:.4f}; best teacher w{int(c['best'])}; "
                     f"interior beyond noise: {c['interior']})")
        for t, m, d, e, w in zip(c["teachers"], c["mean"], c["diff"], c["se"], c["wins"]):
            lines.append(f"   teacher w{int(t):<4d} loss {m:.4f}   paired diff to best {d:+.4f} +- {e:.4f}"
                         f"   best wins {w}/{c['seeds']}")
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--csv", default=None, help="write all rows here")
    args = ap.parse_args(argv)
    cfg = load_config(args.config, seeds=args.seeds)
    family = get_family(cfg.family, **cfg.family_params)
    start = time.perf_counter()

    def progress(unit, rows):
        print(f"[{time.perf_counter() - start:7.1f}s] {unit.uid}: {len(rows)} members, "
              f"{rows[0]['wall_s'] * len(rows):.1f}s", flush=True)

    rows = engine.run_grid(family, cfg.grid, cfg.train, on_unit=progress)
    print(f"total {time.perf_counter() - start:.1f}s, {engine.compile_count()} compiles, "
          f"{len(engine.plan(family, cfg.grid, cfg.train))} units")
    print(report(rows))
    if args.csv:
        rows_lib.atomic_write_text(args.csv, rows_lib.to_csv(rows))
    return rows


if __name__ == "__main__":
    main()
