"""A sweep's work: train every unit of a config's grid not yet done in a run directory, then
analyse the rows (simgap.report.analyze); and the dry run that counts it without training.

Called by `simgap.sweep(...)` (simgap.api, which `python -m simgap.sweep` wraps) and, round by round,
by simgap.decide. A run directory (simgap.rundir) holds one file per finished unit (compiled
bucket) and a manifest that marks it done: killing the process loses at most the unit in flight.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from tqdm import tqdm

from simgap import cache, distributed, engine, flops, memory, rundir, trainers, workers
from simgap.config import SweepConfig
from simgap.families import from_config
from simgap.report import analyze

# Rough CPU throughput for the dry-run estimate, measured on the default sweep (2 cores: 4.95e12
# padded FLOPs trained in 58 s over 2 CPU devices; 15 bucket compiles in 18 s; analysis 12 s),
# and a cost per run outside the step loop (its row, result files, its share of the analysis'
# refits): the kernel preset, whose training is nearly free, took ≈ 0.045 s per run end to end
# (1535 runs, 77 s on 2 busy cores).
_EST_FLOPS_PER_S = 8e10
_EST_COMPILE_S = 1.2
_EST_ANALYSIS_S = 15.0
_EST_RUN_S = 0.02


class SweepError(RuntimeError):
    """A sweep cannot start or resume; the message says why."""


def preflight(cfg: SweepConfig) -> list[str]:
    """What the analysis will not be able to do with this grid, said before any training."""
    notes = []
    n_t = len(cfg.grid.teacher_sizes)
    if n_t < 3:
        notes.append(f"note: locating each student's optimal teacher needs ≥ 3 teacher sizes and this "
                     f"grid has {n_t}: the optimum analysis (and the teacher laws) will be skipped")
    return notes


def run_sweep(cfg: SweepConfig, out: Path, progress: bool = True, echo=print, extra_units=(),
              eq8: bool = True) -> list[dict]:
    """Train every unit not yet done in `out` (the grid's and `extra_units`: simgap.decide's rounds),
    then analyse (eq8=False: without Eq. 8, see simgap.report.analyze); returns all result rows.
    A config whose family cannot run it is refused (ConfigError) before the run directory is touched."""
    family = from_config(cfg)
    writer = distributed.is_writer()  # multi-host: every process trains, process 0 writes
    units = engine.plan(family, cfg.grid, cfg.train) + list(extra_units)
    try:  # before any file is written: a bucket that cannot fit in memory is refused in one line
        memory.check_buckets(family, units, cfg.train.batch_size)
    except ValueError as e:
        raise SweepError(str(e)) from None
    with rundir.RunDir(out, cfg, units) as run:
        if writer:
            run.open()  # refuses a file, an unwritable place, a locked or other-config directory
        notes = preflight(cfg) + run.verify()  # every process: which units are verifiably done
        if writer:
            for line in notes:
                echo(line)
            run.rebuild_results()
        done = set(run.rows)
        total = sum(len(u.members) for u in units)
        already = sum(len(u.members) for u in units if u.uid in done)
        if done:
            echo(f"resuming {out}: {len(done)}/{len(units)} buckets already done")
        compiles0, xla0 = engine.compile_count(), cache.compile_stats()
        if writer:
            workers.warm_up()  # the analysis' worker processes start while the first buckets train
        bar = tqdm(total=total, initial=already, unit="run", disable=not (progress and writer),
                   file=sys.stderr, dynamic_ncols=True)
        t_start = time.perf_counter()
        for i, unit in enumerate(units):
            if unit.uid in done:
                continue
            t0 = time.perf_counter()
            before = set(run.teachers)
            unit_rows = trainers.run_unit(family, unit, cfg.grid, cfg.train, run.teachers)
            if not writer:
                continue
            run.finish(unit, unit_rows, set(run.teachers) - before)
            n_div = sum(bool(r["diverged"]) for r in unit_rows)
            bar.update(len(unit.members))
            (echo if bar.disable else bar.write)(  # above a live bar; through `echo` without one
                f"[{i + 1}/{len(units)}] {unit.uid}: {len(unit.members)} runs in "
                f"{time.perf_counter() - t0:.1f} s" + (f", {n_div} DIVERGED" if n_div else ""))
        bar.close()
        if not writer:
            return []
        run.settle()
        xla = {k: v - xla0[k] for k, v in cache.compile_stats().items()}
        timing = _timing(family, cfg, units, done, time.perf_counter() - t_start, xla,
                         engine.compile_count() - compiles0)
        echo(f"trained {total - already} runs in {timing['training_s']:.1f} s "
             f"({timing['compiles']} compiles; XLA compilation {xla['seconds']:.1f} s, "
             f"{xla['from_cache']:.0f} of {xla['programs']:.0f} programs from the compile cache)")
        all_rows = run.all_rows()
        t_analysis = time.perf_counter()
        analyze(cfg, all_rows, out, echo=echo, timing=timing, eq8=eq8)
        echo(f"analysis {time.perf_counter() - t_analysis:.1f} s")
        return all_rows


def _timing(family, cfg: SweepConfig, units, done, training_s: float, xla: dict, compiles: int) -> dict:
    """This process's training time split into XLA compilation and the rest, with the FLOPs of
    the buckets it trained (report.md's "## Time"; analyze adds analysis_s)."""
    costs = [c for c in flops.bucket_costs(family, units, cfg.grid, cfg.train) if c["uid"] not in done]
    return dict(training_s=training_s, compile_s=xla["seconds"], train_s=max(training_s - xla["seconds"], 0.0),
                compiles=compiles, programs=int(xla["programs"]), from_cache=int(xla["from_cache"]),
                runs=sum(c["runs"] for c in costs), buckets=costs,
                padded_flops=sum(c["padded_flops"] for c in costs),
                useful_flops=sum(c["useful_flops"] for c in costs))


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.0f} s"


def dry_run(cfg: SweepConfig, n_seeds: int | None = None, echo=print) -> None:
    """The grid, runs per kind, compiles and a time estimate, without training. Counted on one
    seed and scaled (every bucket holds each seed alike), so an absurd grid answers at once."""
    g = cfg.grid
    n_seeds = len(g.seeds) if n_seeds is None else n_seeds
    family = from_config(cfg)
    units = engine.plan(family, dataclasses.replace(g, seeds=(0,)), cfg.train)
    echo(f"config {cfg.name} ({cfg.source}): family {cfg.family} {cfg.family_params}")
    echo(f"  students {list(g.student_sizes)}  budgets {list(g.student_budgets)}  init {g.student_init}")
    echo(f"  teachers {list(g.teacher_sizes)}  budgets {list(g.teacher_budgets)}")
    echo(f"  seeds {n_seeds}  supervised baselines {g.supervised}")
    for kind in ("teacher", "supervised", "distilled"):
        ks = [u for u in units if u.kind == kind]
        echo(f"  {kind:10s} {n_seeds * sum(len(u.members) for u in ks):6d} runs in {len(ks)} buckets")
    peak, _ = memory.peak_bucket_bytes(family, units, cfg.train.batch_size, n_seeds)
    if peak:
        echo(f"  largest bucket needs about {memory.gib(peak)} of memory ({memory.gib(memory.available_bytes())} here)")
    costs = flops.bucket_costs(family, units, dataclasses.replace(g, seeds=(0,)), cfg.train)
    echo("  buckets (one compile each): padded FLOPs / useful FLOPs (true sizes) = padding waste")
    for c in costs:
        echo(f"    {c['uid']:40s} {n_seeds * c['runs']:6d} runs {n_seeds * c['padded_flops']:9.3g} / "
             f"{n_seeds * c['useful_flops']:9.3g} FLOPs = {c['waste']:.2f}x")
    padded = n_seeds * sum(c["padded_flops"] for c in costs)
    useful = n_seeds * sum(c["useful_flops"] for c in costs)
    runs = n_seeds * sum(len(u.members) for u in units)
    est = padded / _EST_FLOPS_PER_S + _EST_COMPILE_S * len(units) + _EST_ANALYSIS_S + _EST_RUN_S * runs
    echo(f"  total {runs} runs, {len(units)} compiles, {padded:.3g} padded / {useful:.3g} useful FLOPs "
         f"(padding waste {padded / useful if useful else float('nan'):.2f}x), rough CPU estimate {_duration(est)}")
    if engine.teacher_tables(family):
        echo("  (distilled students read teacher outputs computed once on every input, so their buckets "
             "can execute fewer FLOPs than the runs count: waste < 1x)")
    for line in preflight(cfg):
        echo(line)
    try:  # the count stays arithmetic whatever the grid; the sweep itself refuses what cannot fit
        memory.check_buckets(family, units, cfg.train.batch_size, n_seeds)
    except ValueError as e:
        echo(f"warning: the sweep will refuse this grid: {e}")
    if est > 86400:
        echo(f"warning: this grid would take about {_duration(est)} on this CPU: "
             "shrink it (fewer seeds or sizes) or run it on an accelerator")
