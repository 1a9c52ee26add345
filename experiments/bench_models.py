"""The models experiments/benchmark.py times, trained three ways: simgap's engine (as a sweep
runs it), a per-model jitted JAX step in a Python loop, and eager PyTorch, on the same models
(same init, same data stream, same optimizer: simgap.optim's AdamW); plus the f32 matmul peak,
and run time against the number of grid cells. Each function returns its timings and, where
models are trained, their final losses by (width, seed).
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from simgap import engine, feed, optim
from simgap.config import Grid
from simgap.families.mlp import all_inputs


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
    grid = Grid(student_sizes=(), teacher_sizes=tuple(widths), student_budgets=(),
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
    keys = feed.streams(seed)
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
    keys = feed.streams(seed)
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
        import torch  # lazy: optional (pip install -e '.[bench]'); without it this section is skipped
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
