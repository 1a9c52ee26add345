"""What experiments/mlp_gap.py and transformer_gap.py share: the capacity-gap search run as sweeps
(`simgap.sweep.run_sweep`, one resumable run directory per student init) and each student's U-curve
printed from the sweep's own analysis (its laws.json), so the scripts train, locate optima and
decide exactly as `python -m simgap.sweep` does. Beside them, not in simgap: it runs sweeps.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

from simgap import cache
from simgap.config import CONFIG_DIR, STUDENT_INITS, ConfigError, load_config
from simgap.cpu import tune_cpu
from simgap.families import from_config
from simgap.fit.results import StudentOptimum, ok
from simgap.fit.results_read import SettingOptima, load
from simgap.fit.verdicts import Assumption, interval
from simgap.laws import ZHANG_LINEAR
from simgap.sweep import SweepError, run_sweep

RUN_ROOT = Path("runs/gap")


def parse(argv, default: str, doc: str | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", default=default, help=f"path or name in configs/ (default {default})")
    ap.add_argument("--init", nargs="+", default=None, choices=STUDENT_INITS,
                    help="student inits to run, one sweep each (default: the config's)")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None,
                    help="one sweep directory per init under it, resumed if there (default runs/gap/<config name>)")
    ap.add_argument("--results", type=Path, nargs="+", default=None, metavar="DIR",
                    help="summarise these finished sweep directories (python -m simgap.sweep's) instead of training")
    return ap.parse_args(argv)


def train(cfg, inits: tuple[str, ...], root: Path) -> list[Path]:
    """One sweep per student init into root/<init> (finished buckets are not retrained). Teachers
    are trained in each: a teacher depends only on its size, budget and seed, so they are the same."""
    tune_cpu()  # one XLA device per core, as the sweep's command line does
    cache.enable_compile_cache()
    family = from_config(cfg)
    print(f"{cfg.name}: {family}; irreducible loss E = {family.irreducible_loss():.4f}")
    out = []
    for init in inits:
        run = root / init
        print(f"== student_init = {init}: sweep -> {run}")
        run_sweep(dataclasses.replace(cfg, grid=dataclasses.replace(cfg.grid, student_init=init)), run)
        out.append(run)
    return out


def student_lines(o: StudentOptimum, gap: Assumption | None) -> list[str]:
    """One student's optimum (in the capacity knob, T*/S in parameters beside Zhang et al.'s slope),
    the dip and the sweep's `gap_exists` verdict, then the seed-mean loss per teacher."""
    k, p = o.knob, o.params
    budget = f", budget {o.budget:g}" if math.isfinite(o.budget) else ""
    budget += f", teacher budget {o.teacher_budget:g}" if math.isfinite(o.teacher_budget) else ""
    where = "interior" if k.interior else f"edge ({k.edge})"
    verdict = f"gap_exists {gap.verdict}" if gap else "gap_exists not tested"
    sup = f"; supervised {o.supervised_loss:.4f}" if math.isfinite(o.supervised_loss) else ""
    lines = [f"student {o.student_size:g} ({o.student_params:g} params{budget}{sup}): "
             f"T* = {k.optimal_teacher:.3g} {interval(k.optimal_teacher_ci)}, {where}; dip {p.dip_depth:+.4f} "
             f"[{p.dip_ci[0]:+.4f}, {p.dip_ci[1]:+.4f}], {verdict}; T*/S in params "
             f"{p.optimal_teacher / o.student_params:.2f} {interval([c / o.student_params for c in p.optimal_teacher_ci])} "
             f"(Zhang et al.: {ZHANG_LINEAR.slope:.2f})"]
    return lines + [f"    teacher {t:<6g} loss {m:.4f} ± {se:.4f}" for t, m, se in zip(k.teacher_sizes, k.mean_loss, k.sem_loss)]


def summary(run: Path) -> list[str]:
    """A finished sweep's optima per setting (student init, λ, τ), read from its laws.json."""
    fit = load(run / "laws.json")
    lines = []
    for s in fit.settings:
        lines.append(f"== {run}: " + ", ".join(f"{k} = {v}" for k, v in s.key.items()))
        if not ok(s.optima):
            lines.append(f"no optima ({s.optima.reason if s.optima is not None else 'no teacher sizes'})")
            continue
        for o in s.optima.students:
            lines += student_lines(o, _gap_exists(fit.assumptions, s, o))
    return lines


def _gap_exists(found, s: SettingOptima, o: StudentOptimum) -> Assumption | None:
    return next((a for a in found if a.about("gap_exists", family=s.family, setting=s.key.items(),
                                             student=o.params.student_size, budget=o.params.budget,
                                             teacher_budget=o.teacher_budget)), None)


def main(argv=None, default: str = "mlp", doc: str | None = None) -> int:
    """CONFIG (a path, or a name in configs/), --init, --seeds, --out; --results DIR ... summarises."""
    args = parse(argv, default, doc)
    try:
        if args.results:
            runs = args.results
        else:
            path = Path(args.config) if args.config.endswith(".toml") else CONFIG_DIR / f"{args.config}.toml"
            cfg = load_config(path, seeds=args.seeds)
            root = args.out or RUN_ROOT / (cfg.name if args.seeds is None else f"{cfg.name}-seeds{args.seeds}")
            runs = train(cfg, tuple(args.init or (cfg.grid.student_init,)), root)
        for run in runs:
            print("\n".join(summary(run)))
    except (ConfigError, SweepError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
