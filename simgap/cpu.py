"""How simgap runs XLA on a CPU: one device per core, and Eigen rather than YNNPACK for dots.

Both are set by `tune_cpu()` before JAX starts its backend (the sweep, the figure scripts and
the benchmark call it first); neither has any effect on GPU/TPU.

- One XLA device per core: a bucket's members are split over cores (simgap.distributed). One
  CPU device keeps both cores busy only on big ops (1.8x on the MLP preset, measured by
  experiments/benchmark.py).
- Eigen dots (`--xla_cpu_experimental_ynn_fusion_type=`): XLA:CPU (jaxlib 0.10) hands dots and
  reductions to YNNPACK by default. On simgap's small vmapped MLP steps Eigen was faster on every
  bucket of the default sweep, measured on this repository's 2-core CPU (600 steps, one bucket
  at a time, after compilation): teacher w128 6.44 -> 6.05 ms/step, distilled s32 8.24 -> 7.18,
  distilled s8 2.14 -> 1.62, supervised w32 1.10 -> 0.92. Results differ only in float32
  summation order (tests/test_cpu.py). A user's own setting of the flag is kept; so is an
  `XLA_FLAGS` that names the host device count.
"""

from __future__ import annotations

import os

YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
EIGEN_DOTS = f"{YNN_FLAG}="  # empty list: no op is handed to YNNPACK


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def tune_cpu(devices: int | None = None, eigen_dots: bool = True) -> None:
    """One XLA CPU device per core (or `devices`) and, unless told otherwise, Eigen dots.
    Call before JAX's first computation; afterwards (e.g. from a notebook that already ran JAX)
    it changes nothing and says nothing: a sweep is then slower, never different in kind."""
    # lazy: simgap.workers imports this module (for `cores`) in every analysis worker process,
    # which never runs JAX; importing jax costs 1.1 s CPU and 186 MB per process, against 1.2 s
    # and 138 MB for a worker's whole preload (measured on the 2-core CPU, jaxlib 0.10).
    import jax

    flags = os.environ.get("XLA_FLAGS", "")
    if eigen_dots and YNN_FLAG not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {EIGEN_DOTS}".strip()
    if "xla_force_host_platform_device_count" in flags:
        return
    try:
        jax.config.update("jax_num_cpu_devices", devices or cores())
    except (RuntimeError, AttributeError, ValueError):
        pass  # the backend is already initialised: keep its devices
