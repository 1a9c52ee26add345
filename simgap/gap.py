"""The capacity-gap search as the experiment scripts run it: a config's grid, trained once per
student init (teachers shared between inits), and a per-student summary from simgap.optima.

Nothing here decides "optimal", "interior" or "beyond noise" itself: simgap.optima does, the
same way the sweep's report does, so the scripts and `python -m simgap.sweep` agree.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from simgap import engine, optima, rows as rows_lib
from simgap.config import CONFIG_DIR, STUDENT_INITS, load_config
from simgap.families import from_config
from simgap.laws import ZHANG_LINEAR


def run(cfg, family, inits: tuple[str, ...] = (), echo: Callable = print) -> list[dict]:
    """Train `cfg`'s grid once per student init (default: the config's own), sharing teachers."""
    start = time.perf_counter()
    teachers: dict = {}
    rows: list[dict] = []
    for init in inits or (cfg.grid.student_init,):
        grid = dataclasses.replace(cfg.grid, student_init=init)
        for unit in engine.plan(family, grid, cfg.train):
            if unit.kind == "teacher" and all((m.size, m.budget, m.seed) in teachers for m in unit.members):
                continue  # trained for a previous init
            got = engine.run_unit(family, unit, grid, cfg.train, teachers)
            echo(f"[{time.perf_counter() - start:7.1f}s] {unit.uid}: {len(got)} members")
            rows.extend(got)
    echo(f"wall time {time.perf_counter() - start:.1f}s, {engine.compile_count()} compiles")
    return rows


def summarize(rows: list[dict], ci: float = 0.9, n_boot: int = 1000) -> str:
    """Per student init and student: the seed-mean loss per teacher, the optimal teacher (refined,
    bootstrap CI) in the capacity knob and in parameters, interior/edge, the dip with its
    simultaneous CI, whether it is beyond noise, and T*/S in parameters beside Zhang's 2.5."""
    ok = [r for r in rows if not r["diverged"]]
    lines = []
    for init in sorted({r["student_init"] for r in ok if r["run_kind"] == "distilled"}):
        dist = [r for r in ok if r["run_kind"] == "distilled" and r["student_init"] == init]
        col = lambda c: np.array([r[c] for r in dist], float)
        kw = dict(seed=col("seed"), n_boot=n_boot, ci=ci)
        by_size = optima.teacher_optima(col("student_size"), col("teacher_size"), col("student_loss"), **kw)
        by_params = optima.teacher_optima(col("student_params"), col("teacher_params"), col("student_loss"), **kw)
        lam = sorted({r["lam"] for r in dist})
        lines.append(f"== student_init = {init}, lam = {lam}")
        for o, p in zip(by_size, by_params):
            sup = [r["student_loss"] for r in ok
                   if r["run_kind"] == "supervised" and r["student_size"] == o.student_size]
            where = "interior" if o.interior else f"edge ({o.edge})"
            ratio = p.optimal_teacher / p.student_size
            lines.append(
                f"student {o.student_size:g} ({p.student_size:g} params; supervised "
                f"{np.mean(sup) if sup else math.nan:.4f}): T* = {o.optimal_teacher:.3g} "
                f"[{o.optimal_teacher_ci[0]:.3g}, {o.optimal_teacher_ci[1]:.3g}], {where}; dip "
                f"{o.dip_depth:+.4f} [{o.dip_ci[0]:+.4f}, {o.dip_ci[1]:+.4f}] "
                f"{'beyond noise' if o.dip_beyond_noise else 'not beyond noise'}; T*/S in params "
                f"{ratio:.2f} [{p.optimal_teacher_ci[0] / p.student_size:.2f}, "
                f"{p.optimal_teacher_ci[1] / p.student_size:.2f}] (Zhang et al.: {ZHANG_LINEAR.slope:.2f})")
            for t, m, se in zip(o.teacher_sizes, o.mean_loss, o.sem_loss):
                lines.append(f"    teacher {t:<6g} loss {m:.4f} ± {se:.4f}")
    return "\n".join(lines)


def main(argv=None, default: str = "mlp", doc: str | None = None) -> list[dict]:
    """The experiment scripts' command line: CONFIG (a path, or a name in configs/), --init,
    --seeds, --csv (write the rows), --results (summarise a finished sweep's results.csv)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", default=default, help=f"path or name in configs/ (default {default})")
    ap.add_argument("--init", nargs="+", default=None, choices=STUDENT_INITS,
                    help="student inits to run, sharing teachers (default: the config's)")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--csv", default=None, help="write all rows here")
    ap.add_argument("--results", default=None, help="summarise this results.csv instead of training")
    args = ap.parse_args(argv)
    path = Path(args.config) if args.config.endswith(".toml") else CONFIG_DIR / f"{args.config}.toml"
    cfg = load_config(path, seeds=args.seeds)
    if args.results:
        rows = rows_lib.read_csv(args.results)
    else:
        family = from_config(cfg)
        print(f"{cfg.name}: {family}; irreducible loss E = {family.irreducible_loss():.4f}")
        rows = run(cfg, family, tuple(args.init or ()))
    print(summarize(rows, ci=cfg.fit.ci))
    if args.csv:
        rows_lib.atomic_write_text(args.csv, rows_lib.to_csv(rows))
    return rows
