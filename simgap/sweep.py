"""`python -m simgap.sweep`: train a teacher x student grid, locate optima, fit the laws, report.

The command line of `simgap.sweep(...)` (simgap.api): it checks its arguments, answers --dry-run
itself (simgap.runner.dry_run), and otherwise calls the API, which trains and analyses.

A run directory (simgap.rundir) holds one file per finished unit (compiled bucket) and a manifest
that marks it done: killing the process loses at most the unit in flight, and re-running into the
same directory (or `--resume DIR`) finishes the rest without duplicates, retraining (with a line
saying why) any unit whose files are torn, damaged or from another config. One sweep at a time
may write a directory. Compiled programs are cached on disk across runs (simgap.cache).

Multi-host (JAX's multi-process runtime, see simgap.distributed): every process runs the same
units over one global device mesh and only process 0 writes, so the run directory must be on a
filesystem all hosts share (resume reads it on every process).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import tomllib

from simgap import api, cache, decide, distributed, rundir
from simgap.config import DEFAULT_CONFIG, ConfigError, load_config, parse_tolerances
from simgap.cpu import tune_cpu
from simgap.runner import SweepError, dry_run, preflight, run_sweep  # noqa: F401  (the sweep's work, re-exported)


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
    p.add_argument("--until-decided", action="store_true",
                   help="after the grid, add runs round by round until the law assumptions are decided (simgap.decide)")
    p.add_argument("--decide", type=lambda t: tuple(filter(None, (x.strip() for x in t.split(",")))), default=(),
                   metavar="NAME,...", help="with --until-decided: only these assumptions (default: every undecided one)")
    p.add_argument("--max-minutes", type=float, default=None, help="with --until-decided: wall-time budget (default 30)")
    p.add_argument("--max-flops", type=float, default=None, help="with --until-decided: FLOPs budget of the rounds")
    p.add_argument("--tolerance", default="", metavar="NAME=VALUE,...",
                   help="assumption-check tolerances over the config's [fit] tolerances (docs/verdicts.md)")
    return p


def _seed_count(path: Path, seeds: int | None) -> int:
    """The number of seeds a sweep asks for, read without building the grid (the dry run of an
    absurd grid answers at once); `path` has already been validated."""
    if seeds is not None:
        if seeds < 1:
            raise ConfigError(f"--seeds: expected a positive integer, got {seeds}")
        return seeds
    return tomllib.loads(Path(path).read_text())["grid"]["seeds"]


def _check_args(args) -> tuple[float, float]:
    """Refuse, in one line, the --until-decided options given without it and budgets that are not
    a positive number; returns (max minutes, max FLOPs)."""
    only = [f for f, v in (("--decide", args.decide), ("--max-minutes", args.max_minutes),
                           ("--max-flops", args.max_flops)) if v not in ((), None)]
    if only and not args.until_decided:
        raise SweepError(f"{only[0]} only applies with --until-decided")
    for flag, v in (("--max-minutes", args.max_minutes), ("--max-flops", args.max_flops)):
        if v is not None and not v > 0:
            raise SweepError(f"{flag}: expected a positive number, got {v:g}")
    decide.check_names(args.decide)
    return (30.0 if args.max_minutes is None else args.max_minutes,
            math.inf if args.max_flops is None else args.max_flops)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tune_cpu()  # one XLA device per core, Eigen dots (simgap.cpu)
    cache.enable_compile_cache()  # programs compiled by an earlier run load from disk
    distributed.initialize()  # joins a multi-process JAX runtime when launched as one (no-op otherwise)
    out = args.resume or args.out
    try:
        max_minutes, max_flops = _check_args(args)
        tolerances = parse_tolerances(args.tolerance)
        if args.resume and args.out and args.resume != args.out:
            raise SweepError("--resume DIR and --out DIR name different directories")
        if args.resume and not (args.resume / "config.toml").exists():
            raise SweepError(f"--resume {args.resume}: no config.toml there (not a sweep directory)")
        path = args.config or (args.resume / "config.toml" if args.resume else DEFAULT_CONFIG)
        if args.dry_run:  # validated on one seed, counted for all
            dry_run(load_config(path, seeds=1), _seed_count(path, args.seeds))
            if args.until_decided:
                decide.first_round_plan(load_config(path, seeds=args.seeds), out, args.decide)
            return 0
        cfg = api.resolve_config(path, seeds=args.seeds)
        out = out or api.default_out(cfg)  # named here too: an interrupted sweep says where to resume
        api.sweep(cfg, out=out, until_decided=args.until_decided, decide=args.decide, max_minutes=max_minutes,
                  max_flops=max_flops, tolerances=dict(tolerances), progress=not args.no_progress)
        return 0
    except (ConfigError, SweepError, rundir.RunDirError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # e.g. the disk filled up while the report was written
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        again = " --until-decided" if args.until_decided else ""
        print(f"\ninterrupted: finished buckets are saved; resume with --resume {out}{again}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
