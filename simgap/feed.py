"""What a bucket program is fed, computed outside it: each seed's PRNG streams, members' fresh
initial parameters, their teachers' untrained losses, and pre-drawn batches.

Each is made by a small program shared by every bucket of a width or a step count, with the
very keys and functions the bucket would use (the same values), so a bucket program compiles
faster (~30 %) and draws nothing per member that a seed already drew. `unit` arguments are
simgap.engine Units (members: (size, teacher size, budget, teacher budget, seed)).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

STREAMS = ("task", "teacher_data", "student_data", "teacher_init", "student_init", "eval")


def streams(seed) -> dict[str, jax.Array]:
    """Named PRNG streams of one seed. Nothing here depends on a student, so every student of
    a seed sees the same task, the same teacher and the same data: comparisons are paired."""
    return dict(zip(STREAMS, jax.random.split(jax.random.key(seed), len(STREAMS))))


@functools.partial(jax.jit, static_argnums=(0, 3))
def _fresh_init(family, key, size, padded: int):
    return family.init(key, size, padded)


@functools.partial(jax.jit, static_argnums=(0, 3))
def _untrained_loss(family, key, size, padded: int):
    task_key, init_key = key
    return family.evaluate(family.make_task(task_key), family.init(init_key, size, padded), size, None, None)["loss"]


def fresh_inits(family, unit) -> dict:
    """Stacked fresh initial params of a unit's members, computed by one small program per
    padded width (shared by every bucket of that width) instead of inside each bucket program:
    the same values (same keys, same function), and a bucket compiles ~30 % faster."""
    padded = family.bucket_size(unit.members[0][0])
    stream = "teacher_init" if unit.kind == "teacher" else "student_init"
    done: dict[tuple, dict] = {}
    for size, *_, seed in unit.members:
        if (size, seed) not in done:
            done[size, seed] = jax.device_get(_fresh_init(family, streams(seed)[stream], jnp.int32(size), padded))
    # stacked on the host: jnp.stack would compile a program per member count and shape
    return {k: np.stack([done[m[0], m[-1]][k] for m in unit.members]) for k in family.param_shapes(padded)}


def teacher_start_losses(family, unit, tpadded: int) -> np.ndarray:
    """Each distilled member's teacher's untrained held-out loss at the bucket's teacher width
    `tpadded` (its divergence ceiling, see engine._diverged), once per (teacher, seed)."""
    done: dict[tuple, float] = {}
    for _, t, _, _, seed in unit.members:
        if (t, seed) not in done:
            keys = streams(seed)
            done[t, seed] = float(_untrained_loss(family, (keys["task"], keys["teacher_init"]), jnp.int32(t), tpadded))
    return np.array([done[t, seed] for _, t, _, _, seed in unit.members], np.float32)


PREDRAWN = True  # False: every step draws its batch inside the scan (tests compare the two)
PREDRAWN_MAX_BYTES = 256 << 20


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def _draw_rows(family, task_key, data_key, steps: int, batch_size: int):
    task = family.make_task(task_key)
    return jax.vmap(lambda t: family.sample_index(task, jax.random.fold_in(data_key, t), batch_size))(
        jnp.arange(steps))


def batch_table(family, unit, batch_size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Every step's batch (rows of `finite_inputs`) for each seed of the unit, drawn before
    training by one small program per (steps, batch size) shared by every bucket, with the very
    keys the scan would use (same rows, same results): the draw leaves the step (one draw per
    seed instead of one per member; a bucket compiles faster). Returns (table [seeds, steps,
    batch], each member's row of it), or None: a family without a finite input space, or a
    table over PREDRAWN_MAX_BYTES."""
    if not (PREDRAWN and not family.closed_form and hasattr(family, "finite_inputs")):
        return None
    steps = family.steps(unit.members[0][2], batch_size)
    seeds = sorted({m[-1] for m in unit.members})
    if len(seeds) * steps * batch_size * 4 > PREDRAWN_MAX_BYTES:
        return None
    stream = "teacher_data" if unit.kind == "teacher" else "student_data"
    table = np.stack([np.asarray(_draw_rows(family, streams(s)["task"], streams(s)[stream], steps, batch_size))
                      for s in seeds])
    return table.astype(np.int32), np.array([seeds.index(m[-1]) for m in unit.members], np.int32)
