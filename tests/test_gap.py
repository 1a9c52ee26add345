"""simgap.gap (what experiments/mlp_gap.py and transformer_gap.py run): summaries come from
simgap.optima, and the scripts run from a fresh interpreter without path tricks."""

import math
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np

from simgap import gap, optima, rows as rows_lib

ROOT = Path(__file__).resolve().parent.parent


def u_rows(noise=0.01, seeds=6):
    """A U in log teacher size with its minimum at teacher 32 (student 8), known noise."""
    rng = np.random.default_rng(0)
    out = []
    for s in range(seeds):
        for t in (16, 32, 64, 128):
            loss = 3.0 + 0.05 * math.log(t / 32) ** 2 + noise * rng.normal()
            out.append(rows_lib.empty_row(run_kind="distilled", family="mlp", seed=s, student_size=8,
                                          teacher_size=t, student_params=100, teacher_params=10 * t,
                                          student_loss=loss, student_init="pruned_from_teacher", lam=0.5))
        out.append(rows_lib.empty_row(run_kind="supervised", family="mlp", seed=s, student_size=8,
                                      student_params=100, student_loss=1.2, student_init="pruned_from_teacher"))
    return out


def test_summary_is_simgap_optima():
    for noise in (0.01, 0.2):  # a clear U, and the same U drowned in seed noise
        rows = u_rows(noise)
        text = gap.summarize(rows, n_boot=200)
        dist = [r for r in rows if r["run_kind"] == "distilled"]
        col = lambda c: np.array([r[c] for r in dist], float)
        (o,) = optima.teacher_optima(col("student_size"), col("teacher_size"), col("student_loss"),
                                     col("seed"), n_boot=200)
        (p,) = optima.teacher_optima(col("student_params"), col("teacher_params"), col("student_loss"),
                                     col("seed"), n_boot=200)
        assert f"T* = {o.optimal_teacher:.3g} [{o.optimal_teacher_ci[0]:.3g}, " in text
        assert ("interior" if o.interior else f"edge ({o.edge})") in text
        assert f"{o.dip_depth:+.4f}" in text
        assert ("] beyond noise" if o.dip_beyond_noise else "] not beyond noise") in text
        assert f"T*/S in params {p.optimal_teacher / 100:.2f}" in text and "supervised 1.2000" in text
        if noise == 0.01:
            assert o.interior and o.dip_beyond_noise and abs(o.optimal_teacher - 32) < 4
        else:
            assert not (o.interior and o.dip_beyond_noise)


def test_scripts_summarise_a_results_csv(tmp_path, monkeypatch, capsys):
    csv = tmp_path / "results.csv"
    csv.write_text(rows_lib.to_csv(u_rows()))
    # from a fresh interpreter in another directory: no path tricks, configs found by name
    out = subprocess.run([sys.executable, str(ROOT / "experiments" / "mlp_gap.py"), "mlp_zhang", "--results",
                          str(csv)], capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert "student_init = pruned_from_teacher" in out and "interior" in out, out
    monkeypatch.setattr(sys, "argv", ["transformer_gap.py", "--results", str(csv)])
    runpy.run_path(str(ROOT / "experiments" / "transformer_gap.py"), run_name="__main__")
    assert capsys.readouterr().out.count("T* = ") == 1
