import numpy as np
import pytest

from simgap import laws
from simgap.plan import eq8

SUP, DIST = laws.BUSBRIDGE_SUPERVISED, laws.BUSBRIDGE_DISTILL


def _design():
    N, D, LT = [], [], []
    for n in (1e8, 3e8, 1e9):
        for d in (20 * n, 80 * n):
            for t in np.geomspace(1e9, 1e12, 7):
                N.append(n), D.append(d), LT.append(float(laws.supervised_loss(t, 20 * t, SUP)))
    return np.array(N), np.array(D), np.array(LT)


def test_expected_eq8_error_is_small_for_a_clean_pilot_and_reports_the_plug_in_optimum():
    N, D, LT = _design()
    r = eq8.expected_error(SUP, DIST, N, D, LT, 2e-3, 1e10, 2e11, n_boot=3, seed=0)
    best = laws.optimal_teacher_loss(1e10, 2e11, SUP, DIST)
    assert r.student_loss == pytest.approx(best.student_loss) and r.teacher_loss == pytest.approx(best.teacher_loss)
    assert r.n_failed < 3
    assert 0 < r.student_loss_rel_error[0] <= r.student_loss_rel_error[1] < 0.05
    assert 0 < r.teacher_loss_rel_error[0] < 0.2


def test_expected_eq8_error_refuses_bad_input():
    N, D, LT = _design()
    with pytest.raises(ValueError, match="10 distillation rows"):
        eq8.expected_error(SUP, DIST, N[:5], D[:5], LT[:5], 1e-3, 1e10, 2e11)
    with pytest.raises(ValueError, match="noise"):
        eq8.expected_error(SUP, DIST, N, D, LT, 0.0, 1e10, 2e11)
