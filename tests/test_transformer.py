import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simgap import engine, feed, optim, sources
from simgap.config import TrainSpec
from simgap.families import transformer as tf


@pytest.fixture(scope="module")
def src():
    return sources.markov_source(0, vocab_size=16, order=1, support=4, seq_len=12)


def cfg_for(src, d_model=16, depth=2):
    return tf.ModelConfig(d_model=d_model, depth=depth, vocab_size=src.vocab_size,
                          seq_len=src.seq_len)


@pytest.mark.parametrize("d_model,depth", [(8, 1), (16, 2), (24, 3)])
def test_param_count_from_true_shapes(src, d_model, depth):
    cfg = cfg_for(src, d_model, depth)
    params = tf.init(jax.random.key(0), cfg)
    assert sum(x.size for x in jax.tree.leaves(params)) == tf.param_count(cfg)
    emb = src.vocab_size * d_model + src.seq_len * d_model
    assert tf.param_count(cfg, embeddings=False) == tf.param_count(cfg) - emb


def test_width_rule():
    cfg = tf.ModelConfig(d_model=32, depth=2, vocab_size=8, seq_len=4)
    assert (cfg.n_heads, cfg.d_ff) == (4, 128)
    with pytest.raises(ValueError, match="multiple of head_dim"):
        tf.ModelConfig(d_model=12, depth=1, vocab_size=8, seq_len=4)


def test_causal(src):
    cfg = cfg_for(src)
    params = tf.init(jax.random.key(1), cfg)
    tokens = jax.random.randint(jax.random.key(2), (3, src.seq_len), 0, src.vocab_size)
    logits = tf.apply(cfg, params, tokens)
    assert logits.shape == (3, src.seq_len, src.vocab_size)
    t = 7
    changed = tokens.at[:, t].set((tokens[:, t] + 1) % src.vocab_size)
    logits2 = tf.apply(cfg, params, changed)
    np.testing.assert_array_equal(logits[:, :t], logits2[:, :t])
    assert not np.allclose(logits[:, t:], logits2[:, t:])


def train(key, cfg, source, steps: int, batch_size: int = 32, learning_rate: float = 1e-2):
    """The model alone (no engine, no padding): fresh sequences every step, simgap.optim's AdamW."""
    key_init, key_data = jax.random.split(key)

    def loss_fn(p, i):
        batch = source.sample(jax.random.fold_in(key_data, i), batch_size)
        return tf.distill_loss(tf.apply(cfg, p, batch.inputs_BxL), batch, None, 1.0, 1.0)

    opt = optim.adamw(steps, learning_rate, 0.05, 0.0)
    return optim.minimize(loss_fn, tf.init(key_init, cfg), opt, steps)[0]


def held_out_loss(cfg, params, batch) -> float:
    return float(sources.cross_entropy(tf.apply(cfg, params, batch.inputs_BxL), batch))


def test_training_approaches_the_source_entropy(src):
    cfg = cfg_for(src)
    held = sources.held_out(src, 128)
    before = held_out_loss(cfg, tf.init(jax.random.split(jax.random.key(0))[0], cfg), held)
    after = held_out_loss(cfg, jax.jit(lambda k: train(k, cfg, src, steps=300))(jax.random.key(0)), held)
    E = float(sources.entropy(held))
    assert after < before
    assert after - E < 0.3 * (before - E), (before, after, E)


# --- the engine's family interface ----------------------------------------------------------

def small_family(**kw):
    from simgap.families import get_family

    return get_family("transformer", source="markov", depth=1, held_out_sequences=128,
                      source_params=dict(vocab_size=16, support=4, seq_len=12), **kw)


def test_family_registered_with_true_shapes_and_counts():
    fam = small_family()
    assert fam.source_params == (("seq_len", 12), ("support", 4), ("vocab_size", 16))
    params = fam.init(jax.random.key(0), 16, 16)
    assert {k: v.shape for k, v in params.items()} == fam.param_shapes(16)
    assert sum(v.size for v in params.values()) == fam.param_count(16)
    assert fam.steps(64 * 12 * 10, 64) == 10 and fam.samples_seen(64 * 12 * 10, 64) == 64 * 12 * 10
    assert 0 < fam.irreducible_loss() < np.log(4)
    with pytest.raises(TypeError):
        small_family(source_params=dict(vocab_size=16, nope=1))


def test_trivial_loss_is_uniform_next_token_prediction():
    fam = small_family()
    zero = {k: jnp.zeros(s) for k, s in fam.param_shapes(8).items()}  # zero unembedding: uniform logits
    assert float(fam.evaluate({}, zero, 8, None, None)["loss"]) == pytest.approx(np.log(16), rel=1e-6)
    assert float(fam.trivial_loss({})) == pytest.approx(np.log(16))


def run(fam, kind, size, seeds, budget, teacher=None, tsize=None):
    """One bucket of hand-picked members, fed by simgap.feed as the engine feeds it."""
    train = TrainSpec(learning_rate=1e-2, batch_size=32)
    members = [engine.Member(size, tsize, budget, None if tsize is None else budget, s) for s in seeds]
    spec = engine.Spec(fam, kind, size, tsize or 0, budget, train.batch_size)
    inputs, batches = feed.inputs(spec, members, train, teacher=None if teacher is None else jax.device_get(teacher))
    return jax.tree.map(np.asarray, engine.run_bucket(spec, inputs, batches))


def test_vmapped_member_equals_the_run_alone():  # two engine compiles: ~30 s on 2 cores
    fam = small_family()
    budget = 32 * 12 * 40
    teacher = jax.vmap(lambda k: fam.init(k, 16, 16))(jax.random.split(jax.random.key(9), 2))
    params, metrics = run(fam, "distilled", 8, [0, 1], budget, teacher, 16)
    alone_p, alone_m = run(fam, "distilled", 8, [1], budget,
                           jax.tree.map(lambda a: a[1:], teacher), 16)
    for k in ("loss", "kl_to_teacher", "teacher_loss"):
        np.testing.assert_allclose(metrics[k][1], alone_m[k][0], atol=2e-5)
    for k in params:
        np.testing.assert_allclose(params[k][1], alone_p[k][0], atol=2e-5)


def test_wider_teachers_reach_lower_held_out_loss_at_equal_budget():  # two compiles: ~30 s
    fam = small_family()
    seeds, budget = [0, 1, 2], 32 * 12 * 150
    losses = {d: run(fam, "teacher", d, seeds, budget)[1]["loss"] for d in (8, 32)}
    means = [losses[d].mean() for d in (8, 32)]
    assert means[0] > means[1], losses
    assert means[1] > fam.irreducible_loss()
