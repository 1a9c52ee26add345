"""MLP on the "mapping problem" (Busbridge et al. App. C.2); capacity = d_ffn.

Input x (length 2K, entries in {0,1,2}): a context c (first K) and a one-hot position i
(last K). Label: i if c[i] = 0, else the other position j with c[j] = c[i].

Generator: every nonzero value appears exactly twice or not at all in the context (so the
label is always defined), and inputs are drawn UNIFORMLY from the finite set of all such
inputs (3,816 at K=8). Because that distribution is known and finite, the held-out loss is
the exact population cross-entropy by enumeration, not a sampled estimate.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from simgap import memory, prune
from simgap.families import base


@functools.lru_cache(maxsize=4)
def all_inputs(classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Every valid input (P x 2K, float32) and its label (P, int32), in a fixed order."""
    k = classes
    contexts = [np.zeros(k, np.int8)]
    pairs = list(itertools.combinations(range(k), 2))
    for value in (1, 2):
        for a, b in pairs:
            c = np.zeros(k, np.int8)
            c[[a, b]] = value
            contexts.append(c)
    for (a, b), (c2, d2) in itertools.product(pairs, pairs):
        if len({a, b, c2, d2}) == 4:
            c = np.zeros(k, np.int8)
            c[[a, b]], c[[c2, d2]] = 1, 2
            contexts.append(c)
    xs, ys = [], []
    for c in contexts:
        for i in range(k):
            xs.append(np.concatenate([c, np.eye(k, dtype=np.int8)[i]]))
            ys.append(label(c, i))
    return np.asarray(xs, np.float32), np.asarray(ys, np.int32)


def input_count(classes: int) -> int:
    """len(all_inputs(classes)) without enumerating: (1 + 2 C(K,2) + C(K,2) C(K-2,2)) contexts
    (all zero; one value on a pair; value 1 and value 2 each on a disjoint pair), K positions each."""
    k = classes
    return k * (1 + 2 * math.comb(k, 2) + math.comb(k, 2) * math.comb(k - 2, 2))


def label(context, i: int) -> int:
    """The rule, in plain Python: i if context[i] == 0, else the other j with the same value."""
    if context[i] == 0:
        return i
    return next(j for j in range(len(context)) if j != i and context[j] == context[i])


def forward(params, x_BxI, mask1_H, mask2_H):
    """The model: two hidden ReLU layers, then linear logits (flat params "hidden1/kernel", ...).

    Each mask multiplies its hidden layer's activations: `apply` passes 1 for the member's true
    units and 0 for the bucket's padding, so padded units output exactly 0. (Pruning scores
    neurons by scaling the next layer's kernel rows instead, see `_neuron_importance`.)"""
    h_BxH = jax.nn.relu(x_BxI @ params["hidden1/kernel"] + params["hidden1/bias"]) * mask1_H
    h_BxH = jax.nn.relu(h_BxH @ params["hidden2/kernel"] + params["hidden2/bias"]) * mask2_H
    return h_BxH @ params["out/kernel"] + params["out/bias"]


def _matrix_init(key, rows_pad: int, cols_pad: int, rows, cols, std):
    """N(0, std^2) entries, zero outside the true (rows, cols) block.

    Entry (i, j) is element s^2 + ... of one 1-D draw, s = max(i, j) ("square shells"), so
    the true block is always a prefix of the draw: under partitionable threefry (JAX's
    default) a 1-D prefix does not depend on the draw's length, hence a padded model starts
    exactly like the unpadded one. One 1-D draw also compiles far faster than per-row keys."""
    i = jnp.arange(rows_pad)[:, None]
    j = jnp.arange(cols_pad)[None, :]
    s = jnp.maximum(i, j)
    index = s * s + jnp.where(i == s, j, s + 1 + i)
    w = jax.random.normal(key, (max(rows_pad, cols_pad) ** 2,))[index] * std
    return jnp.where((i < rows) & (j < cols), w, 0.0)


@dataclass(frozen=True)
class MLPFamily:
    classes: int = 8
    name: str = "mlp"
    closed_form: bool = False
    size_step = 1  # any width / number of basis functions is a size

    def __post_init__(self):
        if not isinstance(self.classes, int) or self.classes < 2:
            raise ValueError(f"mlp: classes must be an int >= 2, got {self.classes!r}")
        # the enumeration: float32 inputs and labels, and the int8 rows it is built from
        p, width = input_count(self.classes), 2 * self.classes
        memory.require(f"mlp classes={self.classes} ({p:,} inputs enumerated)", p * (5 * width + 150))

    def bucket_bytes(self, members: int, padded: int, budget: int, batch_size: int) -> float:
        """A bucket's largest live arrays: each member's held-out pass over every input (inputs,
        two hidden layers, logits; teacher and student) and its parameters with AdamW's moments."""
        p, k = input_count(self.classes), self.classes
        return 4.0 * members * (2 * p * (2 * padded + k) + 4 * self.param_count(padded)) + 4.0 * p * 2 * k

    # --- sizes and costs -------------------------------------------------------------------
    def param_count(self, size: int) -> int:
        k = self.classes
        return 2 * k * size + size + size * size + size + size * k + k

    def param_shapes(self, size: int) -> dict[str, tuple[int, ...]]:
        k = self.classes
        return {"hidden1/kernel": (2 * k, size), "hidden1/bias": (size,),
                "hidden2/kernel": (size, size), "hidden2/bias": (size,),
                "out/kernel": (size, k), "out/bias": (k,)}

    def bucket_size(self, size: int) -> int:
        """The 1.5x ladder (base.next_half_pow2), not powers of two: the default sweep compiles 15
        buckets instead of 10 but executes 4.95e12 padded FLOPs instead of 5.93e12. Measured on
        the 2-core CPU: training 61.3 s instead of 69.7 s with a warm compile cache, 92.0 s
        instead of 88.8 s cold (compilation included): the better trade for a sweep run twice."""
        return base.next_half_pow2(size)

    def default_budget(self, size: int) -> int:
        return max(500 * 512, 20 * self.param_count(size))  # Busbridge et al. App. C.2

    def steps(self, budget: int, batch_size: int) -> int:
        return max(1, budget // batch_size)

    def samples_seen(self, budget: int, batch_size: int) -> float:
        return float(self.steps(budget, batch_size) * batch_size)

    def train_flops(self, size: int, samples: float) -> float:
        return 6.0 * self.param_count(size) * samples

    def forward_flops(self, size: int, samples: float) -> float:
        return 2.0 * self.param_count(size) * samples

    def irreducible_loss(self) -> float:
        return 0.0  # labels are a deterministic function of the input

    def trivial_loss(self, task):
        return jnp.log(jnp.float32(self.classes))  # uniform predictions over the K classes

    # --- pure JAX --------------------------------------------------------------------------
    def make_task(self, key):
        return {}

    def init(self, key, size, padded: int):
        k = self.classes
        k1, k2, k3 = jax.random.split(key, 3)
        he = lambda fan_in: jnp.sqrt(2.0 / fan_in)
        return {
            "hidden1/kernel": _matrix_init(k1, 2 * k, padded, 2 * k, size, he(2 * k)),
            "hidden1/bias": jnp.zeros(padded),
            "hidden2/kernel": _matrix_init(k2, padded, padded, size, size, he(size)),
            "hidden2/bias": jnp.zeros(padded),
            "out/kernel": _matrix_init(k3, padded, k, size, k, jnp.sqrt(1.0 / size)),
            "out/bias": jnp.zeros(k),
        }

    def apply(self, params, x_BxI, size):
        mask_H = (jnp.arange(params["hidden2/bias"].shape[-1]) < size).astype(x_BxI.dtype)
        return forward(params, x_BxI, mask_H, mask_H)

    def sample(self, task, key, batch_size: int):
        x_PxI, y_P = self.finite_inputs(task)
        idx_B = self.sample_index(task, key, batch_size)
        return x_PxI[idx_B], y_P[idx_B]

    # --- optional capability: a finite input space (teacher outputs precomputed by the engine) ---
    def finite_inputs(self, task):
        """Every input `sample` can draw (P x 2K) and its label (P,)."""
        x_PxI, y_P = all_inputs(self.classes)
        return jnp.asarray(x_PxI), jnp.asarray(y_P)

    def input_count(self) -> int:
        return input_count(self.classes)

    def sample_index(self, task, key, batch_size: int):
        """The rows of `finite_inputs` that `sample(task, key, batch_size)` returns."""
        return jax.random.randint(key, (batch_size,), 0, input_count(self.classes))

    def loss(self, logits_BxK, y_B):
        return base.cross_entropy(logits_BxK, y_B)

    def distill_loss(self, logits_BxK, teacher_logits_BxK, y_B, lam, tau):
        return base.distill_cross_entropy(logits_BxK, teacher_logits_BxK, y_B, lam, tau)

    def evaluate(self, task, params, size, teacher, teacher_size):
        """Exact population metrics: every input enumerated, each with probability 1/P."""
        x_PxI, y_P = map(jnp.asarray, all_inputs(self.classes))
        logits_PxK = self.apply(params, x_PxI, size)
        out = {"loss": base.cross_entropy(logits_PxK, y_P),
               "accuracy": (logits_PxK.argmax(-1) == y_P).mean()}
        if teacher is None:
            out["kl_to_teacher"] = out["teacher_loss"] = jnp.array(jnp.nan)
        else:
            teacher_PxK = self.apply(teacher, x_PxI, teacher_size)
            out["kl_to_teacher"] = base.kl(teacher_PxK, logits_PxK)
            out["teacher_loss"] = base.cross_entropy(teacher_PxK, y_P)
        return out

    # --- optional capability: pruning (simgap.prune) -----------------------------------------
    def prune_to(self, teacher: dict, teacher_size: int, size: int, key) -> dict:
        """The `size` most important neurons of each hidden layer of a flat, true-shape teacher
        (E|dL/dxi| over 8 batches of 512 drawn from `key`): both axes of hidden2's kernel keep
        size/teacher_size, the p' = 1 - sqrt(1 - p) rule of simgap.prune."""
        p = {k: jnp.asarray(v) for k, v in teacher.items()}
        imp1, imp2 = _neuron_importance(self, p, key)
        k1, k2 = prune.top(imp1, size), prune.top(imp2, size)
        p = {k: np.asarray(v) for k, v in teacher.items()}
        return {
            "hidden1/kernel": p["hidden1/kernel"][:, k1], "hidden1/bias": p["hidden1/bias"][k1],
            "hidden2/kernel": p["hidden2/kernel"][k1][:, k2], "hidden2/bias": p["hidden2/bias"][k2],
            "out/kernel": p["out/kernel"][k2], "out/bias": p["out/bias"],
        }


@functools.partial(jax.jit, static_argnums=0)
def _neuron_importance(family: MLPFamily, params: dict, key):
    """E|dL/dxi| for the neurons of both hidden layers, L = cross-entropy on labels. Masking a
    neuron's output is scaling its row of the next layer's kernel, so the family's own `apply`
    computes the masked loss (no second forward pass to keep in step)."""
    width = params["hidden1/bias"].shape[0]

    def loss(masks, k):
        m1_H, m2_H = masks
        masked = dict(params, **{"hidden2/kernel": params["hidden2/kernel"] * m1_H[:, None],
                                 "out/kernel": params["out/kernel"] * m2_H[:, None]})
        x, y = family.sample(family.make_task(k), k, 512)
        return family.loss(family.apply(masked, x, width), y)

    ones = jnp.ones(width)
    return prune.mask_importance(loss, (ones, ones), jax.random.split(key, 8))
