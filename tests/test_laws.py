import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simgap import laws
from simgap.laws import (
    BUSBRIDGE_DISTILL as DIST,
    BUSBRIDGE_SUPERVISED as SUP,
    CHINCHILLA,
    DistillParams,
    SupervisedParams,
)

CHECK_VALUES = [  # Busbridge et al. Table 6 parameters: (N_S, D_S, L_T) -> (L~_S, L_S)
    ((198e6, 3.96e9, 2.3), (2.7894, 2.6094)),
    ((1.82e9, 36.4e9, 2.0), (2.2509, 2.1828)),
]


@pytest.mark.parametrize("inputs, expected", CHECK_VALUES)
def test_reference_check_values_to_4_decimals(inputs, expected):
    N, D, L_T = inputs
    assert round(float(laws.supervised_loss(N, D, SUP)), 4) == expected[0]
    assert round(float(laws.distill_loss(N, D, L_T, SUP, DIST)), 4) == expected[1]


def _blog_form(N, D, L_T):
    """The popular mis-quote: prefactor 1/L~_S^c0 and no γ'. Must NOT reproduce the check values."""
    L_sup = laws.supervised_loss(N, D, SUP)
    x = L_T / (DIST.d1 * L_sup)
    mid = (1 + x ** (1 / DIST.f1)) ** (-DIST.c1 * DIST.f1)
    return L_T + L_sup ** (-DIST.c0) * mid * (DIST.A / N**DIST.alpha + DIST.B / D**DIST.beta)


@pytest.mark.parametrize("inputs, expected", CHECK_VALUES)
def test_check_values_reject_the_blog_form(inputs, expected):
    assert abs(float(_blog_form(*inputs)) - expected[1]) > 1e-3


def test_chinchilla_with_gamma_one_is_the_additive_form():
    N, D = np.array([1e8, 7e10]), np.array([2e9, 1.4e12])
    direct = CHINCHILLA.E + CHINCHILLA.A / N**CHINCHILLA.alpha + CHINCHILLA.B / D**CHINCHILLA.beta
    np.testing.assert_allclose(laws.supervised_loss(N, D, CHINCHILLA), direct, rtol=1e-12)


def test_linear_and_power_teacher_laws():
    """One teacher-law type in two forms; a fitted law is one too (simgap.fit.teacher.TeacherLawFit)."""
    assert laws.ZHANG_LINEAR(100.0) == pytest.approx(2.498 * 100 - 11.498)
    assert laws.TeacherLaw("loglog", 1.0, np.log(2.0))(np.array([3.0]))[0] == pytest.approx(6.0)
    assert laws.ZHANG_LINEAR.describe(" M") == "T* = 2.498·S − 11.5 M"
    with pytest.raises(ValueError, match="form"):
        laws.TeacherLaw("cubic", 1.0, 0.0)
    from simgap.fit.teacher import TeacherLawFit, fit_teacher_law
    fitted = fit_teacher_law([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0])
    assert isinstance(fitted, laws.TeacherLaw) and isinstance(fitted, TeacherLawFit)
    assert fitted(10.0) == pytest.approx(20.0)


def test_reduced_form_beta_zero_is_a_constant_data_term():
    p = SupervisedParams(E=0.5, A=10.0, B=0.2, alpha=0.5, beta=0.0, gamma=0.8)
    a = laws.supervised_loss(100.0, 1.0, p)
    assert laws.supervised_loss(100.0, np.inf, p) == pytest.approx(a)
    assert a == pytest.approx(0.5 + (10 / 10 + 0.2) ** 0.8)


# ----- hypothesis: the limit properties hold for any valid parameters ----------------------

pos = st.floats(0.5, 1e4)
exponent = st.floats(0.1, 1.0)
sup_params = st.builds(
    SupervisedParams, E=st.floats(0.0, 3.0), A=pos, B=pos, alpha=exponent, beta=exponent, gamma=st.floats(0.3, 1.5)
)
dist_params = st.builds(
    DistillParams,
    A=pos, B=pos, alpha=exponent, beta=exponent, gamma=st.floats(0.3, 1.5),
    c0=st.floats(0.0, 5.0), c1=st.floats(0.0, 1000.0), f1=st.floats(0.02, 1.5), d1=st.floats(0.3, 3.0),
)
sizes = st.floats(1e3, 1e10)
teacher = st.floats(0.05, 20.0)


@settings(max_examples=150, deadline=None)
@given(sup_params, dist_params, sizes, sizes, teacher)
def test_student_never_beats_its_teacher(sup, dist, N, D, L_T):
    L_S = laws.distill_loss(N, D, L_T, sup, dist)
    assert L_S >= L_T
    assert 0.0 <= np.exp(laws.log_middle_factor(L_T, laws.supervised_loss(N, D, sup), dist)) <= 1.0


@settings(max_examples=150, deadline=None)
@given(sup_params, dist_params, sizes, sizes, teacher)
def test_p1_gap_vanishes_as_student_grows(sup, dist, N, D, L_T):
    """L_S − L_T is non-increasing in a common scale s of N_S, D_S and bounded by
    gap(1)·s^(−γ'·min(α', β')), so it goes to 0 as s → ∞."""
    s = 10.0 ** np.arange(0, 13)
    log_gap = laws.log_distill_excess(N * s, D * s, L_T, sup, dist)
    assert np.all(np.diff(log_gap) <= 1e-9)
    bound = log_gap[0] - dist.gamma * min(dist.alpha, dist.beta) * np.log(s)
    assert np.all(log_gap <= bound + 1e-9)


@settings(max_examples=150, deadline=None)
@given(sup_params, dist_params, sizes, sizes)
def test_p2_ratio_tends_to_one_for_a_useless_teacher(sup, dist, N, D):
    """L_S/L_T − 1 = (L_S − L_T)/L_T with L_S − L_T non-increasing in L_T, so it falls at least
    as 1/L_T: at 10^6·L~_S it is ≤ 1e-6 times its value at L~_S."""
    L_T = laws.supervised_loss(N, D, sup) * 10.0 ** np.arange(0, 7)
    L_T = np.maximum(L_T, 1e-3)
    log_excess_ratio = laws.log_distill_excess(N, D, L_T, sup, dist) - np.log(L_T)
    assert np.all(np.diff(log_excess_ratio) <= 1e-9)
    assert log_excess_ratio[-1] <= log_excess_ratio[0] + np.log(L_T[0] / L_T[-1]) + 1e-9


@settings(max_examples=60, deadline=None)
@given(sup_params, dist_params, sizes, sizes, st.floats(0.5, 1000.0))
def test_p4_transition_found_at_d1(sup, dist, N, D, c1):
    dist = DistillParams(**{**dist.__dict__, "c1": c1})  # c1 = 0 has no break to find
    assert laws.check_p4_transition(sup, dist, N, D).passed


def test_p4_fails_without_a_break():
    flat = DistillParams(**{**DIST.__dict__, "c1": 0.0})
    assert not laws.check_p4_transition(SUP, flat, 1e8, 1e9).passed


@settings(max_examples=40, deadline=None)
@given(sup_params, dist_params, st.floats(1e4, 1e10), st.floats(1e4, 1e10), st.floats(0.0, 1.0))
def test_optimal_teacher_loss_is_a_minimum(sup, dist, N, D, where):
    opt = laws.optimal_teacher_loss(N, D, sup, dist)
    L_T = opt.lower * (opt.upper / opt.lower) ** where
    assert opt.student_loss <= laws.distill_loss(N, D, L_T, sup, dist) * (1 + 1e-12)
    assert opt.beats_supervised == (opt.student_loss < opt.supervised_loss)


def test_naive_formula_agrees_where_it_is_finite():
    N, D = np.array([1e7, 3e8, 5e9]), np.array([1e8, 1e9, 1e11])
    L_T = np.array([2.0, 2.6, 3.0])
    L_sup = laws.supervised_loss(N, D, SUP)
    mid = (1 + (L_T / (DIST.d1 * L_sup)) ** (1 / DIST.f1)) ** (-DIST.c1 * DIST.f1)
    naive = L_T + L_T ** (-DIST.c0) * mid * (DIST.A / N**DIST.alpha + DIST.B / D**DIST.beta) ** DIST.gamma
    np.testing.assert_allclose(laws.distill_loss(N, D, L_T, SUP, DIST), naive, rtol=1e-12)


def test_reference_law_passes_every_check_and_has_a_capacity_gap():
    checks = laws.check_properties(SUP, DIST, [(198e6, 3.96e9), (1.82e9, 36.4e9)])
    assert len(checks) == 10 and all(c.passed for c in checks), [c.detail for c in checks if not c.passed]
    opt = laws.optimal_teacher_loss(198e6, 3.96e9, SUP, DIST)
    assert opt.interior and opt.beats_supervised
    assert 1.22 < opt.teacher_loss < DIST.d1 * opt.supervised_loss


@pytest.mark.parametrize("N", [1e8, 1e9, 1e10, 1e11])
def test_e6_reaches_supervised_limit_within_a_hundredth(N):
    # Busbridge et al. App. E.6: "within ~0.01 nats for N in 1e8–1e11"; measured max 0.0124.
    assert abs(laws.check_supervised_limit(SUP, DIST, N).values["gap"]) < 0.015


def test_checks_fail_when_the_property_fails():
    no_gap = DistillParams(A=1e-3, B=1e-3, alpha=0.3, beta=0.3, gamma=1.0, c0=0.0, c1=1.0, f1=0.5, d1=1.0)
    assert not laws.check_p3_capacity_gap(SUP, no_gap, 1e8, 1e9).passed
    opt = laws.optimal_teacher_loss(1e8, 1e9, SUP, no_gap)
    assert not opt.interior and opt.teacher_loss == pytest.approx(opt.lower)
    wrong = laws.check_supervised_limit(SUP, DistillParams(**{**DIST.__dict__, "A": 20 * DIST.A}), 1e9)
    assert not wrong.passed
