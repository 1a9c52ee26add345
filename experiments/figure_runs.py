"""What the figure scripts share (experiments/fig*.py, zhang_teacher_law.py): their command line and
the sweeps they train or resume. Beside them, not in simgap: it runs sweeps (an entry point)."""

from __future__ import annotations

import argparse
from pathlib import Path

from simgap import cache
from simgap.config import ConfigError, load_config
from simgap.cpu import tune_cpu
from simgap.sweep import run_sweep

SWEEP_ROOT = Path("runs/figures/sweeps")


def sweep_rows(cfg, *, sweep_dir=None, seeds: int | None = None):
    """Train (or resume: finished buckets are skipped) a loaded config's sweep; returns (rows, dir).
    The default directory is shared by name (runs/figures/sweeps/<config name>[-seedsN], `seeds`
    being the override the config was loaded with), so figure scripts on the same config (Fig. 11
    and the teacher-law plot) train it once."""
    out = Path(sweep_dir) if sweep_dir else SWEEP_ROOT / (cfg.name if seeds is None else f"{cfg.name}-seeds{seeds}")
    return run_sweep(cfg, out, progress=False, echo=lambda *_: None), out


def script_setup(doc: str, config: str, out: str, argv=None):
    """The figure scripts' shared start: --config/--out/--sweep/--seeds, every core, the compile
    cache, the config loaded (a bad one is one argparse error). Returns (parser, args, cfg)."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--config", type=Path, default=Path(config))
    p.add_argument("--out", type=Path, default=Path(out))
    p.add_argument("--sweep", type=Path, default=None, help="sweep directory (default runs/figures/sweeps/<name>)")
    p.add_argument("--seeds", type=int, default=None)
    args = p.parse_args(argv)
    tune_cpu()
    cache.enable_compile_cache()
    try:
        cfg = load_config(args.config, seeds=args.seeds)
    except ConfigError as e:
        p.error(str(e))
    return p, args, cfg
