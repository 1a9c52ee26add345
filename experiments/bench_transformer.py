"""experiments/benchmark.py's transformer section: the transformer preset's family (configs/
transformer.toml: its source, depth, head_dim, batch and optimizer) trained four ways on the
same models, in one run:

- as a sweep trains it on CPU (simgap.trainers: the members split over one single-device
  process per core, each training its members one after another);
- in this process over every device, members one after another (`engine.Spec.sequential`);
- in this process, members vmapped (what the engine did before, and still does on accelerators);
- a per-model jitted JAX step in a Python loop (bench_models.make_step), one model at a time.

Per width: useful GFLOP/s (6·N·tokens, N without embeddings; attention's L² terms are not
counted, so these are lower bounds) and the fraction of the f32 matmul peak; plus one distilled
bucket (a teacher forward pass per step, counted as 2·N_T·tokens). Final held-out losses of the
four ways are compared (float32 summation order only).
"""

from __future__ import annotations

import dataclasses
import tempfile

import jax
import numpy as np

from bench_models import loop_train, make_step, timed
from simgap import cache, distributed, engine, flops, trainers
from simgap.config import CONFIG_DIR, Grid, load_config
from simgap.families import from_config

PRESET = load_config(CONFIG_DIR / "transformer.toml")


@dataclasses.dataclass(frozen=True)
class TransformerSizes:
    widths: tuple[int, ...] = (16, 24, 32, 48, 64, 96)  # the preset's d16-d64 and one wider
    seeds: int = 4
    steps: int = 100
    student: int = 24  # the distilled bucket: this student from the widest teacher
    loop: bool = True  # the per-model JAX loop (as long as the engine again)


MODES = ("processes", "in_turn", "vmapped")  # the first is the sweep's way on CPU
LABELS = dict(processes="sweep: processes", in_turn="members in turn", vmapped="members vmapped")
QUICK = TransformerSizes(widths=(16, 32), seeds=2, steps=20, student=16)


def _budget(family, steps: int, batch_size: int) -> int:
    """The token budget that gives `steps` SGD steps."""
    return steps * batch_size * family.sequence_source().seq_len


def _in_process(family, unit, grid, train, teachers, sequential: bool) -> dict:
    """One unit through the engine's own feed and bucket program in this process, members in
    turn or vmapped: final losses by (size, seed); trained teachers stored."""
    spec, inputs, batches = engine.unit_inputs(family, unit, grid, train, teachers)
    fn = engine.bucket_program(dataclasses.replace(spec, sequential=sequential))
    params, metrics = distributed.run_sharded(fn, inputs, batches)
    if unit.kind == "teacher":
        for i, m in enumerate(unit.members):
            teachers[(m.size, m.budget, m.seed)] = {k: np.asarray(v[i]) for k, v in params.items()}
    return {(m.size, m.seed): float(metrics["loss"][i]) for i, m in enumerate(unit.members)}


def _processes(family, unit, grid, train, teachers) -> dict:
    """One unit as a sweep trains it (simgap.trainers: one single-device process per core)."""
    rows = trainers.run_unit(family, unit, grid, train, teachers, min_flops=0)
    return {(r["student_size"] if unit.kind != "teacher" else r["teacher_size"], r["seed"]):
            r["student_loss"] if unit.kind != "teacher" else r["teacher_loss"] for r in rows}


def _run_units(family, grid, train, units, mode: str, teachers: dict):
    """Each unit run twice (compile and run, then run): run s, compile s (the difference),
    useful FLOPs, final losses by (size, seed)."""
    out = []
    for unit in units:
        go = (lambda: _processes(family, unit, grid, train, teachers)) if mode == "processes" else \
            (lambda: _in_process(family, unit, grid, train, teachers, mode == "in_turn"))
        first = timed(go)[1]
        losses, wall, _, _ = timed(go)
        out.append(dict(uid=unit.uid, kind=unit.kind, width=unit.members[0].size, compile_s=first - wall,
                        run_s=wall, useful_flops=flops.useful_flops(family, unit, train), losses=losses))
    return out


def section(out: dict, peak: float, z: TransformerSizes, echo=print) -> dict:
    family = from_config(PRESET)
    train = PRESET.train
    budget = _budget(family, z.steps, train.batch_size)
    seeds = tuple(range(z.seeds))
    teachers_grid = Grid(student_sizes=(), teacher_sizes=z.widths, student_budgets=(), teacher_budgets=(budget,),
                         seeds=seeds, supervised=False)
    big = max(z.widths)
    distil_grid = Grid(student_sizes=(z.student,), teacher_sizes=(big,), student_budgets=(budget,),
                       teacher_budgets=(budget,), seeds=seeds, supervised=False, student_init="random")
    units = engine.plan(family, teachers_grid, train) + [
        u for u in engine.plan(family, distil_grid, train) if u.kind == "distilled"]
    echo(f"7. transformer (configs/transformer.toml's family: depth {family.depth}, head_dim {family.head_dim}, "
         f"seq_len {family.sequence_source().seq_len}, batch {train.batch_size}): widths {list(z.widths)} x "
         f"{z.seeds} seeds, {z.steps} steps; distilled d{z.student} <- d{big}")
    res = {}
    prev = jax.config.jax_compilation_cache_dir if jax.config.jax_enable_compilation_cache else "off"
    with tempfile.TemporaryDirectory() as where:  # a chunk that lands on the other process loads, not compiles
        cache.enable_compile_cache(where)
        for mode in MODES:
            res[mode] = _run_units(family, teachers_grid, train, units, mode, {})
        trainers.shutdown()  # its processes read this cache
    cache.enable_compile_cache(prev or "off")
    loop = {}
    if z.loop:
        for w in z.widths:
            fns = make_step(family, w, z.steps, train)
            for s in seeds:
                loss, wall, compile_s, _ = timed(loop_train, fns, s, z.steps)
                loop.setdefault(w, []).append((wall - compile_s, loss))
    rows = []
    echo("   GFLOP/s (% of peak)" + "".join(f"{LABELS[m]:>22s}" for m in MODES) + f"{'JAX loop':>22s}")
    for units_of_modes in zip(*(res[m] for m in MODES)):
        first = units_of_modes[0]
        row = dict(uid=first["uid"], kind=first["kind"], width=first["width"], useful_flops=first["useful_flops"])
        text = f"   {first['uid']:<40s}"
        for mode, r in zip(MODES, units_of_modes):
            g = r["useful_flops"] / r["run_s"] / 1e9
            row[f"{mode}_run_s"], row[f"{mode}_gflops"], row[f"{mode}_compile_s"] = r["run_s"], g, r["compile_s"]
            row[f"{mode}_max_loss_diff"] = max(abs(r["losses"][k] - first["losses"][k]) for k in first["losses"])
            text += f" {g:8.1f} ({100 * g / peak:4.1f}%)"
        if first["kind"] == "teacher" and first["width"] in loop:
            run_s = sum(t for t, _ in loop[first["width"]])
            g = first["useful_flops"] / run_s / 1e9
            row.update(loop_run_s=run_s, loop_gflops=g,
                       loop_max_loss_diff=max(abs(first["losses"][(first["width"], s)] - loss)
                                              for s, (_, loss) in zip(seeds, loop[first["width"]])))
            text += f" {g:8.1f} ({100 * g / peak:4.1f}%)"
        rows.append(row)
        echo(text)
    total = sum(r["useful_flops"] for r in rows)
    summary = dict(useful_flops=total)
    for mode in MODES:
        summary[f"{mode}_run_s"] = sum(r[f"{mode}_run_s"] for r in rows)
        summary[f"{mode}_fraction_of_peak"] = total / summary[f"{mode}_run_s"] / 1e9 / peak
        summary[f"{mode}_max_loss_diff"] = max(r[f"{mode}_max_loss_diff"] for r in rows)
    teach = [r for r in rows if "loop_run_s" in r]
    if teach:
        summary["speedup_vs_loop"] = sum(r["loop_run_s"] for r in teach) / sum(r["processes_run_s"] for r in teach)
        summary["loop_max_loss_diff"] = max(r["loop_max_loss_diff"] for r in teach)
    base = summary["processes_run_s"]
    echo("   all buckets: " + ", ".join(f"{LABELS[m]} {100 * summary[f'{m}_fraction_of_peak']:.1f}% of peak"
                                       for m in MODES)
         + f"; the sweep's way is {summary['in_turn_run_s'] / base:.2f}x in one process, "
         f"{summary['vmapped_run_s'] / base:.2f}x vmapped"
         + (f", {summary['speedup_vs_loop']:.2f}x the JAX loop (teacher buckets)" if teach else "")
         + "; final losses within " + ", ".join(f"{summary[f'{m}_max_loss_diff']:.1e}" for m in MODES[1:])
         + (f", {summary['loop_max_loss_diff']:.1e} (loop)" if teach else ""))
    out["transformer"] = dict(sizes=dataclasses.asdict(z), buckets=rows, **summary, devices=len(jax.devices()))
    return out["transformer"]
