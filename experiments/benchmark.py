"""`python experiments/benchmark.py [--quick] [--json PATH]`: simgap's engine against the same
models trained one at a time (a jitted per-model JAX step in a Python loop, and plain PyTorch).

Prints, and writes to JSON: the machine's f32 matmul peak; the engine's models/s, useful
GFLOP/s (true unpadded sizes), fraction of peak, compiles and compile time on the teacher
buckets of the MLP CPU preset (configs/mlp.toml); the per-model JAX loop and PyTorch on the
same models (same init, same data stream, same optimizer: simgap.optim's AdamW) with their final losses compared; the engine on big
models (fraction of peak); run time vs number of grid cells (linear fit, compile apart); and,
end to end, the default sweep as a user runs it (`python -m simgap.sweep`, one subprocess per
run) cold (fresh compile cache) and warm (same cache again): wall time split into compile /
train / the rest, and useful FLOP/s of the whole sweep as a fraction of the peak. `--e2e` runs
only the peak and that section; `--e2e-baseline SRC` sweeps an older source tree alongside.
`--devices N` splits each bucket over N host devices (default: one per core).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from simgap import engine, optim
from simgap.cpu import tune_cpu
from simgap.config import CONFIG_DIR, load_config
from simgap.families import get_family
from simgap.families.mlp import all_inputs


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


QUICK = Sizes(widths=(16, 64), seeds=2, steps=60, big_widths=(256,), big_seeds=2, big_steps=10,
              cells=(2, 4, 8), cells_steps=30, peak_n=1024, e2e="tiny")

# The quick/test end-to-end sweep: default.toml's problem on a grid of 4 buckets (teachers w4 and
# w8, students w8 supervised and distilled) and a few seconds.
TINY_E2E = {"name": "tiny-e2e", "family": "mlp", "family_params": {"classes": 4},
            "grid": {"student_sizes": [7, 8], "teacher_sizes": [4, 7, 8], "student_budgets": [512 * 20],
                     "teacher_budgets": [512 * 20], "seeds": 2},
            "train": {"learning_rate": 3e-3, "batch_size": 512}, "fit": {"bootstrap": 0}}


def e2e_config(sizes: Sizes, workdir: Path) -> Path:
    """The config file the end-to-end section sweeps."""
    if sizes.e2e == "default":
        return CONFIG_DIR / "default.toml"
    if sizes.e2e == "tiny":
        import tomli_w

        path = workdir / "tiny-e2e.toml"
        path.write_text(tomli_w.dumps(TINY_E2E))
        return path
    return Path(sizes.e2e)


# --- compile accounting ---------------------------------------------------------------------

_COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration",
                   "/jax/core/compile/jaxpr_to_mlir_module_duration",
                   "/jax/core/compile/backend_compile_duration")
_compile = {"seconds": 0.0, "backend_compiles": 0}


def _on_event(event, duration, **_):
    if event in _COMPILE_EVENTS:
        _compile["seconds"] += duration
        _compile["backend_compiles"] += event == _COMPILE_EVENTS[-1]


jax.monitoring.register_event_duration_secs_listener(_on_event)


def timed(fn, *args):
    """(result, wall seconds, of which compiling seconds, XLA compiles) of one blocking call."""
    c0, n0 = _compile["seconds"], _compile["backend_compiles"]
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    wall = time.perf_counter() - t0
    return out, wall, _compile["seconds"] - c0, _compile["backend_compiles"] - n0


# --- 1. peak --------------------------------------------------------------------------------

def matmul_peak(n: int = 2048, reps: int = 10) -> float:
    """Best-of-reps f32 GFLOP/s of one n x n jnp.dot (all cores)."""
    a = jax.random.normal(jax.random.key(0), (n, n))
    b = jax.random.normal(jax.random.key(1), (n, n))
    dot = jax.jit(jnp.dot)
    dot(a, b).block_until_ready()
    best = min(timed(dot, a, b)[1] for _ in range(reps))
    return 2 * n**3 / best / 1e9


# --- 2. the engine --------------------------------------------------------------------------

def engine_grid(family, widths, seeds, steps, train):
    """Teacher buckets of `widths` x `seeds` through engine.run_unit, as a sweep runs them."""
    grid = engine.Grid(student_sizes=(), teacher_sizes=tuple(widths), student_budgets=(),
                       teacher_budgets=(steps * train.batch_size,), seeds=tuple(range(seeds)),
                       supervised=False)
    units = engine.plan(family, grid, train)
    buckets0 = engine.compile_count()
    wall = compile_s = 0.0
    compiles = 0
    losses, flops = {}, 0.0
    for unit in units:
        rows, w, c, n = timed(engine.run_unit, family, unit, grid, train, {})
        wall, compile_s, compiles = wall + w, compile_s + c, compiles + n
        for r in rows:
            losses[(r["teacher_size"], r["seed"])] = r["teacher_loss"]
            flops += r["flops"]  # family.train_flops of the true (unpadded) width
    return dict(models=len(losses), buckets=[u.uid for u in units], wall_s=wall, compile_s=compile_s,
                run_s=wall - compile_s, bucket_compiles=engine.compile_count() - buckets0,
                xla_compiles=compiles, useful_flops=flops), losses


# --- 3. per-model JAX loop ------------------------------------------------------------------

def make_step(family, width: int, steps: int, train):
    """What a JAX user writes by hand: one jitted step of the engine's optimizer, donated state."""
    opt = optim.adamw(steps, train.learning_rate, train.warmup_frac, train.weight_decay)

    def loss_fn(p, x, y):
        return family.loss(family.apply(p, x, width), y)

    def step(p, s, data_key, t):
        x, y = family.sample({}, jax.random.fold_in(data_key, t), train.batch_size)
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s, loss

    init = jax.jit(lambda key: family.init(key, width, width))
    evaluate = jax.jit(lambda p: family.evaluate({}, p, width, None, None)["loss"])
    return init, jax.jit(step, donate_argnums=(0, 1)), evaluate, opt


def loop_train(fns, seed: int, steps: int):
    init, step, evaluate, opt = fns
    keys = engine.streams(seed)
    p = init(keys["teacher_init"])
    s = opt.init(p)
    for t in range(steps):
        p, s, _ = step(p, s, keys["teacher_data"], t)
    return float(evaluate(p))


def loop_grid(family, widths, seeds, steps, train):
    wall = compile_s = 0.0
    compiles = 0
    losses = {}
    for width in widths:
        fns = make_step(family, width, steps, train)
        for seed in range(seeds):
            losses[(width, seed)], w, c, n = timed(loop_train, fns, seed, steps)
            wall, compile_s, compiles = wall + w, compile_s + c, compiles + n
    return dict(models=len(losses), wall_s=wall, compile_s=compile_s, run_s=wall - compile_s,
                xla_compiles=compiles), losses


# --- 4. PyTorch -----------------------------------------------------------------------------

_LAYERS = ("hidden1", "hidden2", "out")


def torch_inputs(family, width: int, seed: int, steps: int, train):
    """The JAX run's initial params, batch indices and learning rates, so PyTorch trains the
    same model on the same data (made outside the timed region)."""
    keys = engine.streams(seed)
    init = jax.jit(lambda key: family.init(key, width, width))(keys["teacher_init"])
    n_inputs = len(all_inputs(family.classes)[1])
    idx = jax.jit(jax.vmap(lambda t: jax.random.randint(jax.random.fold_in(keys["teacher_data"], t),
                                                        (train.batch_size,), 0, n_inputs)))(jnp.arange(steps))
    lrs = optim.one_cycle(steps, train.learning_rate, train.warmup_frac)(jnp.arange(steps))
    return {k: np.asarray(v) for k, v in init.items()}, np.asarray(idx), np.asarray(lrs, np.float64)


def torch_train(torch, classes: int, init, idx, lrs, weight_decay: float = 0.0) -> float:
    """Plain PyTorch: the same MLP, torch.optim.AdamW (decoupled decay, as simgap.optim), one
    model at a time."""
    F = torch.nn.functional
    x_np, y_np = all_inputs(classes)
    x_all, y_all = torch.from_numpy(x_np), torch.from_numpy(y_np).long()
    params = [torch.tensor(init[f"{layer}/{name}"], requires_grad=True) for layer in _LAYERS
              for name in ("kernel", "bias")]
    w1, b1, w2, b2, w3, b3 = params
    forward = lambda x: F.relu(F.relu(x @ w1 + b1) @ w2 + b2) @ w3 + b3
    opt = torch.optim.AdamW(params, lr=float(lrs[0]), betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay)
    idx = torch.from_numpy(np.array(idx, np.int64))
    for t in range(len(lrs)):
        opt.param_groups[0]["lr"] = float(lrs[t])
        loss = F.cross_entropy(forward(x_all[idx[t]]), y_all[idx[t]])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(F.cross_entropy(forward(x_all), y_all))


def _fastest_threads(torch, family, width: int, train, probe_steps: int = 30) -> int:
    """Intra-op threads that train `width` fastest: on 2 shared cores, torch's spinning OpenMP
    pool can run 10x slower with 2 threads than with 1, and the baseline should be torch at its best."""
    inputs = torch_inputs(family, width, 0, probe_steps, train)
    best = {}
    for n in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(n)
        t0 = time.perf_counter()
        torch_train(torch, family.classes, *inputs, train.weight_decay)
        best[n] = time.perf_counter() - t0
    return min(best, key=best.get)


def torch_grid(family, widths, seeds, steps, train):
    try:
        import torch
    except ImportError:
        return None, {}
    threads = _fastest_threads(torch, family, max(widths), train)
    torch.set_num_threads(threads)
    wall = 0.0
    losses = {}
    for width in widths:
        for seed in range(seeds):
            inputs = torch_inputs(family, width, seed, steps, train)
            t0 = time.perf_counter()
            losses[(width, seed)] = torch_train(torch, family.classes, *inputs, train.weight_decay)
            wall += time.perf_counter() - t0
    return dict(models=len(losses), wall_s=wall, run_s=wall, threads=torch.get_num_threads(),
                version=torch.__version__), losses


# --- 5. time vs grid cells ------------------------------------------------------------------

def scaling(family, width: int, cells, steps: int, train):
    """One bucket of `n` members (seeds) for each n: compile cost constant, run time linear in n."""
    points = []
    for n in cells:
        stats, _ = engine_grid(family, (width,), n, steps, train)
        points.append(dict(cells=n, compile_s=stats["compile_s"], run_s=stats["run_s"]))
    n = np.array([p["cells"] for p in points], float)
    run = np.array([p["run_s"] for p in points])
    slope, intercept = np.polyfit(n, run, 1)
    fit = slope * n + intercept
    r2 = 1 - ((run - fit) ** 2).sum() / max(((run - run.mean()) ** 2).sum(), 1e-30)
    return dict(width=width, steps=steps, points=points, run_s_per_cell=slope, run_s_intercept=intercept,
                r2=r2, compile_s_mean=float(np.mean([p["compile_s"] for p in points])),
                compile_s_spread=float(np.ptp([p["compile_s"] for p in points])))


# --- 6. the whole sweep, end to end -------------------------------------------------------------

_TRAINED = re.compile(r"trained (\d+) runs in ([\d.]+) s \((\d+) compiles; XLA compilation ([\d.]+) s, "
                      r"(\d+) of (\d+) programs from the compile cache\)")
_ANALYSIS = re.compile(r"^analysis ([\d.]+) s$", re.M)


def sweep_once(src: Path, config: Path, cache_dir: Path, out: Path) -> dict:
    """One `python -m simgap.sweep` of the code in `src` into a fresh `out`, compile cache in
    `cache_dir`: wall time (process start to exit) split as the sweep prints it."""
    env = dict(os.environ, PYTHONPATH=str(src), SIMGAP_CACHE_DIR=str(cache_dir), PYTHONUNBUFFERED="1")
    env.pop("XLA_FLAGS", None)  # the user's own flags only, not what tune_cpu added here: each tree sets its own
    if USER_XLA_FLAGS is not None:
        env["XLA_FLAGS"] = USER_XLA_FLAGS
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "simgap.sweep", "--config", str(config), "--out", str(out),
                           "--no-progress"], capture_output=True, text=True, env=env, cwd=src)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"sweep of {src} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    m = _TRAINED.search(proc.stdout)
    if m is None:
        raise RuntimeError(f"sweep of {src} printed no 'trained ... runs' line:\n{proc.stdout[-2000:]}")
    runs, training, compiles, xla, hits, programs = (float(g) for g in m.groups())
    analysis = _ANALYSIS.search(proc.stdout)
    with open(out / "results.csv") as f:
        useful = sum(float(r["flops"]) for r in csv.DictReader(f))
    return dict(wall_s=wall, training_s=training, compile_s=xla, train_s=training - xla,
                analysis_s=float(analysis.group(1)) if analysis else None,  # older code: in rest_s
                rest_s=wall - training, runs=int(runs), compiles=int(compiles), xla_programs=int(programs),
                from_cache=int(hits), useful_flops=useful, load_1min=load)


def end_to_end(config: Path, sources: dict[str, Path], peak_gflops: float, workdir: Path, echo=print) -> dict:
    """Each source tree's sweep of `config` cold (fresh compile cache) then warm (same cache, fresh
    run directory), interleaved (cold a, cold b, warm a, warm b) so the machine's load hits all alike."""
    runs: dict[str, dict] = {name: {} for name in sources}
    for phase in ("cold", "warm"):
        for name, src in sources.items():
            r = sweep_once(src, config, workdir / f"cache-{name}", workdir / f"run-{name}-{phase}")
            r["fraction_of_peak"] = r["useful_flops"] / r["wall_s"] / 1e9 / peak_gflops
            runs[name][phase] = r
            echo(f"   {name:<8s} {phase}: {r['wall_s']:6.1f} s wall = compile {r['compile_s']:5.1f} s "
                 f"({r['compiles']} buckets, {r['from_cache']}/{r['xla_programs']} XLA programs from cache) + train "
                 f"{r['train_s']:6.1f} s + rest {r['rest_s']:5.1f} s"
                 + (f" (analysis {r['analysis_s']:.1f} s)" if r["analysis_s"] is not None else "")
                 + f"; {r['useful_flops']:.3g} useful FLOPs = {100 * r['fraction_of_peak']:.1f}% of peak "
                 f"(load {r['load_1min']:.2f})")
    if len(sources) == 2:
        (a, ra), (b, rb) = runs.items()
        runs["ratios"] = {f"{b}_vs_{a}_{p}": rb[p]["wall_s"] / ra[p]["wall_s"] for p in ("cold", "warm")}
        runs["ratios"][f"{b}_warm_vs_{a}_cold"] = rb["warm"]["wall_s"] / ra["cold"]["wall_s"]
        echo("   wall time ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in runs["ratios"].items()))
    return runs


# --- driver ---------------------------------------------------------------------------------

def agreement(a: dict, b: dict) -> dict:
    keys = sorted(set(a) & set(b))
    d = np.array([abs(a[k] - b[k]) for k in keys])
    return dict(compared=len(keys), max_abs_diff=float(d.max()), mean_abs_diff=float(d.mean()),
                mean_loss_a=float(np.mean([a[k] for k in keys])), mean_loss_b=float(np.mean([b[k] for k in keys])))


def _e2e_section(out: dict, sizes: Sizes, baseline: Path | None, echo) -> None:
    if not sizes.e2e:
        return
    here = Path(__file__).resolve().parents[1]
    sources = {"baseline": baseline.resolve(), "this": here} if baseline else {"this": here}
    with tempfile.TemporaryDirectory(prefix="simgap-e2e-") as tmp:
        config = e2e_config(sizes, Path(tmp))
        echo(f"6. end to end: `python -m simgap.sweep --config {config.name}`, cold (fresh compile cache) then "
             f"warm (same cache, fresh run directory); wall = compile + train + rest (startup, analysis, files)")
        out["end_to_end"] = dict(config=str(config), sources={k: str(v) for k, v in sources.items()},
                                 **end_to_end(config, sources, out["peak_gflops"], Path(tmp), echo))


def run(sizes: Sizes = Sizes(), use_torch: bool = True, echo=print, e2e_only: bool = False,
        baseline: Path | None = None) -> dict:
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
        _e2e_section(out, z, baseline, echo)
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
    _e2e_section(out, z, baseline, echo)
    return out


def main(args) -> int:
    sizes = QUICK if args.quick else Sizes()
    sizes = replace(sizes, steps=args.steps or sizes.steps, seeds=args.seeds or sizes.seeds,
                    e2e=str(args.e2e_config) if args.e2e_config else sizes.e2e)
    out = run(sizes, use_torch=not args.no_torch, e2e_only=args.e2e, baseline=args.e2e_baseline)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=float))
        print(f"wrote {args.json}")
    return 0


USER_XLA_FLAGS = os.environ.get("XLA_FLAGS")  # as the user started the benchmark, before tune_cpu

if __name__ == "__main__":
    ARGS = parse_args()
    tune_cpu(ARGS.devices)  # before the first computation: devices, Eigen dots (simgap.cpu)
    sys.exit(main(ARGS))
