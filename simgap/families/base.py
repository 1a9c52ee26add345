"""The seam between the engine and a family: what a family must provide, plus shared helpers.

A new family is one module beside this one implementing `Family` below, plus one entry in
FAMILIES (simgap/families/__init__.py); nothing else in simgap branches on a family's name
(docs/families.md walks through it).

A family is a frozen (hashable) dataclass: the engine passes it to `jax.jit` as a static
argument, so two equal families share compiles. Every method below is a pure function of
arrays; `size` and `teacher_size` arrive as traced int32 scalars (one per vmapped member),
`padded` sizes as Python ints (static: they set shapes).

Parameters are FLAT dicts {"layer/name": array}; at `padded` they have the bucket's shapes,
and coordinates beyond the member's true `size` are zero and never move. `param_shapes(size)`
gives the true shapes, so `unpad`/`pad` below convert between a stored teacher and a bucket.

Two ways to train, chosen by the `closed_form` capability (never by the family's name):
- closed_form = False: the engine runs AdamW (simgap.optim) in one `lax.scan` using
  `init`, `sample`, `apply`, `loss`, `distill_loss`.
- closed_form = True: the family solves its problem in `fit` (vmapped and jitted by the engine).
Both then call `evaluate` for the held-out metrics.

Optional capability, pruning (checked by `simgap.prune.can_prune`, never by the family's name):
a family that can start a student as a trained teacher pruned to the student's size defines
`prune_to(teacher, teacher_size, size, key)`: flat true-shape teacher params in, flat params of
a fresh size-`size` model out (numpy), importance batches drawn from `key`. The grid's
`student_init = "pruned_from_teacher" | "pruned_from_largest"` needs it.

Optional capability, a finite input space (checked by `engine.teacher_tables`): a family whose
`sample` draws uniformly-indexed rows of a fixed input set defines `finite_inputs(task)` (every
input and its label) and `sample_index(task, key, batch_size)` (the rows `sample` returns). The
engine then computes a distilled student's teacher outputs once on every input instead of a
teacher forward pass per step, and one program serves every teacher width.

Optional hint, `cpu_sequential_members = True` (a class attribute, not a field; read by
`engine.sequential_members`): on a CPU backend the engine trains the family's bucket members one
after another (lax.map) instead of vmapped. Set it where measured faster: vmapped members make
every matmul a batched one, which XLA:CPU runs well below its plain-matmul speed for the
transformer (experiments/benchmark.py's transformer section), not for the tiny MLPs.

Divergence: the engine flags a run `diverged` when any training loss or its final held-out
loss is non-finite, or when that loss ends more than 5 % above BOTH the loss of its untrained parameters
(SGD families) and `trivial_loss(task)`: the held-out loss of a predictor that learned nothing
(uniform class probabilities for classifiers, log K; the zero function for regression, the
target's mean square plus the noise). Training then made the model worse than where it began
and worse than learning nothing, however finite its numbers (lr = 1e9 on the MLP ends at 1e31
nats); an undertrained run that merely has not got far is not flagged. A distilled student
may end as high as its teacher's loss (imitating a weak teacher is what it was asked to do),
and is flagged whenever its teacher fails the same test. Accuracy at chance is not used: a
small but sound model can sit at chance accuracy while its loss is well below the trivial one.
"""

from __future__ import annotations

from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

Params = dict[str, jax.Array]
Task = Any  # a pytree: the ground truth of one seed (e.g. kernel coefficients); {} when fixed


class Family(Protocol):
    name: str
    closed_form: bool
    size_step: int  # every size is a multiple of it (the transformer's head_dim; else 1)

    # --- sizes, budgets, costs (plain Python) -------------------------------------------
    def param_count(self, size: int) -> int: ...  # true, unpadded
    def param_shapes(self, size: int) -> dict[str, tuple[int, ...]]: ...  # true shapes
    def bucket_size(self, size: int) -> int: ...  # padded size; same bucket => same compile
    def default_budget(self, size: int) -> int: ...  # samples when the grid says 0
    def samples_seen(self, budget: int, batch_size: int) -> float: ...  # reported budget
    def train_flops(self, size: int, samples: float) -> float: ...
    def forward_flops(self, size: int, samples: float) -> float: ...
    def irreducible_loss(self) -> float: ...
    def trivial_loss(self, task: Task) -> jax.Array: ...  # held-out loss of learning nothing

    # --- pure JAX, one member ------------------------------------------------------------
    def make_task(self, key: jax.Array) -> Task: ...
    def evaluate(self, task: Task, params: Params, size, teacher: Params | None,
                 teacher_size) -> dict[str, jax.Array]: ...
    # keys: loss (held-out vs ground truth), accuracy (NaN if undefined),
    # kl_to_teacher and teacher_loss (NaN when teacher is None)

    # closed_form = False (sequence families: budget in tokens, so steps = tokens // (batch * length))
    def steps(self, budget: int, batch_size: int) -> int: ...  # SGD steps for a budget (static)
    def init(self, key: jax.Array, size, padded: int) -> Params: ...
    def sample(self, task: Task, key: jax.Array, batch_size: int) -> tuple[jax.Array, jax.Array]: ...
    def apply(self, params: Params, x, size) -> jax.Array: ...
    def loss(self, out, y) -> jax.Array: ...
    def distill_loss(self, out, teacher_out, y, lam, tau) -> jax.Array: ...

    # closed_form = True
    def fit(self, role: str, task: Task, keys: dict[str, jax.Array], size, padded: int, budget: int,
            teacher: Params | None, teacher_size) -> Params: ...

    # optional (pruned student inits; plain Python around jitted importance, not traced)
    # def prune_to(self, teacher: dict[str, np.ndarray], teacher_size: int, size: int,
    #              key: jax.Array) -> dict[str, np.ndarray]: ...


def next_pow2(n: int) -> int:
    """Bucket width: padding to the next power of two keeps waste under 2x."""
    return 1 << max(0, int(n) - 1).bit_length()


def next_half_pow2(n: int) -> int:
    """Bucket width on the finer ladder 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, ... (powers of two
    and 1.5x them): padding stays under 1.5x per dimension (under 2.25x on a width x width
    matmul, against 4x for powers of two), for at most twice the buckets."""
    p = next_pow2(n)
    return 3 * p // 4 if p >= 4 and int(n) <= 3 * p // 4 else p


def unpad(params: dict, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Padded params -> true shapes, as numpy (what the teacher store holds)."""
    return {k: np.asarray(params[k])[tuple(slice(0, s) for s in shape)] for k, shape in shapes.items()}


def pad(params: dict, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """True-shape params -> zero-padded to `shapes` (the bucket's padded shapes)."""
    out = {}
    for k, shape in shapes.items():
        a = np.asarray(params[k])
        out[k] = np.pad(a, [(0, s - d) for s, d in zip(shape, a.shape)])
    return out


# --- losses shared by classification families ----------------------------------------------

def cross_entropy(logits_BxK, y_B) -> jax.Array:
    logp_BxK = jax.nn.log_softmax(logits_BxK)
    return -jnp.take_along_axis(logp_BxK, y_B[:, None], axis=1).mean()


def kl(teacher_logits_BxK, logits_BxK) -> jax.Array:
    """Mean KL(teacher || student) over the batch."""
    logp_t = jax.nn.log_softmax(teacher_logits_BxK)
    logp_s = jax.nn.log_softmax(logits_BxK)
    return (jnp.exp(logp_t) * (logp_t - logp_s)).sum(-1).mean()


def distill_cross_entropy(logits_BxK, teacher_logits_BxK, y_B, lam, tau) -> jax.Array:
    """lam * tau^2 * KL(teacher_tau || student_tau) + (1 - lam) * CE(labels)."""
    soft = kl(teacher_logits_BxK / tau, logits_BxK / tau) * tau**2
    return lam * soft + (1.0 - lam) * cross_entropy(logits_BxK, y_B)
