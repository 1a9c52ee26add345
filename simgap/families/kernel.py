"""Kernel regression in function space (Busbridge et al. App. C.1); capacity = basis size.

Target f* = sum_i alpha_i phi_i over an orthonormal basis (alpha drawn per seed). A teacher
is the best approximation of f* in span{phi_1..phi_m} with norm <= T; a student the best
approximation of its teacher (or of f*, supervised) in span{phi_1..phi_n} with norm <= D.

Closed form (their Lemmas C.1/C.2): the nearest point of a ball intersected with a subspace
is the projection onto the subspace, rescaled onto the ball if it lies outside:
    g = P_m a * min(1, T / |P_m a|),   |f* - g|^2 = |a_{>m}|^2 + (|P_m a| - T)_+^2.
For m >= n the student is P_n g rescaled: as long as |P_n g| >= D it is D P_n a / |P_n a|,
independent of m (the flat region), and once the teacher's shrinkage makes |P_n g| < D
the student shrinks with it and its error rises; for m < n it lacks coefficients. So the
student's optimal teacher capacity is m = n (the flat region begins there).

mode="sampled" learns from `budget` noisy samples instead: x ~ U[0,1], y = f*(x) + noise*eps,
cosine basis phi_1 = 1, phi_k = sqrt(2) cos(pi (k-1) x) (orthonormal on [0,1]), and a
norm-constrained least squares (ridge with the multiplier chosen so |w| = bound when the
plain solution is outside the ball). Students fit the teacher's noiseless outputs on their
own samples. As samples grow, the Gram matrix tends to I and the solution to the closed form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from simgap import memory
from simgap.families import base

MODES = ("exact", "sampled")
SPECTRA = ("uniform", "power")


def to_ball(v, bound):
    """Nearest point of the ball |w| <= bound to v."""
    norm = jnp.linalg.norm(v)
    return v * jnp.minimum(1.0, bound / jnp.maximum(norm, 1e-30))


def cosine_basis(x_N, count: int):
    """phi_1..phi_count at x_N: N x count."""
    k = jnp.arange(count)
    return jnp.where(k == 0, 1.0, jnp.sqrt(2.0) * jnp.cos(jnp.pi * k * x_N[:, None]))


# A member's own eigendecomposition, one LAPACK call per member (a loop under vmap). Batched,
# LAPACK's syevd splits the batch over XLA:CPU's thread pool and blocks a pool thread waiting for
# it: with the bucket sharded over every core's device, each device's call waited on the others
# and a bucket of >= 3 members per device hung forever (jaxlib 0.10, 2 CPU devices).
@jax.custom_batching.sequential_vmap
def _eigh(g_PxP):
    return jnp.linalg.eigh(g_PxP)


def constrained_lstsq(phi_NxP, y_N, mask_P, bound, iters: int = 100):
    """argmin_w mean (y - phi w)^2 s.t. |w| <= bound, w = 0 off mask_P (KKT: ridge + bisection)."""
    n = y_N.shape[0]
    g_PxP = phi_NxP.T @ phi_NxP / n + jnp.diag(1.0 - mask_P)  # padded coordinates decouple
    b_P = phi_NxP.T @ y_N / n * mask_P
    s_P, u_PxP = _eigh(g_PxP)
    c_P = u_PxP.T @ b_P
    inv0_P = jnp.where(s_P > 1e-6 * s_P.max(), 1.0 / jnp.maximum(s_P, 1e-30), 0.0)
    norm = lambda lam: jnp.linalg.norm(c_P / (s_P + lam))

    def bisect(_, lo_hi):
        lo, hi = lo_hi
        mid = 0.5 * (lo + hi)
        outside = norm(mid) > bound
        return jnp.where(outside, mid, lo), jnp.where(outside, hi, mid)

    _, lam = jax.lax.fori_loop(0, iters, bisect, (0.0, jnp.linalg.norm(c_P) / bound))
    inside = jnp.linalg.norm(c_P * inv0_P) <= bound
    w_P = u_PxP @ jnp.where(inside, c_P * inv0_P, c_P / (s_P + lam))
    return w_P * mask_P


def _resize(v, length: int):
    return v[:length] if v.shape[0] >= length else jnp.pad(v, (0, length - v.shape[0]))


@dataclass(frozen=True)
class KernelFamily:
    coefficients: int = 1000  # M: length of alpha
    teacher_norm: float = 5.0  # T
    student_norm: float = 4.5  # D <= T
    spectrum: str = "uniform"  # alpha_i ~ U[-1,1], or "power": U[-1,1] * i^-decay
    decay: float = 1.0
    mode: str = "exact"  # "exact" (closed form, infinite data) | "sampled"
    noise: float = 0.1  # label noise sd in sampled mode
    name: str = "kernel"
    closed_form: bool = True
    size_step = 1  # any width / number of basis functions is a size

    def __post_init__(self):
        if not (isinstance(self.coefficients, int) and self.coefficients >= 1):
            raise ValueError(f"kernel: coefficients must be an int >= 1, got {self.coefficients!r}")
        if not 0 < self.student_norm <= self.teacher_norm:
            raise ValueError(f"kernel: need 0 < student_norm <= teacher_norm, got "
                             f"student_norm={self.student_norm}, teacher_norm={self.teacher_norm}")
        if self.spectrum not in SPECTRA:
            raise ValueError(f"kernel: spectrum must be one of {SPECTRA}, got {self.spectrum!r}")
        if self.mode not in MODES:
            raise ValueError(f"kernel: mode must be one of {MODES}, got {self.mode!r}")
        for name in ("teacher_norm", "student_norm", "decay", "noise"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"kernel: {name} must be a finite number, got {value!r}")
        if self.noise < 0:
            raise ValueError(f"kernel: noise must be >= 0, got {self.noise}")
        if self.decay < 0:
            raise ValueError(f"kernel: decay must be >= 0, got {self.decay}")
        memory.require(f"kernel coefficients={self.coefficients:,}", 8.0 * self.coefficients)  # one task

    def bucket_bytes(self, members: int, padded: int, budget: int, batch_size: int) -> float:
        """A bucket's largest live arrays: per member its task, target, fit and teacher coefficients
        (exact mode), or its samples' basis matrix, Gram matrix and eigenvectors (sampled mode)."""
        width = max(self.coefficients, padded)
        if self.exact:
            return 4.0 * members * 6 * width
        return 4.0 * members * (2 * width + 2 * budget * padded + 3 * padded * padded + 256 * self.coefficients)

    @property
    def exact(self) -> bool:
        return self.mode == "exact"

    # --- sizes and costs -------------------------------------------------------------------
    def param_count(self, size: int) -> int:
        return int(size)

    def param_shapes(self, size: int) -> dict[str, tuple[int, ...]]:
        return {"coef": (int(size),)}

    def bucket_size(self, size: int) -> int:
        # exact mode touches all M coefficients whatever the size: one bucket, no waste
        return max(self.coefficients, int(size)) if self.exact else base.next_pow2(size)

    def default_budget(self, size: int) -> int:
        return 0 if self.exact else 20 * int(size)

    def samples_seen(self, budget: int, batch_size: int) -> float:
        return math.inf if self.exact else float(budget)

    def train_flops(self, size: int, samples: float) -> float:
        if self.exact or math.isinf(samples):
            return 4.0 * self.coefficients
        return 2.0 * samples * (size * size + self.coefficients) + 10.0 * size**3

    def forward_flops(self, size: int, samples: float) -> float:
        return 0.0 if self.exact or math.isinf(samples) else 2.0 * size * samples

    def irreducible_loss(self) -> float:
        return 0.0 if self.exact else self.noise**2

    def trivial_loss(self, task):
        return jnp.sum(task["alpha"] ** 2) + self.irreducible_loss()  # the zero function

    # --- pure JAX --------------------------------------------------------------------------
    def make_task(self, key):
        alpha_M = jax.random.uniform(key, (self.coefficients,), minval=-1.0, maxval=1.0)
        if self.spectrum == "power":
            alpha_M = alpha_M * jnp.arange(1, self.coefficients + 1) ** -self.decay
        return {"alpha": alpha_M}

    def fit(self, role, task, keys, size, padded: int, budget: int, teacher, teacher_size):
        bound = self.teacher_norm if role == "teacher" else self.student_norm
        mask_P = (jnp.arange(padded) < size).astype(jnp.float32)
        if self.exact:
            target_P = _resize(teacher["coef"] if role == "distilled" else task["alpha"], padded)
            return {"coef": to_ball(target_P * mask_P, bound)}
        key = keys["teacher_data" if role == "teacher" else "student_data"]
        kx, kn = jax.random.split(key)
        x_N = jax.random.uniform(kx, (budget,))
        if role == "distilled":
            y_N = cosine_basis(x_N, teacher["coef"].shape[0]) @ teacher["coef"]
        else:
            f_N = jax.lax.map(lambda x: cosine_basis(x[None], self.coefficients)[0] @ task["alpha"],
                              x_N, batch_size=256)
            y_N = f_N + self.noise * jax.random.normal(kn, (budget,))
        return {"coef": constrained_lstsq(cosine_basis(x_N, padded) * mask_P, y_N, mask_P, bound)}

    def evaluate(self, task, params, size, teacher, teacher_size):
        """Exact held-out MSE: orthonormal basis, so |f - g|^2 is a coefficient distance."""
        length = max(self.coefficients, params["coef"].shape[0])
        alpha = _resize(task["alpha"], length)
        coef = _resize(params["coef"], length)
        e = self.irreducible_loss()
        out = {"loss": jnp.sum((alpha - coef) ** 2) + e, "accuracy": jnp.array(jnp.nan)}
        if teacher is None:
            out["kl_to_teacher"] = out["teacher_loss"] = jnp.array(jnp.nan)
        else:
            tcoef = _resize(teacher["coef"], length)
            out["kl_to_teacher"] = jnp.sum((coef - tcoef) ** 2)
            out["teacher_loss"] = jnp.sum((alpha - tcoef) ** 2) + e
        return out
