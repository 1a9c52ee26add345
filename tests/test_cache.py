"""simgap.cache: a program compiled by one process is loaded, not compiled, by the next."""

import json
import os
import subprocess
import sys

from simgap import cache

PROGRAM = """
import json, sys
import jax, jax.numpy as jnp
from simgap import cache
where = cache.enable_compile_cache()
f = jax.jit(lambda x: jnp.tanh(x @ x.T).sum(axis=0) * 3.0)
f(jnp.ones((64, 64))).block_until_ready()
print(json.dumps(dict(where=str(where), **cache.compile_stats())))
"""


def run(env_dir: str) -> dict:
    env = dict(os.environ, SIMGAP_CACHE_DIR=env_dir, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_every_program_from_the_cache(tmp_path):
    where = str(tmp_path / "jax")
    first, second = run(where), run(where)
    assert first["where"] == where and first["programs"] >= 1 and first["from_cache"] == 0
    assert any(os.scandir(where))  # entries written
    assert second["from_cache"] == second["programs"] == first["programs"]


def test_off_writes_nothing_and_paths_resolve(tmp_path, monkeypatch):
    assert run("off")["where"] == "None"
    monkeypatch.setenv(cache.ENV, "OFF")
    assert cache.cache_dir() is None
    monkeypatch.setenv(cache.ENV, str(tmp_path / "c"))
    assert cache.cache_dir() == tmp_path / "c" and cache.cache_dir(tmp_path / "d") == tmp_path / "d"
    monkeypatch.delenv(cache.ENV)
    assert cache.cache_dir().parts[-3:] == (".cache", "simgap", "jax")
