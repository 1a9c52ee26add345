"""End-to-end tests of `python -m simgap.sweep`: outputs, dry run, config errors, kill and resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomli_w

from simgap import rows as rows_lib
from simgap.sweep import main

KERNEL = {
    "name": "tiny-kernel",
    "family": "kernel",
    "family_params": {"coefficients": 200, "teacher_norm": 5.0, "student_norm": 4.5},
    "grid": {"student_sizes": [40, 60, 80, 100], "teacher_sizes": list(range(10, 201, 10)), "seeds": 3},
    "fit": {"bootstrap": 0},
}
MLP = {
    "name": "tiny-mlp",
    "family": "mlp",
    "family_params": {"classes": 4},
    "grid": {"student_sizes": [4, 8], "teacher_sizes": [4, 8, 16, 32], "student_budgets": [512 * 40],
             "teacher_budgets": [512 * 40], "seeds": 2},
    "train": {"learning_rate": 3e-3, "batch_size": 512},
    "fit": {"bootstrap": 0},
}


def write(tmp_path: Path, raw: dict, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(tomli_w.dumps(raw))
    return path


def run_cli(*args, cwd=None, timeout=600):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "simgap.sweep", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=timeout)


def test_kernel_sweep_end_to_end(tmp_path):
    out = tmp_path / "run"
    assert main(["--config", str(write(tmp_path, KERNEL)), "--out", str(out), "--no-progress"]) == 0
    for name in ("config.toml", "results.csv", "optima.csv", "laws.json", "report.md", "u_curves.png"):
        assert (out / name).stat().st_size > 0, name
    rows = rows_lib.read_csv(out / "results.csv")
    n_s, n_t, n_seed = 4, 20, 3
    kinds = [r["run_kind"] for r in rows]
    assert kinds.count("teacher") == n_t * n_seed
    assert kinds.count("supervised") == n_s * n_seed
    assert kinds.count("distilled") == n_s * n_t * n_seed
    assert all(r["supervised_loss"] == r["supervised_loss"] for r in rows if r["run_kind"] == "distilled")
    laws = json.loads((out / "laws.json").read_text())
    assert len(laws["optima"]) == n_s and all(o["interior"] for o in laws["optima"])
    # known truth: the optimal teacher capacity equals the student's (flat region from m = n on)
    lin = laws["fits"]["families"][0]["settings"][0]["teacher_law"][0]["linear"]
    assert lin["status"] == "ok" and 0.9 <= lin["slope"] <= 1.3, lin
    report = (out / "report.md").read_text()
    assert "Capacity gap: yes" in report and "Linear teacher law" in report
    time_section = report.split("## Time", 1)[1]  # the split of the wall time, and each bucket's waste
    assert "XLA compilation" in time_section and "analysis" in time_section and "padded / useful" in time_section
    assert time_section.count("| teacher-") == 1 and time_section.count("| distilled-") == 1  # one padded width


def test_dry_run_prints_grid_and_compiles(tmp_path, capsys):
    assert main(["--config", str(write(tmp_path, MLP)), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "teachers [4, 8, 16, 32]" in text and "compiles" in text and "estimate" in text
    # one line per compiled bucket with its padding waste; teacher tables: one distilled bucket per student bucket
    lines = [line.split() for line in text.splitlines() if line.strip().startswith(("teacher-", "supervised-", "distilled-"))]
    assert [b[0] for b in lines if b[0].startswith("distilled-")] == ["distilled-s4-t32-b20480-random",
                                                                       "distilled-s8-t32-b20480-random"]
    assert len(lines) == 4 + 2 + 2 and "8 compiles" in text and "padding waste" in text
    teacher_w4 = next(b for b in lines if b[0].startswith("teacher-w4-"))
    assert teacher_w4[1:3] == ["2", "runs"] and teacher_w4[-1] == "1.00x"  # w4 is its own bucket: no waste
    assert not any(tmp_path.glob("runs*"))


def test_bad_config_and_arguments_get_one_clear_error(tmp_path, capsys):
    bad = write(tmp_path, {**KERNEL, "grid": {**KERNEL["grid"], "student_sizes": []}})
    assert main(["--config", str(bad), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "[grid].student_sizes" in err and err.count("\n") == 1
    assert main(["--config", str(tmp_path / "missing.toml")]) == 2
    assert "no such config" in capsys.readouterr().err
    assert main(["--resume", str(tmp_path)]) == 2
    assert "no config.toml" in capsys.readouterr().err
    assert main(["--config", str(write(tmp_path, KERNEL)), "--seeds", "0", "--dry-run"]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_resume_into_same_dir_with_other_config_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    cfg = write(tmp_path, KERNEL)
    assert main(["--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["--config", str(cfg), "--out", str(out), "--seeds", "4", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "different config" in err and "grid.seeds" in err


def test_kill_and_resume_loses_nothing_and_duplicates_nothing(tmp_path):
    """Kill a real sweep process mid-run (SIGKILL, no cleanup), resume it, compare with a clean run."""
    cfg = write(tmp_path, MLP)
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "simgap.sweep", "--config", str(cfg), "--out", str(out),
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / "units").glob("*.json"))) < 3:  # manifests: done
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = {p.name for p in (out / "units").glob("*.json")}
    assert 3 <= len(done_before), "the sweep was killed before it finished 3 buckets"
    assert not (out / "report.md").exists(), "the sweep finished before it was killed: make MLP bigger"

    resumed = run_cli("--resume", out, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(done_before)}/" in resumed.stdout  # it said how many buckets it skipped
    clean = run_cli("--config", cfg, "--out", tmp_path / "clean", "--no-progress")
    assert clean.returncode == 0, clean.stderr

    def key(r):
        return (r["run_kind"], r["seed"], r["student_size"], r["teacher_size"])

    got = rows_lib.read_csv(out / "results.csv")
    want = rows_lib.read_csv(tmp_path / "clean" / "results.csv")
    assert len({key(r) for r in got}) == len(got) == len(want) == 2 * 4 + 2 * 2 + 2 * 2 * 4
    ignore = {"wall_s"}
    for a, b in zip(sorted(got, key=key), sorted(want, key=key)):
        assert {k: v for k, v in a.items() if k not in ignore} == pytest.approx(
            {k: v for k, v in b.items() if k not in ignore}, nan_ok=True), key(a)
