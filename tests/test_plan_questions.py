"""The planner's questions of issue 20, each against an independent brute force (within 0.2 %):
your own teacher, several teachers ranked, K students per teacher, the pretraining-only scenario;
and the flags, units and signs the answers carry."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from plan_helpers import DIST, SUP, fit_json
from simgap import laws
from simgap.plan import compute, teachers
from simgap.plan.__main__ import main, parser
from simgap.plan.compute import SCENARIOS, flops_per_token as F

N_S, C = 1e9, 1e22


def brute_force(N_S, C, sc, n=301):
    """min L_S over a (log N_T, log D_T/N_T) grid, D_S from the budget: no optimiser involved."""
    v, w = np.meshgrid(np.linspace(math.log(N_S * 1e-2), math.log(N_S * 1e4), n), np.linspace(0, math.log(1e5), n))
    N_T, D_T = np.exp(v), np.exp(v + w)
    D_S = (C - sc.delta_pre * 3 * F(N_T) * D_T) / (3 * F(N_S) + sc.delta_logit * F(N_T))
    ok = D_S >= N_S
    L = np.where(ok, laws.distill_loss(N_S, np.where(ok, D_S, N_S), laws.supervised_loss(N_T, D_T, SUP), SUP, DIST), np.inf)
    return float(L.min())


def test_own_teacher_plan_matches_a_brute_force_over_student_tokens():
    t = teachers.make_teacher(SUP, size=1.78e9, tokens=2e12)
    assert t.loss == pytest.approx(2.046, abs=5e-4)  # issue 20: a 1.78B model on 2T tokens has L_T 2.046
    a = teachers.plan_with_teacher(N_S, C, t, SUP, DIST, SCENARIOS["inference"])
    D = np.geomspace(N_S, C / (3 * F(N_S) + F(t.size)), 100_001)
    L = laws.distill_loss(N_S, D, t.loss, SUP, DIST)
    assert a.student_loss == pytest.approx(L.min(), rel=2e-3)
    assert a.student_tokens == pytest.approx(D[np.argmin(L)], rel=2e-3)
    assert a.spend["total"] <= C * (1 + 1e-12) and not a.flags


def test_teachers_are_ranked_by_student_loss_and_the_capacity_gap_shows():
    """Logits free, so only the teacher's quality matters: a much stronger teacher ranks below one
    near the capacity gap's optimum (L_T ≈ 1.98 for this student)."""
    ts = [teachers.make_teacher(SUP, loss=x, name=f"L{x}") for x in (1.5, 1.98, 2.3)]
    ranked = teachers.rank_teachers(N_S, C, ts, SUP, DIST, SCENARIOS["free"])
    names = [t.name for t, _ in ranked]
    assert names[0] == "L1.98" and names.index("L1.5") > names.index("L1.98")  # the strongest is not the best
    D = C / (3 * F(N_S))
    for t, a in ranked:
        assert a.student_loss == pytest.approx(float(laws.distill_loss(N_S, D, t.loss, SUP, DIST)), rel=2e-3)


def test_k_students_per_teacher_matches_brute_force_and_its_limits():
    sc = SCENARIOS["trained"]
    assert compute.optimise(N_S, C, SUP, DIST, teachers.shared(sc, 1)) == compute.optimise(N_S, C, SUP, DIST, sc)
    for k in (8, 1e3):
        a = compute.optimise(N_S, C, SUP, DIST, teachers.shared(sc, k))
        assert a.student_loss == pytest.approx(brute_force(N_S, C, teachers.shared(sc, k)), rel=2e-3)
        assert a.spend["teacher_training"] == pytest.approx(3 * F(a.teacher) * a.teacher_tokens / k, rel=1e-9)
    far = compute.optimise(N_S, C, SUP, DIST, teachers.shared(sc, 1e12)).student_loss
    assert far == pytest.approx(compute.optimise(N_S, C, SUP, DIST, SCENARIOS["inference"]).student_loss, rel=2e-3)
    # Pretraining only (logits free): K → ∞ reaches the free-teacher bound.
    far = compute.optimise(N_S, C, SUP, DIST, teachers.shared(SCENARIOS["pretraining"], 1e12)).student_loss
    assert far == pytest.approx(compute.optimise_free(N_S, C, SUP, DIST).student_loss, rel=2e-3)


def test_pretraining_only_scenario_matches_brute_force():
    sc = SCENARIOS["pretraining"]
    assert (sc.delta_pre, sc.delta_logit) == (1.0, 0.0)
    a = compute.optimise(N_S, C, SUP, DIST, sc)
    assert a.student_loss == pytest.approx(brute_force(N_S, C, sc), rel=2e-3)
    assert a.spend["teacher_inference"] == 0 and abs(a.constraint_residual) < 1e-6


def test_smallest_k_is_the_first_k_at_which_distillation_pays():
    s = teachers.smallest_k(1e8, 1e20, SUP, DIST, SCENARIOS["trained"])
    assert s.smallest_k is not None and s.smallest_k > 1 and s.gain_at_k > 0
    before = compute.optimise(1e8, 1e20, SUP, DIST, teachers.shared(SCENARIOS["trained"], s.smallest_k - 1)).gain
    assert before <= 0 < s.gain_at_k <= s.gain_unlimited
    never = teachers.smallest_k(1e9, 1e22, SUP, DIST, SCENARIOS["trained"])  # even a free teacher loses here
    assert never.smallest_k is None and never.gain_unlimited <= 0


def test_edge_floor_and_unconverged_points_are_flagged():
    assert compute.optimise(1e9, 1e19, SUP, DIST, SCENARIOS["inference"]).flags == ("student_tokens_at_floor",)
    assert "teacher_tokens_at_edge" in compute.optimise(1e8, 1e26, SUP, DIST, SCENARIOS["trained"]).flags
    no_gap = replace(DIST, c0=0.0, c1=1e-3)  # L_S rises with L_T: the strongest teacher is best, at the box edge
    assert "teacher_size_at_edge" in compute.optimise(1e9, 1e22, SUP, no_gap, SCENARIOS["free"]).flags
    assert compute.optimise(N_S, C, SUP, DIST, SCENARIOS["trained"]).flags == ()


def test_cli_plan_json_has_units_decisions_flags_and_one_sign(tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["--reference", "busbridge", "--student", "1e9", "--compute", "1e22", "--sweep-points", "3",
                 "--map-students", "2", "--out", str(out), "--no-plots"]) == 0
    text = capsys.readouterr().out
    plan = json.loads((out / "plan.json").read_text())
    assert plan["units"]["compute"] == "FLOPs" and "nats per token" in plan["units"]["loss"]
    assert "nats per token" in text and "gain = supervised − distilled" in text
    sc = plan["allocation"]["scenarios"]
    assert sc["trained"]["decision"]["call"] == "supervised" and sc["free"]["decision"]["call"] == "tie"
    assert "1%" in sc["free"]["decision"]["basis"] and "tie within the laws' uncertainty" in text
    assert {o["quantity"] for o in sc["free"]["extrapolated"]} == {"D_S"}  # 1.67e12 > the paper's 512B tokens
    assert "! extrapolated outside the laws' range: D_S 1.67e12 > 5.12e11" in text
    assert "not the allocation's D_S" in text and "not the allocation's D_S" in plan["link"]["note"]
    for name, row in plan["sweep"]["gain_map"]["supervised_minus_distilled"].items():  # one sign everywhere
        a = plan["sweep"]["allocations"][name][0]
        assert a["gain"] == pytest.approx(a["supervised_loss"] - a["student_loss"])
        assert all(g is None or np.isfinite(g) for g in row[0])
    assert plan["sweep"]["gain_map"]["flagged"].keys() == plan["sweep"]["gain_map"]["ties"].keys()


def test_cli_own_teachers_and_shared_teacher(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    csv.write_text("name,size,tokens,loss\nsmall,1.78e9,2e12,\nbig,7e9,1e12,\nmeasured,,,2.0\n")
    assert main(["--reference", "busbridge", "--student", "1e9", "--compute", "1e22", "--no-sweep", "--scenario", "free",
                 "--teachers", str(csv)]) == 0
    text = capsys.readouterr().out
    assert "your teachers for a 1e9 student" in text and "1. " in text and "3. " in text
    assert main(["--reference", "busbridge", "--student", "1e9", "--compute", "1e22", "--no-sweep",
                 "--teacher-size", "1.78e9", "--teacher-tokens", "2e12"]) == 0
    assert "your teacher (L_T 2.0460)" in capsys.readouterr().out
    assert main(["--reference", "busbridge", "--student", "1e8", "--compute", "1e20", "--no-sweep", "--scenario",
                 "trained", "--students-per-teacher", "8"]) == 0
    text = capsys.readouterr().out
    assert "shared by 8 students (1/8 of its training charged)" in text and "N_S = 1e8 (trained): K = " in text


@pytest.mark.parametrize("argv,needle", [
    (["--teacher-size", "1e9"], "--teacher-size needs --teacher-tokens"),
    (["--teacher-tokens", "1e12"], "--teacher-tokens needs --teacher-size"),
    (["--teacher-loss", "1.0"], "irreducible loss"),
    (["--students-per-teacher", "0.5"], "--students-per-teacher: must be a finite number ≥ 1"),
])
def test_own_teacher_flags_refuse_bad_input(argv, needle, capsys):
    try:
        rc = main(["--reference", "busbridge", "--student", "1e9", "--compute", "1e22", "--no-sweep", *argv])
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], err


def test_help_describes_every_scenario_and_flag():
    ap = parser()
    text = ap.format_help()
    for words in ("free (δ_pre 0, δ_logit 0)", "inference (0, 1)", "trained (1, 1)", "pretraining (1, 0)",
                  "nats per token", "1/K of the teacher's training"):
        assert words in " ".join(text.split()), words
    assert all(a.help for a in ap._actions), [a.dest for a in ap._actions if not a.help]


def test_fitted_laws_file_gives_the_fitted_range(tmp_path):
    from simgap.plan.load import load_laws

    path = fit_json(tmp_path / "fit.json")
    doc = json.loads(path.read_text())
    doc["families"][0]["settings"][0]["distillation"]["data"] = {"N": [1e8, 4e8], "D": [2e9, 8e9],
                                                                 "teacher_loss": [2.1, 2.6]}
    doc["families"][0]["supervised"]["data"] = {"N": [1e8, 2e9], "D": [1e9, 4e10]}
    path.write_text(json.dumps(doc))
    L = load_laws(path)
    assert L.ranges.student_size == (1e8, 4e8) and L.ranges.teacher_size == (1e8, 2e9)
    assert L.ranges.teacher_loss == (2.1, 2.6) and not L.replicates and L.fit_error is None
