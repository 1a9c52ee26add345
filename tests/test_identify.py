"""Identification and the rules that keep a verdict from depending on the solver's seed or on too
few seeds: profiles (simgap.fit.identify), the Monte Carlo margin on a CI's ends, few-seed and
one-seed intervals (simgap.intervals, simgap.fit.teacher)."""

import math

import numpy as np
import pytest
from scipy import stats

from simgap import laws
from simgap.fit import simulate as sim
from simgap.fit.identify import profile
from simgap.fit.solver import fit_supervised
from simgap.fit.teacher import fit_teacher_law
from simgap.fit.verdicts import equivalence
from simgap.intervals import FEW_SEEDS, mc_widened, seed_interval


def _supervised(truth: sim.SupervisedTruth, seed: int = 0):
    t = sim.supervised_table(truth, 3, np.random.default_rng(seed))
    return fit_supervised(t["student_size"], t["student_tokens"], t["loss"], n_top=5, n_random=3)


def test_a_d_proportional_to_n_grid_leaves_gamma_flat_and_a_budget_grid_pins_it():
    """On D = 20·N only αγ is fitted: γ at half or twice its estimate fits as well. On a size ×
    budget grid neither does, and γ = 1 far from a true 0.6 is rejected."""
    for seed in range(3):
        flat = profile(_supervised(sim.SupervisedTruth(ratio=20.0, sizes=(4.0, 8.0, 16.0, 32.0, 64.0, 96.0)), seed),
                       {"gamma": (1.0,)})
        assert "gamma" in flat.unidentified()
        lo, hi = flat.flat_range("gamma")
        assert hi / lo >= 2  # the estimate and half or twice it fit as well
    pinned = profile(_supervised(sim.SupervisedTruth(gamma=0.6, run_sd=0.002)), {"gamma": (1.0,)})
    assert pinned.identified("gamma") and pinned.rejected("gamma", 1.0)


def test_spread_is_zero_when_every_other_fit_is_rejected():
    ident = profile(_supervised(sim.SupervisedTruth(gamma=0.6, run_sd=0.002)), {"gamma": (1.0,)})
    f = lambda p: float(laws.supervised_loss(10.0, np.inf, p))  # noqa: E731
    assert ident.spread(f) < 0.01


def test_a_verdict_inside_the_monte_carlo_error_of_its_threshold_is_undecided():
    """The CI says fails (excludes 1), but its lower end sits so close to 1 that other bootstrap draws
    could put it below: undecided, naming the MC error. Far from the threshold: fails."""
    near = equivalence("linear", 1.2, (1.005, 1.4), 1.0, 0.1, 8, decide_ci=(0.97, 1.42))
    assert near.verdict == "undecided" and "Monte Carlo" in near.needs
    far = equivalence("linear", 1.5, (1.3, 1.7), 1.0, 0.1, 8, decide_ci=mc_widened(np.random.default_rng(1).normal(
        1.5, 0.12, 40), 0.9))
    assert far.verdict == "fails"


def test_mc_widened_shrinks_to_the_percentile_interval_with_many_draws():
    v = np.random.default_rng(0).normal(0, 1, 100_000)
    lo, hi = mc_widened(v, 0.9)
    assert lo == pytest.approx(-1.645, abs=0.03) and hi == pytest.approx(1.645, abs=0.03)
    lo40, hi40 = mc_widened(v[:40], 0.9)
    assert hi40 - lo40 > hi - lo


@pytest.mark.parametrize("n", [2, 3, 4])
def test_few_seed_intervals_are_t_intervals_of_the_bootstrap_se(n):
    """Below FEW_SEEDS the interval is point ± t_{n−1}·sd·√(n/(n−1)): wider than any percentile of
    a 2-4 seed bootstrap (which cannot reach past the single-seed estimates)."""
    assert n < FEW_SEEDS
    reps = np.random.default_rng(n).normal(0, 1, 500)
    lo, hi = seed_interval(reps, 0.9, n, 0.0)
    half = stats.t.ppf(0.95, n - 1) * np.std(reps, ddof=1) * math.sqrt(n / (n - 1))
    assert (lo, hi) == pytest.approx((-half, half))
    assert seed_interval(reps, 0.9, 1, 0.0) == pytest.approx((math.nan, math.nan), nan_ok=True)


def test_one_seed_teacher_law_has_residual_intervals_that_cover():
    """One seed: the linear law's slope CI is the HC3 least-squares t-interval; on pilots drawn from
    T* = 2.5·S with log-normal optimum errors it covers 2.5 near the nominal rate."""
    rng = np.random.default_rng(0)
    S = np.array([8.0, 12.0, 16.0, 24.0, 32.0, 48.0])
    hits = 0
    for _ in range(400):
        T = 2.5 * S * np.exp(rng.normal(0, 0.1, len(S)))
        f = fit_teacher_law(S, T, form="linear", residual_ci=True)
        hits += f.slope_ci[0] <= 2.5 <= f.slope_ci[1]
        assert f.ci_over == "residuals"
    assert 0.84 <= hits / 400 <= 0.97, hits


def test_the_calibration_scripts_run_end_to_end(tmp_path, capsys):
    """experiments/few_seeds.py and experiments/verdict_calibration.py (with its seed-flip table) on
    one small table each."""
    import experiment_scripts

    experiment_scripts.load("few_seeds").main(["--tables", "1", "--seeds", "2"])
    out = capsys.readouterr().out
    assert out.count("\n| 2 | ") == 1
    vc = experiment_scripts.load("verdict_calibration")
    vc.main(["--tables", "1", "--only", "eq1_d20", "--fit-seeds", "0,1", "--out", str(tmp_path / "c.json")])
    out = capsys.readouterr().out
    assert "`chinchilla_form` | eq1_d20 | 0/1" in out and "`chinchilla_form --seed 1` | 1/1" in out
