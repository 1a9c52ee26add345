"""The search for a capacity gap in the transformer family, reproducible from a config.

    .venv/bin/python experiments/transformer_gap.py configs/transformer.toml \
        [--init random pruned] [--seeds N] [--csv rows.csv]

Runs the config's grid once per student initialisation (random, and students pruned from the
largest teacher), sharing the trained teachers between the two, and prints for each student
size the mean student loss per teacher size, the best teacher and every teacher's paired
difference to the best one (mean +- standard error over seeds, wins). An interior optimum
beyond seed noise: the best teacher is not the largest and the largest teacher's paired
difference exceeds two standard errors.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from mlp_gap import report  # experiments/ is on sys.path when this file runs as a script

from simgap import engine, rows as rows_lib
from simgap.config import load_config
from simgap.families import get_family


def run(config: str, inits=("random", "pruned"), seeds: int | None = None, echo=print) -> list[dict]:
    cfg = load_config(config, seeds=seeds)
    family = get_family(cfg.family, **cfg.family_params)
    echo(f"{cfg.name}: {family}\nirreducible loss E = {family.irreducible_loss():.4f}")
    start = time.perf_counter()
    teachers: dict = {}
    rows = []
    for init in inits:
        grid = dataclasses.replace(cfg.grid, student_init=init)
        mine = []
        for unit in engine.plan(family, grid, cfg.train):
            if unit.kind == "teacher" and all(
                    (t, b, s) in teachers for t, _, b, _, s in unit.members):
                continue  # trained for the previous init
            got = engine.run_unit(family, unit, grid, cfg.train, teachers)
            echo(f"[{time.perf_counter() - start:7.1f}s] {unit.uid}: {len(got)} members")
            mine.extend(got)
        rows.extend(mine)
        teacher_rows = [r for r in rows if r["run_kind"] == "teacher"]
        echo(f"\n== student_init = {init}")
        echo(report(teacher_rows + [r for r in mine if r["run_kind"] != "teacher"]))
    echo(f"\nwall time {time.perf_counter() - start:.1f}s, {engine.compile_count()} compiles")
    return rows


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config")
    ap.add_argument("--init", nargs="+", default=["random", "pruned"], choices=["random", "pruned"])
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--csv", default=None, help="write all rows here")
    args = ap.parse_args(argv)
    rows = run(args.config, tuple(args.init), args.seeds)
    if args.csv:
        rows_lib.atomic_write_text(args.csv, rows_lib.to_csv(rows))
    return rows


if __name__ == "__main__":
    main()
