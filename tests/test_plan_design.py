import numpy as np
import pytest

from plan_helpers import STUDENTS, draw_pilot
from simgap.plan import design
from simgap.plan.compute import PlanError

TARGET = 10 * STUDENTS[-1]


def test_predicted_ci_width_matches_the_spread_over_repeated_pilots():
    """Known truth (Eq. 8, reference laws, seed noise 0.002, 5 seeds): draw 60 pilots; each predicts
    its slope and T*(10x largest student) CI by parametric bootstrap; the median predicted width must
    agree within 25 % with the 90 % spread of the 60 pilots' own estimates."""
    rng = np.random.default_rng(20251125)
    est_slope, est_target, w_slope, w_target, sds = [], [], [], [], []
    for i in range(60):
        p = design.pilot_from_columns(draw_pilot(rng))
        pr = design.predict(p, TARGET, n_boot=300, seed=i)
        est_slope.append(pr.slope), est_target.append(pr.target_teacher)
        w_slope.append(pr.slope_width), w_target.append(pr.target_width), sds.append(p.noise_sd)
    assert np.mean(sds) == pytest.approx(0.002, rel=0.05)
    for est, w in ((est_slope, w_slope), (est_target, w_target)):
        lo, hi = np.quantile(est, [0.05, 0.95])
        assert np.median(w) / (hi - lo) == pytest.approx(1.0, abs=0.25)


def test_noise_estimate_ignores_seed_offsets():
    rng = np.random.default_rng(1)
    cols = draw_pilot(rng, n_seeds=8, sd=0.003)
    cols["student_loss"] = cols["student_loss"] + 0.5 * cols["seed"]  # a large shift per seed
    assert design.pilot_from_columns(cols).noise_sd == pytest.approx(0.003, rel=0.12)


def test_additions_are_ranked_and_more_seeds_shrink_the_ci():
    p = design.pilot_from_columns(draw_pilot(np.random.default_rng(2)))
    base = design.predict(p, TARGET, n_boot=400)
    ranked = design.rank_additions(p, TARGET, n_boot=400, base=base)
    assert len(ranked) == 3
    per = [r["shrinkage_per_cost"] for r in ranked]
    assert per == sorted(per, reverse=True)
    seeds = next(r for r in ranked if r["addition"].startswith("seeds"))
    assert seeds["target_ci_width"] < base.target_width
    assert seeds["target_ci_width"] == pytest.approx(base.target_width / np.sqrt(2), rel=0.25)
    assert all(r["cost"] > 0 for r in ranked)


def test_bad_design_tables_are_refused():
    cols = draw_pilot(np.random.default_rng(3), n_seeds=1)
    with pytest.raises(PlanError, match="2 seeds"):
        design.pilot_from_columns(cols)
    cols = draw_pilot(np.random.default_rng(3), ratios=np.array([16.0, 32.0]))
    with pytest.raises(PlanError, match="≥ 3"):
        design.pilot_from_columns(cols)
    cols = draw_pilot(np.random.default_rng(3))
    twice = {k: np.concatenate([v, v]) for k, v in cols.items()}
    with pytest.raises(PlanError, match="several runs"):
        design.pilot_from_columns(twice)
    with pytest.raises(PlanError, match="teacher_size"):
        design.pilot_from_columns({"student_size": np.ones(3), "student_loss": np.ones(3)})


def test_planned_pilot_from_the_law_matches_a_drawn_pilot_of_the_same_design():
    """With no runs yet, the law gives the plug-in curves: its predicted width must match the spread
    over pilots actually drawn from that law (the same known truth as above)."""
    from plan_helpers import DIST, RATIOS, SUP

    p = design.pilot_from_law(SUP, DIST, STUDENTS, RATIOS, n_seeds=5, noise_sd=0.002)
    pr = design.predict(p, TARGET, n_boot=2000, seed=3)
    rng = np.random.default_rng(7)
    est = [design.predict(design.pilot_from_columns(draw_pilot(rng)), TARGET, n_boot=20).slope for _ in range(60)]
    lo, hi = np.quantile(est, [0.05, 0.95])
    assert pr.slope_width / (hi - lo) == pytest.approx(1.0, abs=0.25)
    with pytest.raises(PlanError, match="planned pilot"):
        design.pilot_from_law(SUP, DIST, STUDENTS, RATIOS[:2], n_seeds=5, noise_sd=0.002)
