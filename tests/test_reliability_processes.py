"""Hangs and stray processes (issue 18): a sharded kernel bucket that deadlocked, and analysis
workers that outlived a killed sweep. Each check runs in a subprocess with a timeout, so a
regression fails instead of hanging the suite."""

import os
import subprocess
import sys
from pathlib import Path

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
    unit = engine.Unit("u", "teacher", tuple((25, None, 500, None, s) for s in seeds), ())
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
