"""Training processes: a bucket's members split over single-device JAX processes, one per core.

Why: XLA:CPU devices in one process share its thread pool, so on the transformer's buckets two
devices train only 1.3x as fast as one, while two single-device processes, each pinned to its
own core, train 2x (docs/speed.md, measured by experiments/benchmark.py --transformer). A family
asks for this with the same hint as for members in turn (`cpu_sequential_members`, read by
`engine.sequential_members`); on accelerators, in a multi-host run, or with one core the bucket
trains in this process as before.

`run_unit` returns what `engine.run_unit` returns (its rows, and the trained teachers added to
`teachers`), the members split into contiguous chunks, one per process: each member's training
depends only on its own inputs, so the numbers are the in-process ones up to float32 order.
The processes start from a fresh interpreter (spawn), share the parent's compile cache, die with
their parent (`workers.watch_parent`), and are killed when a bucket is interrupted, so an
interrupted sweep exits at once and keeps every bucket it finished. $SIMGAP_TRAIN_PROCESSES sets
their number (1: train in this process).
"""

from __future__ import annotations

import atexit
import dataclasses
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor

import jax
import numpy as np

from simgap import cache, cpu, engine, flops, workers

ENV = "SIMGAP_TRAIN_PROCESSES"
# A split costs each process its own compile of the bucket (≈ 5 s for a transformer bucket on one
# core) and the pool's start-up once; at ≈ 30 GFLOP/s on one device 6e11 useful FLOPs is 20 s of
# training, of which the split saves ≈ 7 s. Smaller buckets (the tests' tiny grids) train here.
MIN_FLOPS = 6e11
_pool: dict[int, Executor] = {}
_lock = threading.Lock()


def processes_for(family) -> int:
    """Processes a bucket of `family` is split over here: 1 (this process) unless the family asks
    for members in turn on a CPU backend and this is a single-host run on more than one core."""
    value = os.environ.get(ENV, "")
    n = max(1, int(value)) if value.strip().isdigit() else cpu.cores()
    if n <= 1 or not engine.sequential_members(family) or jax.process_count() > 1:
        return 1
    return n


def _init(parent: int, core_queue, cache_path: str) -> None:
    """One core, one XLA device, the parent's compile cache; end with the parent."""
    threading.Thread(target=workers.watch_parent, args=(parent,), daemon=True).start()
    core = core_queue.get()
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    cpu.tune_cpu(1)
    cache.enable_compile_cache(cache_path)


def _executor(n: int) -> Executor:
    with _lock:
        if n not in _pool:
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
            for i in range(n):
                queue.put(allowed[i % len(allowed)] if len(allowed) >= n else None)
            where = jax.config.jax_compilation_cache_dir if jax.config.jax_enable_compilation_cache else None
            pool = ProcessPoolExecutor(n, mp_context=ctx, initializer=_init,
                                       initargs=(os.getpid(), queue, where or "off"))
            with workers.hidden_main():  # one task per process starts every process now
                for f in [pool.submit(workers.noop, i) for i in range(n)]:
                    f.result()
            _pool[n] = pool
        return _pool[n]


def _kill(n: int) -> None:
    """Stop the pool at once (an interrupted bucket): its processes are killed, not awaited."""
    with _lock:
        pool = _pool.pop(n, None)
    if pool is not None:
        for p in list(getattr(pool, "_processes", {}).values()):
            p.kill()
        pool.shutdown(wait=False, cancel_futures=True)


def shutdown() -> None:
    """Stop every training process (a later bucket starts them again)."""
    for n in list(_pool):
        _kill(n)


atexit.register(shutdown)


def _train(family, unit, grid, train, teachers: dict):
    """In a training process: engine.run_unit on a chunk; its rows, the teachers it trained, and
    its compile counts (the parent's summary line adds them to its own)."""
    compiles0, xla0 = engine.compile_count(), cache.compile_stats()
    store = dict(teachers)
    rows = engine.run_unit(family, unit, grid, train, store)
    xla = {k: v - xla0[k] for k, v in cache.compile_stats().items()}
    return rows, {k: v for k, v in store.items() if k not in teachers}, engine.compile_count() - compiles0, xla


def run_unit(family, unit: engine.Unit, grid, train, teachers, min_flops: float = MIN_FLOPS) -> list[dict]:
    """`engine.run_unit`, its members split over `processes_for(family)` processes when the
    bucket has at least `min_flops` useful FLOPs of training."""
    n = min(processes_for(family), len(unit.members))
    if n <= 1 or family.closed_form or flops.useful_flops(family, unit, train) < min_flops:
        return engine.run_unit(family, unit, grid, train, teachers)
    start = time.perf_counter()
    tasks = []
    for idx in np.array_split(np.arange(len(unit.members)), n):
        members = tuple(unit.members[i] for i in idx)
        seeds = {m.seed for m in members}
        needs = tuple(k for k in unit.needs if k[2] in seeds)  # TeacherKey = (size, budget, seed)
        chunk = dataclasses.replace(unit, members=members, needs=needs)
        tasks.append((chunk, {k: teachers[k] for k in needs if k in teachers}))
    pool = _executor(processes_for(family))
    futures = [pool.submit(_train, family, chunk, grid, train, mine) for chunk, mine in tasks]
    try:
        results = [f.result() for f in futures]
    except BaseException:
        _kill(processes_for(family))  # an interrupt or a failed chunk: stop the other at once
        raise
    wall = (time.perf_counter() - start) / len(unit.members)
    rows = []
    for chunk_rows, trained, compiles, xla in results:
        rows.extend(chunk_rows)
        teachers.update(trained)
        engine.note_compiles(compiles)
        cache.note_compiles(xla)
    for row in rows:
        row["wall_s"] = wall  # the bucket's wall time per member, as in one process
    return rows
