"""Structured pruning as in Zhang et al. (2311.07052): a student is its teacher pruned to size.

Each prunable unit (attention head, MLP neuron, hidden dimension shared by all layers) gets a
mask variable xi = 1; its importance is E|dL/dxi| over a few batches (the expected absolute
first-order change of the loss if the unit were removed). The least important units go. When
the hidden dimension is pruned together with heads/neurons, each gets sparsity
p' = 1 - sqrt(1 - p): the d x (heads or neurons) matrices then keep (1 - p')^2 = 1 - p of their
entries, so the total sparsity is p. Shapes after pruning equal those of a fresh model of the
student's size, so a pruned student trains in the same compiled step as a random one.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from simgap import sources
from simgap.families import transformer as tf


def component_sparsity(p: float) -> float:
    """Per-component sparsity whose product over two pruned axes gives total sparsity p."""
    return 1.0 - math.sqrt(1.0 - p)


def width_for_sparsity(cfg: tf.ModelConfig, p: float) -> int:
    """Student d_model for total sparsity p: d (1 - p'), rounded to whole heads."""
    keep = cfg.d_model * (1.0 - component_sparsity(p)) / cfg.head_dim
    return max(1, round(keep)) * cfg.head_dim


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, in their original order (keeps position structure)."""
    return np.sort(np.argsort(-scores, kind="stable")[:k])


# --- transformer -----------------------------------------------------------------------------


def transformer_importance(cfg: tf.ModelConfig, params: nnx.State, source, key: jax.Array,
                           n_batches: int = 8, batch_size: int = 64) -> dict:
    """E|dL/dxi| for every head, neuron and hidden dim; L = exact CE against the source."""

    def abs_grad(k):
        batch = source.sample(k, batch_size)
        loss = lambda m: sources.cross_entropy(tf.apply(cfg, params, batch.inputs_BxL, m), batch)
        return jax.tree.map(jnp.abs, jax.grad(loss)(tf.unit_masks(cfg)))

    grads = jax.lax.map(abs_grad, jax.random.split(key, n_batches))
    return jax.tree.map(lambda g: np.asarray(g.mean(0)), grads)


def prune_transformer(cfg: tf.ModelConfig, params: nnx.State, importance: dict,
                      d_model: int) -> tuple[tf.ModelConfig, nnx.State]:
    """Keep the most important d_model hidden dims, and per layer the most important heads and
    neurons so each ratio is d_model / cfg.d_model: the result has a fresh d_model model's
    shapes. Returns (student config, student params)."""
    if d_model > cfg.d_model or d_model % cfg.head_dim:
        raise ValueError(f"cannot prune d_model {cfg.d_model} to {d_model}")
    small = cfg.with_width(d_model)
    keep_D = _top(importance["hidden"], d_model)
    p = nnx.to_pure_dict(params)
    out = {
        "tok_emb": {"embedding": p["tok_emb"]["embedding"][:, keep_D]},
        "pos_emb": p["pos_emb"][:, keep_D],
        "final_norm": p["final_norm"][keep_D],
        "unembed": {"kernel": p["unembed"]["kernel"][keep_D]},
        "blocks": {},
    }
    K = cfg.head_dim
    for i, b in p["blocks"].items():
        heads = _top(importance["heads"][i], small.n_heads)
        keep_I = (heads[:, None] * K + np.arange(K)).reshape(-1)
        keep_F = _top(importance["neurons"][i], small.d_ff)
        out["blocks"][i] = {
            "attn_norm": b["attn_norm"][keep_D],
            "q": {"kernel": b["q"]["kernel"][keep_D][:, keep_I]},
            "k": {"kernel": b["k"]["kernel"][keep_D][:, keep_I]},
            "v": {"kernel": b["v"]["kernel"][keep_D][:, keep_I]},
            "o": {"kernel": b["o"]["kernel"][keep_I][:, keep_D]},
            "mlp_norm": b["mlp_norm"][keep_D],
            "up": {"kernel": b["up"]["kernel"][keep_D][:, keep_F]},
            "down": {"kernel": b["down"]["kernel"][keep_F][:, keep_D]},
        }
    student = nnx.eval_shape(lambda: nnx.split(tf.TransformerLM(small, nnx.Rngs(0)))[1])
    nnx.replace_by_pure_dict(student, out)
    return small, student


def pruned_transformer(cfg, params, source, key, d_model: int, n_batches: int = 8):
    """The teacher (cfg, params) pruned to a d_model student, importance from `key`'s batches."""
    imp = transformer_importance(cfg, params, source, key, n_batches)
    return prune_transformer(cfg, params, imp, d_model)


def _transformer_student(family, teacher: dict, teacher_size: int, size: int, key) -> dict:
    from simgap.families.transformer import flatten, unflatten

    cfg = family.config(teacher_size)
    state = nnx.eval_shape(lambda: nnx.split(tf.TransformerLM(cfg, nnx.Rngs(0)))[1])
    nnx.replace_by_pure_dict(state, jax.tree.map(jnp.asarray, unflatten(teacher)))
    _, student = pruned_transformer(cfg, state, family.sequence_source(), key, size)
    return jax.tree.map(np.asarray, flatten(nnx.to_pure_dict(student)))


# --- MLP (two ReLU hidden layers; flat params "hidden1/kernel", ...) -------------------------


def _mlp_forward(p: dict, x_BxI, m1_H, m2_H):
    h = jax.nn.relu(x_BxI @ p["hidden1/kernel"] + p["hidden1/bias"]) * m1_H
    h = jax.nn.relu(h @ p["hidden2/kernel"] + p["hidden2/bias"]) * m2_H
    return h @ p["out/kernel"] + p["out/bias"]


def mlp_importance(family, params: dict, key, n_batches: int = 8, batch_size: int = 512) -> dict:
    """E|dL/dxi| for the neurons of both hidden layers (L = cross-entropy on labels)."""
    from simgap.families.base import cross_entropy

    p = jax.tree.map(jnp.asarray, params)
    ones = jnp.ones(p["hidden1/bias"].shape[0])

    def abs_grad(k):
        x, y = family.sample(family.make_task(k), k, batch_size)
        loss = lambda m: cross_entropy(_mlp_forward(p, x, m[0], m[1]), y)
        return jax.tree.map(jnp.abs, jax.grad(loss)((ones, ones)))

    g1, g2 = jax.lax.map(abs_grad, jax.random.split(key, n_batches))
    return {"hidden1": np.asarray(g1.mean(0)), "hidden2": np.asarray(g2.mean(0))}


def prune_mlp(params: dict, importance: dict, width: int) -> dict:
    """Keep the `width` most important neurons of each hidden layer (fresh-width shapes)."""
    k1, k2 = _top(importance["hidden1"], width), _top(importance["hidden2"], width)
    p = {k: np.asarray(v) for k, v in params.items()}
    return {
        "hidden1/kernel": p["hidden1/kernel"][:, k1], "hidden1/bias": p["hidden1/bias"][k1],
        "hidden2/kernel": p["hidden2/kernel"][k1][:, k2], "hidden2/bias": p["hidden2/bias"][k2],
        "out/kernel": p["out/kernel"][k2], "out/bias": p["out/bias"],
    }


def _mlp_student(family, teacher: dict, teacher_size: int, size: int, key) -> dict:
    return prune_mlp(teacher, mlp_importance(family, teacher, key), size)


_STUDENT_PRUNERS = {"transformer": _transformer_student, "mlp": _mlp_student}


def can_prune(family) -> bool:
    return family.name in _STUDENT_PRUNERS


def prune_student(family, teacher: dict, teacher_size: int, size: int, key) -> dict:
    """A family's flat teacher params (true shapes, as the engine stores them) pruned to a
    student of `size`, flat with the student's true shapes: the engine's pruned init."""
    if size > teacher_size:
        raise ValueError(f"cannot prune a size-{teacher_size} teacher to a size-{size} student")
    return _STUDENT_PRUNERS[family.name](family, teacher, teacher_size, size, key)
