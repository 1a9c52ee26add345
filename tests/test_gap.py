"""experiments/mlp_gap.py and transformer_gap.py, end to end on tiny grids: they train through the
sweep (`simgap.sweep.run_sweep`, one run directory per student init) and print each student's
optimum and U-curve as the sweep's laws.json holds them, so the scripts and `python -m
simgap.sweep` cannot disagree; `--results` reprints a finished sweep from a fresh interpreter."""

import csv
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from simgap.fit.results_read import load

ROOT = Path(__file__).resolve().parent.parent
MLP = {  # seconds: one student, three teachers, 40 steps (as tests/test_figures.py)
    "name": "gap-mlp", "family": "mlp", "family_params": {"classes": 4},
    "grid": {"student_sizes": [4], "teacher_sizes": [4, 8, 16], "student_budgets": [512 * 40],
             "teacher_budgets": [512 * 40], "seeds": 2},
    "train": {"learning_rate": 3e-3, "batch_size": 512},
    "fit": {"bootstrap": 0},
}
TRANSFORMER = {  # Zhang et al.'s protocol at the scale of seconds: pruned from each (larger) teacher
    "name": "gap-transformer", "family": "transformer",
    "family_params": {"source": "markov", "depth": 1, "head_dim": 4, "held_out_sequences": 64,
                      "source_params": {"vocab_size": 8, "order": 2, "support": 2, "zipf": 3.0, "seq_len": 8}},
    "grid": {"student_sizes": [4], "teacher_sizes": [8, 12, 16], "student_budgets": [16 * 8 * 10],
             "teacher_budgets": [16 * 8 * 20], "seeds": 2, "student_init": "pruned_from_teacher",
             "supervised": False},
    "train": {"learning_rate": 1e-2, "batch_size": 16},
    "distill": {"lam": 0.5},
    "fit": {"bootstrap": 0},
}


def _script(name: str, argv: list[str], monkeypatch, capsys) -> str:
    """experiments/NAME.py run as a script (its own __main__), returning what it printed."""
    monkeypatch.setattr(sys, "argv", [f"{name}.py", *argv])
    monkeypatch.syspath_prepend(str(ROOT / "experiments"))  # as `python experiments/NAME.py` has it
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(ROOT / "experiments" / f"{name}.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert done.value.code == 0, out
    return out


def _config(tmp_path, raw) -> str:
    path = tmp_path / f"{raw['name']}.toml"
    path.write_text(tomli_w.dumps(raw))
    return str(path)


def _prints_the_sweeps_optima(out: str, run: Path) -> None:
    """Every student of the run's laws.json with its optimum, verdict and one line per teacher."""
    students = load(run / "laws.json").students
    assert students, run
    for o in students:
        k = o.knob
        assert f"student {o.student_size:g} ({o.student_params:g} params" in out
        assert f"T* = {k.optimal_teacher:.3g}" in out and f"dip {o.params.dip_depth:+.4f}" in out
        assert ("interior" if k.interior else f"edge ({k.edge})") in out and "gap_exists " in out
        for t, m in zip(k.teacher_sizes, k.mean_loss):
            assert f"    teacher {t:<6g} loss {m:.4f} ± " in out


def test_mlp_gap_runs_one_sweep_per_init_and_prints_their_optima(tmp_path, monkeypatch, capsys):
    out_dir = tmp_path / "gap"
    out = _script("mlp_gap", [_config(tmp_path, MLP), "--init", "random", "pruned_from_largest",
                              "--out", str(out_dir)], monkeypatch, capsys)
    for init in ("random", "pruned_from_largest"):
        run = out_dir / init
        assert (run / "report.md").stat().st_size > 0 and f"student_init = {init}" in out
        _prints_the_sweeps_optima(out, run)
    # a finished sweep, summarised from a fresh interpreter in another directory: no path tricks
    again = subprocess.run([sys.executable, str(ROOT / "experiments" / "mlp_gap.py"), "--results",
                            str(out_dir / "random")], capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert again.strip() and again.strip() in out


def test_transformer_gap_runs_zhangs_protocol_through_the_sweep(tmp_path, monkeypatch, capsys):
    """The script end to end on Zhang et al.'s protocol, on an MLP grid (its teachers' programs are
    compiled already by the test above): the transformer family's sweep is the slow test below and
    tests/test_presets.py's shrunk transformer preset."""
    zhang = {**MLP, "name": "gap-mlp-zhang", "grid": {**MLP["grid"], "student_sizes": [2],
                                                      "student_init": "pruned_from_teacher"}, "distill": {"lam": 0.5}}
    out = _script("transformer_gap", [_config(tmp_path, zhang), "--out", str(tmp_path / "gap")], monkeypatch, capsys)
    assert "student_init = pruned_from_teacher" in out and "lam = 0.5" in out
    _prints_the_sweeps_optima(out, tmp_path / "gap" / "pruned_from_teacher")
    assert "(default transformer)" in _script("transformer_gap", ["--help"], monkeypatch, capsys)


@pytest.mark.slow  # 6 transformer compiles: about 30-80 s on 2 busy cores
def test_transformer_gap_on_a_transformer_grid(tmp_path, monkeypatch, capsys):
    out = _script("transformer_gap", [_config(tmp_path, TRANSFORMER), "--out", str(tmp_path / "gap")],
                  monkeypatch, capsys)
    assert "student_init = pruned_from_teacher" in out
    _prints_the_sweeps_optima(out, tmp_path / "gap" / "pruned_from_teacher")


def test_phase_map_crosses_starts_and_lengths_with_paired_teachers(tmp_path, monkeypatch, capsys):
    """experiments/phase_map.py on the tiny MLP grid: one sweep per start, students at two lengths;
    the table has a row per (start, length) with each student's dip, verdict and T*/S as the sweeps'
    laws.json hold them, and the figure is written; --results redraws it without training."""
    out_dir = tmp_path / "map"
    grid = {**MLP["grid"], "teacher_sizes": [8, 16, 32]}
    raw = {**MLP, "name": "map-mlp", "grid": grid, "fit": {"bootstrap": 20}}
    out = _script("phase_map", [_config(tmp_path, raw), "--lengths", "0.5,1", "--out", str(out_dir)],
                  monkeypatch, capsys)
    table = (out_dir / "phase_map.md").read_text()
    assert (out_dir / "phase_map.png").stat().st_size > 0
    rows = [line for line in table.splitlines() if line.startswith("| ") and "start" not in line]
    assert [r.split(" | ")[:2] for r in rows] == [[f"| {s}", n] for s in ("random", "pruned_from_teacher",
                                                                         "pruned_from_largest") for n in ("0.5", "1")]
    teachers = {}
    for start in ("random", "pruned_from_teacher", "pruned_from_largest"):
        fit = load(out_dir / start / "laws.json")
        for o in fit.students:
            assert f"{o.params.dip_depth:+.4f} [{o.params.dip_ci[0]:+.4f}, {o.params.dip_ci[1]:+.4f}]" in table
        with open(out_dir / start / "results.csv") as f:
            teachers[start] = sorted((r["teacher_size"], r["seed"], r["teacher_loss"]) for r in csv.DictReader(f)
                                     if r["run_kind"] == "teacher")
    assert teachers["random"] == teachers["pruned_from_teacher"] == teachers["pruned_from_largest"]  # paired
    assert _script("phase_map", ["--results", str(out_dir), "--lengths", "0.5,1"], monkeypatch, capsys).strip()


PHASE_MAPS = sorted(p.name for p in (ROOT / "docs" / "results" / "phase_map").iterdir())


@pytest.mark.parametrize("name", PHASE_MAPS)
def test_phase_map_doc_is_what_the_recorded_sweeps_give(name, tmp_path, monkeypatch, capsys):
    """docs/phase-map.md's table for each recorded map is the one experiments/phase_map.py draws
    from the recorded sweeps' laws.json (docs/results/phase_map/NAME), so the page cannot drift."""
    import shutil

    recorded = tmp_path / name
    shutil.copytree(ROOT / "docs" / "results" / "phase_map" / name, recorded)
    _script("phase_map", ["--results", str(recorded)], monkeypatch, capsys)
    drawn = (recorded / "phase_map.md").read_text().split("\n", 2)[2].strip()
    page = (ROOT / "docs" / "phase-map.md").read_text()
    marker = f"<!-- phase-map-table: {name} -->"
    start = page.index(marker) + len(marker)
    assert page[start:page.index("<!-- /phase-map-table -->", start)].strip() == drawn
