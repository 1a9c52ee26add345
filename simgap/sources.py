"""Sequence sources whose next-token distribution is known exactly at every position.

Knowing the truth makes every loss exact: a model is scored by the cross-entropy of the true
next-token distribution against its prediction (not by sampled tokens), and the irreducible
loss E is the exact entropy of that truth on the held-out set.

A source is a small frozen object with `vocab_size`, `seq_len` and a pure
`sample(key, batch_size) -> SeqBatch` that jit/vmaps; fresh sequences every step, a fixed
held-out set from a fixed key, and the data budget counted in scored tokens.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from simgap import memory


class SeqBatch(NamedTuple):
    """`tokens_BxL1` holds L+1 tokens: the model reads tokens[:, :-1] and is scored at each of
    its L positions against `probs_BxLxV` (true law of tokens[:, t+1] given tokens[:, :t+1]),
    weighted by `weights_BxL` (1 where a position counts, 0 where it does not)."""

    tokens_BxL1: jax.Array
    probs_BxLxV: jax.Array
    weights_BxL: jax.Array

    @property
    def inputs_BxL(self) -> jax.Array:
        return self.tokens_BxL1[:, :-1]

    @property
    def next_BxL(self) -> jax.Array:
        return self.tokens_BxL1[:, 1:]


def inverse_cdf(cdf_xK: jax.Array, u_x: jax.Array) -> jax.Array:
    """Index j with cdf[j-1] <= u < cdf[j]; ~50x faster than jax.random.categorical in a scan.
    Callers keep every probability > 0 and cdf[-1] == 1 so no zero-mass index is drawn."""
    return jnp.minimum(jnp.sum(cdf_xK <= u_x[..., None], axis=-1), cdf_xK.shape[-1] - 1)


def _cdf(p_xK: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(p_xK, axis=-1)
    cdf /= cdf[..., -1:]
    cdf[..., -1] = 1.0
    return cdf.astype(np.float32)


def entropy(batch: SeqBatch) -> jax.Array:
    """Exact irreducible loss of the batch: weighted mean entropy of the true next token."""
    p = batch.probs_BxLxV
    h_BxL = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0), axis=-1)
    return jnp.sum(h_BxL * batch.weights_BxL) / jnp.sum(batch.weights_BxL)


def weighted_mean(x_BxLxV: jax.Array, weights_BxL: jax.Array) -> jax.Array:
    """sum_{b,l,v} x w_bl / sum w. The weights multiply the full B x L x V product before one
    reduction on purpose: under jit(vmap) with more than 3 members, XLA CPU (jax 0.10.2)
    returned member 0's value for member 3 when a V-reduction was followed by a weighted
    (B, L) reduction (tests/test_sources.py::test_vmapped_losses_equal_the_loop)."""
    return jnp.sum(x_BxLxV * weights_BxL[..., None]) / jnp.sum(weights_BxL)


def cross_entropy(logits_BxLxV: jax.Array, batch: SeqBatch) -> jax.Array:
    """Exact cross-entropy of the true distribution against the model: E + KL(truth || model)."""
    logq = jax.nn.log_softmax(logits_BxLxV.astype(jnp.float32), axis=-1)
    return -weighted_mean(batch.probs_BxLxV * logq, batch.weights_BxL)


def sampled_cross_entropy(logits_BxLxV: jax.Array, batch: SeqBatch) -> jax.Array:
    """Cross-entropy against the sampled next tokens: what a model trained on data sees."""
    logq = jax.nn.log_softmax(logits_BxLxV.astype(jnp.float32), axis=-1)
    onehot = jax.nn.one_hot(batch.next_BxL, logq.shape[-1])
    return -weighted_mean(onehot * logq, batch.weights_BxL)


def kl_divergence(p_logits_BxLxV: jax.Array, q_logits_BxLxV: jax.Array, batch: SeqBatch):
    """KL(p || q) between two models' next-token laws over the scored positions."""
    log_p = jax.nn.log_softmax(p_logits_BxLxV.astype(jnp.float32), -1)
    log_q = jax.nn.log_softmax(q_logits_BxLxV.astype(jnp.float32), -1)
    return weighted_mean(jnp.exp(log_p) * (log_p - log_q), batch.weights_BxL)


def accuracy(logits_BxLxV: jax.Array, batch: SeqBatch) -> jax.Array:
    """Weighted share of positions where the model's argmax is the truth's most likely token."""
    hit = jnp.argmax(logits_BxLxV, -1) == jnp.argmax(batch.probs_BxLxV, -1)
    return weighted_mean(hit[..., None].astype(jnp.float32), batch.weights_BxL)


@dataclasses.dataclass(frozen=True, eq=False)
class MarkovSource:
    """Order-k chain over V tokens; each context puts Zipf weights (rank^-zipf) on `support`
    random next tokens: a soft truth. The first k tokens are uniform; positions t >= k-1 score."""

    vocab_size: int
    order: int
    support: int
    zipf: float
    seq_len: int
    support_tokens: np.ndarray  # (V^k, support) int32
    support_cdf: np.ndarray  # (V^k, support) float32
    table: np.ndarray  # (V^k, V) float32: the dense next-token law per context

    def sample(self, key: jax.Array, batch_size: int) -> SeqBatch:
        V, k, L = self.vocab_size, self.order, self.seq_len
        key_start, key_u = jax.random.split(key)
        start_Bxk = jax.random.randint(key_start, (batch_size, k), 0, V)
        ctx_B = jnp.zeros(batch_size, jnp.int32)
        for j in range(k):
            ctx_B = ctx_B * V + start_Bxk[:, j]
        u_NxB = jax.random.uniform(key_u, (L + 1 - k, batch_size))
        tokens_tab, cdf_tab = jnp.asarray(self.support_tokens), jnp.asarray(self.support_cdf)

        def step(ctx_B, u_B):
            j_B = inverse_cdf(cdf_tab[ctx_B], u_B)
            tok_B = tokens_tab[ctx_B, j_B]
            return (ctx_B * V + tok_B) % (V**k), (tok_B, ctx_B)

        _, (tok_NxB, ctx_NxB) = jax.lax.scan(step, ctx_B, u_NxB)
        tokens = jnp.concatenate([start_Bxk, tok_NxB.T], axis=1).astype(jnp.int32)
        chain_probs = jnp.asarray(self.table)[ctx_NxB.T]  # law of tokens k..L
        warm = jnp.full((batch_size, k - 1, V), 1.0 / V, jnp.float32)
        probs = jnp.concatenate([warm, chain_probs], axis=1)
        weights = jnp.concatenate(
            [jnp.zeros((batch_size, k - 1)), jnp.ones((batch_size, L + 1 - k))], axis=1
        )
        return SeqBatch(tokens, probs, weights)

    def entropy_rate(self) -> float:
        """Exact stationary entropy rate: sum over contexts of pi(c) H(next | c)."""
        V, k = self.vocab_size, self.order
        n = V**k
        P = np.zeros((n, n))  # context -> context transition
        for c in range(n):
            for v in range(V):
                P[c, (c * V + v) % n] += self.table[c, v]
        w, vecs = np.linalg.eig(P.T)
        pi = np.real(vecs[:, np.argmin(np.abs(w - 1))])
        pi = pi / pi.sum()
        t = self.table.astype(np.float64)
        h_c = -np.sum(np.where(t > 0, t * np.log(np.where(t > 0, t, 1)), 0), axis=1)
        return float(pi @ h_c)


def markov_source(
    seed: int, vocab_size: int = 64, order: int = 1, support: int = 8, zipf: float = 1.0,
    seq_len: int = 32,
) -> MarkovSource:
    """The pilot's chain by default (V=64, order 1, Zipf 1 on 8 tokens)."""
    _integers("markov", vocab_size=(vocab_size, 2), order=(order, 1), support=(support, 1), seq_len=(seq_len, order))
    if support > vocab_size:
        raise ValueError(f"markov: support={support} must be <= vocab_size={vocab_size}")
    if not (isinstance(zipf, (int, float)) and math.isfinite(zipf) and zipf >= 0):
        raise ValueError(f"markov: zipf must be a finite number >= 0, got {zipf!r}")
    n_ctx = vocab_size**order
    memory.require(f"markov source vocab_size={vocab_size}, order={order} ({vocab_size}^{order} contexts)",
                   table_bytes(vocab_size, order, support))
    rng = np.random.default_rng(seed)
    w = np.arange(1, support + 1, dtype=np.float64) ** -zipf
    w /= w.sum()
    support_tokens = np.stack([rng.choice(vocab_size, support, replace=False) for _ in range(n_ctx)])
    table = np.zeros((n_ctx, vocab_size))
    np.put_along_axis(table, support_tokens, w[None, :], axis=1)
    return MarkovSource(
        vocab_size, order, support, zipf, seq_len, support_tokens.astype(np.int32),
        _cdf(np.broadcast_to(w, (n_ctx, support))), table.astype(np.float32),
    )


@dataclasses.dataclass(frozen=True, eq=False)
class RecallSource:
    """In-context associative recall: `k1 v1 ... kn vn q1 a1 ... qm am`. Keys are distinct and
    drawn from n_keys tokens, values from n_values tokens (ids after the keys); each query is a
    key from the context and its answer is that key's value, replaced by a uniform value with
    probability `noise`. Only answers score, so the truth there is (nearly) one-hot and must be
    discovered by looking back; every other position's law is known too (uniform)."""

    n_keys: int
    n_values: int
    n_pairs: int
    n_queries: int
    noise: float

    @property
    def vocab_size(self) -> int:
        return self.n_keys + self.n_values

    @property
    def seq_len(self) -> int:
        return 2 * (self.n_pairs + self.n_queries) - 1

    def sample(self, key: jax.Array, batch_size: int) -> SeqBatch:
        K, Vv, n, m, B = self.n_keys, self.n_values, self.n_pairs, self.n_queries, batch_size
        k_perm, k_val, k_q, k_noise, k_flip = jax.random.split(key, 5)
        keys_Bxn = jnp.argsort(jax.random.uniform(k_perm, (B, K)), axis=1)[:, :n]
        vals_Bxn = jax.random.randint(k_val, (B, n), 0, Vv)
        qidx_Bxm = jax.random.randint(k_q, (B, m), 0, n)
        qkeys_Bxm = jnp.take_along_axis(keys_Bxn, qidx_Bxm, axis=1)
        true_Bxm = jnp.take_along_axis(vals_Bxn, qidx_Bxm, axis=1)
        flip = jax.random.uniform(k_flip, (B, m)) < self.noise
        ans_Bxm = jnp.where(flip, jax.random.randint(k_noise, (B, m), 0, Vv), true_Bxm)
        pairs = jnp.stack([keys_Bxn, vals_Bxn + K], -1).reshape(B, 2 * n)
        queries = jnp.stack([qkeys_Bxm, ans_Bxm + K], -1).reshape(B, 2 * m)
        tokens = jnp.concatenate([pairs, queries], axis=1).astype(jnp.int32)

        V = self.vocab_size
        value_law = jnp.zeros(V).at[K:].set(1.0 / Vv)
        # after value j (0-based) of the pairs: a fresh key, uniform over the K-j-1 unused ones
        used_BxnxK = jnp.cumsum(jax.nn.one_hot(keys_Bxn, V), axis=1)
        fresh_BxnxV = (1.0 - used_BxnxK) * (jnp.arange(V) < K)
        fresh_BxnxV = fresh_BxnxV / jnp.maximum(fresh_BxnxV.sum(-1, keepdims=True), 1.0)
        ctx_keys_BxV = used_BxnxK[:, -1] / n  # a query: uniform over the n context keys
        fresh_BxnxV = fresh_BxnxV.at[:, -1].set(ctx_keys_BxV)
        answer_BxmxV = (1 - self.noise) * jax.nn.one_hot(true_Bxm + K, V) + self.noise * value_law
        pair_probs = jnp.stack(
            [jnp.broadcast_to(value_law, (B, n, V)), fresh_BxnxV], axis=2
        ).reshape(B, 2 * n, V)
        query_probs = jnp.stack(
            [answer_BxmxV, jnp.broadcast_to(ctx_keys_BxV[:, None], (B, m, V))], axis=2
        ).reshape(B, 2 * m, V)[:, :-1]
        probs = jnp.concatenate([pair_probs, query_probs], axis=1)
        is_query = (jnp.arange(self.seq_len) >= 2 * n) & (jnp.arange(self.seq_len) % 2 == 0)
        weights = jnp.broadcast_to(is_query.astype(jnp.float32), (B, self.seq_len))
        return SeqBatch(tokens, probs, weights)


def recall_source(
    seed: int = 0, n_keys: int = 16, n_values: int = 16, n_pairs: int = 6, n_queries: int = 4,
    noise: float = 0.0,
) -> RecallSource:
    """`seed` is unused (the task's structure is fixed); kept so every source builds alike."""
    del seed
    _integers("recall", n_keys=(n_keys, 1), n_values=(n_values, 1), n_pairs=(n_pairs, 1), n_queries=(n_queries, 1))
    if not (isinstance(noise, (int, float)) and 0 <= noise <= 1):
        raise ValueError(f"recall: noise must be a number in [0, 1], got {noise!r}")
    if n_pairs > n_keys:
        raise ValueError(f"n_pairs={n_pairs} needs at least that many keys, got n_keys={n_keys}")
    return RecallSource(n_keys, n_values, n_pairs, n_queries, noise)


def _integers(source: str, **checks: tuple) -> None:
    """ValueError naming the first parameter that is not an integer >= its minimum."""
    for name, (value, low) in checks.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{source}: {name} must be an integer >= {low}, got {value!r}")


def table_bytes(vocab_size: int, order: int, support: int) -> int:
    """Memory a Markov source's tables take: the dense next-token law (float32, V^k x V) built in
    float64 first, and the support tokens and their CDF (V^k x support each)."""
    n_ctx = vocab_size**order
    return n_ctx * vocab_size * (8 + 4) + n_ctx * support * (8 + 4 + 4)


SOURCES = {"markov": markov_source, "recall": recall_source}


def make_source(name: str, seed: int = 0, **params):
    """Build a source by name from config data, e.g. make_source('recall', n_pairs=6)."""
    if name not in SOURCES:
        raise KeyError(f"unknown source {name!r}; known: {sorted(SOURCES)}")
    return SOURCES[name](seed, **params)


def held_out(source, n_sequences: int, seed: int = 10_000) -> SeqBatch:
    """The fixed held-out set: the same sequences for every model of an experiment."""
    return jax.jit(source.sample, static_argnums=1)(jax.random.key(seed), n_sequences)

