import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from plan_helpers import draw_pilot, fit_json, write_csv
from simgap.plan.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def test_cli_end_to_end_with_design(tmp_path, capsys):
    laws = fit_json(tmp_path / "laws.json", wrap_as_laws=True)
    table = write_csv(draw_pilot(np.random.default_rng(0)), tmp_path / "pilot.csv")
    out = tmp_path / "out"
    rc = main(["--laws", str(laws), "--student", "1e9", "--compute", "1e22", "--scenario", "trained",
               "--sweep-points", "3", "--map-students", "2", "--design", str(table), "--target-student", "1.6e9",
               "--design-boot", "100", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "for a 1e9 student at 1e22 FLOPs (teacher trained for this student): train a" in text
    assert "then distil on" in text and "supervised" in text and "pilot design" in text
    plan = json.loads((out / "plan.json").read_text())  # strict JSON: json.loads refuses NaN only via parse_constant
    a = plan["allocation"]["scenarios"]["trained"]
    assert a["converged"] and abs(a["constraint_residual"]) < 1e-6
    assert set(plan) >= {"laws", "request", "allocation", "link", "sweep", "design", "plots"}
    assert plan["design"]["prediction"]["target"] == 1.6e9 and len(plan["design"]["additions"]) == 3
    assert sorted(Path(p).name for p in plan["plots"]) == ["allocation.png", "design.png", "gain_map.png",
                                                            "student_vs_teacher.png"]
    assert "NaN" not in (out / "plan.json").read_text()


def test_cli_design_only(tmp_path, capsys):
    table = write_csv(draw_pilot(np.random.default_rng(1)), tmp_path / "pilot.csv")
    assert main(["--design", str(table), "--design-boot", "50", "--out", str(tmp_path / "d")]) == 0
    text = capsys.readouterr().out
    assert "teacher-law slope" in text and "T* at S = 1.6e9" in text and "additions ranked" in text
    plan = json.loads((tmp_path / "d" / "plan.json").read_text())
    assert set(plan) == {"design", "plots"} and plan["design"]["prediction"]["n_boot"] == 50


def _run(*args):
    return subprocess.run([sys.executable, "-m", "simgap.plan", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_cli_reference_subprocess_prints_the_plain_answer():
    r = _run("--reference", "busbridge", "--student", "1e9", "--compute", "1e22", "--no-sweep")
    assert r.returncode == 0, r.stderr
    assert "for a 1e9 student at 1e22 FLOPs (teacher trained for this student): train a 2.99e9 teacher" in r.stdout
    assert "Zhang et al.: 2.498·S -11.498 M" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["--student", "1e9", "--compute", "1e15", "--no-sweep"], "too small"),
    (["--student", "-1", "--compute", "1e22", "--no-sweep"], "--student: must be a finite number > 0"),
    (["--student", "1e9", "--compute", "1e22", "--teacher-protocol", "fixed-tokens", "--no-sweep"], "teacher tokens"),
    (["--student", "1e9", "--compute", "1e22", "--target-student", "1e10"], "--design"),
    (["--student", "1e9", "--compute", "1e22", "--scenario", "nope"], "invalid choice"),
    (["--student", "1e9"], "--compute"),
    (["--student", "1e9", "--compute", "1e22", "--sweep-points", "2"], "--sweep-points"),
    (["--student", "1e9", "--compute", "1e22", "--no-sweep", "--design-students", "1e8,2e8"], "--noise-sd"),
    (["--student", "1e9", "--compute", "1e22", "--design-students", "1e8,x"], "comma-separated"),
])
def test_bad_input_gives_one_line_and_exit_2(args, needle, capsys):
    try:
        rc = main(["--reference", "busbridge", *args])
    except SystemExit as e:  # argparse's own refusals
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("simgap.plan: error:") and needle in err[0], err


def test_unconverged_or_missing_laws_exit_2(tmp_path, capsys):
    bad = fit_json(tmp_path / "fit.json", converged=False)
    assert main(["--laws", str(bad), "--student", "1e9", "--compute", "1e22", "--no-sweep"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did not converge" in err[0]
    (tmp_path / "x.json").write_text(json.dumps({"families": [{"family": "f", "supervised": {"status": "skipped",
                                                                                             "reason": "no rows"},
                                                              "settings": []}]}))
    assert main(["--laws", str(tmp_path / "x.json"), "--student", "1e9", "--compute", "1e22"]) == 2
    assert "supervised law was not fitted (no rows)" in capsys.readouterr().err
    assert main(["--laws", str(tmp_path / "missing.json"), "--student", "1e9", "--compute", "1e22"]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["--student", "1e9", "--compute", "1e22"]) == 2
    assert "give laws" in capsys.readouterr().err


def test_cli_eq8_bootstrap_needs_the_fit_data(tmp_path, capsys):
    from test_plan_eq8 import _design

    path = fit_json(tmp_path / "fit.json")
    args = ["--laws", str(path), "--student", "1e9", "--compute", "1e22", "--no-sweep", "--eq8-boot", "2"]
    assert main(args) == 2
    assert "holds its data" in capsys.readouterr().err
    doc = json.loads(path.read_text())
    N, D, LT = _design()
    doc["families"][0]["settings"][0]["distillation"]["data"] = {"N": N.tolist(), "D": D.tolist(),
                                                                 "teacher_loss": LT.tolist()}
    doc["families"][0]["settings"][0]["distillation"]["fit"]["rmse_log"] = 2e-3
    path.write_text(json.dumps(doc))
    assert main(args + ["--target-student", "1e10"]) == 0
    assert "Eq. 8 extrapolated to S = 1e10 on 2e11 tokens" in capsys.readouterr().out


def test_cli_planned_pilot_from_the_reference_laws(capsys):
    assert main(["--reference", "busbridge", "--student", "1e9", "--compute", "1e22", "--no-sweep",
                 "--design-students", "1e8,2e8,4e8", "--design-seeds", "4", "--noise-sd", "0.002",
                 "--target-student", "1e10", "--design-boot", "100"]) == 0
    text = capsys.readouterr().out
    assert "pilot design (planned from the laws: 3 students, 4 seeds" in text and "Eq. 8 implies T* = 8.54e11" in text
