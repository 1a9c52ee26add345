"""Session-wide: JAX's persistent compilation cache (simgap.cache) under the repository's ignored
`.cache/`, so a second test run (and every sweep subprocess a test starts, through
$SIMGAP_CACHE_DIR) loads compiled programs instead of compiling them again."""

import os
from pathlib import Path

from simgap import cache

if os.environ.get(cache.ENV, "").strip().lower() not in cache.OFF:
    os.environ.setdefault(cache.ENV, str(Path(__file__).resolve().parents[1] / ".cache" / "jax-tests"))
cache.enable_compile_cache()
