"""JAX's persistent compilation cache for simgap: a bucket program is compiled once per machine.

A sweep compiles one XLA program per bucket (1-2 s each on CPU); with the cache on, a second run
of the same config, a resume, the tests and the experiments load those programs from disk
instead. Where: `path`, else `$SIMGAP_CACHE_DIR`, else `~/.cache/simgap/jax`;
`SIMGAP_CACHE_DIR=off` turns it off. Every program is cached, however small or quick to
compile (jax_persistent_cache_min_compile_time_secs = 0, min_entry_size_bytes = -1), since a
sweep's many small programs add up.

Concurrent processes may share the directory: JAX names an entry by a hash of the program, the
compile options and the JAX/XLA versions, writes only from process 0 of a multi-process run,
and never overwrites an entry; a reader that finds an unreadable entry (being written, or torn
by a killed process) warns and compiles instead, so a bad entry costs time, never a wrong
result. Deleting the directory is always safe. Do not point it at a directory others can write:
JAX runs what it loads from there.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache

ENV = "SIMGAP_CACHE_DIR"
OFF = ("off", "0", "false", "no", "none")
BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_LOOKUP, _HIT = "/jax/compilation_cache/compile_requests_use_cache", "/jax/compilation_cache/cache_hits"

_compile = {"seconds": 0.0, "compiles": 0, _LOOKUP: 0, _HIT: 0}
_listening = False


def cache_dir(path: str | os.PathLike | None = None) -> Path | None:
    """The directory the cache would use (None when turned off), without enabling it."""
    value = str(path) if path is not None else os.environ.get(ENV, "")
    if value.strip().lower() in OFF:
        return None
    return Path(value).expanduser() if value else Path.home() / ".cache" / "simgap" / "jax"


def enable_compile_cache(path: str | os.PathLike | None = None) -> Path | None:
    """Turn JAX's persistent compilation cache on (call before the first compile); returns the
    directory, or None when turned off or the directory cannot be created (then with a warning:
    a sweep without a cache is slower, not wrong). Idempotent. Also starts counting XLA compile
    time for `compile_stats`."""
    _listen()
    where = cache_dir(path)
    if where is None:
        jax.config.update("jax_enable_compilation_cache", False)
        compilation_cache.reset_cache()  # a cache opened earlier in this process is closed
        return None
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        warnings.warn(f"compile cache off: cannot create {where}: {e.strerror or e}", stacklevel=2)
        return None
    changed = jax.config.jax_compilation_cache_dir != str(where)
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(where))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    if changed:
        compilation_cache.reset_cache()  # a cache already opened elsewhere is reopened here
    return where


def compile_stats() -> dict[str, float]:
    """Since the first `enable_compile_cache`: XLA compile `seconds` (cache look-ups included),
    `programs` compiled or loaded, and of those `from_cache` (loaded from the cache)."""
    return dict(seconds=_compile["seconds"], programs=_compile["compiles"], from_cache=_compile[_HIT])


def note_compiles(stats: dict[str, float]) -> None:
    """Add a training process's `compile_stats` delta (simgap.trainers) to this process's."""
    _compile["seconds"] += stats["seconds"]
    _compile["compiles"] += stats["programs"]
    _compile[_HIT] += stats["from_cache"]


def _on_duration(event: str, duration: float, **_) -> None:
    if event == BACKEND_COMPILE_EVENT:
        _compile["seconds"] += duration
        _compile["compiles"] += 1


def _on_event(event: str, **_) -> None:
    if event in (_LOOKUP, _HIT):
        _compile[event] += 1


def _listen() -> None:
    global _listening
    if not _listening:
        jax.monitoring.register_event_duration_secs_listener(_on_duration)
        jax.monitoring.register_event_listener(_on_event)
        _listening = True
