"""Hangs and stray processes (issue 18): a sharded kernel bucket that deadlocked, and analysis
workers that outlived a killed sweep. Each check runs in a subprocess with a timeout, so a
regression fails instead of hanging the suite."""

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Two CPU devices on two cores (XLA sizes its thread pool by the cores it may run on), and a
# sampled kernel teacher bucket of 6 members: 3 per device. The deadlock needed both devices in
# LAPACK at once, so the bucket runs three times (one compile) to leave a loaded machine no escape.
SAMPLED_BUCKET = """
import os
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
from simgap.cpu import tune_cpu
tune_cpu(devices=2)
import jax
from simgap import engine
from simgap.families import get_family
family = get_family("kernel", mode="sampled", coefficients=50)
rows = []
for seeds in (range(6), range(6, 12), range(12, 18)):
    unit = engine.Unit("u", "teacher", tuple(engine.Member(25, None, 500, None, s) for s in seeds), ())
    grid = engine.Grid((25,), (25,), (500,), (500,), tuple(seeds))
    rows += engine.run_unit(family, unit, grid, engine.TrainSpec(), {})
print(len(jax.devices()), len(rows), all(r["teacher_loss"] > 0 for r in rows))
"""


def python(script: str, timeout: float, **env) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"} | {"PYTHONPATH": str(ROOT), **env}
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_sampled_kernel_bucket_sharded_over_two_devices_finishes():
    """jaxlib's batched LAPACK eigh split the batch over the XLA thread pool and blocked a pool
    thread waiting: with one bucket on each of 2 devices (2 cores) both waited for ever."""
    done = python(SAMPLED_BUCKET, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["2", "18", "True"]


POOL_THEN_WAIT = """
import time
from simgap import workers
workers.warm_up(2)
print(sum(workers.map(abs, range(-8, 0), workers=2)), flush=True)  # the pool is up
time.sleep(300)
"""


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid` (Linux /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_a_sigkilled_parent_and_release_its_stdout():
    """`(sweep | cat > log; echo done) &` then kill -9 of the sweep: the forkserver, the workers
    and the resource tracker held the pipe open for 10+ minutes and "done" never printed."""
    env = {k: v for k, v in os.environ.items()} | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", POOL_THEN_WAIT], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    helpers: set[int] = set()
    try:
        assert proc.stdout.readline().strip() == "36"
        helpers = _descendants(proc.pid)
        assert len(helpers) >= 3  # forkserver, 2 workers (and the resource tracker)
        os.kill(proc.pid, signal.SIGKILL)
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready and proc.stdout.read() == "", "the killed sweep's stdout is still held open"
        deadline = time.monotonic() + 10
        while any(map(_alive, helpers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in helpers if _alive(p)]
    finally:
        proc.kill()
        proc.wait()
        for p in filter(_alive, helpers):  # a regression must not leave them to the next test
            os.kill(p, signal.SIGKILL)


def test_a_crash_while_the_pool_starts_prints_only_its_own_traceback():
    """An error ~0.2 s after warm_up: a starting worker found the pool's semaphores removed and
    printed a second, multiprocessing traceback (FileNotFoundError)."""
    done = python("import time\nfrom simgap import workers\nworkers.warm_up(2)\ntime.sleep(0.2)\n"
                  "raise RuntimeError('boom')", timeout=60)
    assert done.returncode == 1
    assert done.stderr.count("Traceback") == 1, done.stderr[-2000:]
    assert done.stderr.rstrip().endswith("RuntimeError: boom")
