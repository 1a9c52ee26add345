"""Worker processes for the analysis: bootstrap refits and figures run on every core.

A sweep's analysis is single-threaded Python (L-BFGS-B refits, matplotlib), so on its own it
keeps one core busy. `map` sends independent tasks (module-level functions, picklable
arguments) to a process pool kept for the life of the process, and returns their results in
order: the same results as a plain loop. `warm_up` starts the pool in the background (the
sweep calls it before training) so the analysis does not wait for it.

Workers start from a fresh interpreter (forkserver), never a fork of a process whose JAX
threads are running, and import only the fitting and plotting code (`PRELOAD`), never the
caller's script (`_hidden_main`). $SIMGAP_FIT_WORKERS sets their number (1: no pool).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
import types
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor

PRELOAD = ["simgap.fit.resample", "simgap.plots"]
ENV = "SIMGAP_FIT_WORKERS"
_pool: dict[int, Executor] = {}
_lock = threading.Lock()


def default_workers() -> int:
    """$SIMGAP_FIT_WORKERS, else one per core (`simgap.cpu.cores`)."""
    from simgap.cpu import cores

    value = os.environ.get(ENV, "")
    return max(1, int(value)) if value.strip().isdigit() else cores()


@contextlib.contextmanager
def _hidden_main():
    """Start workers without the caller's __main__: multiprocessing would re-run a script's top
    level in every worker (and fail or repeat its work where it lacks a __main__ guard)."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _noop(_):
    return None


def _worker_init():
    """One BLAS thread per worker: the workers already fill the cores, and BLAS threads spinning
    against each other made small fits many times slower (see simgap.fit.solver.one_blas_thread)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _executor(workers: int) -> Executor:
    """The process's pool of `workers`, created once; all its workers are started here."""
    with _lock:
        if workers not in _pool:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init)
            with _hidden_main():  # one task per worker starts every worker now
                for f in [pool.submit(_noop, i) for i in range(workers)]:
                    f.result()
            _pool[workers] = pool
        return _pool[workers]


def warm_up(workers: int | None = None) -> None:
    """Start the pool in a background thread (forkserver start-up and imports take ~1 s)."""
    workers = default_workers() if workers is None else workers
    if workers > 1:
        threading.Thread(target=_executor, args=(workers,), daemon=True).start()


def map(fn: Callable, items: Iterable, *, workers: int | None = None, min_items: int = 2) -> list:
    """[fn(x) for x in items], on `workers` processes (default `default_workers()`) when there
    are at least `min_items`; in this process otherwise, and always inside a worker (no pools
    of pools)."""
    items = list(items)
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(items) < min_items or multiprocessing.parent_process() is not None:
        return [fn(x) for x in items]
    return list(_executor(workers).map(fn, items, chunksize=max(1, len(items) // (4 * workers))))
