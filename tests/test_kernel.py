import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.optimize import minimize

from simgap import engine, feed
from simgap.config import Grid, TrainSpec
from simgap.families import get_family
from simgap.families.kernel import constrained_lstsq, cosine_basis

SMALL = get_family("kernel", coefficients=12, teacher_norm=1.5, student_norm=1.2)


def ball_solve(target, dim, bound):
    """Direct numerical solution: min |target - w|^2 over w in R^dim (rest 0), |w| <= bound."""
    res = minimize(lambda w: np.sum((target[:dim] - w) ** 2) + np.sum(target[dim:] ** 2), np.zeros(dim),
                   constraints=[{"type": "ineq", "fun": lambda w: bound**2 - w @ w}], method="SLSQP",
                   options={"ftol": 1e-12, "maxiter": 500})
    return np.pad(res.x, (0, len(target) - dim))


def fit(fam, role, size, teacher=None, teacher_size=None, seed=0, budget=0):
    keys = feed.streams(seed)
    task = fam.make_task(keys["task"])
    padded = fam.bucket_size(size)
    return task, fam.fit(role, task, keys, size, padded, budget, teacher, teacher_size)


@pytest.mark.parametrize("m,n", [(3, 2), (8, 5), (12, 12), (5, 9)])
def test_closed_form_matches_direct_numerical_solution(m, n):
    task, teacher = fit(SMALL, "teacher", m)
    alpha = np.asarray(task["alpha"], np.float64)
    g = ball_solve(alpha, m, SMALL.teacher_norm)
    np.testing.assert_allclose(teacher["coef"], g, atol=1e-4)
    # teacher error = |a_{>m}|^2 + (|P_m a| - T)_+^2  (Lemma C.1)
    err = np.sum(alpha[m:] ** 2) + max(0.0, np.linalg.norm(alpha[:m]) - SMALL.teacher_norm) ** 2
    metrics = SMALL.evaluate(task, teacher, m, None, None)
    assert float(metrics["loss"]) == pytest.approx(err, rel=1e-5)
    _, student = fit(SMALL, "distilled", n, teacher, m)
    h = ball_solve(np.asarray(teacher["coef"], np.float64), n, SMALL.student_norm)
    np.testing.assert_allclose(student["coef"], h, atol=1e-4)


def test_constrained_lstsq_matches_direct_solution():
    rng = np.random.default_rng(0)
    phi, y = rng.normal(size=(40, 6)), rng.normal(size=40)
    mask = np.array([1, 1, 1, 1, 0, 0], np.float32)
    for bound in (0.1, 10.0):  # active and inactive constraint
        w = np.asarray(constrained_lstsq(jnp.asarray(phi * mask, jnp.float32), jnp.asarray(y, jnp.float32),
                                         jnp.asarray(mask), bound))
        res = minimize(lambda v: np.mean((y - phi[:, :4] @ v) ** 2), np.zeros(4), method="SLSQP",
                       constraints=[{"type": "ineq", "fun": lambda v: bound**2 - v @ v}],
                       options={"ftol": 1e-14, "maxiter": 500})
        np.testing.assert_allclose(w[:4], res.x, atol=2e-4)
        assert np.all(w[4:] == 0)


def test_cosine_basis_is_orthonormal():
    x = (jnp.arange(4000) + 0.5) / 4000  # midpoint rule
    phi = cosine_basis(x, 6)
    np.testing.assert_allclose(phi.T @ phi / 4000, np.eye(6), atol=1e-5)


def test_sampled_mode_converges_to_the_closed_form():
    exact = get_family("kernel", coefficients=16, teacher_norm=2.0, student_norm=1.5)
    sampled = get_family("kernel", coefficients=16, teacher_norm=2.0, student_norm=1.5, mode="sampled", noise=0.3)
    _, g = fit(exact, "teacher", 8)
    errors = []
    for budget in (64, 1024, 16384):
        _, gs = fit(sampled, "teacher", 8, budget=budget)
        errors.append(float(jnp.sum((gs["coef"][:8] - g["coef"][:8]) ** 2)))
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-2
    # a student distilled from the sampled teacher approaches the exact student too
    _, h = fit(exact, "distilled", 5, g, 8)
    _, hs = fit(sampled, "distilled", 5, gs, 8, budget=16384)
    assert float(jnp.sum((hs["coef"][:5] - h["coef"][:5]) ** 2)) < 1e-2


@functools.cache
def _student_errors():
    """Student error for every teacher capacity m = 1..M, one compile (sizes are traced)."""
    fam = get_family("kernel")
    M = fam.coefficients

    def errors(seed, n):
        keys = feed.streams(seed)
        task = fam.make_task(keys["task"])

        def one(m):
            g = fam.fit("teacher", task, keys, m, M, 0, None, None)
            h = fam.fit("distilled", task, keys, n, M, 0, g, m)
            return fam.evaluate(task, h, n, g, m)["loss"]

        return jax.vmap(one)(jnp.arange(1, M + 1))

    return jax.jit(errors)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 999), seed=st.integers(0, 10_000))
def test_optimal_teacher_capacity_is_the_students(n, seed):
    with jax.enable_x64(True):
        err_m = np.asarray(_student_errors()(jnp.uint32(seed), jnp.int32(n)))
    best = err_m.min()
    # float64 roundoff only: m = n - 1 can be worse by as little as 3.5e-11 relative, when the one
    # coefficient the teacher lacks happens to be tiny (n = 638, seed = 256)
    flat = np.flatnonzero(err_m <= best + 1e-12 * best)
    assert flat[0] + 1 == n  # the flat optimal region begins at m = n
    assert np.all(err_m[: n - 1] > best)


def test_fig10_shape_teacher_falls_student_flat_then_rises():
    fam = get_family("kernel")
    grid = Grid(student_sizes=(300, 500), teacher_sizes=(100, 300, 350, 500, 550, 1000),
                       student_budgets=(0,), teacher_budgets=(0,), seeds=(0,))
    rows = engine.run_grid(fam, grid, TrainSpec())
    teacher = [r["teacher_loss"] for r in rows if r["run_kind"] == "teacher"]
    assert teacher == sorted(teacher, reverse=True)
    for n in (300, 500):
        d = {r["teacher_size"]: r["student_loss"] for r in rows if r["run_kind"] == "distilled" and r["student_size"] == n}
        sup = next(r["student_loss"] for r in rows if r["run_kind"] == "supervised" and r["student_size"] == n)
        assert min(d, key=d.get) == n and d[1000] > d[n] < d[100]
        assert d[n] == pytest.approx(sup, rel=1e-5)  # at m = n the teacher's projection is the truth's
    assert all(r["irreducible_loss"] == 0 and r["student_budget"] == np.inf for r in rows if r["run_kind"] != "teacher")


@pytest.mark.parametrize("mode", ["exact", "sampled"])
def test_trivial_loss_is_the_zero_function_and_no_exact_fit_is_worse(mode):
    fam = get_family("kernel", coefficients=12, teacher_norm=1.5, student_norm=1.2, mode=mode)
    task = fam.make_task(jax.random.key(3))
    zero = {"coef": jnp.zeros(fam.bucket_size(12))}
    assert float(fam.trivial_loss(task)) == pytest.approx(float(fam.evaluate(task, zero, 12, None, None)["loss"]))
    if mode == "exact":  # a projection onto a ball around 0 is never farther from f* than 0 is
        for size in (1, 5, 12):
            task, params = fit(fam, "teacher", size)
            assert float(fam.evaluate(task, params, size, None, None)["loss"]) < float(fam.trivial_loss(task))
