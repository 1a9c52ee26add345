"""Hostile inputs of issue 18: configs that hung or exhausted memory, values that crashed with a
traceback, and tables whose mistakes were fitted silently. Each ends in one clear line (or
the right rows) before any training or fitting; none of these tests trains or fits a law."""

import contextlib
import copy
import json
import math
import signal

import numpy as np
import pytest
import tomli_w

from simgap import engine, report, rows as rows_lib, rundir, sweep
from simgap import config
from simgap.config import ConfigError, FitOptions, parse_config
from simgap.families import from_config, get_family
from simgap.fit import FitInputError, fit_table, ok
from simgap.fit import read_table
from simgap.fit.checks import min_bootstrap
from simgap.fit.cli import main as fit_main
from simgap.laws import SupervisedParams
from simgap.plan import additions
from simgap.plan.teachers import read_teachers
from test_decide import _optimum

KERNEL = {"name": "k", "family": "kernel", "family_params": {"coefficients": 50},
          "grid": {"student_sizes": [4], "teacher_sizes": [2, 4, 8], "seeds": 2}, "fit": {"bootstrap": 0}}
TRANSFORMER = {"name": "t", "family": "transformer",
               "family_params": {"source": "markov", "depth": 1,
                                 "source_params": {"vocab_size": 8, "order": 1, "support": 2, "seq_len": 8}},
               "grid": {"student_sizes": [8], "teacher_sizes": [8, 16, 24], "seeds": 1}}
MLP = {"name": "m", "family": "mlp", "family_params": {"classes": 8},
       "grid": {"student_sizes": [8], "teacher_sizes": [8, 16, 24], "seeds": 2}}


def checked(raw: dict):
    """A config as a sweep takes it: parsed, then its family built and checked against the grid."""
    return from_config(parse_config(raw))


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging the suite) when the old behaviour, a minutes-long loop, returns."""
    def expire(*_):
        raise TimeoutError(f"took over {seconds} s")
    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def edited(base: dict, path: str, value) -> dict:
    raw = copy.deepcopy(base)
    *parents, leaf = path.split(".")
    node = raw
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
    return raw


# --- item 6 and 10: config values that crashed, or were accepted and erased the analysis ------------

@pytest.mark.parametrize("base, path, value, says", [
    (TRANSFORMER, "family_params.source", "bogus", "unknown source 'bogus'"),
    (TRANSFORMER, "family_params.source_params.seq_len", 0, "seq_len must be an integer >= 1"),
    (TRANSFORMER, "family_params.source_params.support", 0, "support must be an integer >= 1"),
    (TRANSFORMER, "family_params.depth", 0, "depth must be an integer >= 1"),
    (KERNEL, "family_params.decay", "fast", "decay must be a finite number"),
    (KERNEL, "name", "a\x00b", "name: expected a plain name"),
    (KERNEL, "name", "../../escaped", "name: expected a plain name"),
    (KERNEL, "fit.fixed_supervised", {"E": float("nan")}, "fixed_supervised"),
    (KERNEL, "fit.fixed_supervised", {"E": float("inf")}, "fixed_supervised"),
    (KERNEL, "fit.fixed_supervised", {"E": -1.0}, "fixed_supervised"),
    (KERNEL, "distill.tau", float("inf"), "[distill].tau"),
    (TRANSFORMER, "grid.teacher_sizes", [8, 20, 24], "teacher_sizes: 20 is not a multiple of 8"),
    (TRANSFORMER, "grid.student_sizes", [12], "student_sizes: 12 is not a multiple of 8"),
])
def test_bad_config_values_are_one_config_error(base, path, value, says):
    with pytest.raises(ConfigError) as e:
        checked(edited(base, path, value))
    assert says in str(e.value) and "\n" not in str(e.value)


def test_until_decided_only_proposes_teacher_sizes_the_family_has():
    """The midpoint between d32 and d40 (36) is no transformer width (head_dim 8): round 1 of the
    transformer preset crashed on it ("d_model=34 must be a multiple of head_dim=8")."""
    cfg = parse_config(edited(TRANSFORMER, "grid.teacher_sizes", [8, 16, 32, 64]))
    optima = [_optimum(16, 24.0), _optimum(24, 40.0)]
    found = [c for c in additions.candidates(cfg, [], optima, family_step=8) if c["kind"] == additions.TEACHERS]
    assert found and all(t % 8 == 0 and t not in (8, 16, 32, 64) for t in found[0]["teacher_sizes"])


def test_a_manifest_that_is_json_but_not_an_object_is_retrained(tmp_path):
    """`[]`, `null` or `teachers` as a list crashed every resume (AttributeError)."""
    cfg = parse_config(KERNEL)
    units = engine.plan(get_family("kernel", coefficients=50), cfg.grid, cfg.train)
    unit = units[-1]
    (tmp_path / "units").mkdir()
    (tmp_path / "units" / f"{unit.uid}.csv").write_text("x\n")
    run = rundir.RunDir(tmp_path, cfg, units)
    for manifest in ([], None, {"fingerprint": run.fingerprints[unit.uid], "teachers": []}):
        (tmp_path / "units" / f"{unit.uid}.json").write_text(json.dumps(manifest))
        why = run._why_not_done(unit)
        assert why and ("damaged" in why or "missing" in why or "rows" in why), why


# --- item 4: memory estimated before allocating -------------------------------------------------

def test_configs_that_cannot_fit_in_memory_are_refused_at_load_or_run_and_the_dry_run_says_so(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIMGAP_MEMORY_BYTES", str(16 * 2**30))
    with deadline(20):
        with pytest.raises(ConfigError, match="classes=64 .* needs about .* GiB"):  # 244M inputs
            checked(edited(MLP, "family_params.classes", 64))
        with pytest.raises(ConfigError, match="1000\\^4 contexts"):  # a 10^12-context Markov table
            checked(edited(TRANSFORMER, "family_params.source_params",
                                {"vocab_size": 1000, "order": 4, "support": 8, "seq_len": 8}))
        for raw in (edited(MLP, "family_params.classes", 32),  # enumerated 6.9M inputs for 29 s to say "33 s"
                    edited(KERNEL, "family_params.coefficients", 2_000_000_000)):  # then a 59.6 GiB allocation
            cfg = parse_config(raw)
            said = []
            sweep.dry_run(cfg, 5, echo=said.append)
            assert any(line.startswith("warning: the sweep will refuse this grid: bucket") for line in said)
            with pytest.raises(sweep.SweepError, match="needs about .* GiB of memory, more than the 16 GiB"):
                sweep.run_sweep(cfg, tmp_path / "run", progress=False, echo=lambda *_: None)
            assert not (tmp_path / "run").exists()  # refused before the run directory is made
    sweep.dry_run(parse_config(MLP), 2)  # a config that fits says what it needs
    assert "largest bucket needs about" in capsys.readouterr().out


# --- items 7, 8, 13: tables whose mistakes were fitted or misreported --------------------------------

def supervised_table(n=10, **cols):
    """n supervised runs over 3 budgets."""
    table = {"run_kind": ["supervised"] * n, "student_size": np.arange(1, n + 1) * 8.0,
             "student_budget": np.tile([1e5, 2e5, 4e5], n)[:n], "student_loss": np.linspace(2.0, 1.0, n)}
    table.update(cols)
    return table


@pytest.mark.parametrize("flags", [[1.0] * 9 + [0.0], ["true"] * 9 + ["nan"], [1] * 9 + [float("nan")]])
def test_diverged_written_as_numbers_or_with_nan_cells_still_drops_the_flagged_rows(flags):
    """pandas writes a float column as 1.0/0.0, and a missing flag as nan: both disabled the
    column, so diverged runs (loss 4.0) were fitted."""
    fit = fit_table(supervised_table(diverged=np.array(flags, dtype=object if isinstance(flags[0], str) else float)))
    assert fit.input.n_diverged_dropped == 9 and fit.input.n_supervised == 1


def test_an_unknown_run_kind_names_the_values_seen_and_accepted():
    table = supervised_table(run_kind=["supervised"] * 5 + ["distillation"] * 5)
    with pytest.raises(FitInputError, match="'distillation' \\(5 rows\\).*accepted: supervised, distilled, teacher"):
        fit_table(table)


def test_losses_that_never_vary_are_named_not_a_single_budget_message():
    with pytest.raises(FitInputError, match="'student_loss' is 1 on all 10 supervised rows"):
        fit_table(supervised_table(student_loss=np.ones(10)))


def test_one_empty_budget_cell_is_named_with_its_row(tmp_path):
    path = tmp_path / "t.csv"
    t = supervised_table()
    lines = ["run_kind,student_size,student_budget,student_loss"] + [
        f"supervised,{s},{'' if i == 3 else b},{loss}" for i, (s, b, loss) in
        enumerate(zip(t["student_size"], t["student_budget"], t["student_loss"]))]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FitInputError, match="'student_budget' row 4 \\(line 5\\) is empty"):
        fit_table(path)


# --- items 10, 12: fit options ----------------------------------------------------------------------

@pytest.mark.parametrize("args, says", [
    (["--fix-supervised", "E=-1"], "E = -1.0: must be a finite number >= 0"),
    (["--fix-supervised", "E=nan"], "E = nan: must be a finite number >= 0"),
    (["--fix-supervised", "E=1,E=2"], "E is given 2 times"),
    (["--extrapolate-threshold", "nan"], "extrapolate threshold nan"),
    (["--extrapolate-threshold", "inf"], "extrapolate threshold inf"),
])
def test_fit_options_no_fit_can_honour_are_one_line(tmp_path, capsys, args, says):
    path = tmp_path / "t.csv"
    path.write_text("student_size,student_loss\n8,2\n16,1.5\n")
    assert fit_main([str(path), "--out", str(tmp_path / "o"), "--no-plots", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1, err


def test_a_tiny_bootstrap_warns_that_its_intervals_are_unreliable():
    fit = fit_table(supervised_table(n=3), FitOptions(n_boot=3))
    assert any("3 bootstrap replicates give unreliable 90% intervals" in w for w in fit.warnings)
    assert not fit_table(supervised_table(n=3), FitOptions(n_boot=0)).warnings


# --- item 10: the report says why there is no capacity-gap finding -----------------------------------

def test_report_says_all_distilled_runs_diverged_not_no_distilled_runs(tmp_path):
    cfg = parse_config(KERNEL)
    rows = [rows_lib.empty_row(run_kind="distilled", family="kernel", diverged=True, student_size=4,
                               teacher_size=t, seed=s) for t in (2, 4, 8) for s in (0, 1)]
    rows += [rows_lib.empty_row(run_kind="teacher", family="kernel", teacher_size=t) for t in (2, 4, 8)]
    text = report.render_report(cfg, rows, None, "", [], 6)
    assert "6 distilled runs, all diverged" in text and "No distilled runs" not in text


# --- item 9: teacher lengths that scale with teacher size -------------------------------------------

def distilled_table(lengths_per_param=(20,), extra=None):
    """3 students x 4 teachers x 2 seeds, each teacher trained for lengths_per_param x its size;
    the student loss is a U in log teacher size with its minimum at 2.5 S."""
    rows = []
    for r in lengths_per_param:
        for s in (8, 16, 32):
            for t in (4, 16, 64, 256):
                for seed in (0, 1):
                    loss = 1 + 0.1 * np.log(t / (2.5 * s)) ** 2 + 0.01 * seed + 0.001 * r
                    rows.append(dict(run_kind="distilled", student_size=s, teacher_size=t, seed=seed,
                                     teacher_budget=r * t, student_loss=loss, recipe=r))
    return {k: np.array([row[k] for row in rows], dtype=object if k == "run_kind" else float) for k in rows[0]}


def test_teacher_lengths_proportional_to_teacher_size_are_one_series_not_one_teacher_each():
    """D_T = 20 N_T: each length held one teacher, so "need >= 3 teacher sizes, got 1"."""
    st = fit_table(distilled_table(), FitOptions(n_boot=0, optima_boot=50)).families[0].settings[0]
    assert ok(st.optima), st.optima
    assert len(st.optima.per_student) == 3 and st.optima.teacher_budget_kind is None


def test_two_lengths_per_parameter_are_two_series_and_a_named_column_overrides():
    table = distilled_table(lengths_per_param=(20, 80))
    st = fit_table(table, FitOptions(n_boot=0, optima_boot=50)).families[0].settings[0]
    assert ok(st.optima), st.optima
    assert st.optima.teacher_budget_kind == "teacher_budget/teacher_size"
    assert sorted(set(st.optima.teacher_budgets)) == [20.0, 80.0] and len(st.optima.per_student) == 6
    named = fit_table(table, FitOptions(n_boot=0, optima_boot=50, teacher_series_column="recipe"))
    assert named.families[0].settings[0].optima.teacher_budget_kind == "recipe"
    with pytest.raises(FitInputError, match="'nope' is not in the table"):
        fit_table(table, FitOptions(n_boot=0, teacher_series_column="nope"))


# --- issue 28, cases 6 and 8: sweep options refused in one line, before anything is trained ----------

@pytest.mark.parametrize("args, says", [
    (["--decide", "linear"], "--decide only applies with --until-decided"),
    (["--max-minutes", "5"], "--max-minutes only applies with --until-decided"),
    (["--max-flops", "1e12"], "--max-flops only applies with --until-decided"),
    (["--until-decided", "--max-minutes", "0"], "--max-minutes: expected a positive number, got 0"),
    (["--until-decided", "--max-minutes", "-5"], "--max-minutes: expected a positive number, got -5"),
    (["--until-decided", "--max-minutes", "nan"], "--max-minutes: expected a positive number, got nan"),
    (["--until-decided", "--max-flops", "0"], "--max-flops: expected a positive number, got 0"),
    (["--until-decided", "--max-flops", "nan"], "--max-flops: expected a positive number, got nan"),
    (["--until-decided", "--decide", "bogus", "--dry-run"], "--decide: unknown assumption 'bogus'"),
    (["--tolerance", "linear=inf"], "--tolerance linear: expected a finite number >= 0, got inf"),
    (["--tolerance", "linear=0.1,linear=0.2"], "--tolerance: linear is given twice"),
])
def test_sweep_options_it_cannot_honour_are_one_line_before_any_work(tmp_path, capsys, args, says):
    path = tmp_path / "k.toml"
    path.write_text(tomli_w.dumps(KERNEL))
    assert sweep.main(["--config", str(path), "--out", str(tmp_path / "run"), "--no-progress", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "run").exists()


def test_a_tolerance_is_one_rule_in_a_config_and_on_both_command_lines(tmp_path, capsys):
    """--tolerance linear=inf was taken by the CLI (a run reporting "holds, tolerance n/a") and refused
    by the config loader, so the run could not be resumed: both refuse it now, by one rule."""
    with pytest.raises(ConfigError, match="finite number >= 0"):
        parse_config(edited(KERNEL, "fit.tolerances", {"linear": float("inf")}))
    with pytest.raises(ConfigError, match="finite number >= 0"):
        config.parse_tolerances("linear=inf")
    assert config.parse_tolerances("linear=0.05, gap_exists=0") == (("gap_exists", 0.0), ("linear", 0.05))
    path = tmp_path / "t.csv"
    path.write_text("student_size,student_loss\n8,2\n16,1.5\n")
    for value, says in (("linear=inf", "finite number >= 0, got inf"), ("linear=1,linear=2", "given twice")):
        assert fit_main([str(path), "--out", str(tmp_path / "o"), "--no-plots", "--tolerance", value]) == 2
        err = capsys.readouterr().err.strip()
        assert says in err and len(err.splitlines()) == 1, err


def test_twenty_replicates_are_enough_at_ci_090_as_the_docs_say():
    assert min_bootstrap(0.9) == 20 and min_bootstrap(0.95) == 40 and min_bootstrap(0.8) == 10
    assert not fit_table(supervised_table(n=3), FitOptions(n_boot=20)).warnings


# --- issue 28, case 5: an empty cell is missing in every reader ---------------------------------------

def test_an_empty_teacher_length_cell_is_named_not_a_series_of_its_own(tmp_path):
    """A teacher_tokens cell blank on one distilled row made its own teacher-length series
    (duplicate linear checks, All-NaN warnings): it is named with its column and row instead."""
    rows = ["run_kind,student_size,teacher_size,teacher_tokens,student_budget,student_loss"]
    rows += [f"distilled,{s},{t},{'' if (s, t) == (8, 32) else 20 * t},1000,{1 / s + 0.01 * abs(t / s - 3)}"
             for s in (4, 8, 16) for t in (8, 16, 32, 64)]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(FitInputError, match="'teacher_tokens' row 7 \\(line 8\\) is empty \\(1 of 12"):
        fit_table(path)


def test_a_column_of_empty_cells_is_missing_values_not_false(tmp_path):
    """An all-empty column read as booleans became 0 (a teacher of size 0) or inf (1/False)."""
    path = tmp_path / "t.csv"
    path.write_text("name,loss,size,teacher_loss\nx,1.5,,\n")
    cols = read_table(path)
    assert cols["size"].dtype == float and np.isnan(cols["size"]).all()
    assert np.isnan(cols["teacher_loss"]).all()
    (teacher,) = read_teachers(path, SupervisedParams(E=1.0, A=1.0, B=1.0, alpha=0.3, beta=0.3, gamma=1.0))
    assert math.isnan(teacher.size) and teacher.loss == 1.5


def test_transformer_buckets_that_cannot_fit_are_refused_before_the_run_directory(tmp_path, monkeypatch):
    """d_model 512-4096 at seq_len 1024 and batch 256 had no estimate in --dry-run and ended in a
    RESOURCE_EXHAUSTED traceback after the run directory was made (issue 28, case 7)."""
    monkeypatch.setenv("SIMGAP_MEMORY_BYTES", str(16 * 2**30))
    raw = edited(TRANSFORMER, "family_params.source_params", {"vocab_size": 8, "order": 1, "support": 2, "seq_len": 1024})
    raw = edited(edited(raw, "grid.student_sizes", [512]), "grid.teacher_sizes", [1024, 2048, 4096])
    raw = edited(raw, "train.batch_size", 256)
    cfg = parse_config(raw)
    said = []
    sweep.dry_run(cfg, 1, echo=said.append)
    assert any(line.startswith("  largest bucket needs about") for line in said), said
    assert any(line.startswith("warning: the sweep will refuse this grid: bucket") for line in said), said
    with pytest.raises(sweep.SweepError, match="needs about .* GiB of memory, more than the 16 GiB"):
        sweep.run_sweep(cfg, tmp_path / "run", progress=False, echo=lambda *_: None)
    path = tmp_path / "t.toml"
    path.write_text(tomli_w.dumps(raw))
    assert sweep.main(["--config", str(path), "--out", str(tmp_path / "run"), "--no-progress", "--until-decided"]) == 2
    assert not (tmp_path / "run").exists()
    preset = parse_config(edited(TRANSFORMER, "train.batch_size", 64))  # a small one fits, and says so
    said = []
    sweep.dry_run(preset, 1, echo=said.append)
    assert any("largest bucket needs about" in line for line in said) and not any("refuse" in line for line in said)
