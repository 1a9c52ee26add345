import math

import numpy as np
import pytest

from simgap import laws
from simgap.plan import link
from simgap.plan.link import TeacherProtocol

SUP, DIST = laws.BUSBRIDGE_SUPERVISED, laws.BUSBRIDGE_DISTILL


@pytest.mark.parametrize("protocol", [TeacherProtocol("tokens_per_param", 20.0), TeacherProtocol("fixed_tokens", tokens=1e13)])
def test_implied_teacher_has_the_optimal_teacher_loss(protocol):
    """Eq. 8 depends on the teacher only through L_T, so the implied teacher's loss must be the L_T
    that minimises L_S (laws.optimal_teacher_loss), when that loss is reachable."""
    N_S, D_S = 198e6, 3.96e9
    o = link.implied_optimum(N_S, D_S, SUP, DIST, protocol)
    best = laws.optimal_teacher_loss(N_S, D_S, SUP, DIST)
    assert o.interior
    assert o.teacher_loss == pytest.approx(best.teacher_loss, rel=1e-4)
    assert o.student_loss == pytest.approx(best.student_loss, abs=1e-7)
    assert o.teacher_tokens == pytest.approx(protocol.teacher_tokens(o.teacher))


def test_unreachable_teacher_loss_gives_an_edge_optimum():
    # with D_T = 1e9 fixed, no teacher gets below E + (B/D_T^β)^γ ≈ 2.13 > the optimal L_T ≈ 1.88
    o = link.implied_optimum(198e6, 3.96e9, SUP, DIST, TeacherProtocol("fixed_tokens", tokens=1e9))
    assert not o.interior and o.ratio == pytest.approx(1e4, rel=1e-3)


def test_compute_optimal_protocol_uses_the_allocation():
    from simgap.plan import compute

    p = TeacherProtocol("compute_optimal", compute_multiple=10.0)
    o = link.implied_optimum(1e9, 2e10, SUP, DIST, p)
    a = compute.optimise(1e9, 10 * 6 * 1e9 * 2e10, SUP, DIST, compute.SCENARIOS["trained"])
    assert o.teacher == pytest.approx(a.teacher) and o.student_loss == pytest.approx(a.student_loss)


def test_laws_fitted_to_exact_optima_are_recovered():
    S = np.array([100.0, 200, 400, 800])
    f = link.fit_both(S, 2.5 * S - 11.5).linear
    assert (f.slope, f.intercept, f.r2) == pytest.approx((2.5, -11.5, 1.0))
    g = link.fit_both(S, 3 * S**0.9).power
    assert (math.exp(g.intercept), g.slope, g.r2) == pytest.approx((3.0, 0.9, 1.0))
    assert g(S) == pytest.approx(3 * S**0.9)
    with pytest.raises(ValueError, match="3 distinct"):
        link.fit_both([1.0, 2.0], [3.0, 4.0])


def test_bad_protocol_is_refused():
    with pytest.raises(ValueError, match="fixed_tokens"):
        TeacherProtocol("fixed_tokens")
    with pytest.raises(ValueError, match="protocol"):
        TeacherProtocol("chinchilla")


def _implied(S, protocol):
    return np.array([link.implied_optimum(s, 20 * s, SUP, DIST, protocol).teacher for s in S])


def test_agreement_verdicts(tmp_path):
    S = np.array([1e8, 2e8, 4e8])
    p = TeacherProtocol()
    true_T = _implied(S, p)
    ci = np.stack([true_T * 0.8, true_T * 1.25], 1)
    a = link.agreement(SUP, DIST, S, true_T * 1.05, ci, 20 * S, p, n_curve=6)
    assert a.verdict.startswith("The two laws agree") and a.n_inside_ci == 3
    assert a.max_rel_error == pytest.approx(1 - 1 / 1.05, rel=1e-6)
    assert a.implied_law.linear.slope == pytest.approx(np.polyfit(S, true_T, 1)[0])
    # Zhang-like measured optima (T* ≈ 2.5 S) disagree with Eq. 8's ~100x on these laws
    b = link.agreement(SUP, DIST, S, 2.5 * S, np.stack([2 * S, 3 * S], 1), 20 * S, p, n_curve=6)
    assert b.verdict.startswith("The two laws disagree") and b.n_inside_ci == 0 and b.max_rel_error > 10
    assert all(math.isfinite(x) for x in b.log_errors)
    from simgap.plan.plots import plot_agreement

    path = plot_agreement(b, tmp_path / "agree.png")
    assert path.stat().st_size > 10_000
