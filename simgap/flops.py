"""FLOP accounting of planned buckets (no training): what a bucket's program executes at its
padded widths against what its runs need at their true sizes. The sweep's `--dry-run` time
estimate, its padding-waste table and report.md's Time section read these.

A run's own `flops` column (simgap.engine.run_unit) counts its true size and one teacher
forward pass per training sample; a bucket's padded FLOPs count its padded widths and, where
distilled students read a teacher table (simgap.engine.teacher_tables), one teacher forward
pass over every input per member instead.
"""

from __future__ import annotations

import math

import jax

from simgap.config import Grid, TrainSpec
from simgap.engine import Unit, teacher_padded, teacher_tables


def estimate_flops(family, unit: Unit, grid: Grid, train: TrainSpec) -> float:
    """FLOPs the bucket's training will execute (padded widths; a teacher table counts as
    one teacher forward pass over every input per member), for time estimates and waste."""
    total = 0.0
    tpadded = teacher_padded(family, unit.members) if unit.kind == "distilled" else 0
    table = unit.kind == "distilled" and teacher_tables(family, unit.tables)
    for m in unit.members:
        seen = family.samples_seen(m.budget, train.batch_size)
        seen = 0.0 if math.isinf(seen) else seen
        total += family.train_flops(family.bucket_size(m.size), seen)
        if m.teacher_size is not None:
            total += family.forward_flops(tpadded, _input_count(family) if table else seen)
    return total


def useful_flops(family, unit: Unit, train: TrainSpec) -> float:
    """FLOPs of the bucket's runs at their true sizes (the rows' `flops`, one teacher forward
    per training sample): estimate_flops / useful_flops is the padding waste."""
    total = 0.0
    for m in unit.members:
        seen = family.samples_seen(m.budget, train.batch_size)
        seen = 0.0 if math.isinf(seen) else seen
        total += family.train_flops(m.size, seen) + (
            0.0 if m.teacher_size is None else family.forward_flops(m.teacher_size, seen))
    return total


def _input_count(family) -> int:
    """How many inputs `finite_inputs` enumerates: the family's `input_count` when it has one
    (a dry run must not enumerate them), else shapes only."""
    if hasattr(family, "input_count"):
        return int(family.input_count())
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
