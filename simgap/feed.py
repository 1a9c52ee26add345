"""What a bucket program is fed, made outside it: the `Inputs` of its members (each seed's PRNG
streams, hyperparameters, starting parameters, teachers, their untrained losses) and the
pre-drawn batches of a finite input space.

Each is made by a small program shared by every bucket of a width or a step count, with the
very keys and functions the bucket would use (the same values), so a bucket program compiles
faster (~30 %) and draws nothing per member that a seed already drew. `members` are
simgap.engine.Member named tuples; `spec` a simgap.engine.Spec (read by attribute: this module
sits below the engine).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from simgap import prune
from simgap.config import TrainSpec
from simgap.families.base import pad

STREAMS = ("task", "teacher_data", "student_data", "teacher_init", "student_init", "eval")

Params = dict  # flat {"layer/name": array}, member axis first when stacked


class Inputs(NamedTuple):
    """A bucket's per-member inputs, member axis first (host numpy arrays: jnp.full and friends
    would each compile a small program per member count). None: not used by this bucket."""

    seed: np.ndarray  # uint32: the member's seed (its PRNG streams)
    size: np.ndarray  # int32: its true capacity knob
    lr: np.ndarray  # float32 hyperparameters, one per member (simgap.optim keeps them traced)
    warmup_frac: np.ndarray
    weight_decay: np.ndarray
    lam: np.ndarray
    tau: np.ndarray
    init: Params | None  # its starting parameters, padded (SGD families; None: closed form)
    teacher: Params | None  # its trained teacher, padded to the bucket's teacher width (distilled)
    teacher_size: np.ndarray | None  # int32 (distilled)
    teacher_start_loss: np.ndarray | None  # float32: its teacher's untrained loss (distilled, SGD)
    slot: np.ndarray | None  # int32: its seed's row of the pre-drawn batch table (finite inputs)


def streams(seed) -> dict[str, jax.Array]:
    """Named PRNG streams of one seed. Nothing here depends on a student, so every student of
    a seed sees the same task, the same teacher and the same data: comparisons are paired."""
    return dict(zip(STREAMS, jax.random.split(jax.random.key(seed), len(STREAMS))))


def inputs(spec, members, train: TrainSpec, teacher: Params | None = None,
           init: Params | None = None) -> tuple[Inputs, np.ndarray | None]:
    """Everything bucket `spec` is fed for `members`: (Inputs, pre-drawn batch table or None).
    `teacher`: the members' stacked trained teachers (distilled; see `stacked_teachers`);
    `init`: stacked starting parameters (pruned students), else each member's fresh init."""
    family, n = spec.family, len(members)
    sgd, distilled = not family.closed_form, spec.kind == "distilled"
    if distilled and teacher is None:
        raise ValueError("a distilled bucket needs its members' teachers")
    if sgd and init is None:
        init = fresh_inits(family, spec.kind, spec.padded, members)
    table = batch_table(family, spec.kind, members, spec.budget, spec.batch_size) if sgd else None
    full = lambda v: np.full(n, v, np.float32)
    fed = Inputs(
        seed=np.array([m.seed for m in members], np.uint32), size=np.array([m.size for m in members], np.int32),
        lr=full(train.learning_rate), warmup_frac=full(train.warmup_frac), weight_decay=full(train.weight_decay),
        lam=full(train.lam), tau=full(train.tau), init=init if sgd else None,
        teacher=teacher if distilled else None,
        teacher_size=np.array([m.teacher_size for m in members], np.int32) if distilled else None,
        teacher_start_loss=teacher_start_losses(family, members, spec.teacher_padded) if distilled and sgd else None,
        slot=None if table is None else table[1])
    return fed, None if table is None else table[0]


def stacked_teachers(family, members, teacher_padded: int, teachers, uid: str = "") -> Params:
    """The members' trained teachers from `teachers` (TeacherKey -> flat true-shape params),
    padded to `teacher_padded` and stacked; KeyError naming a missing one."""
    shapes = family.param_shapes(teacher_padded)
    stacked = []
    for m in members:
        if m.teacher not in teachers:
            raise KeyError(f"unit {uid} needs teacher (size={m.teacher_size}, budget={m.teacher_budget}, "
                           f"seed={m.seed}), which is not in `teachers`: run its teacher unit first")
        stacked.append(pad(teachers[m.teacher], shapes))
    return {k: np.stack([p[k] for p in stacked]) for k in shapes}


@functools.partial(jax.jit, static_argnums=(0, 3))
def _fresh_init(family, key, size, padded: int):
    return family.init(key, size, padded)


@functools.partial(jax.jit, static_argnums=(0, 3))
def _untrained_loss(family, key, size, padded: int):
    task_key, init_key = key
    return family.evaluate(family.make_task(task_key), family.init(init_key, size, padded), size, None, None)["loss"]


def fresh_inits(family, kind: str, padded: int, members) -> Params:
    """Stacked fresh initial params of `members`, computed by one small program per padded
    width (shared by every bucket of that width) instead of inside each bucket program: the
    same values (same keys, same function), and a bucket compiles ~30 % faster."""
    stream = "teacher_init" if kind == "teacher" else "student_init"
    done: dict[tuple, dict] = {}
    for m in members:
        if (m.size, m.seed) not in done:
            done[m.size, m.seed] = jax.device_get(_fresh_init(family, streams(m.seed)[stream], jnp.int32(m.size), padded))
    # stacked on the host: jnp.stack would compile a program per member count and shape
    return {k: np.stack([done[m.size, m.seed][k] for m in members]) for k in family.param_shapes(padded)}


def pruned_inits(family, padded: int, members, sources, teachers) -> Params | None:
    """Stacked initial params of students pruned from the trained teacher `sources[i]`
    (TeacherKey, or None: a fresh init), padded to `padded`; None when every member starts
    fresh. A member's importance batches come from its seed's student_init stream, so its start
    depends only on (teacher, size, seed)."""
    if all(s is None for s in sources):
        return None
    shapes = family.param_shapes(padded)
    done: dict[tuple, dict] = {}
    inits = []
    for m, key in zip(members, sources):
        if (key, m.size) not in done:
            student = prune.prune_student(family, teachers[key], key[0], m.size, streams(m.seed)["student_init"])
            done[key, m.size] = pad(student, shapes)
        inits.append(done[key, m.size])
    return {k: np.stack([p[k] for p in inits]) for k in shapes}


def teacher_start_losses(family, members, teacher_padded: int) -> np.ndarray:
    """Each distilled member's teacher's untrained held-out loss at the bucket's teacher width
    (its divergence ceiling, see engine.diverged), once per (teacher, seed)."""
    done: dict[tuple, float] = {}
    for m in members:
        if (m.teacher_size, m.seed) not in done:
            keys = streams(m.seed)
            done[m.teacher_size, m.seed] = float(_untrained_loss(
                family, (keys["task"], keys["teacher_init"]), jnp.int32(m.teacher_size), teacher_padded))
    return np.array([done[m.teacher_size, m.seed] for m in members], np.float32)


PREDRAWN = True  # False: every step draws its batch inside the scan (tests compare the two)
PREDRAWN_MAX_BYTES = 256 << 20


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def _draw_rows(family, task_key, data_key, steps: int, batch_size: int):
    task = family.make_task(task_key)
    return jax.vmap(lambda t: family.sample_index(task, jax.random.fold_in(data_key, t), batch_size))(
        jnp.arange(steps))


def batch_table(family, kind: str, members, budget: int, batch_size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Every step's batch (rows of `finite_inputs`) for each seed of `members`, drawn before
    training by one small program per (steps, batch size) shared by every bucket, with the very
    keys the scan would use (same rows, same results): the draw leaves the step (one draw per
    seed instead of one per member; a bucket compiles faster). Returns (table [seeds, steps,
    batch], each member's row of it), or None: a family without a finite input space, or a
    table over PREDRAWN_MAX_BYTES."""
    if not (PREDRAWN and not family.closed_form and hasattr(family, "finite_inputs")):
        return None
    steps = family.steps(budget, batch_size)
    seeds = sorted({m.seed for m in members})
    if len(seeds) * steps * batch_size * 4 > PREDRAWN_MAX_BYTES:
        return None
    stream = "teacher_data" if kind == "teacher" else "student_data"
    table = np.stack([np.asarray(_draw_rows(family, streams(s)["task"], streams(s)[stream], steps, batch_size))
                      for s in seeds])
    return table.astype(np.int32), np.array([seeds.index(m.seed) for m in members], np.int32)
