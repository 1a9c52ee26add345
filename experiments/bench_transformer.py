"""experiments/benchmark.py's transformer section: the transformer preset's family (configs/
transformer.toml: its source, depth, head_dim, batch and optimizer) trained three ways on the
same models, in one run:

- the engine as a sweep runs it (`engine.unit_inputs` + `run_bucket` over every device), its
  members one after another (`Spec.sequential`, the CPU default for this family);
- the same buckets with the members vmapped (what the engine did before, and still does on
  accelerators), to show what the choice is worth;
- a per-model jitted JAX step in a Python loop (bench_models.make_step), one model at a time.

Per width: useful GFLOP/s (6·N·tokens, N without embeddings; attention's L² terms are not
counted, so these are lower bounds) and the fraction of the f32 matmul peak; plus one distilled
bucket (a teacher forward pass per step, counted as 2·N_T·tokens). Final held-out losses of the
three ways are compared (float32 summation order only).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from bench_models import loop_train, make_step, timed
from simgap import distributed, engine
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


QUICK = TransformerSizes(widths=(16, 32), seeds=2, steps=20, student=16)


def _budget(family, steps: int, batch_size: int) -> int:
    """The token budget that gives `steps` SGD steps."""
    return steps * batch_size * family.sequence_source().seq_len


def _run_units(family, grid, train, units, sequential: bool, teachers: dict):
    """Each unit through the engine's own feed and bucket program, members sequential or vmapped,
    run twice (compile and run, then run); per unit: run s, compile s (the difference), useful
    FLOPs, final losses by (size, seed)."""
    out = []
    for unit in units:
        spec, inputs, batches = engine.unit_inputs(family, unit, grid, train, teachers)
        fn = engine.bucket_program(dataclasses.replace(spec, sequential=sequential))
        first = timed(distributed.run_sharded, fn, inputs, batches)[1]  # compile and run
        (params, metrics), wall, _, _ = timed(distributed.run_sharded, fn, inputs, batches)  # run
        compile_s = first - wall
        seen = family.samples_seen(spec.budget, train.batch_size)
        flops = sum(family.train_flops(m.size, seen)
                    + (family.forward_flops(m.teacher_size, seen) if m.teacher_size else 0) for m in unit.members)
        if unit.kind == "teacher":
            for i, m in enumerate(unit.members):
                teachers[(m.size, m.budget, m.seed)] = {k: np.asarray(v[i]) for k, v in params.items()}
        out.append(dict(uid=unit.uid, kind=unit.kind, width=unit.members[0].size, compile_s=compile_s,
                        run_s=wall, useful_flops=flops,
                        losses={(m.size, m.seed): float(metrics["loss"][i]) for i, m in enumerate(unit.members)}))
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
    for name, sequential in (("engine", True), ("engine_vmapped", False)):
        teachers: dict = {}
        res[name] = _run_units(family, teachers_grid, train, units, sequential, teachers)
    loop = {}
    if z.loop:
        for w in z.widths:
            fns = make_step(family, w, z.steps, train)
            for s in seeds:
                loss, wall, compile_s, _ = timed(loop_train, fns, s, z.steps)
                loop.setdefault(w, []).append((wall - compile_s, loss))
    rows = []
    echo(f"   {'bucket':<40s} {'engine (members in turn)':>30s} {'members vmapped':>22s} {'JAX loop':>18s}")
    for a, b in zip(res["engine"], res["engine_vmapped"]):
        g, gv = a["useful_flops"] / a["run_s"] / 1e9, b["useful_flops"] / b["run_s"] / 1e9
        row = dict(uid=a["uid"], kind=a["kind"], width=a["width"], engine_gflops=g, engine_fraction_of_peak=g / peak,
                   vmapped_gflops=gv, vmapped_fraction_of_peak=gv / peak, engine_run_s=a["run_s"],
                   vmapped_run_s=b["run_s"], speedup_vs_vmapped=b["run_s"] / a["run_s"],
                   max_loss_diff_vs_vmapped=max(abs(a["losses"][k] - b["losses"][k]) for k in a["losses"]))
        text = f"   {a['uid']:<40s} {g:8.1f} GFLOP/s = {100 * g / peak:4.1f}% {gv:8.1f} = {100 * gv / peak:4.1f}%"
        if a["kind"] == "teacher" and a["width"] in loop:
            run_s = sum(t for t, _ in loop[a["width"]])
            gl = a["useful_flops"] / run_s / 1e9
            row.update(loop_gflops=gl, loop_run_s=run_s, speedup_vs_loop=run_s / a["run_s"],
                       max_loss_diff_vs_loop=max(abs(a["losses"][(a["width"], s)] - l)
                                                 for s, (_, l) in zip(seeds, loop[a["width"]])))
            text += f" {gl:8.1f} = {100 * gl / peak:4.1f}%"
        rows.append(row)
        echo(text)
    tot = lambda key, rs: sum(r[key] for r in rs)  # noqa: E731
    flops = tot("useful_flops", res["engine"])
    summary = dict(useful_flops=flops, engine_run_s=tot("run_s", res["engine"]),
                   vmapped_run_s=tot("run_s", res["engine_vmapped"]),
                   engine_compile_s=tot("compile_s", res["engine"]))
    summary["engine_fraction_of_peak"] = flops / summary["engine_run_s"] / 1e9 / peak
    summary["vmapped_fraction_of_peak"] = flops / summary["vmapped_run_s"] / 1e9 / peak
    summary["speedup_vs_vmapped"] = summary["vmapped_run_s"] / summary["engine_run_s"]
    if loop:
        teach = [r for r in rows if "loop_run_s" in r]
        summary["speedup_vs_loop"] = tot("loop_run_s", teach) / tot("engine_run_s", teach)
        summary["max_loss_diff_vs_loop"] = max(r["max_loss_diff_vs_loop"] for r in teach)
    summary["max_loss_diff_vs_vmapped"] = max(r["max_loss_diff_vs_vmapped"] for r in rows)
    echo(f"   all buckets: engine {100 * summary['engine_fraction_of_peak']:.1f}% of peak, vmapped "
         f"{100 * summary['vmapped_fraction_of_peak']:.1f}%: members in turn {summary['speedup_vs_vmapped']:.2f}x faster"
         + (f"; {summary['speedup_vs_loop']:.2f}x the JAX loop on the teacher buckets" if loop else "")
         + f"; final losses agree within {summary['max_loss_diff_vs_vmapped']:.1e} (vmapped)"
         + (f", {summary['max_loss_diff_vs_loop']:.1e} (loop)" if loop else ""))
    out["transformer"] = dict(sizes=dataclasses.asdict(z), buckets=rows, **summary,
                              devices=len(jax.devices()))
    return out["transformer"]
