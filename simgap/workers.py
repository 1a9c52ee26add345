"""Worker processes for the analysis: bootstrap refits and figures run on every core.

A sweep's analysis is single-threaded Python (L-BFGS-B refits, matplotlib), so on its own it
keeps one core busy. `map` sends independent tasks (module-level functions, picklable
arguments) to a process pool kept for the life of the process, and returns their results in
order: the same results as a plain loop. `warm_up` starts the pool in the background (the
sweep calls it before training) so the analysis does not wait for it.

Workers start from a fresh interpreter (forkserver), never a fork of a process whose JAX
threads are running, and import only the fitting and plotting code (`PRELOAD`), never the
caller's script (`hidden_main`). $SIMGAP_FIT_WORKERS sets their number (1: no pool).

Workers die with the process that started them, however it ends: each watches its parent
(`watch_parent`), so a SIGKILLed sweep leaves no worker (nor, once they are gone, the forkserver
and resource tracker that wait on them) holding its memory and its stdout. A process that exits
while the pool is still starting first lets the start finish (`_finish_starting`): no stray
multiprocessing traceback follows the caller's own error.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import select
import sys
import threading
import time
import types
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor

from threadpoolctl import threadpool_limits

from simgap.cpu import cores

PRELOAD = ["simgap.fit.resample", "simgap.plots"]
ENV = "SIMGAP_FIT_WORKERS"
_pool: dict[int, Executor] = {}
_lock = threading.Lock()
_starting: list[threading.Thread] = []


def default_workers() -> int:
    """$SIMGAP_FIT_WORKERS, else one per core (`simgap.cpu.cores`)."""
    value = os.environ.get(ENV, "")
    return max(1, int(value)) if value.strip().isdigit() else cores()


@contextlib.contextmanager
def hidden_main():
    """Start workers without the caller's __main__: multiprocessing would re-run a script's top
    level in every worker (and fail or repeat its work where it lacks a __main__ guard)."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def noop(_):
    return None


def watch_parent(pid: int) -> None:
    """End this worker as soon as process `pid` (the pool's owner) is gone, SIGKILL included:
    a worker's parent is the forkserver, which itself waits for the workers, so nothing else
    would end them. Linux: a pidfd becomes readable when the process exits; elsewhere, a poll."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(0)
    except (AttributeError, OSError):  # not Linux >= 5.3
        while True:
            time.sleep(1.0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass
    select.select([fd], [], [])
    os._exit(0)


def _worker_init(parent: int):
    """Watch the parent (`watch_parent`), and one BLAS thread per worker: the workers already
    fill the cores, and BLAS threads spinning against each other made small fits many times
    slower (see simgap.fit.solver.one_blas_thread)."""
    threading.Thread(target=watch_parent, args=(parent,), daemon=True).start()
    threadpool_limits(limits=1, user_api="blas")


def _executor(workers: int) -> Executor:
    """The process's pool of `workers`, created once; all its workers are started here."""
    with _lock:
        if workers not in _pool:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                       initargs=(os.getpid(),))
            with hidden_main():  # one task per worker starts every worker now
                for f in [pool.submit(noop, i) for i in range(workers)]:
                    f.result()
            _pool[workers] = pool
        return _pool[workers]


def _start_quietly(workers: int) -> None:
    """A background start that fails (e.g. the interpreter is already exiting) stays silent:
    `map` starts the pool itself when it is needed, and says why if it cannot."""
    try:
        _executor(workers)
    except Exception:
        pass


def _finish_starting() -> None:
    """At exit, let a pool still starting finish before concurrent.futures stops the pools
    (it then stops this one cleanly). Otherwise the start is cut short: a worker already
    launched finds the pool's semaphores removed and prints a multiprocessing traceback after the
    caller's own error. Registered like concurrent.futures' own exit hook, so it runs first."""
    for thread in _starting:
        thread.join()


def warm_up(workers: int | None = None) -> None:
    """Start the pool in a background thread (forkserver start-up and imports take ~1 s)."""
    workers = default_workers() if workers is None else workers
    if workers > 1:
        if not _starting:
            getattr(threading, "_register_atexit", atexit.register)(_finish_starting)
        thread = threading.Thread(target=_start_quietly, args=(workers,), daemon=True)
        _starting.append(thread)
        thread.start()


def map(fn: Callable, items: Iterable, *, workers: int | None = None, min_items: int = 2) -> list:
    """[fn(x) for x in items], on `workers` processes (default `default_workers()`) when there
    are at least `min_items`; in this process otherwise, and always inside a worker (no pools
    of pools)."""
    items = list(items)
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(items) < min_items or multiprocessing.parent_process() is not None:
        return [fn(x) for x in items]
    return list(_executor(workers).map(fn, items, chunksize=max(1, len(items) // (4 * workers))))
