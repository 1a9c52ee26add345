"""Member-axis sharding over forced host devices and over two processes (simgap.distributed).

The device count is fixed when JAX starts, so each check runs in a subprocess with
XLA_FLAGS=--xla_force_host_platform_device_count=N set before `import jax`."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from simgap import distributed, engine
from simgap.config import Grid, TrainSpec
from simgap.families import get_family

MLP = get_family("mlp", classes=4)
FAST = TrainSpec(learning_rate=3e-3, batch_size=64)
# 3 seeds: every bucket has 3 members, which does not divide 4 devices (padded to 4)
GRID = Grid(student_sizes=(3, 4), teacher_sizes=(6,), student_budgets=(20 * 64,),
                   teacher_budgets=(20 * 64,), seeds=(0, 1, 2))

GRID_SCRIPT = """
import json, jax
from simgap import distributed, engine
from tests.test_sharding import FAST, GRID, MLP
distributed.initialize()
rows = engine.run_grid(MLP, GRID, FAST)
if distributed.is_writer():
    print(json.dumps(dict(devices=len(jax.devices()), processes=jax.process_count(), rows=rows)))
"""

BUCKET_SCRIPT = """
import functools, json, jax, numpy as np
from simgap import distributed, engine
from tests.test_engine import bucket
spec, m, batches = bucket("supervised", [8, 5, 8, 3, 7], [0, 1, 2, 3, 4], 8, budget=20 * 64)
fn = functools.partial(engine.run_bucket, spec)
alone = jax.tree.map(np.asarray, fn(m, batches))
sharded = distributed.run_sharded(fn, m, batches)
placed = distributed.shard_members(distributed.pad_members(m, 3), jax.sharding.NamedSharding(distributed.mesh(), distributed.P("runs")))
diff = max(float(np.abs(a.astype(float) - b).max()) for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(sharded)))
print(json.dumps(dict(diff=diff, shapes=sorted({a.shape[0] for a in jax.tree.leaves(sharded)}),
                      devices_used=len(placed.seed.sharding.device_set))))
"""

SEQUENTIAL_SCRIPT = """
import json, jax, numpy as np
from simgap import distributed, engine, feed
from simgap.config import TrainSpec
from tests.test_transformer import small_family
fam, train, budget = small_family(), TrainSpec(learning_rate=1e-2, batch_size=32), 32 * 12 * 20
members = [engine.Member(16, None, budget, None, s) for s in range(2)]
out = {}
for seq in (False, True):
    spec = engine.Spec(fam, "teacher", 16, 0, budget, train.batch_size, sequential=seq)
    inputs, batches = feed.inputs(spec, members, train)
    out[seq] = distributed.run_sharded(engine.bucket_program(spec), inputs, batches)
diff = max(float(np.abs(a.astype(float) - b).max()) for a, b in zip(jax.tree.leaves(out[False]), jax.tree.leaves(out[True])))
print(json.dumps(dict(diff=diff, members=len(out[True][1]["loss"]), chosen=engine.sequential_members(fam))))
"""


def _run(script: str, devices: int, env_extra=None, timeout=120) -> subprocess.Popen:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               PYTHONPATH=root, **(env_extra or {}))
    return subprocess.Popen([sys.executable, "-c", script], cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _json(proc, timeout=150) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def _same_rows(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        for k, va in ra.items():
            if k == "wall_s":
                continue
            if isinstance(va, float):
                np.testing.assert_allclose(va, rb[k], atol=2e-5, rtol=0, err_msg=k)  # float32 summation order
            else:
                assert va == rb[k], k


@pytest.fixture(scope="module")
def single_device_rows():
    return engine.run_grid(MLP, GRID, FAST)


def test_sharded_bucket_equals_unsharded_and_drops_padding():
    got = _json(_run(BUCKET_SCRIPT, devices=4))
    assert got["devices_used"] == 4 and got["shapes"] == [5]  # 5 members padded to 8, cut back to 5
    assert got["diff"] < 2e-5


def test_members_in_turn_over_three_devices_equal_the_vmapped_bucket():
    """engine.Spec.sequential (the transformer's CPU default): each device maps over its own
    members (2 members padded to 3 devices); the numbers are the vmapped bucket's."""
    got = _json(_run(SEQUENTIAL_SCRIPT, devices=3))
    assert got["members"] == 2 and got["chosen"] is True
    assert got["diff"] < 2e-5


def test_grid_on_four_devices_gives_single_device_rows(single_device_rows):
    got = _json(_run(GRID_SCRIPT, devices=4))
    assert got["devices"] == 4
    _same_rows(got["rows"], single_device_rows)


def test_two_processes_over_a_global_mesh_give_single_device_rows(single_device_rows):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [_run(GRID_SCRIPT, devices=2, env_extra=dict(JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                                                          JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(i)))
             for i in range(2)]
    writer = _json(procs[0])
    out, err = procs[1].communicate(timeout=150)
    assert procs[1].returncode == 0, err[-3000:]
    assert not [line for line in out.splitlines() if line.startswith("{")]  # only process 0 writes
    assert writer["devices"] == 4 and writer["processes"] == 2
    _same_rows(writer["rows"], single_device_rows)


def test_helpers_without_a_cluster(monkeypatch):
    for k in ("JAX_COORDINATOR_ADDRESS", "SLURM_JOB_ID", "OMPI_MCA_orte_hnp_uri"):
        monkeypatch.delenv(k, raising=False)
    assert distributed.initialize() is False and distributed.is_writer()
    padded = distributed.pad_members({"a": np.arange(3), "b": {"c": np.ones((3, 2))}}, 2)
    assert padded["a"].tolist() == [0, 1, 2, 2, 2] and padded["b"]["c"].shape == (5, 2)
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "127.0.0.1:1")
    with pytest.raises(RuntimeError, match="JAX_NUM_PROCESSES"):
        distributed.initialize()
