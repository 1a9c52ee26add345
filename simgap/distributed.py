"""Devices and hosts: shard a bucket's member axis over every device, on one host or many.

Members of a bucket are independent, so the member axis is split over a 1-D mesh ('runs')
and XLA partitions the vmapped program with no communication until the results are
gathered. Multi-host uses JAX's standard multi-process runtime: every process runs the
same program on the same (deterministic) inputs over a global mesh; process 0 writes.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

AXIS = "runs"


def _cluster_detected() -> bool:
    """A multi-task Slurm or Open MPI job, which `jax.distributed.initialize()` configures itself."""
    env = os.environ
    slurm = "SLURM_JOB_ID" in env and int(env.get("SLURM_NTASKS", "1")) > 1
    ompi = "OMPI_MCA_orte_hnp_uri" in env and int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1
    return slurm or ompi


def initialize() -> bool:
    """Join the multi-process runtime when launched as one of several processes; True if joined.

    Must run before any JAX computation. JAX itself reads only JAX_COORDINATOR_ADDRESS, so the
    process count and index come from JAX_NUM_PROCESSES and JAX_PROCESS_ID here."""
    if jax.distributed.is_initialized():
        return True
    env = os.environ
    if "JAX_COORDINATOR_ADDRESS" in env:
        missing = [k for k in ("JAX_NUM_PROCESSES", "JAX_PROCESS_ID") if k not in env]
        if missing:
            raise RuntimeError(f"JAX_COORDINATOR_ADDRESS is set but {', '.join(missing)} is not")
        jax.distributed.initialize(env["JAX_COORDINATOR_ADDRESS"], int(env["JAX_NUM_PROCESSES"]),
                                   int(env["JAX_PROCESS_ID"]))
        return True
    if _cluster_detected():
        jax.distributed.initialize()
        return True
    return False


def is_writer() -> bool:
    """Only process 0 writes results, so a multi-host sweep writes each file once."""
    return jax.process_index() == 0


def mesh() -> Mesh:
    """Every device of every process on one axis: members are independent, so 1-D suffices."""
    return Mesh(np.asarray(jax.devices()), (AXIS,))


def pad_members(m, extra: int):
    """Append `extra` copies of the last member (leading axis) to every array of `m`."""
    if extra == 0:
        return m
    return jax.tree.map(lambda a: np.concatenate([a, np.repeat(a[-1:], extra, axis=0)]), m)


def shard_members(m, sharding: NamedSharding):
    """Host arrays -> global arrays split on the member axis; each process supplies only the
    slices its own devices hold (all processes hold the same full inputs)."""
    def put(a):
        a = np.asarray(a)
        return jax.make_array_from_callback(a.shape, sharding, lambda index: a[index])
    return jax.tree.map(put, m)


def gather(tree):
    """Global arrays -> full numpy arrays on every process."""
    def fetch(a):
        return np.asarray(a) if a.is_fully_addressable else multihost_utils.process_allgather(a, tiled=True)
    return jax.tree.map(fetch, tree)


def per_device(fn: Callable) -> Callable:
    """`fn(m, shared)` run by each device on its own members (shard_map over the member axis),
    for programs XLA's partitioner cannot split there (a lax.map over members: engine.Spec.sequential).
    Pass the result to `run_sharded` like any other program."""
    return jax.jit(jax.shard_map(fn, mesh=mesh(), in_specs=(P(AXIS), P()), out_specs=P(AXIS), check_vma=False))


def run_sharded(fn: Callable, m, shared=None):
    """`fn(m, shared)` with the member axis of `m` split over all devices and `shared` (arrays
    every member reads, or None) replicated on each; numpy outputs, padding dropped.

    A member count that does not divide the device count is padded with copies of the last
    member. With one device this is exactly `fn(m, shared)`."""
    devices = jax.devices()
    if len(devices) == 1:
        return gather(jax.block_until_ready(fn(m, shared)))
    n = len(jax.tree.leaves(m)[0])
    m = pad_members(jax.tree.map(np.asarray, m), -n % len(devices))
    replicated = shard_members(shared, NamedSharding(mesh(), P()))  # every device holds all of it
    out = fn(shard_members(m, NamedSharding(mesh(), P(AXIS))), replicated)
    return jax.tree.map(lambda a: a[:n], gather(out))
