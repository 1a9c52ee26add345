"""Structured pruning after Zhang et al. (2311.07052), the family-independent half.

Pruning is an optional capability of a family: a family that can start a student as a teacher
pruned to the student's size defines `prune_to(teacher, teacher_size, size, key)` (see
simgap.families.base). This module holds what every family's pruning shares and what the engine
calls; it never looks at a family's name.

Importance. Each prunable unit (attention head, FFN neuron, hidden dimension, MLP neuron) gets a
mask variable xi = 1 multiplying its output; its importance is E|dL/dxi| over a few batches:
the expected absolute first-order change of the loss if the unit were removed. The least
important units go.

Sparsity. When two axes of a matrix are pruned (the hidden dimension d together with heads or
FFN neurons; both hidden layers of the MLP), each axis gets sparsity p' = 1 - sqrt(1 - p): the
matrix then keeps (1 - p')^2 = 1 - p of its entries, so its total sparsity is p. A student of
size S pruned from a teacher of size T keeps S/T of each component (p' = 1 - S/T), which gives
a fresh size-S model's shapes, so a pruned student trains in the same compiled step as a
random one.

`check_student_init` says whether a grid's `student_init` (simgap.config.STUDENT_INITS) can be
run by a family; which teacher each student is pruned from is planned by the engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from simgap.config import STUDENT_INITS, Grid


def component_sparsity(p: float) -> float:
    """Per-component sparsity whose product over two pruned axes gives total sparsity p."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {p!r}")
    return 1.0 - math.sqrt(1.0 - p)


def top(scores, k: int) -> np.ndarray:
    """Indices of the k largest scores, in their original order (keeps position structure);
    ties go to the earlier index."""
    scores = np.asarray(scores)
    if not 0 < k <= len(scores):
        raise ValueError(f"cannot keep {k} of {len(scores)} units")
    return np.sort(np.argsort(-scores, kind="stable")[:k])


def mask_importance(loss: Callable, masks, keys: jax.Array):
    """E|dL/dxi|: the mean over `keys` of |d loss(masks, key) / d masks|, at `masks` (all ones).

    `loss(masks, key)` draws its own batch from `key`; `masks` is any pytree of arrays. Returns
    the same pytree (jax arrays: callable under jit)."""
    abs_grad = lambda k: jax.tree.map(jnp.abs, jax.grad(loss)(masks, k))
    grads = jax.lax.map(abs_grad, keys)
    return jax.tree.map(lambda g: g.mean(0), grads)


def can_prune(family) -> bool:
    """Whether a family has the optional `prune_to` capability (never decided by its name)."""
    return callable(getattr(family, "prune_to", None))


def prune_student(family, teacher: dict, teacher_size: int, size: int, key: jax.Array) -> dict:
    """A family's flat teacher params (true shapes, as the engine stores them) pruned to a student
    of `size`, flat with the student's true shapes: the engine's pruned init.

    `key` draws the batches the importance is averaged over."""
    if not can_prune(family):
        raise ValueError(f"family {family.name!r} cannot prune (it has no prune_to)")
    if size > teacher_size:
        raise ValueError(f"cannot prune a size-{teacher_size} teacher to a size-{size} student")
    student = family.prune_to(teacher, int(teacher_size), int(size), key)
    shapes = family.param_shapes(size)
    got = {k: tuple(np.shape(v)) for k, v in student.items()}
    if got != shapes:
        raise ValueError(f"{family.name}.prune_to gave shapes {got}, expected {shapes}")
    return {k: np.asarray(v) for k, v in student.items()}


# --- student_init: can this family run it -------------------------------------------------

def check_student_init(family, grid: Grid) -> None:
    """ValueError naming what is wrong with the grid's student_init for this family."""
    init = grid.student_init
    if init not in STUDENT_INITS:
        hint = (' ("pruned" was split: "pruned_from_teacher" is Zhang et al.\'s protocol, '
                '"pruned_from_largest" the old behaviour)' if init == "pruned" else "")
        raise ValueError(f"unknown student_init {init!r}; expected one of {STUDENT_INITS}{hint}")
    if init == "random":
        return
    if not can_prune(family):
        raise ValueError(f"student_init={init!r} needs a family that can prune (prune_to); "
                         f"{family.name!r} cannot")
    if init == "pruned_from_largest" and max(grid.student_sizes) > max(grid.teacher_sizes):
        raise ValueError(f"student_init={init!r}: students must be no larger than the largest teacher "
                         f"({max(grid.student_sizes)} > {max(grid.teacher_sizes)})")
    lonely = [n for n in grid.student_sizes if not any(t > n for t in grid.teacher_sizes)]
    if init == "pruned_from_teacher" and lonely:
        raise ValueError(f"student_init={init!r} prunes each student from a larger teacher: student "
                         f"sizes {lonely} have no teacher larger than themselves")

