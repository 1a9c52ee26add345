import numpy as np
import pytest

from simgap import optima
from simgap.fit.results import to_json

TEACHERS = 2.0 ** np.arange(3, 11)  # 8 … 1024


def _rows(curve, students, n_seeds=5, seed_sd=0.02, noise=0.002, rng_seed=0):
    """Tidy rows from loss = curve(student, teacher) + a per-seed offset (paired) + noise."""
    rng = np.random.default_rng(rng_seed)
    S, T, L, seed = [], [], [], []
    for s in students:
        for k in range(n_seeds):
            offset = rng.normal(0, seed_sd)
            for t in TEACHERS:
                S.append(s), T.append(t), seed.append(k)
                L.append(curve(s, t) + offset + rng.normal(0, noise))
    return np.array(S), np.array(T), np.array(L), np.array(seed)


def u_curve(s, t):
    return 1.0 + 0.05 * (np.log(t) - np.log(2.5 * s)) ** 2  # minimum exactly at T* = 2.5·S


def test_u_curve_minimum_recovered_between_grid_points():
    S, T, L, seed = _rows(u_curve, [12, 40, 100])
    res = optima.teacher_optima(S, T, L, seed, n_boot=400)
    for r in res:
        truth = 2.5 * r.student_size
        assert r.interior and r.edge == ""
        assert r.optimal_teacher == pytest.approx(truth, rel=0.05)  # grid steps are ×2
        lo, hi = r.optimal_teacher_ci
        assert lo < hi and lo <= r.optimal_teacher <= hi and hi / lo < 1.3
        assert r.dip_beyond_noise and r.dip_ci[0] > 0 and r.frac_interior > 0.9
        assert r.n_seeds == 5 and len(r.mean_loss) == len(TEACHERS)


def test_refinement_is_exact_for_a_parabola_in_log_size():
    log_t = np.log(TEACHERS)
    curve = (log_t - np.log(77.0)) ** 2
    refined, i = optima.refine_log_quadratic(log_t, curve)
    assert np.exp(refined[0]) == pytest.approx(77.0, rel=1e-9)


def test_monotone_curve_is_flagged_as_edge():
    S, T, L, seed = _rows(lambda s, t: 1.0 + 1.0 / t, [16])
    (r,) = optima.teacher_optima(S, T, L, seed, n_boot=200)
    assert not r.interior and r.edge == "largest"
    assert r.optimal_teacher == pytest.approx(TEACHERS[-1]) and r.dip_depth == 0.0
    assert not r.dip_beyond_noise
    S, T, L, seed = _rows(lambda s, t: 1.0 + 0.001 * t, [16])
    (r,) = optima.teacher_optima(S, T, L, seed, n_boot=200)
    assert r.edge == "smallest" and r.optimal_teacher == pytest.approx(TEACHERS[0])


def test_an_optimum_is_located_only_when_its_ci_stays_inside_the_teachers():
    """A clear U far from both ends is located; a curve flat beyond some teacher has an interior
    seed-mean minimum whose CI reaches the largest teacher, so it only bounds T*; one seed: no CI,
    an interior optimum counts as located."""
    S, T, L, seed = _rows(u_curve, [16], n_seeds=8)
    (r,) = optima.teacher_optima(S, T, L, seed, n_boot=300)
    assert r.interior and r.located
    flat = lambda s, t: 1.0 + 0.05 * np.minimum(np.log(t / 64), 0) ** 2  # noqa: E731 (flat from 64 up)
    S, T, L, seed = _rows(flat, [16], n_seeds=4, noise=0.004, rng_seed=0)
    (r,) = optima.teacher_optima(S, T, L, seed, n_boot=300)
    assert r.optimal_teacher_ci[1] >= TEACHERS[-1] * (1 - 1e-9) and not r.located
    S, T, L, seed = _rows(u_curve, [16], n_seeds=1)
    (r,) = optima.teacher_optima(S, T, L, seed, n_boot=300)
    assert r.interior and r.located and np.isnan(r.optimal_teacher_ci[0])


def test_flat_curve_dip_is_not_beyond_noise_at_about_the_nominal_rate():
    """No dip at all, per-run noise 0.01, 6 seeds: the argmin of 8 noisy means is always below the
    largest teacher's, so a naive CI at the argmin would almost always exclude 0. The
    selection-aware band must call it noise in ≥ 80 % of 40 replicates (nominal 90 %)."""
    calls = []
    for k in range(40):
        S, T, L, seed = _rows(lambda s, t: 1.0, [16], n_seeds=6, noise=0.01, rng_seed=k)
        (r,) = optima.teacher_optima(S, T, L, seed, n_boot=300, rng_seed=k)
        calls.append(r.dip_beyond_noise)
    assert np.mean(calls) <= 0.2


def test_budgets_are_separate_and_missing_runs_tolerated():
    S, T, L, seed = _rows(u_curve, [20], n_seeds=3)
    budget = np.concatenate([np.full(len(S), 1e6), np.full(len(S), 4e6)])
    S2, T2, L2, seed2 = (np.concatenate([a, a]) for a in (S, T, L, seed))
    keep = np.ones(len(S2), bool)
    keep[5] = False  # one run missing
    res = optima.teacher_optima(S2[keep], T2[keep], L2[keep], seed2[keep], budget[keep], n_boot=100)
    assert [r.budget for r in res] == [1e6, 4e6]
    assert all(r.interior for r in res)
    d = to_json(res[0])  # the one JSON sanitiser (simgap.fit.results)
    assert isinstance(d["teacher_sizes"], list) and d["student_size"] == 20


def test_single_seed_gives_no_ci_and_bad_input_is_named():
    S, T, L, _ = _rows(u_curve, [20], n_seeds=1)
    (r,) = optima.teacher_optima(S, T, L)
    assert np.isnan(r.optimal_teacher_ci[0]) and r.n_seeds == 1
    L[4] = np.nan
    with pytest.raises(ValueError, match=r"'student_loss' row 5"):
        optima.teacher_optima(S, T, L)
    with pytest.raises(ValueError, match="≥ 3 teacher sizes"):
        optima.teacher_optima([1, 1], [2, 4], [1.0, 0.9])


def test_a_second_axis_shares_the_bootstrap_and_equals_locating_it_alone():
    """Issue 17: the optima on parameters and on the width knob came from two full seed bootstraps;
    now one, with the same numbers as locating the knob axis on its own. A knob that is not one
    value per size (or not increasing with it) is refused (None), so the caller locates it alone."""
    S, T, L, seed = _rows(u_curve, [12, 40, 100])
    knob_s, knob_t = 3 * S**0.5, 7 * T**0.5  # a width-like knob, increasing with the size
    on_size, on_knob = optima.teacher_optima_on_two_axes(S, T, L, seed, None, knob_s, knob_t, n_boot=200)
    assert on_size == optima.teacher_optima(S, T, L, seed, n_boot=200)
    assert on_knob == optima.teacher_optima(knob_s, knob_t, L, seed, n_boot=200)
    assert optima.teacher_optima_on_two_axes(S, T, L, seed, None, knob_s, -knob_t, n_boot=50)[1] is None


def test_a_student_with_two_teachers_is_left_out_not_the_setting():
    """Under Zhang et al.'s protocol the largest student may have only two teachers larger than itself:
    its optimum cannot be located, the other students' still are."""
    S = [1] * 3 + [2] * 2
    T = [2, 4, 8, 4, 8]
    L = [1.0, 0.9, 0.95, 0.8, 0.7]
    (r,) = optima.teacher_optima(S, T, L)
    assert r.student_size == 1 and r.optimal_teacher_grid == 4 and r.interior


def test_fit_table_names_the_student_it_left_out():
    """The student with two teachers is in the optima section's `left_out` (with its teacher count) and
    named under the report's optima table, not only missing from it."""
    from simgap.fit.table import fit_table
    from simgap.report import optima_table

    f = fit_table({"student_size": np.array([1.0] * 3 + [2.0] * 2), "teacher_size": np.array([2.0, 4, 8, 4, 8]),
                   "student_loss": np.array([1.0, 0.9, 0.95, 0.8, 0.7])})
    [(_, st)] = f.settings()
    assert [(x.student_size, x.n_teachers) for x in st.optima.left_out] == [(2.0, 2)]
    assert [o.student_size for o in st.optima.per_student] == [1.0]
    assert "Left out (fewer than 3 teacher sizes" in "\n".join(optima_table(st.optima.students, st.optima.left_out))
    assert "student 2 (2 teachers)" in "\n".join(optima_table(st.optima.students, st.optima.left_out))
