import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simgap import sources


@pytest.fixture(scope="module")
def markov():
    return sources.markov_source(0, vocab_size=16, order=2, support=4, zipf=1.0, seq_len=48)


@pytest.fixture(scope="module")
def recall():
    return sources.recall_source(n_keys=8, n_values=8, n_pairs=5, n_queries=3, noise=0.1)


def test_inverse_cdf_matches_probabilities():
    p = np.array([0.5, 0.0, 0.3, 0.2])
    cdf = jnp.asarray(sources._cdf(p[None]))[0]
    u = jax.random.uniform(jax.random.key(0), (200_000,))
    j = sources.inverse_cdf(jnp.broadcast_to(cdf, (u.size, 4)), u)
    freq = np.bincount(np.asarray(j), minlength=4) / u.size
    np.testing.assert_allclose(freq, p, atol=5e-3)
    assert freq[1] == 0.0


@pytest.mark.parametrize("name", ["markov", "recall"])
def test_shapes_and_probabilities(name, request):
    src = request.getfixturevalue(name)
    b = jax.jit(src.sample, static_argnums=1)(jax.random.key(1), 7)
    L, V = src.seq_len, src.vocab_size
    assert b.tokens_BxL1.shape == (7, L + 1) and b.probs_BxLxV.shape == (7, L, V)
    assert b.weights_BxL.shape == (7, L)
    np.testing.assert_allclose(b.probs_BxLxV.sum(-1), 1.0, atol=1e-5)
    # every realised next token had positive probability under the stated truth
    p_next = jnp.take_along_axis(b.probs_BxLxV, b.next_BxL[..., None], -1)[..., 0]
    assert bool(jnp.all(p_next > 0))


@pytest.mark.parametrize("name", ["markov", "recall"])
def test_truth_scores_its_own_entropy(name, request):
    src = request.getfixturevalue(name)
    b = sources.held_out(src, 64)
    log_truth = jnp.log(jnp.maximum(b.probs_BxLxV, 1e-30))
    np.testing.assert_allclose(sources.cross_entropy(log_truth, b), sources.entropy(b), rtol=1e-5)
    # any other prediction scores worse (Gibbs)
    assert sources.cross_entropy(jnp.zeros_like(log_truth), b) > sources.entropy(b)


def test_markov_entropy_rate_matches_monte_carlo(markov):
    b = sources.held_out(markov, 2000)
    p_next = jnp.take_along_axis(b.probs_BxLxV, b.next_BxL[..., None], -1)[..., 0]
    burn = 16  # let the chain forget its uniform start
    mc = float(-jnp.mean(jnp.log(p_next[:, burn:])))
    exact_on_sample = float(jnp.mean(-jnp.sum(
        b.probs_BxLxV[:, burn:] * jnp.log(jnp.maximum(b.probs_BxLxV[:, burn:], 1e-30)), -1)))
    rate = markov.entropy_rate()
    assert 0 < rate < np.log(4)
    assert abs(mc - rate) < 0.01, (mc, rate)
    assert abs(exact_on_sample - rate) < 0.01, (exact_on_sample, rate)


def test_recall_structure(recall):
    b = recall.sample(jax.random.key(3), 256)
    K, n = recall.n_keys, recall.n_pairs
    tok = np.asarray(b.tokens_BxL1)
    keys, vals = tok[:, 0:2 * n:2], tok[:, 1:2 * n:2]
    assert all(len(set(r)) == n for r in keys)  # distinct keys
    assert (keys < K).all() and (vals >= K).all()
    w = np.asarray(b.weights_BxL)
    assert w.sum(1).tolist() == [recall.n_queries] * 256
    # at scored positions the truth puts 1 - noise + noise/n_values on the context's value
    q_pos = np.flatnonzero(w[0])
    for i in range(8):
        for t in q_pos:
            q = tok[i, t]
            value = vals[i][list(keys[i]).index(q)]
            assert abs(b.probs_BxLxV[i, t, value] - (0.9 + 0.1 / 8)) < 1e-6
    # the answer is right with probability 1 - noise + noise/n_values
    right = np.mean([tok[i, t + 1] == vals[i][list(keys[i]).index(tok[i, t])]
                     for i in range(256) for t in q_pos])
    assert abs(right - 0.9125) < 0.04


def test_recall_noiseless_entropy_is_zero():
    src = sources.recall_source(n_keys=8, n_values=8, n_pairs=4, n_queries=2)
    assert float(sources.entropy(src.sample(jax.random.key(0), 16))) == 0.0


def test_make_source_names_unknown():
    with pytest.raises(KeyError, match="unknown source"):
        sources.make_source("nope")
    assert sources.make_source("recall", n_pairs=3).seq_len == 2 * (3 + 4) - 1


@pytest.mark.parametrize("n_members", [5, 8])
def test_vmapped_losses_equal_the_loop(recall, n_members):
    """Regression: XLA CPU once returned member 0's loss for member 3 under jit(vmap)."""
    b = sources.held_out(recall, 256)
    logits = jax.random.normal(jax.random.key(0), (n_members, *b.probs_BxLxV.shape))
    for f in (sources.cross_entropy, sources.sampled_cross_entropy, sources.accuracy,
              lambda l, b: sources.kl_divergence(l, 0.5 * l[::-1], b)):
        vmapped = jax.jit(jax.vmap(f, (0, None)))(logits, b)
        looped = [float(f(logits[i], b)) for i in range(n_members)]
        np.testing.assert_allclose(vmapped, looped, rtol=1e-5)
