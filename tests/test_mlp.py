import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from simgap import engine, feed
from simgap.config import Grid, TrainSpec
from simgap.families import get_family
from simgap.families.base import unpad
from simgap.families.mlp import all_inputs, forward, label

MLP = get_family("mlp", classes=8)


def test_enumeration_counts_and_labels():
    assert len(all_inputs(8)[1]) == 3816  # 3,816 distinct inputs at K = 8 (enumerated by hand)
    assert len(all_inputs(4)[1]) == 4 * (1 + 2 * 6 + 6 * 1)
    x, y = all_inputs(8)
    assert len({tuple(r) for r in x.astype(int)}) == len(x)
    assert np.bincount(y, minlength=8).min() > 0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), classes=st.sampled_from([3, 5, 8]))
def test_sampled_inputs_are_valid_and_labels_follow_the_rule(seed, classes):
    fam = get_family("mlp", classes=classes)
    x_BxI, y_B = map(np.asarray, fam.sample({}, jax.random.key(seed), 16))
    assert x_BxI.shape == (16, 2 * classes) and y_B.shape == (16,)
    for x, y in zip(x_BxI.astype(int), y_B):
        context, position = x[:classes], x[classes:]
        assert set(context) <= {0, 1, 2} and sorted(position) == [0] * (classes - 1) + [1]
        for value in (1, 2):
            assert (context == value).sum() in (0, 2)  # the label is always well defined
        assert y == label(context, int(position.argmax()))


def test_param_count_matches_true_shapes():
    for w in (1, 8, 362):
        assert MLP.param_count(w) == sum(np.prod(s) for s in MLP.param_shapes(w).values())
    assert MLP.default_budget(8) == 500 * 512 and MLP.default_budget(512) == 20 * MLP.param_count(512)


def test_trivial_loss_is_uniform_prediction_and_apply_is_the_masked_forward():
    zero = {k: np.zeros(s, np.float32) for k, s in MLP.param_shapes(8).items()}
    assert float(MLP.evaluate({}, zero, 8, None, None)["loss"]) == pytest.approx(np.log(8))
    assert float(MLP.trivial_loss({})) == pytest.approx(np.log(8))
    p = MLP.init(jax.random.key(0), 5, 8)  # width 5 padded to 8: padding units masked out
    x = jnp.asarray(all_inputs(8)[0][:16])
    mask = (np.arange(8) < 5).astype(np.float32)
    np.testing.assert_array_equal(MLP.apply(p, x, 5), forward(p, x, mask, mask))
    small = unpad(p, MLP.param_shapes(5))
    np.testing.assert_allclose(MLP.apply(p, x, 5), forward(small, x, 1.0, 1.0), atol=1e-6)


def test_teachers_improve_with_width_at_fixed_budget():
    train = TrainSpec(learning_rate=3e-3, batch_size=128)
    grid = Grid(student_sizes=(), teacher_sizes=(4, 16, 64), student_budgets=(0,),
                       teacher_budgets=(150 * 128,), seeds=(0, 1))
    rows = engine.run_grid(MLP, grid, train)
    mean = {w: np.mean([r["teacher_loss"] for r in rows if r["teacher_size"] == w]) for w in (4, 16, 64)}
    assert mean[4] > mean[16] > mean[64]
    acc = {w: np.mean([r["accuracy"] for r in rows if r["teacher_size"] == w]) for w in (4, 64)}
    assert acc[64] > acc[4]


def test_distillation_trains_the_student_towards_the_teacher():
    train = TrainSpec(learning_rate=3e-3, batch_size=128)
    grid = Grid(student_sizes=(16,), teacher_sizes=(32,), student_budgets=(100 * 128,),
                       teacher_budgets=(150 * 128,), seeds=(3,), supervised=False)
    store = {}
    rows = engine.run_grid(MLP, grid, train, store)
    distilled = rows[-1]
    teacher = {k: jax.numpy.asarray(v) for k, v in store[(32, 150 * 128, 3)].items()}
    init = MLP.init(feed.streams(3)["student_init"], 16, 16)
    before = MLP.evaluate({}, init, 16, teacher, 32)
    assert distilled["kl_to_teacher"] < 0.5 * float(before["kl_to_teacher"])
    assert distilled["student_loss"] < float(before["loss"]) - 0.1
    assert abs(distilled["teacher_loss"] - rows[0]["teacher_loss"]) < 1e-5
