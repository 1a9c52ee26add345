import json
import subprocess
import sys
from pathlib import Path

import experiment_scripts
import numpy as np
import pytest

from simgap.fit import cli

ROOT = Path(__file__).resolve().parents[1]


def _demo():
    return experiment_scripts.load("fit_demo")


def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "simgap.fit", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_cli_end_to_end_on_reference_table(tmp_path):
    demo = _demo()
    table = demo.write_csv(demo.reference_rows(noise=1e-3, n_seeds=2, n_teachers=7), tmp_path / "ref.csv")
    out = tmp_path / "out"
    r = _run(table, "--out", out, "--bootstrap", 2, "--ci", 0.8, "--seed", 1)
    assert r.returncode == 0, r.stderr
    assert "supervised law" in r.stdout and "linear teacher law" in r.stdout and "distillation law" in r.stdout
    res = json.loads((out / "fit.json").read_text())
    assert set(res) == {"input", "options", "families", "warnings", "assumptions", "plots"}
    assert [w for w in res["warnings"] if "2 bootstrap replicates" not in w] == []  # 2: cheap on purpose
    assert res["options"]["ci"] == 0.8 and res["options"]["n_boot"] == 2
    fam = res["families"][0]
    sup = fam["supervised"]
    assert sup["status"] == "ok" and sup["fit"]["max_rel_error"] < 5e-3 and "ci" in sup
    assert sup["extrapolation"]["max_rel_error"] < 1e-2
    (st,) = fam["settings"]
    per = st["optima"]["per_student"]
    assert len(per) == 8 and all(o["interior"] and o["dip_beyond_noise"] for o in per)  # 4 students × 2 budgets
    assert st["optima"]["budget_kind"] == "student_tokens/student_size"  # D = 20·N and 80·N series
    assert [tl["budget"] for tl in st["teacher_law"]] == [20, 80]
    assert all(tl["linear"]["status"] == "ok" and tl["loglog"]["status"] == "ok" for tl in st["teacher_law"])
    assert st["teacher_law"][0]["linear"]["r2"] > 0.95 and st["teacher_law"][0]["linear"]["slope_ci"][0] > 0
    ds = st["distillation"]
    assert ds["status"] == "ok" and ds["fit"]["max_rel_error"] < 1e-2
    assert ds["extrapolation"]["status"] == "ok" and ds["extrapolation"]["max_rel_error"] < 1e-2
    assert {"P1", "P2", "P3", "P4", "E."} <= {c["name"][:2] for c in ds["property_checks"]}
    # each fitted bootstrap replicate's parameters, for the planner (a distillation replicate with its supervised law)
    assert len(sup["replicates"]) == 2 - sup["bootstrap"]["n_failed"] and "E" in sup["replicates"][0]
    assert len(ds["replicates"]) == 2 - ds["bootstrap"]["n_failed"]
    assert all({"distillation", "supervised"} == set(r) and "d1" in r["distillation"] for r in ds["replicates"])
    pngs = {Path(p).name for p in res["plots"]}
    for kind in ("supervised", "u_curves", "teacher_law", "distill_parity", "distill_curves"):
        assert any(kind in p for p in pngs), kind
    assert all((out / p).stat().st_size > 5000 for p in pngs)


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.csv", "--out", "o"], "cannot read table"),
        (["{table}", "--out", "o", "--ci", "1.5"], "--ci must be in (0, 1)"),
        (["{table}", "--out", "o", "--bootstrap", "-1"], "--bootstrap must be"),
        (["{table}", "--out", "o", "--bootstrap", "1000000000"], "--bootstrap must be in 0..10000"),
        (["{table}"], "required: --out"),
        (["{bad}", "--out", "o"], "'student_loss' row 2 (line 3)"),
        (["{empty}", "--out", "o"], "no data rows"),
    ],
)
def test_cli_errors_are_one_clear_message(tmp_path, monkeypatch, capsys, args, message):
    """In-process (fast); the subprocess test below checks the no-traceback exit for real."""
    table = tmp_path / "t.csv"
    table.write_text("student_size,student_loss\n1e7,3.0\n2e7,2.9\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("student_size,teacher_size,student_loss\n1e7,1e8,3.0\n1e7,2e8,\n1e7,4e8,2.9\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("student_size,student_loss\n")
    monkeypatch.chdir(tmp_path)
    args = [a.format(table=table, bad=bad, empty=empty) for a in args]
    try:
        code = cli.main(args)
    except SystemExit as e:  # argparse errors
        code = e.code
    err = capsys.readouterr().err
    assert code != 0 and message in err
    assert len([line for line in err.splitlines() if "error" in line]) == 1


def test_cli_bad_csv_exits_nonzero_without_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("student_size,teacher_size,student_loss\n1e7,1e8,3.0\n1e7,-2e8,2.9\n1e7,4e8,2.9\n")
    r = _run(bad, "--out", tmp_path / "o", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == ["simgap.fit: error: column 'teacher_size' row 2 (line 3): value -200000000.0 must be finite and > 0"]


def test_several_tables_are_read_as_one_with_shared_runs_counted_once(tmp_path):
    """Two sweeps' tables (e.g. random and pruned students) read as one: the union of their columns, a run
    both hold (the same values in every column but wall_s and bucket) kept once, a column one lacks empty
    there, and a bad cell named by its file and line."""
    from simgap.fit.checks import where
    from simgap.fit.reader import read_tables

    a, b = tmp_path / "random.csv", tmp_path / "pruned.csv"
    a.write_text("run_kind,student_size,student_loss,student_init,wall_s\n"
                 "supervised,10,3.0,random,1.5\ndistilled,10,2.9,random,2.0\nsupervised,10,3.0,random,1.7\n")
    b.write_text("run_kind,student_size,student_loss,student_init,wall_s,teacher_loss\n"
                 "supervised,10,3.0,random,9.9,\ndistilled,10,2.5,pruned_from_teacher,1.0,2.0\n")
    cols, repeated = read_tables([a, b])
    assert repeated == 1  # b's supervised run is a's first; a's own repeat within a is kept (a warning elsewhere)
    assert cols["student_loss"].tolist() == [3.0, 2.9, 3.0, 2.5]
    assert cols["student_init"].tolist() == ["random", "random", "random", "pruned_from_teacher"]
    assert np.isnan(cols["teacher_loss"][:3]).all() and cols["teacher_loss"][3] == 2.0
    assert where(cols, 3) == f"row 4 ({b} line 3)"
