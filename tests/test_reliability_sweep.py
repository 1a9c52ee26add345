"""A hostile user's sweep (issue 13): torn and damaged unit files, mixed configs, unwritable or
full run directories, absurd grids. Each case must end in the right rows or one clear line."""

import fcntl
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomli_w

from simgap import engine, rows as rows_lib, rundir
from simgap.config import load_config
from simgap.families import from_config
from simgap.sweep import main

TINY = {
    "name": "tiny-kernel",
    "family": "kernel",
    "family_params": {"coefficients": 100, "teacher_norm": 5.0, "student_norm": 4.5},
    "grid": {"student_sizes": [20, 40], "teacher_sizes": [10, 20, 40, 80], "seeds": 2},
    "fit": {"bootstrap": 0},
}
N_ROWS = 2 * 4 + 2 * 2 + 2 * 4 * 2  # teachers + supervised + distilled


def write_config(folder: Path, raw: dict, name: str = "c.toml") -> Path:
    path = folder / name
    path.write_text(tomli_w.dumps(raw))
    return path


def sweep(capsys, *args) -> tuple[int, str, str]:
    rc = main([*map(str, args), "--no-progress"])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def keyed(path: Path) -> dict:
    """Rows of a results CSV by run identity (wall time dropped); fails on duplicate runs."""
    rows = rows_lib.read_csv(path)
    out = {(r["run_kind"], r["seed"], r["student_size"], r["teacher_size"]):
           {k: v for k, v in r.items() if k != "wall_s"} for r in rows}
    assert len(out) == len(rows), "duplicate rows"
    return out


def assert_same_rows(got: Path, want: Path) -> None:
    a, b = keyed(got), keyed(want)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], nan_ok=True), k


def uid_of(out: Path, kind: str) -> str:
    (path,) = (out / "units").glob(f"{kind}-*.csv")
    return path.stem


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """One finished tiny sweep: (config path, run directory)."""
    folder = tmp_path_factory.mktemp("clean")
    cfg = write_config(folder, TINY)
    assert main(["--config", str(cfg), "--out", str(folder / "run"), "--no-progress"]) == 0
    assert len(rows_lib.read_csv(folder / "run" / "results.csv")) == N_ROWS
    return cfg, folder / "run"


def copy_run(clean, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(clean[1], out)
    return out


# --- 1. torn unit files ------------------------------------------------------------------------

@pytest.mark.parametrize("tear", ["empty", "at a line break", "mid-line"])
def test_torn_unit_file_is_retrained_not_taken_as_done(clean, tmp_path, capsys, tear):
    out = copy_run(clean, tmp_path)
    uid = uid_of(out, "distilled")
    path = out / "units" / f"{uid}.csv"
    text = path.read_text()
    cut = {"empty": 0, "at a line break": text.index("\n", len(text) // 2) + 1, "mid-line": len(text) // 2 + 7}
    path.write_text(text[:cut[tear]])
    rc, stdout, _ = sweep(capsys, "--resume", out)
    assert rc == 0
    assert f"unit {uid}:" in stdout and "damaged" in stdout and "retraining" in stdout
    assert_same_rows(out / "results.csv", clean[1] / "results.csv")


# --- 2. damaged teacher files ------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_damaged_teacher_file_retrains_teacher_and_its_students(clean, tmp_path, capsys, damage):
    out = copy_run(clean, tmp_path)
    teacher, student = uid_of(out, "teacher"), uid_of(out, "distilled")
    npz = out / "teachers" / f"{teacher}.npz"
    if damage == "deleted":
        npz.unlink()
    else:
        npz.write_bytes(npz.read_bytes()[:100])
    (out / "units" / f"{student}.csv").unlink()  # and the sweep had been killed before this unit
    rc, stdout, _ = sweep(capsys, "--resume", out)
    assert rc == 0
    assert f"unit {teacher}: teachers/{teacher}.npz is {'missing' if damage == 'deleted' else 'damaged'}" in stdout
    assert f"unit {student}:" in stdout
    assert_same_rows(out / "results.csv", clean[1] / "results.csv")


def test_students_of_a_retrained_teacher_are_retrained(clean, tmp_path, capsys):
    out = copy_run(clean, tmp_path)
    teacher, student = uid_of(out, "teacher"), uid_of(out, "distilled")
    (out / "teachers" / f"{teacher}.npz").unlink()
    rc, stdout, _ = sweep(capsys, "--resume", out)
    assert rc == 0 and f"unit {student}: its teacher unit {teacher} is retrained" in stdout
    assert f"unit {uid_of(out, 'supervised')}" not in stdout  # needs no teacher: kept


# --- 3. two configs, one directory -------------------------------------------------------------

def test_a_directory_another_sweep_is_writing_is_refused(clean, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    with open(out / ".lock", "a") as held:  # what a running sweep holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        rc, _, err = sweep(capsys, "--config", clean[0], "--out", out)
    assert rc == 2
    assert err == f"error: another sweep is writing to {out}; wait for it to finish, or use another --out\n"
    assert not list(out.rglob("*.csv")) and not (out / "config.toml").exists()


def test_two_sweeps_started_into_one_directory_one_is_refused(clean, tmp_path):
    """A real second process while the first is paused mid-sweep: refused; the first finishes
    with its own config, results and report."""
    out, env = tmp_path / "run", dict(os.environ, PYTHONUNBUFFERED="1")
    other = write_config(tmp_path, {**TINY, "name": "other", "grid": {**TINY["grid"], "seeds": 1}})
    first = subprocess.Popen([sys.executable, "-m", "simgap.sweep", "--config", str(clean[0]), "--out", str(out),
                              "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not list((out / "units").glob("*.json")) and first.poll() is None:
            time.sleep(0.02)
        first.send_signal(signal.SIGSTOP)  # mid-sweep, holding the lock
        second = subprocess.run([sys.executable, "-m", "simgap.sweep", "--config", str(other), "--out", str(out),
                                 "--no-progress"], capture_output=True, text=True, env=env, timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2 and second.stderr.startswith(f"error: another sweep is writing to {out}")
    assert first.wait(timeout=300) == 0
    assert 'name = "tiny-kernel"' in (out / "config.toml").read_text()
    assert json.loads((out / "laws.json").read_text())["config"] == "tiny-kernel"
    assert_same_rows(out / "results.csv", clean[1] / "results.csv")


@pytest.mark.parametrize("change", ["--seeds", "family_params"])
def test_units_of_another_config_are_never_read(clean, tmp_path, capsys, change):
    """A copied run directory without its config.toml, resumed under another config."""
    out = copy_run(clean, tmp_path)
    (out / "config.toml").unlink()
    if change == "--seeds":
        args = ("--config", clean[0], "--out", out, "--seeds", 1)
    else:
        other = write_config(tmp_path, {**TINY, "family_params": {**TINY["family_params"], "student_norm": 4.0}})
        args = ("--config", other, "--out", out)
    rc, stdout, _ = sweep(capsys, *args)
    assert rc == 0 and stdout.count("trained under another config") == 3
    got = keyed(out / "results.csv")
    if change == "--seeds":
        assert {k[1] for k in got} == {0.0} and len(got) == N_ROWS // 2
        assert json.loads((out / "laws.json").read_text())["n_rows"] == N_ROWS // 2
    else:
        want = keyed(clean[1] / "results.csv")
        assert got.keys() == want.keys()
        assert any(got[k]["student_loss"] != want[k]["student_loss"] for k in got if k[0] == "distilled")


def test_fingerprint_changes_with_everything_that_changes_rows(tmp_path):
    base = load_config(write_config(tmp_path, TINY, "base.toml"))
    variants = {
        "seeds": {**TINY, "grid": {**TINY["grid"], "seeds": 3}},
        "family": {**TINY, "family_params": {**TINY["family_params"], "teacher_norm": 5.5}},
        "lr": {**TINY, "train": {"learning_rate": 1e-3}},
        "batch": {**TINY, "train": {"batch_size": 256}},
        "tau": {**TINY, "distill": {"tau": 2.0}},
        "lam": {**TINY, "distill": {"lam": 0.5}},
    }

    def prints(cfg):
        units = engine.plan(from_config(cfg), cfg.grid, cfg.train)
        return {u.uid: rundir.fingerprint(cfg, u) for u in units}

    want = prints(base)
    assert prints(load_config(write_config(tmp_path, TINY, "same.toml"))) == want
    for name, raw in variants.items():
        got = prints(load_config(write_config(tmp_path, raw, f"{name}.toml")))
        assert got.keys() == want.keys() and all(got[u] != want[u] for u in got), name


# --- 9. results.csv: appended per unit, never torn or duplicated -------------------------------

def test_results_csv_is_appended_per_unit_and_rebuilt_clean_on_resume(clean, tmp_path, capsys, monkeypatch):
    import simgap.report

    monkeypatch.setattr(simgap.report, "analyze", lambda *a, **k: {})
    seen = []
    real = engine.run_unit

    def spy(family, unit, *args):
        results = out / "results.csv"
        seen.append((results.stat().st_ino, len(rows_lib.read_csv(results))))
        if len(seen) == 3:
            raise KeyboardInterrupt  # killed while training the third unit
        return real(family, unit, *args)

    monkeypatch.setattr(engine, "run_unit", spy)
    out = tmp_path / "run"
    rc, _, err = sweep(capsys, "--config", clean[0], "--out", out)
    assert rc == 130 and "resume with --resume" in err
    assert [n for _, n in seen] == [0, 8, 12]  # rows of finished units, one unit at a time
    assert len({ino for ino, _ in seen}) == 1  # appended in place, not rebuilt after each unit
    lines = (out / "results.csv").read_text().splitlines(keepends=True)
    with open(out / "results.csv", "a") as f:  # duplicate rows and a torn line from a crash
        f.write("".join(lines[1:]) + lines[-1][:9])
    monkeypatch.setattr(engine, "run_unit", real)
    rc, stdout, _ = sweep(capsys, "--resume", out)
    assert rc == 0 and "2/3 buckets already done" in stdout
    assert_same_rows(out / "results.csv", clean[1] / "results.csv")


# --- 11. one line instead of a traceback -------------------------------------------------------

@pytest.mark.parametrize("kind", ["directory", "binary"])
def test_config_that_is_a_directory_or_binary_gets_one_line(tmp_path, capsys, kind):
    path = tmp_path
    if kind == "binary":
        path = tmp_path / "c.toml"
        path.write_bytes(bytes(range(256)))
    rc, _, err = sweep(capsys, "--config", path, "--dry-run")
    assert rc == 2 and err.startswith(f"error: {path}: ") and err.count("\n") == 1
    assert ("directory" if kind == "directory" else "not a text file") in err


def _unwritable(tmp_path: Path, kind: str) -> Path:
    if kind == "a file":
        (tmp_path / "out").write_text("not a run")
        return tmp_path / "out"
    if kind == "under a file":
        (tmp_path / "out").write_text("not a run")
        return tmp_path / "out" / "run"
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    return ro / "run"


@pytest.mark.parametrize("kind", ["a file", "under a file", "read-only"])
def test_unwritable_out_is_refused_before_any_work(clean, tmp_path, capsys, kind):
    out = _unwritable(tmp_path, kind)
    compiles = engine.compile_count()
    rc, stdout, err = sweep(capsys, "--config", clean[0], "--out", out)
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1 and str(out) in err
    assert engine.compile_count() == compiles and "runs in" not in stdout


def test_full_disk_leaves_no_temp_file_and_one_line_and_resume_recovers(clean, tmp_path, capsys):
    """The teacher file is the first one bigger than the file-size limit: writing it fails as a
    full disk would (EFBIG instead of ENOSPC, the same OSError path)."""
    out = tmp_path / "run"
    limit = 2000
    assert all(p.stat().st_size > limit for p in (clean[1] / "teachers").iterdir())
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        rc, _, err = sweep(capsys, "--config", clean[0], "--out", out)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert rc == 2 and err.count("\n") == 1 and "teachers" in err and "resume with --resume" in err
    assert not [p for p in out.rglob("*") if "tmp" in p.name]
    rc, _, _ = sweep(capsys, "--resume", out)
    assert rc == 0
    assert_same_rows(out / "results.csv", clean[1] / "results.csv")


def test_dry_run_of_an_absurd_grid_answers_at_once_and_warns(tmp_path, capsys):
    t0 = time.perf_counter()
    rc, stdout, _ = sweep(capsys, "--seeds", 100_000_000, "--dry-run")  # the default config
    assert rc == 0 and time.perf_counter() - t0 < 10
    assert "seeds 100000000" in stdout and "warning: this grid would take about" in stdout and "days" in stdout
    small = sweep(capsys, "--seeds", 2, "--dry-run")[1]

    def runs(text):
        return [int(line.split()[1]) for line in text.splitlines() if line.split()[-1:] == ["buckets"]]

    assert [n * 50_000_000 for n in runs(small)] == runs(stdout)
    assert "warning" not in small


# --- 12. what the analysis needs, said before training -----------------------------------------

def test_two_teacher_sizes_are_flagged_before_any_training(tmp_path, capsys, monkeypatch):
    import simgap.report

    cfg = write_config(tmp_path, {**TINY, "grid": {**TINY["grid"], "teacher_sizes": [10, 20]}})
    rc, stdout, _ = sweep(capsys, "--config", cfg, "--dry-run")
    assert rc == 0 and "needs ≥ 3 teacher sizes" in stdout
    monkeypatch.setattr(simgap.report, "analyze", lambda *a, **k: {})
    rc, stdout, _ = sweep(capsys, "--config", cfg, "--out", tmp_path / "run")
    assert rc == 0
    note = stdout.index("needs ≥ 3 teacher sizes and this grid has 2")
    assert note < stdout.index("runs in")


def test_a_plain_resume_of_an_until_decided_run_keeps_and_finishes_its_rounds(clean, tmp_path, capsys):
    """A round recorded in decide.json but killed before it trained (what Ctrl-C leaves): a plain
    --resume trains it and analyses it with the grid instead of dropping its rows (issue 28, case 1)."""
    out = copy_run(clean, tmp_path)
    round1 = {"round": 1, "addition": {"kind": "seeds", "seeds": [2, 3]}, "flops": 1.0, "why": "a test", "gains": {},
              "targets": [{"name": "gap_exists", "subject": "student 20", "ci": [None, None]}],
              "half_widths_before": [None], "candidates": [], "after": None}
    (out / "decide.json").write_text(json.dumps({"rounds": [round1]}))
    rc, stdout, err = sweep(capsys, "--resume", out)
    assert rc == 0 and "--until-decided" in stdout, err
    rows = keyed(out / "results.csv")
    assert len(rows) == 2 * N_ROWS and {seed for _, seed, _, _ in rows} == {0, 1, 2, 3}
    assert len(rows) == sum(len(rows_lib.read_csv(p)) for p in (out / "units").glob("*.csv"))
    (after,) = json.loads((out / "decide.json").read_text())["rounds"]
    assert after["after"] and {a["name"] for a in after["after"]} == {"gap_exists"}
    assert "## Until decided" in (out / "report.md").read_text()
    rc, stdout, _ = sweep(capsys, "--resume", out)  # again: nothing to train, no row lost
    assert rc == 0 and "trained 0 runs" in stdout and len(keyed(out / "results.csv")) == 2 * N_ROWS
    report = (out / "report.md").read_text()  # the header gives the rows' grid (the round's seeds), the
    assert ", 4 seeds," in report.split("\n\n")[1]  # Time section that this analysis trained nothing
    assert "No runs trained by this process" in report and "Trained 0 runs" not in report
