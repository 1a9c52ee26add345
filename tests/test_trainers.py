"""simgap.trainers: a bucket split over single-device training processes gives the rows and the
teacher store of the bucket trained in this process, and a chunk's error reaches the caller."""

import numpy as np
import pytest

from simgap import engine, flops, trainers
from simgap.config import Grid, TrainSpec
from tests.test_transformer import small_family

FAM = small_family()
TRAIN = TrainSpec(learning_rate=1e-2, batch_size=32, lam=0.5)
GRID = Grid(student_sizes=(8,), teacher_sizes=(16,), student_budgets=(32 * 12 * 10,),
            teacher_budgets=(32 * 12 * 10,), seeds=(0, 1, 2), student_init="pruned_from_teacher", supervised=False)


def test_split_bucket_equals_the_bucket_in_one_process(monkeypatch):
    monkeypatch.setenv(trainers.ENV, "2")
    if trainers.processes_for(FAM) < 2:
        pytest.skip("members in turn are for CPU backends")
    teacher, distilled = engine.plan(FAM, GRID, TRAIN)
    here, there = {}, {}
    rows_here = engine.run_unit(FAM, teacher, GRID, TRAIN, here) + engine.run_unit(FAM, distilled, GRID, TRAIN, here)
    compiles = engine.compile_count()
    rows_there = [r for u in (teacher, distilled) for r in trainers.run_unit(FAM, u, GRID, TRAIN, there, min_flops=0)]
    assert engine.compile_count() > compiles  # the processes' compiles are counted here
    assert sorted(here) == sorted(there)  # 3 teachers (2 + 1 members per process), stored here
    for k in here:
        for name in here[k]:
            np.testing.assert_allclose(there[k][name], here[k][name], atol=2e-5)
    assert [(r["run_kind"], r["seed"]) for r in rows_there] == [(r["run_kind"], r["seed"]) for r in rows_here]
    for a, b in zip(rows_here, rows_there):
        for key, value in a.items():
            if isinstance(value, float) and key != "wall_s" and not np.isnan(value):
                assert b[key] == pytest.approx(value, abs=2e-5), key
    with pytest.raises(KeyError, match="teacher"):  # the engine's own message, from a process
        trainers.run_unit(FAM, distilled, GRID, TRAIN, {}, min_flops=0)


def test_small_buckets_and_one_process_train_here(monkeypatch):
    teacher = engine.plan(FAM, GRID, TRAIN)[0]
    assert flops.useful_flops(FAM, teacher, TRAIN) < trainers.MIN_FLOPS
    monkeypatch.setenv(trainers.ENV, "1")
    assert trainers.processes_for(FAM) == 1
    from simgap.families import get_family

    monkeypatch.setenv(trainers.ENV, "2")
    assert trainers.processes_for(get_family("mlp", classes=4)) == 1  # vmapped MLPs train in-process
