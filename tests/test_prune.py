"""Pruning (simgap.prune + each family's prune_to) and the engine's pruned student inits."""

import jax
import numpy as np
import pytest

from simgap import engine, feed, prune, sources
from simgap.config import ConfigError, Grid, TrainSpec, parse_config
from simgap.families import from_config, get_family
from simgap.families import transformer as tf

MLP = get_family("mlp", classes=4)
TF = get_family("transformer", source="markov", depth=1, head_dim=8, held_out_sequences=64,
                source_params=dict(vocab_size=16, order=1, support=4, zipf=1.0, seq_len=12))
FAST = TrainSpec(learning_rate=3e-3, batch_size=64)


def count(params: dict) -> int:
    return sum(np.size(v) for v in params.values())


def dead(rng, n: int, k: int) -> np.ndarray:
    """A random set of k of n unit indices (not a prefix: top's tie order cannot pass the test)."""
    return np.sort(rng.permutation(n)[:k])


@pytest.mark.parametrize("p", [0.0, 0.19, 0.5, 0.75, 0.9])
def test_component_sparsity_composes_to_p(p):
    q = prune.component_sparsity(p)
    assert abs((1 - q) ** 2 - (1 - p)) < 1e-12


def test_top_keeps_the_largest_in_order_and_refuses_bad_k():
    np.testing.assert_array_equal(prune.top([0.1, 3.0, 0.2, 2.0, 5.0], 3), [1, 3, 4])
    with pytest.raises(ValueError, match="keep 6 of 5"):
        prune.top(np.ones(5), 6)


# --- a constructed teacher whose importance ranking is known ----------------------------------
# A unit whose output is multiplied by zero weights downstream has dL/dxi = 0 exactly, while
# live units of a random network have |dL/dxi| > 0: pruning must keep exactly the live ones.

def test_mlp_prune_keeps_the_known_important_neurons_and_the_function():
    rng = np.random.default_rng(0)
    teacher = {k: np.array(v) for k, v in MLP.init(jax.random.key(0), 8, 8).items()}
    for layer in ("hidden1", "hidden2"):  # every ReLU active on every input: no dead live unit
        teacher[f"{layer}/kernel"] = np.abs(teacher[f"{layer}/kernel"])
        teacher[f"{layer}/bias"][:] = 0.5
    d1, d2 = dead(rng, 8, 4), dead(rng, 8, 4)
    teacher["hidden2/kernel"][d1] = 0.0  # hidden1 neurons d1 feed nothing
    teacher["out/kernel"][d2] = 0.0  # hidden2 neurons d2 feed nothing
    live1, live2 = np.setdiff1d(np.arange(8), d1), np.setdiff1d(np.arange(8), d2)

    student = prune.prune_student(MLP, teacher, 8, 4, jax.random.key(1))
    assert count(student) == MLP.param_count(4)
    np.testing.assert_array_equal(student["hidden1/kernel"], teacher["hidden1/kernel"][:, live1])
    np.testing.assert_array_equal(student["hidden2/kernel"], teacher["hidden2/kernel"][live1][:, live2])
    np.testing.assert_array_equal(student["out/kernel"], teacher["out/kernel"][live2])
    # the dead neurons contributed nothing, so the student computes the teacher's function
    from simgap.families.mlp import all_inputs
    x = all_inputs(4)[0]
    np.testing.assert_allclose(MLP.apply(student, x, 4), MLP.apply(teacher, x, 8), atol=1e-5)


def test_transformer_prune_keeps_the_known_important_units():
    rng = np.random.default_rng(0)
    cfg = TF.config(32)  # 4 heads of 8, 128 FFN neurons
    teacher = {k: np.array(v) for k, v in TF.init(jax.random.key(0), 32, 32).items()}
    dD, dH, dF = dead(rng, 32, 16), dead(rng, 4, 2), dead(rng, 128, 64)
    for k in ("tok_emb/embedding", "pos_emb", "blocks/0/o/kernel", "blocks/0/down/kernel"):
        teacher[k][:, dD] = 0.0  # hidden dims dD are always 0 in the residual stream
    for h in dH:
        teacher["blocks/0/o/kernel"][h * 8:(h + 1) * 8] = 0.0  # heads dH write nothing
    teacher["blocks/0/down/kernel"][dF] = 0.0  # neurons dF write nothing
    keep = lambda n, d: np.setdiff1d(np.arange(n), d)
    D, H, F = keep(32, dD), keep(4, dH), keep(128, dF)
    I = (H[:, None] * 8 + np.arange(8)).reshape(-1)

    student = prune.prune_student(TF, teacher, 32, 16, jax.random.key(1))
    assert count(student) == TF.param_count(16) == tf.param_count(cfg.with_width(16))
    np.testing.assert_array_equal(student["tok_emb/embedding"], teacher["tok_emb/embedding"][:, D])
    np.testing.assert_array_equal(student["blocks/0/q/kernel"], teacher["blocks/0/q/kernel"][D][:, I])
    np.testing.assert_array_equal(student["blocks/0/o/kernel"], teacher["blocks/0/o/kernel"][I][:, D])
    np.testing.assert_array_equal(student["blocks/0/up/kernel"], teacher["blocks/0/up/kernel"][D][:, F])
    np.testing.assert_array_equal(student["unembed/kernel"], teacher["unembed/kernel"][D])


def test_sparsity_rule_gives_requested_total_sparsity():
    cfg = TF.config(64)
    p = 0.75
    keep = cfg.d_model * (1.0 - prune.component_sparsity(p)) / cfg.head_dim  # d (1 - p'), whole heads
    small = cfg.with_width(max(1, round(keep)) * cfg.head_dim)
    assert small.d_model == 32
    # the d x (heads | neurons) matrices are pruned on both axes: exactly p of them removed
    mats = lambda c: c.depth * (4 * c.d_model * c.n_heads * c.head_dim + 2 * c.d_model * c.d_ff)
    assert 1 - mats(small) / mats(cfg) == pytest.approx(p)


def test_family_without_prune_to_cannot_prune():
    kernel = get_family("kernel")
    assert not prune.can_prune(kernel) and prune.can_prune(MLP) and prune.can_prune(TF)
    with pytest.raises(ValueError, match="cannot prune"):
        prune.prune_student(kernel, {}, 8, 4, jax.random.key(0))
    with pytest.raises(ValueError, match="size-4 teacher to a size-8"):
        prune.prune_student(MLP, {}, 4, 8, jax.random.key(0))


# --- trained teachers: pruning by importance beats pruning at random --------------------------

@pytest.fixture(scope="module")
def tf_teacher():
    grid = Grid((8,), (32,), (64 * 12,), (300 * 32 * 12,), (0,))
    train = TrainSpec(learning_rate=1e-2, batch_size=32)
    teachers: dict = {}
    engine.run_unit(TF, engine.plan(TF, grid, train)[0], grid, train, teachers)
    return next(iter(teachers.values()))


def test_transformer_pruning_to_full_width_keeps_the_function(tf_teacher):
    same = TF.prune_to(tf_teacher, 32, 32, jax.random.key(1))
    x = sources.held_out(TF.sequence_source(), 8).inputs_BxL
    np.testing.assert_allclose(TF.apply(same, x, 32), TF.apply(tf_teacher, x, 32), atol=1e-5)


def test_transformer_importance_beats_random_choice(tf_teacher):
    """Dropping the least important units hurts less than dropping random ones, and a pruned
    student starts closer to its teacher than a random one."""
    cfg = TF.config(32)
    state = tf._state(cfg, tf_teacher)
    imp = jax.tree.map(np.asarray, tf.importance(cfg, state, TF.sequence_source(), jax.random.key(1)))
    kl = lambda p: float(TF.evaluate({}, tf.flatten(p), 16, tf_teacher, 32)["kl_to_teacher"])
    _, best = tf.prune_params(cfg, state, imp, 16)
    best = nnx_pure(best)
    rng = np.random.default_rng(0)
    rand = [nnx_pure(tf.prune_params(cfg, state, jax.tree.map(lambda a: rng.random(a.shape), imp), 16)[1])
            for _ in range(3)]
    assert kl(best) < np.mean([kl(r) for r in rand]), (kl(best), [kl(r) for r in rand])
    assert kl(best) < kl(tf.unflatten(TF.init(jax.random.key(2), 16, 16)))


def nnx_pure(state):
    from flax import nnx
    return nnx.to_pure_dict(state)


def test_mlp_pruning_beats_random_choice():
    grid = Grid((8,), (32,), (64,), (64 * 200,), (0,))
    teachers: dict = {}
    engine.run_unit(MLP, engine.plan(MLP, grid, FAST)[0], grid, FAST, teachers)
    teacher = teachers[(32, 64 * 200, 0)]
    best = MLP.prune_to(teacher, 32, 16, jax.random.key(0))
    rng = np.random.default_rng(0)

    def random_prune():
        k1, k2 = np.sort(rng.permutation(32)[:16]), np.sort(rng.permutation(32)[:16])
        return {"hidden1/kernel": teacher["hidden1/kernel"][:, k1], "hidden1/bias": teacher["hidden1/bias"][k1],
                "hidden2/kernel": teacher["hidden2/kernel"][k1][:, k2], "hidden2/bias": teacher["hidden2/bias"][k2],
                "out/kernel": teacher["out/kernel"][k2], "out/bias": teacher["out/bias"]}

    kl = lambda p: float(MLP.evaluate({}, p, 16, teacher, 32)["kl_to_teacher"])
    # a first-order criterion: reliable at moderate sparsity (here 50 % of neurons per layer)
    assert kl(best) < np.mean([kl(random_prune()) for _ in range(5)])
    assert kl(best) < kl(MLP.init(jax.random.key(1), 16, 16))


# --- the engine: Zhang et al.'s protocol and the largest-teacher control ----------------------

def test_engine_pruned_from_teacher_end_to_end():
    """Each distilled student starts as THE teacher it is distilled from, pruned to its size;
    pairs with teacher_size <= student_size are not run; supervised baselines start random."""
    grid = Grid(student_sizes=(4,), teacher_sizes=(4, 6, 8), student_budgets=(64 * 5,),
                       teacher_budgets=(64 * 40,), seeds=(0, 1), student_init="pruned_from_teacher")
    train = TrainSpec(learning_rate=3e-3, batch_size=64, lam=0.5)
    units = engine.plan(MLP, grid, train)
    sup = next(u for u in units if u.kind == "supervised")
    assert sup.needs == () and all(engine.prune_source(MLP, grid, sup.kind, m) is None for m in sup.members)
    teachers: dict = {}
    rows = engine.run_grid(MLP, grid, train, teachers)
    dist = [r for r in rows if r["run_kind"] == "distilled"]
    assert sorted({r["teacher_size"] for r in dist}) == [6, 8] and len(dist) == 4
    assert all(r["student_init"] == "pruned_from_teacher" and r["lam"] == 0.5 and not r["diverged"]
               for r in dist)

    unit = next(u for u in units if u.kind == "distilled")
    inits = engine.unit_inputs(MLP, unit, grid, train, teachers)[1].init
    for i, m in enumerate(unit.members):
        assert m.teacher in unit.needs
        expect = prune.prune_student(MLP, teachers[m.teacher], m.teacher_size, m.size,
                                     feed.streams(m.seed)["student_init"])
        assert count(expect) == MLP.param_count(m.size)
        for k, v in expect.items():
            np.testing.assert_array_equal(inits[k][i][tuple(slice(0, s) for s in v.shape)], v)
    # students of one size and seed pruned from different teachers start differently
    by = {(m.teacher_size, m.seed): i for i, m in enumerate(unit.members)}
    for seed in grid.seeds:
        a, b = by[(6, seed)], by[(8, seed)]
        assert not np.allclose(inits["hidden2/kernel"][a], inits["hidden2/kernel"][b])


def test_engine_pruned_from_largest_is_the_control():
    grid = Grid((4,), (6, 8), (64,), (64 * 20,), (0,), student_init="pruned_from_largest")
    units = engine.plan(MLP, grid, FAST)
    assert all((8, 64 * 20, 0) in u.needs for u in units if u.kind != "teacher")
    teachers: dict = {}
    for u in units:
        if u.kind == "teacher":
            engine.run_unit(MLP, u, grid, FAST, teachers)
    unit = next(u for u in units if u.kind == "distilled")
    inits = engine.unit_inputs(MLP, unit, grid, FAST, teachers)[1].init
    for k in inits:  # the same start whatever the teacher
        np.testing.assert_array_equal(inits[k][0], inits[k][1])


@pytest.mark.slow  # 4 transformer compiles
def test_engine_pruned_from_teacher_transformer():
    tokens = TF.sequence_source().seq_len
    grid = Grid((8,), (16, 24), (64 * tokens,), (64 * 20 * tokens,), (0,),
                       student_init="pruned_from_teacher")
    train = TrainSpec(learning_rate=3e-3, batch_size=64, lam=0.5)
    teachers: dict = {}
    rows = engine.run_grid(TF, grid, train, teachers)
    dist = [r for r in rows if r["run_kind"] == "distilled"]
    assert len(dist) == 2 and not any(r["diverged"] for r in rows)
    a, b = (TF.prune_to(teachers[(t, 64 * 20 * tokens, 0)], t, 8, feed.streams(0)["student_init"])
            for t in (16, 24))
    assert count(a) == count(b) == TF.param_count(8)
    assert not np.allclose(a["blocks/0/q/kernel"], b["blocks/0/q/kernel"])


def test_bad_student_inits_are_refused_with_the_reason():
    base = {"name": "t", "family": "mlp",
            "grid": {"student_sizes": [8, 16], "teacher_sizes": [8, 16, 32], "seeds": 2}}
    with pytest.raises(ConfigError, match="pruned_from_teacher.*pruned_from_largest"):
        from_config(parse_config({**base, "grid": {**base["grid"], "student_init": "pruned"}}, source="old.toml"))
    big = {**base["grid"], "student_sizes": [8, 32], "student_init": "pruned_from_teacher"}
    with pytest.raises(ConfigError, match=r"sizes \[32\] have no teacher larger"):
        from_config(parse_config({**base, "grid": big}, source="bad.toml"))
    with pytest.raises(ConfigError, match="kernel' cannot"):
        from_config(parse_config({**base, "family": "kernel", "grid": {**base["grid"], "student_init": "pruned_from_teacher"}}))
    with pytest.raises(ValueError, match="unknown student_init 'pruned'.*was split"):
        engine.plan(MLP, Grid((4,), (8,), (64,), (64,), (0,), student_init="pruned"), FAST)
