import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simgap import sources
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


def test_training_approaches_the_source_entropy(src):
    cfg = cfg_for(src)
    held = sources.held_out(src, 128)
    tc = tf.TrainConfig(steps=300, batch_size=32, learning_rate=1e-2)
    before = tf.evaluate(cfg, tf.init(jax.random.split(jax.random.key(0))[0], cfg), held)["loss"]
    after = tf.evaluate(cfg, jax.jit(lambda k: tf.train(k, cfg, src, tc))(jax.random.key(0)),
                        held)["loss"]
    E = float(sources.entropy(held))
    assert after < before
    assert after - E < 0.3 * (before - E), (before, after, E)
