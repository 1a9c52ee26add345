"""Teacher tables (engine.teacher_tables): distilled students of a family with a finite input
space read their teacher's outputs from a table computed once, one program per student bucket.
The rows must equal the per-step teacher forward path's within float32 summation order."""

import pytest

from simgap import engine, feed, flops
from simgap.config import Grid, TrainSpec
from simgap.families import get_family

GRID = Grid(student_sizes=(4,), teacher_sizes=(4, 16), student_budgets=(512 * 10,),
            teacher_budgets=(512 * 10,), seeds=(0, 1), supervised=False)
TRAIN = TrainSpec(learning_rate=3e-3, batch_size=512)
COLUMNS = ("student_loss", "teacher_loss", "kl_to_teacher", "accuracy", "diverged", "flops")


def _rows(tables: bool) -> dict:
    rows = engine.run_grid(get_family("mlp", classes=4), GRID, TRAIN, tables=tables)
    return {(r["run_kind"], r["student_size"], r["teacher_size"], r["seed"]): r for r in rows}


def test_tables_merge_teacher_buckets_and_cut_padded_flops():
    family = get_family("mlp", classes=4)
    counts = {}
    for tables in (False, True):
        units = engine.plan(family, GRID, TRAIN, tables=tables)
        padded = sum(flops.estimate_flops(family, u, GRID, TRAIN) for u in units)
        useful = sum(flops.useful_flops(family, u, TRAIN) for u in units)
        counts[tables] = (sum(u.kind == "distilled" for u in units), padded / useful)
    assert counts[False][0] == 2 and counts[True][0] == 1  # teachers w4 and w16: two buckets, then one
    assert counts[True][1] < counts[False][1]


def test_tables_give_the_per_step_teacher_path_rows():
    before, after = _rows(False), _rows(True)
    assert before.keys() == after.keys() and len(before) == 2 * 2 + 2 * 2
    for key, old in before.items():
        for c in COLUMNS:
            assert after[key][c] == pytest.approx(old[c], abs=1e-5, nan_ok=True), (key, c)


def test_predrawn_batches_give_the_in_scan_draws_rows(monkeypatch):
    """feed.batch_table draws every step's rows before the scan with the scan's own keys: the
    same batches, so the same rows, for every role (teachers, supervised and distilled)."""
    grid = Grid(student_sizes=(4,), teacher_sizes=(8,), student_budgets=(512 * 10,),
                teacher_budgets=(512 * 10,), seeds=(0, 1), supervised=True)
    family = get_family("mlp", classes=4)
    out = {}
    for predrawn in (False, True):
        monkeypatch.setattr(feed, "PREDRAWN", predrawn)
        out[predrawn] = {(r["run_kind"], r["student_size"], r["teacher_size"], r["seed"]): r
                         for r in engine.run_grid(family, grid, TRAIN)}
    assert out[False].keys() == out[True].keys() and len(out[True]) == 2 + 2 + 2
    for key, old in out[False].items():
        for c in COLUMNS:
            assert out[True][key][c] == pytest.approx(old[c], abs=1e-6, nan_ok=True), (key, c)
    monkeypatch.setattr(feed, "PREDRAWN", True)
    teachers = engine.plan(family, grid, TRAIN)[0]
    args = (family, teachers.kind, teachers.members, teachers.members[0].budget, TRAIN.batch_size)
    table, slot = feed.batch_table(*args)
    assert table.shape == (2, 10, 512) and list(slot) == [0, 1]  # one row of batches per seed
    assert not (table[0] == table[1]).all()  # seeds draw different batches
    monkeypatch.setattr(feed, "PREDRAWN_MAX_BYTES", 1000)
    assert feed.batch_table(*args) is None
