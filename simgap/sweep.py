"""`python -m simgap.sweep`: train a teacher x student grid, locate optima, fit the laws, report.

A run directory holds one file per finished unit (compiled bucket): `units/<uid>.csv`, plus
`teachers/<uid>.npz` for teacher units. Each is written atomically and the unit's CSV is written
last, so its presence marks the unit done: killing the process loses at most the unit in flight,
and re-running into the same directory (or `--resume DIR`) finishes the rest without duplicates.

Multi-host (JAX's multi-process runtime, see simgap.distributed): every process runs the same
units over one global device mesh and only process 0 writes, so the run directory must be on a
filesystem all hosts share (resume reads it on every process).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import MutableMapping
from pathlib import Path

import numpy as np
import tomli_w
import tomllib

from simgap import distributed, engine, rows as rows_lib
from simgap.config import DEFAULT_CONFIG, ConfigError, SweepConfig, load_config, parse_config

# Rough CPU throughput for the dry-run estimate, measured on the default sweep (2 cores: 1.2e13
# padded FLOPs in 136 s over 2 CPU devices, compiles included), plus compile and analysis costs.
_EST_FLOPS_PER_S = 8e10
_EST_COMPILE_S = 1.0
_EST_ANALYSIS_S = 30.0


class SweepError(RuntimeError):
    """A sweep cannot start or resume; the message says why."""


class TeacherStore(MutableMapping):
    """Teacher params by TeacherKey, persisted per teacher unit as one .npz (for resume)."""

    def __init__(self, folder: Path, done_uids: set[str]):
        self.folder = folder
        self._params: dict[tuple, dict[str, np.ndarray]] = {}
        for path in sorted(folder.glob("*.npz")):
            if path.stem in done_uids:
                self._load(path)

    def _load(self, path: Path) -> None:
        with np.load(path) as npz:
            for name in npz.files:
                key_str, leaf = name.split("::", 1)
                key = tuple(int(x) for x in key_str.split("_"))
                self._params.setdefault(key, {})[leaf] = npz[name]

    def save(self, uid: str, keys) -> None:
        arrays = {f"{'_'.join(str(int(k)) for k in key)}::{leaf}": np.asarray(v)
                  for key in keys for leaf, v in self._params[key].items()}
        tmp = self.folder / f".{uid}.tmp.npz"
        np.savez(tmp, **arrays)
        tmp.replace(self.folder / f"{uid}.npz")

    def __getitem__(self, key):
        return self._params[key]

    def __setitem__(self, key, value):
        self._params[tuple(int(k) for k in key)] = {k: np.asarray(v) for k, v in value.items()}

    def __delitem__(self, key):
        del self._params[key]

    def __iter__(self):
        return iter(self._params)

    def __len__(self):
        return len(self._params)


def _resolved_toml(cfg: SweepConfig) -> str:
    return tomli_w.dumps(cfg.to_dict())


def prepare_run_dir(cfg: SweepConfig, out: Path) -> None:
    """Create the run directory, or check that an existing one was made by the same config."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "units").mkdir(exist_ok=True)
    (out / "teachers").mkdir(exist_ok=True)
    path = out / "config.toml"
    resolved = _resolved_toml(cfg)
    if path.exists():
        old, new = tomllib.loads(path.read_text()), tomllib.loads(resolved)
        if old != new:
            diff = _diff_keys(old, new)
            raise SweepError(f"{out} was started with a different config (differs in: {', '.join(diff)}); "
                             "refusing to mix results. Use a new --out, or the same config to resume.")
    else:
        rows_lib.atomic_write_text(path, resolved)


def _diff_keys(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            out += _diff_keys(a[k], b[k], f"{prefix}{k}.")
        elif a.get(k) != b.get(k):
            out.append(f"{prefix}{k}")
    return out


def collect_rows(out: Path, units) -> list[dict]:
    rows = []
    for unit in units:
        path = out / "units" / f"{unit.uid}.csv"
        if path.exists():
            rows += rows_lib.read_csv(path)
    return rows


def run_sweep(cfg: SweepConfig, out: Path, progress: bool = True, echo=print) -> list[dict]:
    """Train every unit not yet done in `out`, then analyse; returns all result rows."""
    from tqdm import tqdm

    from simgap.families import get_family

    writer = distributed.is_writer()  # multi-host: every process trains, process 0 writes
    if writer:
        prepare_run_dir(cfg, out)
    family = get_family(cfg.family, **cfg.family_params)
    units = engine.plan(family, cfg.grid, cfg.train)
    done = {u.uid for u in units if (out / "units" / f"{u.uid}.csv").exists()}
    teachers = TeacherStore(out / "teachers", done)
    total = sum(len(u.members) for u in units)
    already = sum(len(u.members) for u in units if u.uid in done)
    if done:
        echo(f"resuming {out}: {len(done)}/{len(units)} buckets already done")
    compiles0 = engine.compile_count()
    bar = tqdm(total=total, initial=already, unit="run", disable=not (progress and writer), file=sys.stderr,
               dynamic_ncols=True)
    t_start = time.perf_counter()
    for i, unit in enumerate(units):
        if unit.uid in done:
            continue
        t0 = time.perf_counter()
        before = set(teachers)
        unit_rows = engine.run_unit(family, unit, cfg.grid, cfg.train, teachers)
        if not writer:
            continue
        if unit.kind == "teacher":
            teachers.save(unit.uid, sorted(set(teachers) - before))
        rows_lib.atomic_write_text(out / "units" / f"{unit.uid}.csv", rows_lib.to_csv(unit_rows))
        rows_lib.atomic_write_text(out / "results.csv", rows_lib.to_csv(collect_rows(out, units)))
        n_div = sum(bool(r["diverged"]) for r in unit_rows)
        bar.update(len(unit.members))
        bar.write(f"[{i + 1}/{len(units)}] {unit.uid}: {len(unit.members)} runs in "
                  f"{time.perf_counter() - t0:.1f} s" + (f", {n_div} DIVERGED" if n_div else ""))
    bar.close()
    if not writer:
        return []
    all_rows = collect_rows(out, units)
    rows_lib.atomic_write_text(out / "results.csv", rows_lib.to_csv(all_rows))
    echo(f"trained {total - already} runs in {time.perf_counter() - t_start:.1f} s "
         f"({engine.compile_count() - compiles0} compiles)")
    from simgap.report import analyze
    analyze(cfg, all_rows, out, echo=echo)
    return all_rows


def dry_run(cfg: SweepConfig, echo=print) -> None:
    from simgap.families import get_family

    family = get_family(cfg.family, **cfg.family_params)
    units = engine.plan(family, cfg.grid, cfg.train)
    g = cfg.grid
    echo(f"config {cfg.name} ({cfg.source}): family {cfg.family} {cfg.family_params}")
    echo(f"  students {list(g.student_sizes)}  budgets {list(g.student_budgets)}  init {g.student_init}")
    echo(f"  teachers {list(g.teacher_sizes)}  budgets {list(g.teacher_budgets)}")
    echo(f"  seeds {len(g.seeds)}  supervised baselines {g.supervised}")
    for kind in ("teacher", "supervised", "distilled"):
        ks = [u for u in units if u.kind == kind]
        echo(f"  {kind:10s} {sum(len(u.members) for u in ks):6d} runs in {len(ks)} buckets")
    flops = sum(engine.estimate_flops(family, u, cfg.grid, cfg.train) for u in units)
    est = flops / _EST_FLOPS_PER_S + _EST_COMPILE_S * len(units) + _EST_ANALYSIS_S
    echo(f"  total {sum(len(u.members) for u in units)} runs, {len(units)} compiles, "
         f"{flops:.3g} FLOPs, rough CPU estimate {est / 60:.1f} min")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m simgap.sweep", description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=None,
                   help=f"sweep config TOML (default: {DEFAULT_CONFIG.relative_to(DEFAULT_CONFIG.parent.parent)})")
    p.add_argument("--out", type=Path, default=None,
                   help="run directory (default runs/<config-name>-<timestamp>); an existing one is resumed")
    p.add_argument("--resume", type=Path, default=None, metavar="DIR",
                   help="finish an interrupted sweep in DIR (its config.toml is used unless --config is given)")
    p.add_argument("--seeds", type=int, default=None, help="override the config's number of seeds")
    p.add_argument("--dry-run", action="store_true", help="print the grid, runs, compiles and a time estimate")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def use_every_core() -> None:
    """On CPU, one XLA device per core, so buckets are split over cores (simgap.distributed):
    one CPU device keeps both cores busy only on big ops (1.8x on the MLP preset, see
    experiments/benchmark.py). No effect on GPU/TPU, or once JAX has started, or when XLA_FLAGS
    already sets a host device count."""
    import os

    import jax

    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    try:
        jax.config.update("jax_num_cpu_devices", len(os.sched_getaffinity(0)))
    except (RuntimeError, AttributeError, ValueError):
        pass  # the backend is already initialised (e.g. called from a notebook): keep its devices


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    use_every_core()
    distributed.initialize()  # joins a multi-process JAX runtime when launched as one (no-op otherwise)
    try:
        out = args.resume or args.out
        if args.resume and args.out and args.resume != args.out:
            raise SweepError("--resume DIR and --out DIR name different directories")
        if args.resume and not (args.resume / "config.toml").exists():
            raise SweepError(f"--resume {args.resume}: no config.toml there (not a sweep directory)")
        if args.config is None and args.resume is not None:
            saved = tomllib.loads((args.resume / "config.toml").read_text())
            cfg = parse_config(saved, source=str(args.resume / "config.toml"), seeds=args.seeds)
        else:
            cfg = load_config(args.config or DEFAULT_CONFIG, seeds=args.seeds)
        if args.dry_run:
            dry_run(cfg)
            return 0
        out = out or Path("runs") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        print(f"sweep {cfg.name} -> {out}")
        run_sweep(cfg, out, progress=not args.no_progress)
        print(f"done: {out / 'report.md'}")
        return 0
    except (ConfigError, SweepError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished buckets are saved; resume with --resume {out}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
