"""Training engine: plan a grid into compiled buckets and train each bucket as one vmapped scan.

A bucket (`Unit`) holds every `Member` (size, teacher size, budget, teacher budget, seed) whose
shapes agree after padding, so a sweep compiles once per bucket, never once per (size, seed).
Its program, `run_bucket`, is one `jit(vmap(...))` over members (or, where a family trains
faster one member at a time on CPU, a `lax.map`: `Spec.sequential`), static in one `Spec`
(family, kind, widths, budget, batch size) and fed one `simgap.feed.Inputs` (member axis first,
made outside the program by simgap.feed), which run_unit shards over every device and host
(simgap.distributed). A family is reached only through its methods and optional attributes
(simgap.families.base), never by its name: a new family needs no change here. Where its input
space is finite (`teacher_tables`), a distilled bucket takes every teacher width of its student
bucket, its teachers' outputs computed once on every input instead of once per step.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from simgap import distributed, feed, optim, prune, rows as rows_lib
from simgap.config import Grid, TrainSpec
from simgap.families.base import unpad
from simgap.feed import Inputs, streams

TeacherKey = tuple[int, int, int]  # (teacher_size, teacher_budget, seed): a trained teacher


class Member(NamedTuple):
    """One run of a bucket; teacher_size and teacher_budget are None unless it is distilled."""

    size: int
    teacher_size: int | None
    budget: int
    teacher_budget: int | None
    seed: int

    @property
    def teacher(self) -> TeacherKey:
        """The trained teacher it is distilled from (a teacher shares its student's seed)."""
        return (self.teacher_size, self.teacher_budget, self.seed)


@dataclass(frozen=True)
class Unit:
    uid: str
    kind: str  # "teacher" | "supervised" | "distilled"
    members: tuple[Member, ...]
    needs: tuple[TeacherKey, ...]  # trained teachers it reads (distilled from, or pruned from)
    tables: bool = True  # distilled: teacher outputs from a table where the family allows (`teacher_tables`)


@dataclass(frozen=True)
class Spec:
    """Everything static about a bucket program (one compile per distinct Spec)."""

    family: Any  # a frozen family dataclass (simgap.families.base.Family)
    kind: str
    padded: int  # the members' padded width
    teacher_padded: int  # their teachers' padded width; 0 without a teacher
    budget: int  # samples (tokens) per member
    batch_size: int
    tables: bool = True  # the unit's `tables`: False keeps a teacher forward pass per step
    sequential: bool = False  # members one after another (lax.map), not vmapped: `sequential_members`


def sequential_members(family) -> bool:
    """Whether a bucket trains its members one after another rather than vmapped: on a CPU
    backend, for families that say so (`cpu_sequential_members`). Vmapping members turns every
    matmul into a batched one, which XLA:CPU runs far below its plain-matmul speed at the
    transformer's shapes (measured by experiments/benchmark.py's transformer section: d64 members
    at 30 GFLOP/s vmapped against 48 one at a time, on one core); accelerators keep the vmap."""
    return bool(getattr(family, "cpu_sequential_members", False)) and jax.default_backend() == "cpu"


# --- one member -----------------------------------------------------------------------------

def teacher_tables(family, allowed: bool = True) -> bool:
    """Whether distilled students read their teacher's outputs from a table computed once on
    every input (families with `finite_inputs`, see simgap.families.base): the step loses its
    teacher forward pass, and one program serves every teacher width of a student bucket.
    `allowed=False` (a plan's `tables`) keeps the per-step teacher pass the tables are checked against."""
    return allowed and not family.closed_form and hasattr(family, "finite_inputs")


def _sgd_train(spec: Spec, x: Inputs, task, keys, batches=None):
    """AdamW on one-cycle (simgap.optim) on one member from `x.init`: one lax.scan over steps.
    `batches` (finite-input families): every step's rows of `finite_inputs` for every seed of
    the bucket, drawn before the scan (`feed.batch_table`); this member reads row `x.slot`."""
    family, kind, batch_size = spec.family, spec.kind, spec.batch_size
    steps = family.steps(spec.budget, batch_size)
    data_key = keys["teacher_data" if kind == "teacher" else "student_data"]
    table = kind == "distilled" and teacher_tables(family, spec.tables)
    if table or batches is not None:  # every input once, and (table) the teacher's outputs on it
        x_PxI, y_P = family.finite_inputs(task)
    if table:
        teacher_PxK = jax.lax.stop_gradient(family.apply(x.teacher, x_PxI, x.teacher_size))

    def loss_fn(p, t):
        key = jax.random.fold_in(data_key, t)
        if batches is not None or table:  # rows of the finite input set (the rows `sample` gives)
            idx_B = batches[x.slot, t] if batches is not None else family.sample_index(task, key, batch_size)
            xs, ys = x_PxI[idx_B], y_P[idx_B]
        else:
            xs, ys = family.sample(task, key, batch_size)
        out = family.apply(p, xs, x.size)
        if kind != "distilled":
            return family.loss(out, ys)
        teacher_out = (teacher_PxK[idx_B] if table else
                       jax.lax.stop_gradient(family.apply(x.teacher, xs, x.teacher_size)))
        return family.distill_loss(out, teacher_out, ys, x.lam, x.tau)

    opt = optim.adamw(steps, x.lr, x.warmup_frac, x.weight_decay)
    params, losses = optim.minimize(loss_fn, x.init, opt, steps)
    return params, jnp.all(jnp.isfinite(losses))


def ceiling(family, task, start, size) -> jax.Array:
    """The held-out loss a trained run must not end above: the larger of the family's
    trivial_loss and, for an SGD-trained run, the loss of its untrained parameters `start`
    (None for closed-form fits). Above both, training has made the model worse than where it
    began and worse than learning nothing: it diverged, however finite its numbers."""
    trivial = family.trivial_loss(task)
    if start is None:
        return trivial
    return jnp.maximum(trivial, family.evaluate(task, start, size, None, None)["loss"])


DIVERGE_RTOL = 0.05  # an undertrained run ends within noise of its ceiling; a diverged one far above


def learned(loss, ceiling) -> jax.Array:
    """False for a diverged run: a non-finite loss or one more than DIVERGE_RTOL above its ceiling
    (a 40-step student at 1.3866 nats against log 4 = 1.3863 has not learned much, not diverged)."""
    return jnp.isfinite(loss) & (loss <= ceiling * (1 + DIVERGE_RTOL))


def diverged(family, task, x: Inputs, metrics, start) -> jax.Array:
    """The rule of simgap.families.base: a run diverged when it ends above its ceiling; a
    distilled student may end as high as the teacher it imitates, and is diverged whenever its
    teacher is (the same test as the teacher's own row, from its untrained loss when SGD-trained)."""
    top = ceiling(family, task, start, x.size)
    if x.teacher is None:
        return ~learned(metrics["loss"], top)
    trivial = family.trivial_loss(task)
    teacher_top = trivial if x.teacher_start_loss is None else jnp.maximum(trivial, x.teacher_start_loss)
    teacher_ok = learned(metrics["teacher_loss"], teacher_top)
    return ~(teacher_ok & learned(metrics["loss"], jnp.maximum(top, metrics["teacher_loss"])))


_compiles = 0


def compile_count() -> int:
    """Buckets traced (= XLA compiles of bucket programs) by the engine in this process, and in
    the training processes that reported to it (`note_compiles`)."""
    return _compiles


def note_compiles(n: int) -> None:
    """Count `n` bucket compiles done for this process by a training process (simgap.trainers)."""
    global _compiles
    _compiles += n


@functools.partial(jax.jit, static_argnums=0)
def run_bucket(spec: Spec, inputs: Inputs, batches=None):
    """Train one bucket: (params, metrics), member axis first. `inputs` and `batches` come from
    `feed.inputs` (a pre-drawn batch table every member reads, or None). Members are vmapped,
    or with `spec.sequential` trained one after another in a lax.map: the same numbers up to
    float32 summation order."""
    global _compiles
    _compiles += 1  # runs at trace time only: one per compile
    family = spec.family

    def member(x: Inputs, batches):
        keys = streams(x.seed)
        task = family.make_task(keys["task"])
        if family.closed_form:
            start = None
            params = family.fit(spec.kind, task, keys, x.size, spec.padded, spec.budget, x.teacher, x.teacher_size)
            finite = jnp.array(True)
        else:
            start = x.init
            params, finite = _sgd_train(spec, x, task, keys, batches)
        metrics = family.evaluate(task, params, x.size, x.teacher, x.teacher_size)
        metrics["diverged"] = ~finite | diverged(family, task, x, metrics, start)
        return params, metrics

    if spec.sequential:
        return jax.lax.map(lambda x: member(x, batches), inputs)
    return jax.vmap(member, in_axes=(0, None))(inputs, batches)


@functools.lru_cache(maxsize=None)
def bucket_program(spec: Spec) -> Callable:
    """`run_bucket` for `spec` as `distributed.run_sharded` takes it: with `spec.sequential`,
    each device maps over its own members (a lax.map cannot be split by XLA's partitioner).
    Cached, so a bucket run again (a resumed or `--until-decided` sweep) is not traced again."""
    fn = functools.partial(run_bucket, spec)
    return distributed.per_device(fn) if spec.sequential and len(jax.devices()) > 1 else fn


# --- planning -------------------------------------------------------------------------------

def _budget(family, size: int, budget: int) -> int:
    return int(budget) if budget else int(family.default_budget(size))


def plan(family, grid: Grid, train: TrainSpec, tables: bool = True) -> list[Unit]:
    """Teacher units first, then supervised, then distilled; deterministic order and ids.
    tables=False: distilled units run a teacher forward pass per step, never a teacher table."""
    prune.check_student_init(family, grid)
    bucket = family.bucket_size
    seeds = tuple(grid.seeds)
    teachers: dict[tuple, list[Member]] = {}
    for t, tb, s in itertools.product(grid.teacher_sizes, grid.teacher_budgets, seeds):
        b = _budget(family, t, tb)
        teachers.setdefault((bucket(t), b), []).append(Member(t, None, b, None, s))
    supervised: dict[tuple, list[Member]] = {}
    distilled: dict[tuple, list[Member]] = {}
    for n, sb in itertools.product(grid.student_sizes, grid.student_budgets):
        b = _budget(family, n, sb)
        if grid.supervised:
            supervised.setdefault((bucket(n), b), []).extend(Member(n, None, b, None, s) for s in seeds)
        for t, tb, s in itertools.product(grid.teacher_sizes, grid.teacher_budgets, seeds):
            if grid.runs_pair(n, t, family.param_count):  # with teacher tables, every teacher width in one bucket
                tkey = 0 if teacher_tables(family, tables) else bucket(t)
                distilled.setdefault((bucket(n), tkey, b), []).append(Member(n, t, b, _budget(family, t, tb), s))

    def sources(kind, ms):
        return {k for m in ms if (k := prune_source(family, grid, kind, m)) is not None}

    units = []
    for (p, b), ms in sorted(teachers.items()):
        units.append(Unit(f"teacher-w{p}-b{b}", "teacher", tuple(ms), ()))
    for (p, b), ms in sorted(supervised.items()):
        init = f"-{grid.student_init}" if sources("supervised", ms) else ""
        units.append(Unit(f"supervised-w{p}-b{b}{init}", "supervised", tuple(ms),
                          tuple(sorted(sources("supervised", ms)))))
    for (p, _, b), ms in sorted(distilled.items()):
        tp = teacher_padded(family, ms)
        needs = tuple(sorted({m.teacher for m in ms} | sources("distilled", ms)))
        units.append(Unit(f"distilled-s{p}-t{tp}-b{b}-{grid.student_init}", "distilled", tuple(ms), needs, tables))
    return units


def teacher_padded(family, members) -> int:
    """The padded teacher width of a distilled bucket: its widest teacher's bucket."""
    return max(family.bucket_size(m.teacher_size) for m in members)


def prune_source(family, grid: Grid, kind: str, member: Member) -> TeacherKey | None:
    """The trained teacher a student member starts from, pruned to its size; None: random init.

    pruned_from_teacher: the teacher it is distilled from (supervised baselines start random);
    pruned_from_largest: the largest teacher of its seed, for every student of that seed."""
    if kind == "teacher" or grid.student_init == "random":
        return None
    if grid.student_init == "pruned_from_teacher":
        return None if kind == "supervised" else member.teacher
    big = max(grid.teacher_sizes)
    return (big, _budget(family, big, grid.teacher_budgets[0]), member.seed)


def spec_of(family, unit: Unit, train: TrainSpec) -> Spec:
    """The static half of a unit's bucket program."""
    first = unit.members[0]
    tpadded = teacher_padded(family, unit.members) if first.teacher_size is not None else 0
    return Spec(family, unit.kind, family.bucket_size(first.size), tpadded, first.budget, train.batch_size,
                unit.tables, sequential_members(family))


# --- running --------------------------------------------------------------------------------

def unit_inputs(family, unit: Unit, grid: Grid, train: TrainSpec, teachers) -> tuple[Spec, Inputs, Any]:
    """A unit's bucket program and what it is fed: (spec, inputs, pre-drawn batches or None)."""
    spec = spec_of(family, unit, train)
    teacher = (feed.stacked_teachers(family, unit.members, spec.teacher_padded, teachers, unit.uid)
               if unit.kind == "distilled" else None)
    init = None
    if not family.closed_form:  # a pruned start, else feed.inputs draws a fresh one
        sources = [prune_source(family, grid, unit.kind, m) for m in unit.members]
        init = feed.pruned_inits(family, spec.padded, unit.members, sources, teachers)
    return (spec, *feed.inputs(spec, unit.members, train, teacher=teacher, init=init))


def run_unit(family, unit: Unit, grid: Grid, train: TrainSpec,
             teachers: MutableMapping[TeacherKey, dict[str, np.ndarray]]) -> list[dict]:
    """Train one bucket; store teachers (flat numpy dicts, true shapes); one row per member."""
    start = time.perf_counter()
    spec, inputs, batches = unit_inputs(family, unit, grid, train, teachers)
    # members split over every device (and host); numpy results, padding members dropped
    params, metrics = distributed.run_sharded(bucket_program(spec), inputs, batches)
    wall = (time.perf_counter() - start) / len(unit.members)

    out = []
    for i, m in enumerate(unit.members):
        common = dict(family=family.name, seed=m.seed, run_kind=unit.kind, bucket=unit.uid, wall_s=wall,
                      irreducible_loss=family.irreducible_loss(), accuracy=float(metrics["accuracy"][i]),
                      diverged=bool(metrics["diverged"][i]))
        loss = float(metrics["loss"][i])
        seen = family.samples_seen(m.budget, train.batch_size)
        if unit.kind == "teacher":
            mine = {k: v[i] for k, v in params.items()}
            teachers[(m.size, m.budget, m.seed)] = unpad(mine, family.param_shapes(m.size))
            row = rows_lib.empty_row(**common, teacher_size=m.size, teacher_params=family.param_count(m.size),
                                     teacher_budget=seen, teacher_loss=loss,
                                     flops=family.train_flops(m.size, seen))
        else:
            student = dict(student_size=m.size, student_params=family.param_count(m.size), student_budget=seen,
                           student_loss=loss, student_init=_init_of(unit.kind, grid.student_init))
            if unit.kind == "supervised":
                row = rows_lib.empty_row(**common, **student, supervised_loss=loss,
                                         flops=family.train_flops(m.size, seen))
            else:
                row = rows_lib.empty_row(
                    **common, **student, teacher_size=m.teacher_size,
                    teacher_params=family.param_count(m.teacher_size),
                    teacher_budget=family.samples_seen(m.teacher_budget, train.batch_size),
                    teacher_loss=float(metrics["teacher_loss"][i]),
                    kl_to_teacher=float(metrics["kl_to_teacher"][i]), lam=train.lam, tau=train.tau,
                    flops=family.train_flops(m.size, seen) + family.forward_flops(m.teacher_size, seen))
        out.append(row)
    return out


def _init_of(kind: str, student_init: str) -> str:
    """The init a row's student really had: supervised baselines start random under Zhang's protocol."""
    return "random" if kind == "supervised" and student_init == "pruned_from_teacher" else student_init


def run_grid(family, grid: Grid, train: TrainSpec, teachers=None,
             on_unit: Callable[[Unit, list[dict]], None] | None = None, tables: bool = True) -> list[dict]:
    """Every unit of `plan` in order; `teachers` may be pre-filled (resume); `tables` as for `plan`."""
    teachers = {} if teachers is None else teachers
    out = []
    for unit in plan(family, grid, train, tables):
        rows = run_unit(family, unit, grid, train, teachers)
        if on_unit is not None:
            on_unit(unit, rows)
        out.extend(rows)
    return out
