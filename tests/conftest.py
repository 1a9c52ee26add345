"""Session-wide: JAX's persistent compilation cache (simgap.cache) under the repository's ignored
`.cache/`, so a second test run (and every sweep subprocess a test starts, through
$SIMGAP_CACHE_DIR) loads compiled programs instead of compiling them again.

And XLA's CPU backend at optimisation level 0 (unless XLA_FLAGS already sets a level): a clean
checkout's test run (CI) compiles every program cold, and the tests' programs are tiny, so LLVM's
optimisation passes cost far more than they save (a shrunk transformer preset: 63 s of compiling
→ 38 s). The programs compute the same functions; only their machine code is less optimised.
Speed is measured by experiments/benchmark.py, never here."""

import os
from pathlib import Path

FAST_COMPILE = "--xla_backend_optimization_level=0"
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE}".strip()

from simgap import cache  # noqa: E402  (after XLA_FLAGS: the backend reads it when it starts)

if os.environ.get(cache.ENV, "").strip().lower() not in cache.OFF:
    os.environ.setdefault(cache.ENV, str(Path(__file__).resolve().parents[1] / ".cache" / "jax-tests"))
cache.enable_compile_cache()
