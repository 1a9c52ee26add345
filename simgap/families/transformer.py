"""Small decoder-only transformers on synthetic sequences (simgap.sources).

Capacity knob: d_model. Heads and MLP width follow from it by one rule (head_dim fixed,
n_heads = d_model / head_dim, d_ff = 4 d_model), so a model of width d pruned to width d'
(heads, neurons and hidden dimension each kept in the ratio d'/d) has exactly the shapes of a
fresh d' model. Depth is a family parameter. Pre-norm blocks with RMSNorm, causal multi-head
attention, GELU MLP, no biases; learned token and position embeddings; an untied unembedding
(kept separate so small models need not share one matrix between reading and writing tokens).

Models are Flax NNX modules used functionally: `nnx.split` once, then pure
`apply(graphdef, params, tokens)` under jax.jit/vmap. Widths are not padded: every d_model
compiles on its own, so RMSNorm statistics and the attention scale are always the true ones.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from simgap import prune, sources


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    d_model: int
    depth: int
    vocab_size: int
    seq_len: int
    head_dim: int = 8
    ff_mult: int = 4

    def __post_init__(self):
        if self.d_model % self.head_dim:
            raise ValueError(f"d_model={self.d_model} must be a multiple of head_dim={self.head_dim}")

    @property
    def n_heads(self) -> int:
        return self.d_model // self.head_dim

    @property
    def d_ff(self) -> int:
        return self.ff_mult * self.d_model

    def with_width(self, d_model: int) -> "ModelConfig":
        return dataclasses.replace(self, d_model=d_model)


def param_count(cfg: ModelConfig, embeddings: bool = True) -> int:
    """True parameter count from the shapes. Without embeddings drops the token and position
    tables (the unembedding, untied, stays: it is a layer the model computes with)."""
    d, f, V = cfg.d_model, cfg.d_ff, cfg.vocab_size
    inner = cfg.n_heads * cfg.head_dim
    block = 2 * d + 3 * d * inner + inner * d + 2 * d * f
    body = cfg.depth * block + d + d * V
    return body + (V * d + cfg.seq_len * d if embeddings else 0)


def rms_norm(x_xD: jax.Array, scale_D: jax.Array, eps: float = 1e-6) -> jax.Array:
    return x_xD * jax.lax.rsqrt(jnp.mean(x_xD**2, -1, keepdims=True) + eps) * scale_D


class Block(nnx.Module):
    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        d, inner = cfg.d_model, cfg.n_heads * cfg.head_dim
        lin = functools.partial(nnx.Linear, use_bias=False, rngs=rngs)
        self.attn_norm = nnx.Param(jnp.ones(d))
        self.q, self.k, self.v = lin(d, inner), lin(d, inner), lin(d, inner)
        self.o = lin(inner, d)
        self.mlp_norm = nnx.Param(jnp.ones(d))
        self.up, self.down = lin(d, cfg.d_ff), lin(cfg.d_ff, d)
        self.n_heads, self.head_dim = cfg.n_heads, cfg.head_dim

    def __call__(self, x_BxLxD, head_mask_H, neuron_mask_F, hidden_mask_D):
        B, L, _ = x_BxLxD.shape
        H, K = self.n_heads, self.head_dim
        h = rms_norm(x_BxLxD, self.attn_norm[...])
        q_BxLxHxK = self.q(h).reshape(B, L, H, K)
        k_BxLxHxK = self.k(h).reshape(B, L, H, K)
        v_BxLxHxK = self.v(h).reshape(B, L, H, K)
        logits_BxHxLxL = jnp.einsum("blhk,bmhk->bhlm", q_BxLxHxK, k_BxLxHxK) / jnp.sqrt(K)
        causal_LxL = jnp.tril(jnp.ones((L, L), bool))
        logits_BxHxLxL = jnp.where(causal_LxL, logits_BxHxLxL, -1e30)
        att_BxHxLxL = jax.nn.softmax(logits_BxHxLxL, axis=-1)
        out_BxLxHxK = jnp.einsum("bhlm,bmhk->blhk", att_BxHxLxL, v_BxLxHxK)
        out_BxLxHxK = out_BxLxHxK * head_mask_H[:, None]
        x_BxLxD = x_BxLxD + self.o(out_BxLxHxK.reshape(B, L, H * K)) * hidden_mask_D
        h = jax.nn.gelu(self.up(rms_norm(x_BxLxD, self.mlp_norm[...]))) * neuron_mask_F
        return x_BxLxD + self.down(h) * hidden_mask_D


class TransformerLM(nnx.Module):
    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        emb_init = nnx.initializers.normal(1.0)
        self.tok_emb = nnx.Embed(cfg.vocab_size, cfg.d_model, embedding_init=emb_init, rngs=rngs)
        self.pos_emb = nnx.Param(emb_init(rngs.params(), (cfg.seq_len, cfg.d_model)))
        self.blocks = nnx.List([Block(cfg, rngs) for _ in range(cfg.depth)])
        self.final_norm = nnx.Param(jnp.ones(cfg.d_model))
        self.unembed = nnx.Linear(cfg.d_model, cfg.vocab_size, use_bias=False, rngs=rngs)
        self.cfg = cfg

    def __call__(self, tokens_BxL, masks: dict | None = None):
        """`masks` (for pruning importance): 'heads' (depth, H), 'neurons' (depth, F),
        'hidden' (D); each multiplies its unit's output, all ones when None."""
        masks = masks if masks is not None else unit_masks(self.cfg)
        L = tokens_BxL.shape[1]
        x = (self.tok_emb(tokens_BxL) + self.pos_emb[...][:L]) * masks["hidden"]
        for i, block in enumerate(self.blocks):
            x = block(x, masks["heads"][i], masks["neurons"][i], masks["hidden"])
        return self.unembed(rms_norm(x, self.final_norm[...]))


def unit_masks(cfg: ModelConfig) -> dict:
    return {
        "heads": jnp.ones((cfg.depth, cfg.n_heads)),
        "neurons": jnp.ones((cfg.depth, cfg.d_ff)),
        "hidden": jnp.ones(cfg.d_model),
    }


@functools.lru_cache(maxsize=None)
def graphdef(cfg: ModelConfig):
    return nnx.split(nnx.eval_shape(lambda: TransformerLM(cfg, nnx.Rngs(0))))[0]


def init(key: jax.Array, cfg: ModelConfig) -> nnx.State:
    """Fresh parameters (an nnx.State pytree); vmaps over keys."""
    return nnx.split(TransformerLM(cfg, nnx.Rngs(params=key)))[1]


def apply(cfg: ModelConfig, params: nnx.State, tokens_BxL: jax.Array, masks=None) -> jax.Array:
    return nnx.merge(graphdef(cfg), params)(tokens_BxL, masks)


# ---------------------------------------------------------------------------------------------
# Pruning (Zhang et al.; importance and sparsity rule in simgap.prune): the family's `prune_to`.


def importance(cfg: ModelConfig, params: nnx.State, source, key: jax.Array, n_batches: int = 8,
               batch_size: int = 64) -> dict:
    """E|dL/dxi| for every head ('heads', depth x H), FFN neuron ('neurons', depth x F) and
    hidden dimension ('hidden', D); L = exact CE against the source's next-token laws."""
    def loss(masks, k):
        batch = source.sample(k, batch_size)
        return sources.cross_entropy(apply(cfg, params, batch.inputs_BxL, masks), batch)

    return prune.mask_importance(loss, unit_masks(cfg), jax.random.split(key, n_batches))


def prune_params(cfg: ModelConfig, params: nnx.State, imp: dict,
                 d_model: int) -> tuple[ModelConfig, nnx.State]:
    """Keep the most important d_model hidden dims, and per layer the most important heads and
    neurons so each ratio is d_model / cfg.d_model (per-component sparsity p' on both axes of
    every d x heads and d x neurons matrix): the result has a fresh d_model model's shapes."""
    if d_model > cfg.d_model or d_model % cfg.head_dim:
        raise ValueError(f"cannot prune d_model {cfg.d_model} to {d_model} (head_dim {cfg.head_dim})")
    small = cfg.with_width(d_model)
    keep_D = prune.top(imp["hidden"], d_model)
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
        heads = prune.top(imp["heads"][i], small.n_heads)
        keep_I = (heads[:, None] * K + np.arange(K)).reshape(-1)
        keep_F = prune.top(imp["neurons"][i], small.d_ff)
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
    student = nnx.eval_shape(lambda: nnx.split(TransformerLM(small, nnx.Rngs(0)))[1])
    nnx.replace_by_pure_dict(student, out)
    return small, student


def distill_loss(logits_BxLxV, batch: sources.SeqBatch, teacher_BxLxV, lam, tau):
    """lam tau^2 KL(teacher_tau || student_tau) + (1 - lam) CE(sampled next tokens), both
    averaged over the positions the source scores. teacher None: plain supervised CE."""
    ce = sources.sampled_cross_entropy(logits_BxLxV, batch)
    if teacher_BxLxV is None:
        return ce
    kl = sources.kl_divergence(teacher_BxLxV / tau, logits_BxLxV / tau, batch)
    return lam * tau**2 * kl + (1 - lam) * ce


# ---------------------------------------------------------------------------------------------
# The engine's family interface (simgap.families.base.Family). Params are flat dicts
# {"blocks/0/q/kernel": array}. No padding: bucket_size(d) = d, so every d_model compiles on
# its own and a bucket's static `padded` is the true width.


@functools.lru_cache(maxsize=None)
def _source(name: str, params: tuple, seed: int):
    return sources.make_source(name, seed, **dict(params))


@functools.lru_cache(maxsize=None)
def _held_out(name: str, params: tuple, seed: int, n: int) -> sources.SeqBatch:
    with jax.ensure_compile_time_eval():  # first use may come inside the engine's trace
        return jax.tree.map(np.asarray, sources.held_out(_source(name, params, seed), n))


def flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        path = f"{prefix}{k}"
        out.update(flatten(v, path + "/") if isinstance(v, dict) else {path: v})
    return out


def unflatten(flat: dict) -> dict:
    out: dict = {}
    for path, v in flat.items():
        node = out
        *parents, leaf = [int(p) if p.isdigit() else p for p in path.split("/")]
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = v
    return out


@dataclasses.dataclass(frozen=True)
class TransformerFamily:
    """Decoder-only transformers of width `size` = d_model on a sequence source.

    Budgets are tokens read (steps = budget // (batch_size * seq_len)), as reported.
    `source_params` may be given as a dict (TOML inline table); it is stored as sorted pairs so
    the family stays hashable (the engine jits with the family as a static argument)."""

    source: str = "recall"
    source_params: tuple = ()
    source_seed: int = 0
    depth: int = 2
    head_dim: int = 8
    held_out_sequences: int = 512
    name: str = "transformer"
    closed_form: bool = False
    cpu_sequential_members = True  # not a field: vmapped members run 1.2-1.6x slower on XLA:CPU (engine.sequential_members)

    def __post_init__(self):
        sp = self.source_params
        object.__setattr__(self, "source_params", tuple(sorted(dict(sp).items())))
        if self.source not in sources.SOURCES:
            raise ValueError(f"transformer: unknown source {self.source!r}; known: {sorted(sources.SOURCES)}")
        for name in ("depth", "head_dim", "held_out_sequences"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"transformer: {name} must be an integer >= 1, got {value!r}")
        self.sequence_source()  # fail at load on a bad source parameter

    @property
    def size_step(self) -> int:
        return self.head_dim  # d_model must be a whole number of heads

    def sequence_source(self):
        return _source(self.source, self.source_params, self.source_seed)

    def held_out(self) -> sources.SeqBatch:
        return _held_out(self.source, self.source_params, self.source_seed, self.held_out_sequences)

    def config(self, size: int) -> ModelConfig:
        src = self.sequence_source()
        return ModelConfig(int(size), self.depth, src.vocab_size, src.seq_len, self.head_dim)

    # --- sizes and costs -------------------------------------------------------------------
    def param_count(self, size: int) -> int:
        return param_count(self.config(size))

    def param_shapes(self, size: int) -> dict[str, tuple[int, ...]]:
        state = nnx.split(nnx.eval_shape(lambda: TransformerLM(self.config(size), nnx.Rngs(0))))[1]
        return {k: tuple(v.shape) for k, v in flatten(nnx.to_pure_dict(state)).items()}

    def bucket_size(self, size: int) -> int:
        return int(size)

    def bucket_bytes(self, members: int, padded: int, budget: int, batch_size: int) -> float:
        """A bucket's largest live arrays (float32): per member, the larger of a training step (every
        layer's activations kept for the backward pass, 10·d_model + 2·d_ff per token; its attention
        scores and probabilities, heads × seq_len² per sequence; the student's and teacher's logits
        and probabilities, 4·V per token) and the held-out evaluation (one layer's activations and
        attention, both logits), plus its parameters with gradients and AdamW's moments. A distilled
        bucket's teacher is bounded by its own training bucket, which is larger."""
        c, n = self.config(padded), self.held_out_sequences
        attention = lambda seqs: 2 * seqs * c.n_heads * c.seq_len ** 2  # noqa: E731  scores and probabilities
        step = c.depth * (batch_size * c.seq_len * (10 * c.d_model + 2 * c.d_ff) + attention(batch_size)) \
            + 4 * batch_size * c.seq_len * c.vocab_size
        held_out = n * c.seq_len * (6 * c.d_model + c.d_ff + 2 * c.vocab_size) + attention(n)
        return 4.0 * members * (max(step, held_out) + 4 * param_count(c))

    def default_budget(self, size: int) -> int:
        return 20 * param_count(self.config(size), embeddings=False)  # tokens, Chinchilla-like

    def steps(self, budget: int, batch_size: int) -> int:
        return max(1, budget // (batch_size * self.sequence_source().seq_len))

    def samples_seen(self, budget: int, batch_size: int) -> float:
        return float(self.steps(budget, batch_size) * batch_size * self.sequence_source().seq_len)

    def train_flops(self, size: int, samples: float) -> float:
        return 6.0 * param_count(self.config(size), embeddings=False) * samples

    def forward_flops(self, size: int, samples: float) -> float:
        return 2.0 * param_count(self.config(size), embeddings=False) * samples

    @functools.cache
    def irreducible_loss(self) -> float:
        return float(sources.entropy(self.held_out()))

    def trivial_loss(self, task):
        return jnp.log(jnp.float32(self.sequence_source().vocab_size))  # uniform next token

    # --- pure JAX --------------------------------------------------------------------------
    def make_task(self, key):
        return {}

    def init(self, key, size, padded: int):
        return flatten(nnx.to_pure_dict(init(key, self.config(padded))))

    def _cfg_of(self, params) -> ModelConfig:
        return self.config(params["final_norm"].shape[-1])

    def apply(self, params, x_BxL, size):
        cfg = self._cfg_of(params)
        state = nnx.eval_shape(lambda: nnx.split(TransformerLM(cfg, nnx.Rngs(0)))[1])
        nnx.replace_by_pure_dict(state, unflatten(params))
        return apply(cfg, state, x_BxL)

    def sample(self, task, key, batch_size: int):
        batch = self.sequence_source().sample(key, batch_size)
        return batch.inputs_BxL, batch

    def loss(self, logits_BxLxV, batch):
        return distill_loss(logits_BxLxV, batch, None, 1.0, 1.0)

    def distill_loss(self, logits_BxLxV, teacher_BxLxV, batch, lam, tau):
        return distill_loss(logits_BxLxV, batch, teacher_BxLxV, lam, tau)

    def evaluate(self, task, params, size, teacher, teacher_size):
        """Exact held-out metrics: cross-entropy against the true next-token laws."""
        # the barrier keeps XLA from constant-folding metrics of the fixed set at compile time
        batch = jax.lax.optimization_barrier(jax.tree.map(jnp.asarray, self.held_out()))
        logits = self.apply(params, batch.inputs_BxL, size)
        out = {"loss": sources.cross_entropy(logits, batch),
               "accuracy": sources.accuracy(logits, batch)}
        if teacher is None:
            out["kl_to_teacher"] = out["teacher_loss"] = jnp.array(jnp.nan)
        else:
            t_logits = self.apply(teacher, batch.inputs_BxL, teacher_size)
            out["kl_to_teacher"] = sources.kl_divergence(t_logits, logits, batch)
            out["teacher_loss"] = sources.cross_entropy(t_logits, batch)
        return out

    # --- optional capability: pruning (simgap.prune) -----------------------------------------
    def prune_to(self, teacher: dict, teacher_size: int, size: int, key: jax.Array) -> dict:
        """Zhang et al.'s structured pruning of a flat, true-shape teacher to a d_model = `size`
        student: heads, FFN neurons and the shared hidden dimension each keep size/teacher_size
        of their units, chosen by E|dL/dxi| over 8 batches drawn from `key`."""
        cfg = self.config(teacher_size)
        imp = _importance_jit(self, int(teacher_size), {k: jnp.asarray(v) for k, v in teacher.items()}, key)
        _, student = prune_params(cfg, _state(cfg, teacher), jax.tree.map(np.asarray, imp), int(size))
        return {k: np.asarray(v) for k, v in flatten(nnx.to_pure_dict(student)).items()}


def _state(cfg: ModelConfig, flat: dict) -> nnx.State:
    state = nnx.eval_shape(lambda: nnx.split(TransformerLM(cfg, nnx.Rngs(0)))[1])
    nnx.replace_by_pure_dict(state, unflatten(flat))
    return state


@functools.partial(jax.jit, static_argnums=(0, 1))
def _importance_jit(family: TransformerFamily, teacher_size: int, flat: dict, key: jax.Array) -> dict:
    """One compile per (family, teacher width), however many students are pruned from it."""
    cfg = family.config(teacher_size)
    return importance(cfg, _state(cfg, flat), family.sequence_source(), key)
