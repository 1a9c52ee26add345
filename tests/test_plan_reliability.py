"""Hostile input to `python -m simgap.plan` (issue 18, cases 6 and 11–13): one clear line, never a
traceback, a NaN or a plan built on a nonsense number."""

import json

import numpy as np
import pytest

from plan_helpers import STUDENTS, fit_json, truth, write_csv
from simgap.plan.__main__ import main

BASE = ["--student", "1e9", "--compute", "1e22", "--no-sweep"]


def _one_line_error(capsys, argv) -> str:
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's own refusals
        rc = e.code
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("simgap.plan: error:"), (rc, captured.err)
    assert "Traceback" not in captured.err and "nan" not in err[0].lower().replace("finite", "")
    return err[0]


@pytest.mark.parametrize("doc,needle", [
    ({"families": "x"}, "'families' must be a JSON list"),
    ({"families": [3]}, "each entry of 'families' must be a JSON object"),
    ({"families": [{"family": "f", "supervised": [], "settings": []}]}, "no supervised law"),
    ({"families": [{"family": "f", "supervised": {"fit": {"converged": True, "params": [1, 2]}}, "settings": []}]},
     "must be a JSON object"),
    ({"families": [{"family": "f", "supervised": {"fit": {"converged": True, "params": {
        "E": 1, "A": 1, "B": 1, "alpha": .3, "beta": .3, "gamma": 1}}}, "settings": {"a": 1}}]}, "'settings' must be"),
    ({"families": [{"family": "f", "supervised": {"fit": {"converged": True, "params": {
        "E": 1, "A": 1, "B": 1, "alpha": .3, "beta": .3, "gamma": 1}}}, "settings": [3]}]}, "setting 0 must be"),
    ({"families": [{"family": "f", "supervised": {"fit": {"converged": True, "params": {
        "E": "x", "A": 1, "B": 1, "alpha": .3, "beta": .3, "gamma": 1}}}, "settings": [{}]}]}, "malformed"),
])
def test_laws_file_with_wrong_json_types_gives_one_line(tmp_path, capsys, doc, needle):
    """Case 6: families/settings of the wrong JSON type were AttributeError/KeyError tracebacks."""
    path = tmp_path / "laws.json"
    path.write_text(json.dumps(doc))
    assert needle in _one_line_error(capsys, ["--laws", str(path), *BASE])


@pytest.mark.parametrize("data,rmse,needle", [
    ({"N": "abc", "D": [1.0], "teacher_loss": [2.0]}, 0.01, "'N' must be a list of numbers"),
    ({"N": [1e8] * 12, "D": [2e9] * 11, "teacher_loss": [2.0] * 12}, 0.01, "differ in length"),
    ({"N": [1e8] * 12, "D": [2e9] * 12, "teacher_loss": [None] * 12}, 0.01, "'teacher_loss' must"),
    ({"N": [1e8] * 12, "D": [2e9] * 12, "teacher_loss": [2.0] * 12}, "small", "rmse_log must be a number"),
    ([1, 2], 0.01, "'data' must be a JSON object"),
])
def test_eq8_boot_on_malformed_data_gives_one_line(tmp_path, capsys, data, rmse, needle):
    """Case 6: --eq8-boot on malformed data was a TypeError traceback."""
    path = fit_json(tmp_path / "fit.json")
    doc = json.loads(path.read_text())
    dist = doc["families"][0]["settings"][0]["distillation"]
    dist["data"], dist["fit"]["rmse_log"] = data, rmse
    path.write_text(json.dumps(doc))
    assert needle in _one_line_error(capsys, ["--laws", str(path), *BASE, "--eq8-boot", "2"])


@pytest.mark.parametrize("flag,value,needle", [
    ("--student-tokens", "0", "--student-tokens: must be a finite number > 0, got 0"),
    ("--flops-c1", "-10", "--flops-c1: must be a finite number ≥ 0, got -10"),
    ("--size-unit", "0", "--size-unit: must be a finite number > 0, got 0"),
    ("--student", "0", "--student: must be a finite number > 0, got 0"),
    ("--student", "-1e9", "--student: must be a finite number > 0, got -1e9"),
    ("--compute", "inf", "--compute: must be a finite number > 0, got inf"),
    ("--noise-sd", "-0.01", "--noise-sd: must be a finite number > 0, got -0.01"),
    ("--design-students", "0,1e8,2e8", "every value must be finite and > 0, got 0"),
    ("--design-teacher-ratios", "16,-2,64", "every value must be finite and > 0, got -2"),
    ("--sweep-points", "2", "--sweep-points: must be ≥ 3, got 2"),
])
def test_bad_numbers_are_refused_by_name(capsys, flag, value, needle):
    """Cases 12–13: these were accepted (every T*/S at the edge, "distil on inf tokens"), or misreported
    ("got nan" for --student 0, "seed noise is zero" for a negative noise, "All-NaN slice" for a 0 student)."""
    argv = ["--reference", "busbridge", *BASE, f"{flag}={value}" if value.startswith("-") else flag]
    if not value.startswith("-"):
        argv.append(value)
    if flag == "--student":
        argv = ["--reference", "busbridge", "--compute", "1e22", "--no-sweep", flag, value]
    assert needle in _one_line_error(capsys, argv)


def test_tiny_reference_student_is_refused(capsys):
    """Case 12: `--student 1e-3` gave a full plan for a thousandth of a parameter."""
    err = _one_line_error(capsys, ["--reference", "busbridge", "--student", "1e-3", "--compute", "1e22", "--no-sweep"])
    assert "at least one parameter" in err


def test_design_with_every_optimum_at_the_edge_says_what_to_add(tmp_path, capsys):
    """Case 11: every optimum at the edge printed "slope nan, CI [nan, nan]" and still ranked additions."""
    rows = {k: [] for k in ("run_kind", "seed", "student_size", "teacher_size", "student_loss")}
    rng = np.random.default_rng(0)
    for seed in range(3):
        for s in STUDENTS:
            for t in s * np.array([0.5, 1.0, 2.0, 4.0]):  # far below Eq. 8's ~100x optimum: best at the largest
                rows["run_kind"].append("distilled"), rows["seed"].append(seed), rows["student_size"].append(s)
                rows["teacher_size"].append(t), rows["student_loss"].append(float(truth(s, t) + rng.normal(0, 1e-4)))
    table = write_csv(rows, tmp_path / "pilot.csv")
    assert main(["--design", str(table), "--design-boot", "50", "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert "cannot locate any optimum" in text and "teachers larger than the largest" in text
    assert "nan" not in text.lower() and "additions ranked" not in text
    plan = json.loads((tmp_path / "o" / "plan.json").read_text())
    assert plan["design"]["status"] == "no_teacher_law" and "additions" not in plan["design"]


def test_duplicate_teacher_names_are_refused_naming_the_rows(tmp_path, capsys):
    """Issue 28 case 8: two teachers named "A" were ranked as "A" and "A" without a word, so the
    ranking could not say which checkpoint it meant."""
    path = tmp_path / "teachers.csv"
    path.write_text("name,size,tokens\nA,1e10,2e11\nB,3e10,6e11\n A ,2e10,4e11\n")
    err = _one_line_error(capsys, ["--reference", "busbridge", *BASE, "--teachers", str(path)])
    assert f"{path}: teacher name 'A' is given twice: row 1 (line 2) and row 3 (line 4)" in err


def test_students_per_teacher_wording_is_true_for_each_scenario(capsys):
    """Issue 28 case 8: with --students-per-teacher 8 every scenario said "(1/8 of its training
    charged)", also those whose teacher already exists, whose training is not charged at all."""
    assert main(["--reference", "busbridge", *BASE, "--teacher-size", "1e10", "--teacher-tokens", "2e11",
                 "--students-per-teacher", "8"]) == 0
    head = "for a 1e9 student at 1e22 FLOPs ("
    free, inference, trained = (ln[len(head):] for ln in capsys.readouterr().out.splitlines() if ln.startswith(head))
    for existing in (free, inference):
        assert existing.startswith("teacher exists") and "1/8" not in existing
        assert "its training is not charged, so sharing it among 8 students changes nothing" in existing
    assert trained.startswith("teacher trained for this student, shared by 8 students (1/8 of its training charged)")


@pytest.mark.parametrize("drop,needle", [
    (("settings", "params"), " setting 0: the distillation law's 'fit' has no 'params'"),
    (("supervised", "params"), ": the supervised law's 'fit' has no 'params'"),
    (("settings", "converged"), " setting 0: the distillation law's 'fit' has no 'converged'"),
])
def test_laws_file_without_params_names_the_missing_key(tmp_path, capsys, drop, needle):
    """Issue 28 case 8: a laws file whose fit has no 'params' said "did not converge (ok)"."""
    path = fit_json(tmp_path / "fit.json")
    doc = json.loads(path.read_text())
    fam = doc["families"][0]
    section = fam["settings"][0]["distillation"] if drop[0] == "settings" else fam["supervised"]
    del section["fit"][drop[1]]
    path.write_text(json.dumps(doc))
    err = _one_line_error(capsys, ["--laws", str(path), *BASE])
    assert f"{path} family 'ref'{needle}" in err and "did not converge" not in err


def test_laws_file_without_data_says_answers_are_not_checked_for_extrapolation(tmp_path, capsys):
    """Issue 28 case 8: without 'data' the fitted range is unknown and no answer was flagged
    '! extrapolated' — without a word. The plan says which law lacks it and what goes unchecked."""
    path = fit_json(tmp_path / "fit.json")
    doc = json.loads(path.read_text())
    doc["families"][0]["supervised"]["data"] = {"N": [1e8, 2e9], "D": [1e9, 4e10]}
    path.write_text(json.dumps(doc))
    assert main(["--laws", str(path), *BASE, "--out", str(tmp_path / "o"), "--no-plots"]) == 0
    missing = (f"{path} family 'ref' setting 0: the distillation law has no 'data' (N_S, D_S and L_T are not "
               "checked for extrapolation)")
    assert f"! {missing}" in capsys.readouterr().out.splitlines()
    assert json.loads((tmp_path / "o" / "plan.json").read_text())["laws"]["fitted_range"]["missing"] == missing
    del doc["families"][0]["supervised"]["data"]["D"]
    path.write_text(json.dumps(doc))
    assert main(["--laws", str(path), *BASE]) == 0
    assert "; the supervised law's 'data' has no 'D' (D_T is not checked for extrapolation)" in capsys.readouterr().out
    assert f"{path} family 'ref' setting 0 lacks them" in _one_line_error(capsys, ["--laws", str(path), *BASE,
                                                                                  "--eq8-boot", "2"])
