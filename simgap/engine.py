"""Training engine: plan a grid into compiled buckets and train each bucket as one vmapped scan.

A bucket ("unit") holds every (size, teacher size, budget, seed) whose shapes agree after
padding, so a sweep compiles once per bucket, never once per (size, seed). Where the family's
input space is finite (`teacher_tables`), a distilled bucket takes every teacher width of its
student bucket: its teachers' outputs are computed once on every input (default sweep: 19
compiles -> 10, padded FLOPs 1.2e13 -> 5.9e12, rows equal within float32 order; the MLP's finer
width ladder then makes it 15 compiles and 4.95e12 FLOPs). Members' fresh initial parameters,
their teachers' untrained losses and pre-drawn batches come from simgap.feed, outside the bucket
program (bucket compiles ~30 % faster, same values). All arrays keep the member axis first:
run_unit shards it over every device and host (simgap.distributed).
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from simgap import distributed, feed, optim, rows as rows_lib
from simgap.config import STUDENT_INITS, Grid, TrainSpec  # noqa: F401 (engine.Grid etc. stay importable)
from simgap.families.base import pad, unpad
from simgap.feed import streams

ROLES = ("teacher", "supervised", "distilled")


TeacherKey = tuple[int, int, int]  # (teacher_size, teacher_budget, seed)
Member = tuple[int, "int | None", int, "int | None", int]  # (size, teacher_size, budget, teacher_budget, seed)


@dataclass(frozen=True)
class Unit:
    uid: str
    kind: str
    members: tuple[Member, ...]
    needs: tuple[TeacherKey, ...]


# --- one member -----------------------------------------------------------------------------

def _start(family, role, padded, m, keys):
    """A member's parameters before training: `m["init"]` when the engine computed it outside
    the bucket program (`_inits`: fresh or pruned), else its own fresh init."""
    if "init" in m:
        return m["init"]
    return family.init(keys["teacher_init" if role == "teacher" else "student_init"], m["size"], padded)


TEACHER_TABLES = True  # False: today's per-step teacher forward (tests compare the two)


def teacher_tables(family) -> bool:
    """Whether distilled students read their teacher's outputs from a table computed once on
    every input (families with `finite_inputs`, see simgap.families.base): the step loses its
    teacher forward pass, and one program serves every teacher width of a student bucket."""
    return TEACHER_TABLES and not family.closed_form and hasattr(family, "finite_inputs")


def _sgd_train(family, role, batch_size, budget, m, task, keys, params, batches=None):
    """AdamW on one-cycle (simgap.optim) on one member: one lax.scan over steps. `batches`
    (finite-input families): every step's rows of `finite_inputs` for every seed of the bucket,
    drawn before the scan (`feed.batch_table`); this member reads row m["slot"]."""
    steps = family.steps(budget, batch_size)
    data_key = keys["teacher_data" if role == "teacher" else "student_data"]
    table = role == "distilled" and teacher_tables(family)
    if table or batches is not None:  # every input once, and (table) the teacher's outputs on it
        x_PxI, y_P = family.finite_inputs(task)
    if table:
        teacher_PxK = jax.lax.stop_gradient(family.apply(m["teacher"], x_PxI, m["teacher_size"]))

    def loss_fn(p, t):
        key = jax.random.fold_in(data_key, t)
        if batches is not None or table:  # rows of the finite input set (the rows `sample` gives)
            idx_B = batches[m["slot"], t] if batches is not None else family.sample_index(task, key, batch_size)
            x, y = x_PxI[idx_B], y_P[idx_B]
        else:
            x, y = family.sample(task, key, batch_size)
        out = family.apply(p, x, m["size"])
        if role != "distilled":
            return family.loss(out, y)
        teacher_out = (teacher_PxK[idx_B] if table else
                       jax.lax.stop_gradient(family.apply(m["teacher"], x, m["teacher_size"])))
        return family.distill_loss(out, teacher_out, y, m["lam"], m["tau"])

    opt = optim.adamw(steps, m["lr"], m["warmup_frac"], m["weight_decay"])
    params, losses = optim.minimize(loss_fn, params, opt, steps)
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


def _diverged(family, task, m, metrics, start, teacher_start) -> jax.Array:
    """The rule of simgap.families.base: a run diverged when it ends above its ceiling; a
    distilled student may end as high as the teacher it imitates, and is diverged whenever its
    teacher is (the same test as the teacher's own row)."""
    top = ceiling(family, task, start, m["size"])
    if "teacher" not in m:
        return ~learned(metrics["loss"], top)
    teacher_top = (jnp.maximum(family.trivial_loss(task), m["teacher_start_loss"]) if "teacher_start_loss" in m
                   else ceiling(family, task, teacher_start, m["teacher_size"]))
    teacher_ok = learned(metrics["teacher_loss"], teacher_top)
    return ~(teacher_ok & learned(metrics["loss"], jnp.maximum(top, metrics["teacher_loss"])))


_compiles = 0


def compile_count() -> int:
    """Buckets traced (= XLA compiles of bucket programs) by the engine in this process."""
    return _compiles


def _bucket(family, role, padded, tpadded, budget, batch_size, m, batches=None):
    global _compiles
    _compiles += 1  # runs at trace time only: one per compile

    def member(m, batches):
        keys = streams(m["seed"])
        task = family.make_task(keys["task"])
        teacher = m.get("teacher")
        if family.closed_form:
            start = teacher_start = None
            params = family.fit(role, task, keys, m["size"], padded, budget, teacher, m.get("teacher_size"))
            finite = jnp.array(True)
        else:
            start = _start(family, role, padded, m, keys)
            params, finite = _sgd_train(family, role, batch_size, budget, m, task, keys, start, batches)
            # the distilled student's teacher as its own unit started it (same key, same bucket)
            teacher_start = None if teacher is None or "teacher_start_loss" in m else family.init(
                keys["teacher_init"], m["teacher_size"], tpadded)
        metrics = family.evaluate(task, params, m["size"], teacher, m.get("teacher_size"))
        metrics["diverged"] = ~finite | _diverged(family, task, m, metrics, start, teacher_start)
        return params, metrics

    return jax.vmap(member, in_axes=(0, None))(m, batches)


run_bucket = jax.jit(_bucket, static_argnums=(0, 1, 2, 3, 4, 5))
run_bucket.__doc__ = """Train one bucket: `m` is a dict of member arrays (leading axis = member):
seed, size, lr, warmup_frac, weight_decay, lam, tau (+ teacher, teacher_size when distilled; init,
teacher_start_loss when computed outside; slot with `batches`: simgap.feed)."""


# --- planning -------------------------------------------------------------------------------

def _budget(family, size: int, budget: int) -> int:
    return int(budget) if budget else int(family.default_budget(size))


def check_student_init(family, grid: Grid) -> None:
    """ValueError naming what is wrong with the grid's student_init for this family."""
    init = grid.student_init
    if init not in STUDENT_INITS:
        hint = (' ("pruned" was split: "pruned_from_teacher" is Zhang et al.\'s protocol, '
                '"pruned_from_largest" the old behaviour)' if init == "pruned" else "")
        raise ValueError(f"unknown student_init {init!r}; expected one of {STUDENT_INITS}{hint}")
    if init == "random":
        return
    from simgap import prune
    if not prune.can_prune(family):
        raise ValueError(f"student_init={init!r} needs a family that can prune (prune_to); "
                         f"{family.name!r} cannot")
    if init == "pruned_from_largest" and max(grid.student_sizes) > max(grid.teacher_sizes):
        raise ValueError(f"student_init={init!r}: students must be no larger than the largest teacher "
                         f"({max(grid.student_sizes)} > {max(grid.teacher_sizes)})")
    lonely = [n for n in grid.student_sizes if not any(t > n for t in grid.teacher_sizes)]
    if init == "pruned_from_teacher" and lonely:
        raise ValueError(f"student_init={init!r} prunes each student from a larger teacher: student "
                         f"sizes {lonely} have no teacher larger than themselves")


def _pair_runs(grid: Grid, size: int, teacher_size: int) -> bool:
    """Whether the (student, teacher) pair is trained: under pruned_from_teacher only teachers
    larger than the student (see STUDENT_INITS)."""
    return grid.student_init != "pruned_from_teacher" or teacher_size > size


def plan(family, grid: Grid, train: TrainSpec) -> list[Unit]:
    """Teacher units first, then supervised, then distilled; deterministic order and ids."""
    check_student_init(family, grid)
    bucket = family.bucket_size
    seeds = tuple(grid.seeds)
    teachers: dict[tuple, list] = {}
    for t, tb, s in itertools.product(grid.teacher_sizes, grid.teacher_budgets, seeds):
        b = _budget(family, t, tb)
        teachers.setdefault((bucket(t), b), []).append((t, None, b, None, s))
    supervised: dict[tuple, list] = {}
    distilled: dict[tuple, list] = {}
    for n, sb in itertools.product(grid.student_sizes, grid.student_budgets):
        b = _budget(family, n, sb)
        if grid.supervised:
            supervised.setdefault((bucket(n), b), []).extend((n, None, b, None, s) for s in seeds)
        for t, tb, s in itertools.product(grid.teacher_sizes, grid.teacher_budgets, seeds):
            if _pair_runs(grid, n, t):  # with teacher tables, every teacher width in one bucket
                tkey = 0 if teacher_tables(family) else bucket(t)
                distilled.setdefault((bucket(n), tkey, b), []).append((n, t, b, _budget(family, t, tb), s))

    def sources(kind, ms):
        return {k for m in ms if (k := _prune_source(family, grid, kind, m)) is not None}

    units = []
    for (p, b), ms in sorted(teachers.items()):
        units.append(Unit(f"teacher-w{p}-b{b}", "teacher", tuple(ms), ()))
    for (p, b), ms in sorted(supervised.items()):
        init = f"-{grid.student_init}" if sources("supervised", ms) else ""
        units.append(Unit(f"supervised-w{p}-b{b}{init}", "supervised", tuple(ms),
                          tuple(sorted(sources("supervised", ms)))))
    for (p, _, b), ms in sorted(distilled.items()):
        tp = _teacher_padded(family, ms)
        needs = tuple(sorted({(t, tb, s) for _, t, _, tb, s in ms} | sources("distilled", ms)))
        units.append(Unit(f"distilled-s{p}-t{tp}-b{b}-{grid.student_init}", "distilled", tuple(ms), needs))
    return units


def _teacher_padded(family, members) -> int:
    """The padded teacher width of a distilled bucket: its widest teacher's bucket."""
    return max(family.bucket_size(t) for _, t, *_ in members)


def _prune_source(family, grid: Grid, kind: str, member: Member) -> TeacherKey | None:
    """The trained teacher a student member starts from, pruned to its size; None: random init.

    pruned_from_teacher: the teacher it is distilled from (supervised baselines start random);
    pruned_from_largest: the largest teacher of its seed, for every student of that seed."""
    _, t, _, tb, seed = member
    if kind == "teacher" or grid.student_init == "random":
        return None
    if grid.student_init == "pruned_from_teacher":
        return None if kind == "supervised" else (t, tb, seed)
    big = max(grid.teacher_sizes)
    return (big, _budget(family, big, grid.teacher_budgets[0]), seed)


def _pruned_inits(family, unit: Unit, grid: Grid, teachers) -> dict | None:
    """Stacked initial params of a unit's pruned students, padded to the unit's bucket; None
    when the unit's members start random. The importance batches of a member come from its
    seed's student_init stream, so a student's start depends only on (teacher, size, seed)."""
    from simgap import prune
    froms = [_prune_source(family, grid, unit.kind, m) for m in unit.members]
    if all(f is None for f in froms):
        return None
    shapes = family.param_shapes(family.bucket_size(unit.members[0][0]))
    done: dict[tuple, dict] = {}
    inits = []
    for (size, *_, seed), key in zip(unit.members, froms):
        if (key, size) not in done:
            student = prune.prune_student(family, teachers[key], key[0], size, streams(seed)["student_init"])
            done[(key, size)] = pad(student, shapes)
        inits.append(done[(key, size)])
    return {k: jnp.asarray(np.stack([p[k] for p in inits])) for k in shapes}


# --- running --------------------------------------------------------------------------------

def _member_arrays(family, unit: Unit, train: TrainSpec, teachers) -> dict:
    """The bucket's inputs, as host (numpy) arrays: jnp.full and friends would each compile a
    small program per member count."""
    ms = unit.members
    n = len(ms)
    m = dict(
        seed=np.array([s for *_, s in ms], np.uint32),
        size=np.array([x[0] for x in ms], np.int32),
        lr=np.full(n, train.learning_rate, np.float32),
        warmup_frac=np.full(n, train.warmup_frac, np.float32),
        weight_decay=np.full(n, train.weight_decay, np.float32),
        lam=np.full(n, train.lam, np.float32),
        tau=np.full(n, train.tau, np.float32),
    )
    if unit.kind == "distilled":
        tpadded = _teacher_padded(family, ms)
        shapes = family.param_shapes(tpadded)
        stacked = []
        for _, t, _, tb, s in ms:
            key = (t, tb, s)
            if key not in teachers:
                raise KeyError(f"unit {unit.uid} needs teacher (size={t}, budget={tb}, seed={s}), "
                               "which is not in `teachers`: run its teacher unit first")
            stacked.append(pad(teachers[key], shapes))
        m["teacher"] = {k: np.stack([p[k] for p in stacked]) for k in shapes}
        m["teacher_size"] = np.array([x[1] for x in ms], np.int32)
    return m


def _statics(family, unit: Unit, train: TrainSpec):
    size, tsize, budget = unit.members[0][:3]
    tpadded = _teacher_padded(family, unit.members) if tsize is not None else 0
    return family, unit.kind, family.bucket_size(size), tpadded, budget, train.batch_size


def run_unit(family, unit: Unit, grid: Grid, train: TrainSpec,
             teachers: MutableMapping[TeacherKey, dict[str, np.ndarray]]) -> list[dict]:
    """Train one bucket; store teachers (flat numpy dicts, true shapes); one row per member."""
    start = time.perf_counter()
    m = _member_arrays(family, unit, train, teachers)
    if not family.closed_form:  # SGD: starts (and teachers' untrained losses) computed outside the bucket
        init = _pruned_inits(family, unit, grid, teachers)
        m["init"] = feed.fresh_inits(family, unit) if init is None else init
        if unit.kind == "distilled":
            m["teacher_start_loss"] = feed.teacher_start_losses(family, unit, _teacher_padded(family, unit.members))
    # members split over every device (and host); numpy results, padding members dropped
    batches = feed.batch_table(family, unit, train.batch_size)
    if batches is not None:
        batches, m["slot"] = batches
    bucket = functools.partial(run_bucket, *_statics(family, unit, train))
    params, metrics = distributed.run_sharded(bucket, m, batches)
    wall = (time.perf_counter() - start) / len(unit.members)

    out = []
    for i, (size, tsize, budget, tbudget, seed) in enumerate(unit.members):
        common = dict(family=family.name, seed=seed, run_kind=unit.kind, bucket=unit.uid, wall_s=wall,
                      irreducible_loss=family.irreducible_loss(), accuracy=float(metrics["accuracy"][i]),
                      diverged=bool(metrics["diverged"][i]))
        loss = float(metrics["loss"][i])
        if unit.kind == "teacher":
            mine = {k: v[i] for k, v in params.items()}
            teachers[(size, budget, seed)] = unpad(mine, family.param_shapes(size))
            row = rows_lib.empty_row(**common, teacher_size=size, teacher_params=family.param_count(size),
                                     teacher_budget=family.samples_seen(budget, train.batch_size),
                                     teacher_loss=loss,
                                     flops=family.train_flops(size, family.samples_seen(budget, train.batch_size)))
        else:
            seen = family.samples_seen(budget, train.batch_size)
            student = dict(student_size=size, student_params=family.param_count(size), student_budget=seen,
                           student_loss=loss, student_init=_init_of(unit.kind, grid.student_init))
            if unit.kind == "supervised":
                row = rows_lib.empty_row(**common, **student, supervised_loss=loss,
                                         flops=family.train_flops(size, seen))
            else:
                row = rows_lib.empty_row(
                    **common, **student, teacher_size=tsize, teacher_params=family.param_count(tsize),
                    teacher_budget=family.samples_seen(tbudget, train.batch_size),
                    teacher_loss=float(metrics["teacher_loss"][i]),
                    kl_to_teacher=float(metrics["kl_to_teacher"][i]), lam=train.lam, tau=train.tau,
                    flops=family.train_flops(size, seen) + family.forward_flops(tsize, seen))
        out.append(row)
    return out


def _init_of(kind: str, student_init: str) -> str:
    """The init a row's student really had: supervised baselines start random under Zhang's protocol."""
    return "random" if kind == "supervised" and student_init == "pruned_from_teacher" else student_init


def run_grid(family, grid: Grid, train: TrainSpec, teachers=None,
             on_unit: Callable[[Unit, list[dict]], None] | None = None) -> list[dict]:
    """Every unit of `plan` in order; `teachers` may be pre-filled (resume)."""
    teachers = {} if teachers is None else teachers
    out = []
    for unit in plan(family, grid, train):
        rows = run_unit(family, unit, grid, train, teachers)
        if on_unit is not None:
            on_unit(unit, rows)
        out.extend(rows)
    return out


def estimate_flops(family, unit: Unit, grid: Grid, train: TrainSpec) -> float:
    """FLOPs the bucket's training will execute (padded widths; a teacher table counts as
    one teacher forward pass over every input per member), for time estimates and waste."""
    total = 0.0
    tpadded = _teacher_padded(family, unit.members) if unit.kind == "distilled" else 0
    table = unit.kind == "distilled" and teacher_tables(family)
    for size, tsize, budget, _, _ in unit.members:
        seen = family.samples_seen(budget, train.batch_size)
        seen = 0.0 if math.isinf(seen) else seen
        total += family.train_flops(family.bucket_size(size), seen)
        if tsize is not None:
            total += family.forward_flops(tpadded, _input_count(family) if table else seen)
    return total


def useful_flops(family, unit: Unit, train: TrainSpec) -> float:
    """FLOPs of the bucket's runs at their true sizes (the rows' `flops`, one teacher forward
    per training sample): estimate_flops / useful_flops is the padding waste."""
    total = 0.0
    for size, tsize, budget, _, _ in unit.members:
        seen = family.samples_seen(budget, train.batch_size)
        seen = 0.0 if math.isinf(seen) else seen
        total += family.train_flops(size, seen) + (0.0 if tsize is None else family.forward_flops(tsize, seen))
    return total


def _input_count(family) -> int:
    """How many inputs `finite_inputs` enumerates (shapes only, nothing computed)."""
    shapes = jax.eval_shape(lambda k: family.finite_inputs(family.make_task(k)), jax.random.key(0))
    return int(shapes[1].shape[0])


def bucket_costs(family, units: list[Unit], grid: Grid, train: TrainSpec) -> list[dict]:
    """Per bucket (one compile each): uid, runs, padded and useful FLOPs, waste = padded / useful."""
    out = []
    for u in units:
        padded, useful = estimate_flops(family, u, grid, train), useful_flops(family, u, train)
        out.append(dict(uid=u.uid, runs=len(u.members), padded_flops=padded, useful_flops=useful,
                        waste=padded / useful if useful else math.nan))
    return out
