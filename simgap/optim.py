"""The one optimizer of simgap: AdamW on a one-cycle schedule, and the scan that trains with it.

Used by the engine (every SGD-trained family), experiments/benchmark.py's per-model baselines
and the tests that train a model outside the engine, so all of them train alike.

Per-member hyperparameters stay traced: `adamw` may be called inside a vmapped function with
`peak_lr`, `warmup_frac` and `weight_decay` as traced scalars (one per member); the schedule
is a plain function of optax's step count closing over them. Only `steps` is static.

Arithmetic: optax.adamw = scale_by_adam, then + weight_decay * params, then * -lr(step),
so each step is  params <- params - lr(step) * (adam(grads) + weight_decay * params)
(decoupled weight decay, scaled by the scheduled learning rate as in PyTorch's AdamW).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax


def one_cycle(steps: int, peak_lr, warmup_frac) -> optax.Schedule:
    """Linear warm-up to peak_lr over warmup_frac of the steps (at least one step), then cosine
    decay to 0 at the last step. Step t (0-based) uses the rate reached after t + 1 steps, so
    the first update is already nonzero and the last is 0 only when the decay is complete."""

    def schedule(count):
        warm = jnp.maximum(1.0, warmup_frac * steps)
        t = jnp.asarray(count).astype(jnp.float32)
        rise = (t + 1.0) / warm
        frac = jnp.clip((t + 1.0 - warm) / jnp.maximum(1.0, steps - warm), 0.0, 1.0)
        fall = 0.5 * (1.0 + jnp.cos(jnp.pi * frac))
        return peak_lr * jnp.where(t + 1.0 < warm, rise, fall)

    return schedule


def adamw(steps: int, peak_lr, warmup_frac, weight_decay=0.0) -> optax.GradientTransformation:
    """Adam (b1 0.9, b2 0.999, eps 1e-8) with decoupled weight decay on `one_cycle`."""
    return optax.adamw(one_cycle(steps, peak_lr, warmup_frac), weight_decay=weight_decay)


def minimize(loss_fn: Callable, params, opt: optax.GradientTransformation, steps: int):
    """`steps` updates of `opt` on loss_fn(params, step) in one lax.scan (the step index lets
    loss_fn draw that step's batch). Returns (final params, loss before each update)."""

    def step(carry, t):
        p, s = carry
        loss, g = jax.value_and_grad(loss_fn)(p, t)
        u, s = opt.update(g, s, p)
        return (optax.apply_updates(p, u), s), loss

    (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), jnp.arange(steps))
    return params, losses
