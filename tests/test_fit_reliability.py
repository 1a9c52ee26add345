"""No silent wrong result from the fitting side (issue 13, cases 5–10 and 12): each test failed on
the code before its fix."""

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import tomli_w

import experiment_scripts

from simgap import fit, laws
from simgap.config import ConfigError, FitOptions, parse_config
from simgap.fit import cli
from simgap.fit.results_read import read_optima
from simgap.sweep import main as sweep_main

SUP, DIST = laws.BUSBRIDGE_SUPERVISED, laws.BUSBRIDGE_DISTILL


def test_degenerate_bootstrap_resample_is_dropped_and_counted_not_fatal():
    """Two supervised student sizes, one of them in a single row: about a third of the resamples
    hold one size only and cannot be fitted. They are counted; the law and its CIs survive."""
    rng = np.random.default_rng(0)
    N = np.array([1e8] * 7 + [1e9])
    D = np.array([1e9 * 2**k for k in range(7)] + [1e10])
    sup = fit.fit_supervised(N, D, laws.supervised_loss(N, D, SUP) * np.exp(rng.normal(0, 1e-3, 8)),
                             n_top=3, n_random=0)
    Ns = np.repeat([1e8, 1e9], 12)
    LT = np.tile(np.geomspace(1.8, 4, 12), 2)
    LS = laws.distill_loss(Ns, 20 * Ns, LT, SUP, DIST) * np.exp(rng.normal(0, 1e-3, Ns.size))
    dist = fit.fit_distillation(Ns, 20 * Ns, LT, LS, sup.require(), n_top=2, n_random=0)
    b = fit.bootstrap(dist, n_boot=10, seed=1, supervised_fit=sup)
    assert 0 < b.n_failed < 10
    assert all(len(v) == 10 - b.n_failed for v in b.samples.values())


def test_a_fit_at_its_bounds_says_the_law_does_not_describe_the_data():
    N = np.repeat(np.geomspace(1e7, 1e9, 7), 3)
    D = np.tile([1e9, 4e9, 1.6e10], 7)
    L = 2.0 + 0.1 * np.log(N / 1e7)  # the loss RISES with size: no power law in N describes it
    f = fit.fit_supervised(N, D, L, n_top=4, n_random=1)
    assert f.converged and ("alpha", "lower") in f.at_bounds and not f.describes_data
    assert f.to_json()["describes_data"] is False
    good = fit.fit_supervised(N, D, laws.supervised_loss(N, D, SUP), n_top=4, n_random=1)
    assert good.at_bounds == () and good.describes_data


def _kernel_config(tmp_path, **grid) -> Path:
    raw = tomllib.loads(Path("configs/kernel.toml").read_text())
    raw["grid"].update(seeds=2, **grid)
    raw["fit"]["bootstrap"] = 0
    path = tmp_path / "kernel.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def test_predictions_outside_the_observed_teacher_losses_are_labelled_extrapolation(tmp_path, monkeypatch):
    """Teachers of size 1–10 only: every observed distilled run is worse than supervised training,
    while the fitted law's optimal teacher loss (~1) is far below every observed one (≥ 300)."""
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    cfg = _kernel_config(tmp_path, teacher_sizes=[1, 5, 10], student_sizes=[300, 500, 800])
    assert sweep_main(["--config", str(cfg), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    doc = json.loads((tmp_path / "run" / "laws.json").read_text())
    assert len(doc["optima"]) == 3 and all(o["min_loss"] > o["supervised_loss"] for o in doc["optima"])  # observed
    checks = doc["fits"]["families"][0]["settings"][0]["distillation"]["optimal_teacher_loss"]
    assert all(c["extrapolated"] and c["beats_supervised"] for c in checks)  # the law's claim, outside the data
    report = (tmp_path / "run" / "report.md").read_text()  # and the report says so (one end-to-end prose check)
    assert "only by extrapolation: the observed teacher losses span" in report and "no observed run supports it" in report


def test_two_teacher_sizes_finish_with_the_optimum_analysis_skipped(tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    cfg = _kernel_config(tmp_path, teacher_sizes=[300, 600], student_sizes=[300, 500])
    assert sweep_main(["--config", str(cfg), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    report = (tmp_path / "run" / "report.md").read_text()
    assert "**Capacity gap:** not analysed (student_size" in report and "need ≥ 3 teacher sizes" in report


def _write_reference(path: Path, sep: str, bom: bool, extra_rows=()) -> None:
    rows = [["run_kind", "student_size", "student_tokens", "student_loss", "diverged"]]
    for n in np.geomspace(1e7, 1e9, 5):
        for d in (1e9, 1e10):
            rows.append(["Supervised", repr(float(n)), repr(d), repr(float(laws.supervised_loss(n, d, SUP))), "0"])
    rows += [list(r) for r in extra_rows]
    text = "\n".join(sep.join(r) for r in rows) + "\n"
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")


def test_tables_from_other_tools_are_read_as_they_come(tmp_path):
    """BOM, `;` separators, diverged as 1/0, run_kind capitalised, padded cells."""
    path = tmp_path / "excel.csv"
    _write_reference(path, " ; ", bom=True, extra_rows=[["supervised", "5e8", "1e10", "99.0", "1"]])
    res = fit.fit_table(path, fit.FitOptions(n_boot=0, n_top=3, n_random=0))
    assert res.input.n_supervised == 10 and res.input.n_diverged_dropped == 1
    assert fit.ok(res.families[0].supervised) and res.families[0].supervised.fit.max_rel_error < 1e-3


def test_duplicated_rows_and_absurd_values_are_warned_about(tmp_path):
    path = tmp_path / "dup.csv"
    _write_reference(path, ",", bom=False)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines + lines[1:4]) + "\n")  # three rows twice
    res = fit.fit_table(path, fit.FitOptions(n_boot=0, n_top=3, n_random=0))
    assert res.input.n_duplicates == 3 and any("3 rows repeat" in w for w in res.warnings)
    absurd = tmp_path / "absurd.csv"
    _write_reference(absurd, ",", bom=False, extra_rows=[["supervised", "3e8", "1e9", "1e308", "false"]])
    res = fit.fit_table(absurd, fit.FitOptions(n_boot=0, n_top=3, n_random=0))
    assert any("check the table for absurd values" in w for w in res.warnings)


def test_errors_name_the_row_as_a_user_counts_it(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("student_size,student_loss\n\n1e7,3.0\n2e7,-1\n")  # a blank line before the data
    with pytest.raises(fit.FitInputError, match=r"'student_loss' row 2 \(line 4\)"):
        fit.fit_table(path)


def test_fit_cli_exit_codes(tmp_path, capsys):
    table = tmp_path / "t.csv"
    table.write_text("student_size,student_loss\n1e7,3.0\n2e7,2.9\n3e7,2.8\n")  # too few rows for any law
    assert cli.main([str(table), "--out", str(tmp_path / "o"), "--no-plots"]) == 1
    assert "nothing could be fitted" in capsys.readouterr().err
    a_file = tmp_path / "file"
    a_file.write_text("")
    for out in (a_file, a_file / "sub"):
        assert cli.main([str(table), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"simgap.fit: error: --out {out}")


def test_teacher_loss_range_when_E_lies_above_the_break():
    """Issue 18 (1): a refitted E ≥ 4·d1·L̃_S made the range empty and optimal_teacher_loss raise,
    killing the whole analysis. Now the range spans a factor 4 above E and the optimum is its
    lower end (every teacher is on the weak side of the break)."""
    sup = laws.SupervisedParams(E=3.0, A=10.0, B=10.0, alpha=0.3, beta=0.3, gamma=1.0)
    dist = laws.DistillParams(**{**DIST.__dict__, "d1": 0.1})
    lower, upper = laws.teacher_loss_range(1e6, 1e8, sup, dist)
    assert lower == 3.0 and upper == 12.0
    o = laws.optimal_teacher_loss(1e6, 1e8, sup, dist)
    assert lower <= o.teacher_loss <= upper and np.isfinite(o.student_loss)


def test_a_replicate_whose_derived_quantity_cannot_be_computed_is_nan_and_counted():
    """Issue 18 (1): one replicate's derived quantity raising (as optimal_teacher_loss did for a
    replicate with E above the break) crashed the bootstrap; now it is NaN there, left out of the
    interval and counted in n_derived_failed, and the other replicates keep their values."""
    rng = np.random.default_rng(0)
    N = np.repeat(np.geomspace(1e7, 1e9, 5), 3)
    D = np.tile([1e9, 4e9, 1.6e10], 5)
    sup = fit.fit_supervised(N, D, laws.supervised_loss(N, D, SUP) * np.exp(rng.normal(0, 1e-3, N.size)),
                             n_top=3, n_random=0)
    median_E = sup.require().E

    def picky(p, _law):
        if p.E > median_E:
            raise ValueError("need 0 < lower < upper")
        return p.E

    b = fit.bootstrap(sup, n_boot=12, seed=0, derived={"picky": picky}, workers=1)
    n_nan = b.n_derived_failed["picky"]
    assert 0 < n_nan < 12 - b.n_failed
    assert sum(np.isnan(b.samples["picky"])) == n_nan and len(b.samples["picky"]) == 12 - b.n_failed
    lo, hi = b.interval("picky")
    assert lo <= hi <= median_E


class _CountingLaw(fit.SupervisedLaw):
    """The supervised law, recording the largest prediction array the solver asks for."""

    largest = [0]

    def logpred(self, theta, x, reduced):
        out = super().logpred(theta, x, reduced)
        _CountingLaw.largest[0] = max(_CountingLaw.largest[0], out.size)
        return out


def test_fit_memory_does_not_grow_with_rows_times_start_grid():
    """Issue 18 (5): the start grid (12,800 supervised starts) was scored in chunks of 4000 starts ×
    every row, so 22k rows took 4 GB. Now no evaluation holds more than SCORE_ELEMENTS values, and a
    long table ranks its starts on SCORE_ROWS rows; the fit itself still sees every row."""
    rng = np.random.default_rng(0)
    n = 3 * fit.solver.SCORE_ROWS
    N, D = rng.choice(np.geomspace(1e7, 1e9, 6), n), rng.choice([1e9, 4e9, 1.6e10], n)
    loss = laws.supervised_loss(N, D, SUP) * np.exp(rng.normal(0, 1e-3, n))
    f = fit.fit_law(_CountingLaw(), {"N": N, "D": D, "loss": loss}, n_top=1, n_random=0)
    assert f.converged and f.n_points == n and f.max_rel_error < 0.01
    assert _CountingLaw.largest[0] <= max(fit.solver.SCORE_ELEMENTS, n)


def test_absurd_bootstrap_counts_are_refused_before_any_work():
    """Issue 18 (5): --bootstrap 1e9 ran on, holding every replicate's rows in memory."""
    with pytest.raises(fit.FitInputError, match="bootstrap must be in 0..10000"):
        fit.fit_table({"student_size": [1e7, 2e7, 4e7], "loss": [3.0, 2.9, 2.8]}, fit.FitOptions(n_boot=10**9))
    N = np.geomspace(1e7, 1e9, 6)
    sup = fit.fit_supervised(N, np.ones(6), laws.supervised_loss(N, np.inf, SUP), n_top=2, n_random=0)
    with pytest.raises(fit.FitInputError, match="bootstrap replicates must be in"):
        fit.bootstrap(sup, n_boot=10**6)
    raw = tomllib.loads(Path("configs/kernel.toml").read_text())
    raw["fit"]["bootstrap"] = 10**9  # a sweep config is refused at load, before anything trains
    with pytest.raises(ConfigError, match=r"\[fit\].bootstrap: expected an integer in 0..10000"):
        parse_config(raw)


def test_a_full_form_supervised_law_at_beta_zero_still_feeds_eq8():
    """A full-form (several budgets) supervised fit or bootstrap refit may land on β = 0 at its bound;
    Eq. 8 on the same budgets must still fit (the laws preset's analysis died here in a replicate)."""
    import dataclasses

    from simgap.fit import objectives
    from simgap.fit.inputs import FitInputError

    sup0 = dataclasses.replace(laws.BUSBRIDGE_SUPERVISED, beta=0.0)
    objectives.DistillationLaw(sup0).check_form(reduced=False)  # raised before the fix
    with pytest.raises(FitInputError, match="one student budget"):
        objectives.DistillationLaw(laws.BUSBRIDGE_SUPERVISED).check_form(reduced=True)


def test_an_irreducible_loss_ci_ending_at_the_fits_floor_of_e_contains_zero():
    """E is fitted in log coordinates floored at 1e-11, so a CI end there is E = 0: with E_true = 0
    (the MLP families') the check must not call "fails" on a lower end of 1.4e-11, as the mlp preset did."""
    from types import SimpleNamespace

    from simgap.fit.assumptions import supervised_checks

    N, D = (a.ravel() for a in np.meshgrid([12.0, 16.0, 24.0], [4e5, 8e5, 1.6e6]))
    fit = SimpleNamespace(fixed=(), n_points=9, names=("log_E", "log_A", "log_B", "alpha", "beta", "gamma"),
                          raw_params=SimpleNamespace(gamma=1.0, E=0.22), data={"N": N, "D": D, "loss": np.linspace(0.8, 1.0, 9)})
    boot = SimpleNamespace(samples={"gamma": np.linspace(0.9, 1.1, 100), "E": np.geomspace(1.39e-11, 0.404, 100)})
    sup = SimpleNamespace(fit=fit, ci={"gamma": (0.9, 1.1), "E": (1.39e-11, 0.404)}, bootstrap=boot, identification=None)
    (check,) = [a for a in supervised_checks(sup, 0.0, FitOptions(), "") if a.name == "irreducible_loss"]
    assert check.verdict == "undecided" and check.ci[0] == 0.0
    sup.ci["E"] = (0.05, 0.404)  # a CI that really excludes E_true still fails
    boot.samples["E"] = np.linspace(0.05, 0.404, 100)
    (check,) = [a for a in supervised_checks(sup, 0.0, FitOptions(), "") if a.name == "irreducible_loss"]
    assert check.verdict == "fails"


def test_teacher_only_through_loss_is_undecided_with_one_teacher_size():
    """fig12_teacher_length has one teacher size at several lengths: (N_T/N̄_T)^η = 1 on every row, so
    η is not identified; it was called "holds" (η = 0 [0, 0], the nested fit never left its start)."""
    from simgap.fit.nested import teacher_only_check

    size, length = np.full(6, 128.0), np.repeat([1e6, 2e6, 4e6], 2)
    check = teacher_only_check(None, size, length, FitOptions(), "")
    assert check.verdict == "undecided" and "second size" in check.needs


def test_supervised_checks_are_undecided_when_the_runs_do_not_identify_the_law():
    """Two student sizes at one budget (the transformer preset) are 2 distinct points for 5 free
    parameters: every bootstrap refit returned the same γ (1.52 [1.52, 1.52]) and it was called "fails"."""
    from types import SimpleNamespace

    from simgap.fit.assumptions import supervised_checks

    N = np.repeat([1240.0, 4016.0], 40)
    fit = SimpleNamespace(fixed=(), n_points=80, names=("log_E", "log_A", "log_C", "alpha", "gamma"),
                          raw_params=SimpleNamespace(gamma=1.52, E=0.067),
                          data={"N": N, "D": np.full(80, 1.2e6), "loss": np.linspace(0.4, 1.2, 80)})
    boot = SimpleNamespace(samples={"gamma": np.full(100, 1.52), "E": np.linspace(0.065, 0.072, 100)})
    sup = SimpleNamespace(fit=fit, ci={"gamma": (1.52, 1.52), "E": (0.065, 0.072)}, bootstrap=boot, identification=None)
    checks = supervised_checks(sup, 0.0, FitOptions(), "")
    assert [a.verdict for a in checks] == ["undecided", "undecided"] and "2 distinct" in checks[0].needs
    fit.data["N"] = np.repeat([600.0, 1240.0, 2500.0, 4016.0, 8000.0, 16000.0], [14, 14, 13, 13, 13, 13])
    assert supervised_checks(sup, 0.0, FitOptions(), "")[0].verdict == "fails"  # identified: γ ≠ 1 fails


def test_a_teacher_loss_only_table_lists_eq8s_checks():
    """A table with teacher losses but no teacher sizes fits Eq. 8, so its checks are listed:
    teacher_only_through_loss undecided (it needs to know which teacher), the others tested
    (they were missing from the list)."""
    rows = experiment_scripts.load("fit_demo").reference_rows(n_teachers=5)
    cols = {c: np.array([r.get(c, np.nan) for r in rows], dtype=object if c == "run_kind" else float)
            for c in ("run_kind", "seed", "student_size", "student_tokens", "teacher_loss", "student_loss")}
    result = fit.fit_table(cols, fit.FitOptions(n_boot=4, n_top=2, n_random=0))
    found = {a.name: a for a in result.assumptions if a.law == "distillation"}
    assert {"teacher_only_through_loss", "limit_properties", "extrapolates"} <= set(found)
    assert found["teacher_only_through_loss"].verdict == "undecided"
    assert "teacher_size" in found["teacher_only_through_loss"].needs


@pytest.mark.parametrize("damage", [
    lambda d: d["families"][0]["settings"][0]["optima"].update(per_student=7),
    lambda d: d["families"][0]["settings"][0].update(teacher_law=[{"budget": 1.0}]),
    lambda d: d.update(families="x"),
])
def test_read_optima_names_the_file_and_field_of_a_damaged_fit_json(tmp_path, damage):
    rows = experiment_scripts.load("fit_demo").reference_rows(n_teachers=5)
    cols = {c: np.array([r.get(c, np.nan) for r in rows], dtype=object if c == "run_kind" else float)
            for c in ("run_kind", "seed", "student_size", "teacher_size", "student_tokens", "student_loss")}
    doc = fit.to_json(fit.fit_table(cols, fit.FitOptions(n_boot=0, optima_boot=20)))
    damage(doc)
    path = tmp_path / "fit.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=f"{path}: (families\\[0\\].settings\\[0\\]: damaged|no fitted families)"):
        read_optima(path)


def test_column_errors_count_rows_from_one_as_the_table_checks_do():
    """Issue 28 case 8: simgap.fit.inputs said "row 0" for the first value (0-based) where
    checks.where, and a user reading a CSV, count data rows from 1."""
    with pytest.raises(fit.FitInputError, match=r"^column 'student_size' row 1: value nan is not finite$"):
        fit.fit_supervised(np.array([np.nan, 1e8, 1e9, 2e9, 4e9, 8e9]), np.full(6, 1e10), np.full(6, 2.0))
    with pytest.raises(fit.FitInputError, match=r"^column 'student_size' row 3: value -400000000\.0 must be > 0$"):
        fit.fit_teacher_law([1e8, 2e8, -4e8], [1e10, 2e10, 4e10])
