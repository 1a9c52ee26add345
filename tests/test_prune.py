import jax
import numpy as np
import pytest

from simgap import prune, sources
from simgap.families import transformer as tf


@pytest.fixture(scope="module")
def src():
    return sources.markov_source(0, vocab_size=16, order=1, support=4, seq_len=12)


@pytest.fixture(scope="module")
def teacher(src):
    cfg = tf.ModelConfig(d_model=32, depth=2, vocab_size=src.vocab_size, seq_len=src.seq_len)
    tc = tf.TrainConfig(steps=300, batch_size=32, learning_rate=1e-2)
    return cfg, jax.jit(lambda k: tf.train(k, cfg, src, tc))(jax.random.key(0))


def shapes(tree):
    return jax.tree.map(lambda x: x.shape, tree)


@pytest.mark.parametrize("p", [0.0, 0.19, 0.5, 0.75, 0.9])
def test_component_sparsity_composes_to_p(p):
    q = prune.component_sparsity(p)
    assert abs((1 - q) ** 2 - (1 - p)) < 1e-12


def test_pruned_student_has_the_fresh_student_shapes_and_count(src, teacher):
    cfg, params = teacher
    small, student = prune.pruned_transformer(cfg, params, src, jax.random.key(1), 16)
    fresh = tf.init(jax.random.key(2), small)
    assert shapes(student) == shapes(fresh)
    assert sum(x.size for x in jax.tree.leaves(student)) == tf.param_count(small)
    assert (small.d_model, small.n_heads, small.d_ff) == (16, 2, 64)


def test_sparsity_rule_gives_requested_total_sparsity(src):
    cfg = tf.ModelConfig(d_model=64, depth=2, vocab_size=src.vocab_size, seq_len=src.seq_len)
    p = 0.75
    small = cfg.with_width(prune.width_for_sparsity(cfg, p))
    assert small.d_model == 32
    # the d x (heads | neurons) matrices are pruned on both axes: exactly p of them removed
    mats = lambda c: c.depth * (4 * c.d_model * c.n_heads * c.head_dim + 2 * c.d_model * c.d_ff)
    assert 1 - mats(small) / mats(cfg) == pytest.approx(p)
    # embeddings, norms and the unembedding lose only p', so the total is a little under p
    total = 1 - tf.param_count(small) / tf.param_count(cfg)
    assert abs(total - p) < 0.05, total


def test_pruning_to_full_width_keeps_the_function(src, teacher):
    cfg, params = teacher
    same_cfg, same = prune.pruned_transformer(cfg, params, src, jax.random.key(1), cfg.d_model)
    batch = sources.held_out(src, 8)
    np.testing.assert_allclose(tf.apply(same_cfg, same, batch.inputs_BxL),
                               tf.apply(cfg, params, batch.inputs_BxL), atol=1e-5)


def test_pruned_student_starts_closer_to_teacher_than_random(src, teacher):
    cfg, params = teacher
    held = sources.held_out(src, 128)
    small, student = prune.pruned_transformer(cfg, params, src, jax.random.key(1), 16)
    kl_pruned = float(tf.kl_between(cfg, params, small, student, held))
    kl_random = [float(tf.kl_between(cfg, params, small, tf.init(jax.random.key(s), small), held))
                 for s in range(3)]
    assert kl_pruned < min(kl_random), (kl_pruned, kl_random)


def test_importance_beats_random_choice(src, teacher):
    """Dropping the least important units hurts less than dropping random ones."""
    cfg, params = teacher
    held = sources.held_out(src, 128)
    imp = prune.transformer_importance(cfg, params, src, jax.random.key(1))
    small, best = prune.prune_transformer(cfg, params, imp, 16)
    rng = np.random.default_rng(0)
    rand_imp = jax.tree.map(lambda a: rng.random(a.shape), imp)
    _, rand = prune.prune_transformer(cfg, params, rand_imp, 16)
    assert tf.kl_between(cfg, params, small, best, held) < tf.kl_between(cfg, params, small, rand, held)


@pytest.mark.parametrize("name,params,sizes", [
    ("mlp", dict(classes=4), (4, 6)),
    pytest.param("transformer", dict(source="recall", depth=1, source_params=dict(
        n_keys=8, n_values=8, n_pairs=3, n_queries=2)), (8,), marks=pytest.mark.slow),  # 3 compiles
])
def test_engine_pruned_students_start_from_the_largest_teacher(name, params, sizes):
    from simgap import engine
    from simgap.families import get_family

    family = get_family(name, **params)
    tokens = 1 if name == "mlp" else family.sequence_source().seq_len
    tb = 64 * 20 * tokens
    grid = engine.Grid(student_sizes=sizes, teacher_sizes=(8, 16), student_budgets=(64 * tokens,),
                       teacher_budgets=(tb,), seeds=(0,), student_init="pruned")
    train = engine.TrainSpec(learning_rate=3e-3, batch_size=64)
    teachers: dict = {}
    units = engine.plan(family, grid, train)
    for unit in units:
        if unit.kind == "teacher":
            engine.run_unit(family, unit, grid, train, teachers)
    unit = next(u for u in units if u.kind == "supervised")
    m = engine._member_arrays(family, unit, train, teachers)
    inits = engine._pruned_inits(family, unit, grid, teachers)
    (size, *_), seed = unit.members[0], unit.members[0][-1]
    expect = prune.prune_student(family, teachers[(16, tb, seed)], 16, size,
                                 engine.streams(seed)["student_init"])
    for k, v in expect.items():
        np.testing.assert_array_equal(inits[k][0][tuple(slice(0, s) for s in v.shape)], v)
    rows = engine.run_unit(family, unit, grid, train, teachers)
    assert all(r["student_init"] == "pruned" and not r["diverged"] for r in rows)
    assert m["size"].shape == (len(unit.members),)


def test_mlp_pruning_keeps_shapes_and_beats_random_choice():
    from simgap import engine
    from simgap.families import get_family

    family = get_family("mlp", classes=4)
    grid = engine.Grid((8,), (32,), (64,), (64 * 200,), (0,))
    train = engine.TrainSpec(learning_rate=3e-3, batch_size=64)
    teachers: dict = {}
    engine.run_unit(family, engine.plan(family, grid, train)[0], grid, train, teachers)
    teacher = teachers[(32, 64 * 200, 0)]
    imp = prune.mlp_importance(family, teacher, jax.random.key(0))
    best = prune.prune_mlp(teacher, imp, 16)
    assert {k: v.shape for k, v in best.items()} == family.param_shapes(16)
    rng = np.random.default_rng(0)
    rand = [prune.prune_mlp(teacher, jax.tree.map(lambda a: rng.random(a.shape), imp), 16)
            for _ in range(5)]
    kl = lambda p: float(family.evaluate({}, p, 16, teacher, 32)["kl_to_teacher"])
    # a first-order criterion: reliable at moderate sparsity (here 50 % of neurons per layer)
    assert kl(best) < np.mean([kl(r) for r in rand]), (kl(best), [kl(r) for r in rand])
    assert kl(best) < kl(family.init(jax.random.key(1), 16, 16))
