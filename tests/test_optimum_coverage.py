"""The optimum finder against a known truth: the sampled kernel family (experiments/optimum_coverage.py).

Teacher norm = student norm, so a student of n basis functions is best served by the teacher of
capacity m = n. The refined optimum (parabola vertex in log size through the argmin and its
neighbours) estimates theta(n), that vertex on the *expected* curve; theta(n) lies just above n
because the curve is a kink at m = n, steeper on the small side. Replicates of a few seeds each
must cover theta(n) at about the nominal rate: the accepted range is the central 99.9 % range of
a binomial share of hits at the nominal rate (students of one replicate share seeds; the
measured spread of the pooled share across independent seed sets, ~0.01, is below the binomial
one). Measured with 5 seeds per replicate: plain percentile intervals covered 0.73-0.82, the
expanded percentile intervals 0.87-0.89 (five disjoint seed sets of 60 replicates).
"""


import numpy as np
import experiment_scripts
import pytest

from simgap import intervals



@pytest.fixture(scope="module")
def oc():
    return experiment_scripts.load("optimum_coverage")


def _check(oc, cov, replicates: int) -> None:
    s = cov.setup
    step = max(b / a for a, b in zip(s.teachers, s.teachers[1:]))
    for n in s.students:  # the known optimum: the expected curve is lowest at m = n on the grid
        assert cov.truth_argmin[n] == n
        assert n <= cov.truth[n] < n * np.sqrt(step)  # the vertex sits on the gentle side, near n
    lo, hi = oc.binomial_band(s.ci, cov.hits_theta.size, level=0.999)
    assert lo <= cov.hits_theta.mean() <= hi, (cov.hits_theta.mean(), (lo, hi))
    lo, hi = oc.binomial_band(s.ci, replicates, level=0.999)
    assert abs(cov.true_slope - 1) < 0.05  # optima at m = n: slope 1 up to the refinement's bias
    assert lo <= cov.slope_hits_true.mean() <= hi and lo <= cov.slope_hits_one.mean() <= hi


def test_optimum_and_slope_cis_cover_the_known_truth_fast(oc):
    """60 replicates x 5 seeds, 6 students (360 intervals), truth from 400 further seeds."""
    replicates, seeds = 60, 5
    curves = oc.simulate(oc.SMALL, range(replicates * seeds + 400))
    cov = oc.measure(oc.SMALL, curves, replicates, seeds)
    _check(oc, cov, replicates)


@pytest.mark.slow
def test_optimum_and_slope_cis_cover_the_known_truth_paper_sized(oc):
    """The script's defaults: 100 replicates x 8 seeds, 6 students, truth from 2000 seeds."""
    setup, replicates, seeds = oc.Setup(), 100, 8
    curves = oc.simulate(setup, range(replicates * seeds + 2000))
    cov = oc.measure(setup, curves, replicates, seeds)
    oc.report(cov)
    _check(oc, cov, replicates)


def test_expanded_level_matches_a_t_interval_and_tends_to_nominal():
    # a mean of n normals: the percentile level whose normal quantile gives sqrt(n/(n-1))·t_{n-1}
    assert intervals.expanded_level(0.9, 8) == pytest.approx(0.9572, abs=1e-4)
    levels = [intervals.expanded_level(0.9, n) for n in (2, 3, 5, 10, 100, 10_000)]
    assert all(a > b for a, b in zip(levels, levels[1:])) and levels[-1] == pytest.approx(0.9, abs=1e-3)
    with pytest.raises(ValueError, match="n >= 2"):
        intervals.expanded_level(0.9, 1)
