"""`python experiments/benchmark.py [--quick] [--json PATH]`: simgap's engine against the same
models trained one at a time (a jitted per-model JAX step in a Python loop, and plain PyTorch).

Prints, and writes to JSON: the machine's f32 matmul peak; the engine's models/s, useful
GFLOP/s (true unpadded sizes), fraction of peak, compiles and compile time on the teacher
buckets of the MLP CPU preset (configs/mlp.toml); the per-model JAX loop and PyTorch on the
same models (same init, same data stream, same optimizer: simgap.optim's AdamW) with their final losses compared; the engine on big
models (fraction of peak); run time vs number of grid cells (linear fit, compile apart); and,
end to end, the default sweep as a user runs it (`python -m simgap.sweep`, one subprocess per
run) cold (fresh compile cache) and warm (same cache again): wall time split into compile /
train / the rest, and useful FLOP/s of the whole sweep as a fraction of the peak; and the
transformer's buckets (bench_transformer.py: members in turn vs vmapped vs the JAX loop, fraction
of peak per width). `--e2e` runs only the peak and the end-to-end section, `--transformer` only
the peak and the transformer's; `--e2e-baseline SRC` sweeps an older source tree alongside.
`--devices N` splits each bucket over N host devices (default: one per core).

This file is the driver; the models trained three ways are in bench_models.py, the end-to-end
sweeps in bench_e2e.py (both beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import jax
import numpy as np

import bench_e2e  # experiments/ is on sys.path: this file runs as a script
import bench_transformer
from bench_models import engine_grid, loop_grid, matmul_peak, scaling, torch_grid
from simgap.config import CONFIG_DIR, load_config
from simgap.cpu import tune_cpu
from simgap.families import get_family


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny grid and few steps (smoke test, ~1 min)")
    p.add_argument("--json", type=Path, default=None, help="also write every figure here")
    p.add_argument("--steps", type=int, default=None, help="Adam steps per compared model (default 1000; quick 60)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per width (default: the preset's 8; quick 2)")
    p.add_argument("--devices", type=int, default=os.cpu_count() or 1,
                   help="host devices the engine shards buckets over (default: one per core, which ran the "
                        "MLP preset 1.8x faster than 1 device on 2 cores; the loop and PyTorch are unaffected)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    p.add_argument("--e2e", action="store_true",
                   help="only the peak and the end-to-end section (the whole sweep, cold and warm compile cache)")
    p.add_argument("--transformer", action="store_true",
                   help="only the peak and the transformer section (engine with members in turn vs vmapped vs "
                        "the per-model JAX loop, fraction of peak per width)")
    p.add_argument("--e2e-config", type=Path, default=None,
                   help="sweep config of the end-to-end section (default configs/default.toml; quick: a tiny grid)")
    p.add_argument("--e2e-baseline", type=Path, default=None, metavar="SRC",
                   help="also sweep with the simgap source tree in SRC (e.g. `git archive BASE | tar -x -C SRC`), "
                        "interleaved with this one, for an old-vs-new comparison in one run")
    return p.parse_args(argv)


# The MLP CPU preset: teacher widths, seeds, classes and optimizer settings come from its config.
PRESET = load_config(CONFIG_DIR / "mlp.toml")


@dataclass(frozen=True)
class Sizes:
    """What one run trains: the compared grid, the big-model grid, the time-vs-cells series."""
    widths: tuple[int, ...] = tuple(PRESET.grid.teacher_sizes)
    seeds: int = len(PRESET.grid.seeds)
    steps: int = 1000
    big_widths: tuple[int, ...] = (512, 1024)  # big enough that matmuls, not per-op overhead, set the pace
    big_seeds: int = 4
    big_steps: int = 60
    cells: tuple[int, ...] = (4, 8, 16, 32)
    cells_width: int = 32
    cells_steps: int = 300
    peak_n: int = 2048
    classes: int = PRESET.family_params["classes"]
    e2e: str = "default"  # the end-to-end section's sweep: "default" (configs/default.toml), "tiny", or "" (skip)
    transformer: bench_transformer.TransformerSizes | None = bench_transformer.TransformerSizes()  # None: skip


QUICK = Sizes(widths=(16, 64), seeds=2, steps=60, big_widths=(256,), big_seeds=2, big_steps=10,
              cells=(2, 4, 8), cells_steps=30, peak_n=1024, e2e="tiny", transformer=bench_transformer.QUICK)


# --- driver ---------------------------------------------------------------------------------

def agreement(a: dict, b: dict) -> dict:
    keys = sorted(set(a) & set(b))
    d = np.array([abs(a[k] - b[k]) for k in keys])
    return dict(compared=len(keys), max_abs_diff=float(d.max()), mean_abs_diff=float(d.mean()),
                mean_loss_a=float(np.mean([a[k] for k in keys])), mean_loss_b=float(np.mean([b[k] for k in keys])))


def run(sizes: Sizes = Sizes(), use_torch: bool = True, echo=print, e2e_only: bool = False,
        baseline: Path | None = None, transformer_only: bool = False) -> dict:
    z = sizes
    widths, seeds, steps = z.widths, z.seeds, z.steps
    family = get_family("mlp", classes=z.classes)
    train = PRESET.train
    out = dict(machine=dict(devices=len(jax.devices()), cpus=os.cpu_count(), jax=jax.__version__,
                            load_1min=os.getloadavg()[0]),
               sizes=asdict(z), batch_size=train.batch_size)
    echo(f"simgap benchmark: jax {jax.__version__}, {len(jax.devices())} device(s), {os.cpu_count()} cpus, "
         f"load {os.getloadavg()[0]:.2f}")

    peak = matmul_peak(z.peak_n)
    out["peak_gflops"] = peak
    echo(f"1. f32 matmul peak ({z.peak_n}^2 jnp.dot): {peak:.1f} GFLOP/s")
    if e2e_only:
        bench_e2e.section(out, z.e2e, baseline, echo)
        return out
    if transformer_only:
        bench_transformer.section(out, peak, z.transformer, echo)
        return out

    echo(f"   grid: MLP preset teacher widths {list(widths)} x {seeds} seeds, {steps} steps of "
         f"{train.batch_size} = {len(widths) * seeds} models")
    eng, eng_loss = engine_grid(family, widths, seeds, steps, train)
    eng["models_per_s"] = eng["models"] / eng["run_s"]
    eng["useful_gflops"] = eng["useful_flops"] / eng["run_s"] / 1e9
    eng["fraction_of_peak"] = eng["useful_gflops"] / peak
    out["engine"] = eng
    row = "   {:<14s} {:>8.2f} s run {:>7.2f} s compile ({:>3d} XLA compiles) {:>8.2f} models/s {:>7.2f} GFLOP/s"
    echo("2-4. same models, same init/data/optimizer:")
    echo(row.format("engine", eng["run_s"], eng["compile_s"], eng["xla_compiles"], eng["models_per_s"],
                    eng["useful_gflops"]) + f" = {100 * eng['fraction_of_peak']:.1f}% of peak, "
         f"{eng['bucket_compiles']} buckets {eng['buckets']}")

    loop, loop_loss = loop_grid(family, widths, seeds, steps, train)
    loop["models_per_s"] = loop["models"] / loop["run_s"]
    loop["useful_gflops"] = eng["useful_flops"] / loop["run_s"] / 1e9
    out["jax_loop"] = loop
    echo(row.format("JAX loop", loop["run_s"], loop["compile_s"], loop["xla_compiles"], loop["models_per_s"],
                    loop["useful_gflops"]))

    tch, tch_loss = torch_grid(family, widths, seeds, steps, train) if use_torch else (None, {})
    if tch is None:
        echo("   PyTorch        skipped: torch is not importable (pip install -e '.[bench]')"
             if use_torch else "   PyTorch        skipped (--no-torch)")
    else:
        tch["models_per_s"] = tch["models"] / tch["run_s"]
        tch["useful_gflops"] = eng["useful_flops"] / tch["run_s"] / 1e9
        echo(f"   {'PyTorch':<14s} {tch['run_s']:>8.2f} s run {'(eager, ' + str(tch['threads']) + ' thread(s))':>34s} "
             f"{tch['models_per_s']:>8.2f} models/s {tch['useful_gflops']:>7.2f} GFLOP/s")
    out["torch"] = tch

    out["ratios"] = dict(engine_vs_jax_loop=loop["run_s"] / eng["run_s"],
                         engine_vs_jax_loop_with_compile=loop["wall_s"] / eng["wall_s"],
                         engine_vs_torch=tch["run_s"] / eng["run_s"] if tch else None)
    r = out["ratios"]
    echo(f"5. speed-up of the engine (run time): {r['engine_vs_jax_loop']:.2f}x the JAX loop "
         f"({r['engine_vs_jax_loop_with_compile']:.2f}x with compiles)"
         + (f", {r['engine_vs_torch']:.2f}x PyTorch" if tch else ""))
    out["agreement"] = dict(engine_vs_jax_loop=agreement(eng_loss, loop_loss),
                            engine_vs_torch=agreement(eng_loss, tch_loss) if tch_loss else None)
    a = out["agreement"]
    echo(f"   final population loss, engine vs JAX loop: max |diff| {a['engine_vs_jax_loop']['max_abs_diff']:.2e} "
         f"over {a['engine_vs_jax_loop']['compared']} models (mean loss {a['engine_vs_jax_loop']['mean_loss_a']:.4f})")
    if a["engine_vs_torch"]:
        t = a["engine_vs_torch"]
        echo(f"   engine vs PyTorch (same init and batches): max |diff| {t['max_abs_diff']:.2e}, mean |diff| "
             f"{t['mean_abs_diff']:.2e} (mean loss {t['mean_loss_a']:.4f} vs {t['mean_loss_b']:.4f})")
    out["per_model_loss"] = [dict(width=w, seed=s, engine=eng_loss[(w, s)], jax_loop=loop_loss.get((w, s)),
                                  torch=tch_loss.get((w, s))) for (w, s) in sorted(eng_loss)]

    big_widths, big_seeds, big_steps = z.big_widths, z.big_seeds, z.big_steps
    big, _ = engine_grid(family, big_widths, big_seeds, big_steps, train)
    big["useful_gflops"] = big["useful_flops"] / big["run_s"] / 1e9
    big["fraction_of_peak"] = big["useful_gflops"] / peak
    big["grid"] = dict(widths=list(big_widths), seeds=big_seeds, steps=big_steps)
    out["engine_big"] = big
    echo(f"   big models (widths {list(big_widths)} x {big_seeds} seeds, {big_steps} steps): "
         f"{big['useful_gflops']:.1f} GFLOP/s = {100 * big['fraction_of_peak']:.1f}% of peak "
         f"(run {big['run_s']:.2f} s, compile {big['compile_s']:.2f} s)")

    sc = scaling(family, z.cells_width, z.cells, z.cells_steps, train)
    out["scaling"] = sc
    echo(f"   time vs cells (width {sc['width']}, {sc['steps']} steps, one bucket of n seeds): "
         + ", ".join(f"n={p['cells']}: run {p['run_s']:.2f} s + compile {p['compile_s']:.2f} s" for p in sc["points"]))
    echo(f"   fit: run = {sc['run_s_intercept']:.3f} s + {sc['run_s_per_cell']:.4f} s x cells (R^2 {sc['r2']:.3f}); "
         f"compile {sc['compile_s_mean']:.2f} s per bucket (spread {sc['compile_s_spread']:.2f} s)")
    bench_e2e.section(out, z.e2e, baseline, echo)
    if z.transformer is not None:
        bench_transformer.section(out, peak, z.transformer, echo)
    return out


def main(args) -> int:
    sizes = QUICK if args.quick else Sizes()
    sizes = replace(sizes, steps=args.steps or sizes.steps, seeds=args.seeds or sizes.seeds,
                    e2e=str(args.e2e_config) if args.e2e_config else sizes.e2e)
    out = run(sizes, use_torch=not args.no_torch, e2e_only=args.e2e, baseline=args.e2e_baseline,
              transformer_only=args.transformer)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=float))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    ARGS = parse_args()
    tune_cpu(ARGS.devices)  # before the first computation: devices, Eigen dots (simgap.cpu)
    sys.exit(main(ARGS))
