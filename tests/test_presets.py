"""Every shipped preset (configs/*.toml), shrunk to seconds, through `python -m simgap.sweep` (its
training and its analysis, with a small bootstrap) and then `simgap.fit` on its results.csv.

Issue 18 (1): the transformer preset trained for 13 minutes and then crashed in the analysis (one
bootstrap replicate's optimal teacher loss), a path CI never ran because the preset was marked
slow and bootstrapped 0 times. Here every preset runs in CI, one test each (a new preset is
picked up by shipped_configs()), and its distillation law is bootstrapped, so every replicate's
derived quantities are computed. The shrunk transformer's replicates do not reach the crash (its
test passes on the code before the fix), so the last test builds that replicate directly.

What is shrunk is a preset's scale: sizes, seeds, steps, and the transformer's depth, vocabulary,
sequence length and head width. Its protocol is kept: family, student_init, distillation lam/tau,
learning rate, [fit] options, and the shape of its grid (one teacher size with several teacher
lengths, several student lengths). The sizes of one family are the same in every preset and sit
in as few buckets as the family allows, so the presets of a family share compiled programs (one
pytest process; the compile cache of conftest.py across processes): compilation is most of a
shrunk run's time, and the transformer's 11 buckets are most of this module's.
"""

import dataclasses
import json
import re
import tomllib

import numpy as np
import pytest
import tomli_w

from simgap import laws
from simgap.config import FitOptions, shipped_configs
from simgap.fit import cli, resample, sections
from simgap.fit.results import LawSection
from simgap.sweep import main as sweep_main

BOOTSTRAP = 20  # replicates per law: enough to run every replicate's derived quantities, cheap
STEPS = 20  # SGD steps of the longest budget in a shrunk grid
SEEDS = 3  # with 2 student sizes: the 6 points the single-budget supervised law needs
# per family: (student sizes, teacher sizes, family_params overrides). MLP widths 13-16 pad to one
# bucket (16) and 25-32 to one (32); the transformer has no padding (each width compiles: 11
# buckets here), so it gets the fewest widths that still give a supervised law, a distillation law
# and 3 teachers larger than every student (pruned_from_teacher; fewer skip the capacity gap).
SHRUNK = {
    "mlp": ([13, 16], [25, 28, 32], {}),
    "kernel": ([30, 50], [10, 20, 30, 40, 50, 60, 80, 100], {"coefficients": 100}),
    "transformer": ([4, 8], [12, 16, 20], {"depth": 1, "head_dim": 4, "held_out_sequences": 64}),
}
TRANSFORMER_SOURCE = {"vocab_size": 8, "seq_len": 8}
TRANSFORMER_BATCH = 16
SUP, DIST = laws.BUSBRIDGE_SUPERVISED, laws.BUSBRIDGE_DISTILL


def shrink(raw: dict) -> dict:
    """A shipped config (parsed TOML) at the scale of seconds, its protocol kept (module docstring)."""
    family = raw["family"]
    students, teachers, params = SHRUNK[family]
    g, fp = raw["grid"], raw.setdefault("family_params", {})
    fp.update(params)
    if "source_params" in fp:
        fp["source_params"] = {**fp["source_params"], **TRANSFORMER_SOURCE}
    if family == "transformer":
        raw.setdefault("train", {})["batch_size"] = TRANSFORMER_BATCH
    if len(g["teacher_sizes"]) == 1:  # a teacher-length sweep: one teacher, larger than every student
        teachers = teachers[-1:]
    step = raw.get("train", {}).get("batch_size", 512) * fp.get("source_params", {}).get("seq_len", 1)

    def budgets(n: int) -> list[int]:  # at most 2 lengths (STEPS/2, STEPS); 0 (closed form) stays 0
        if family == "kernel":
            return [0]
        return [STEPS * step] if n == 1 else [STEPS // 2 * step, STEPS * step]

    if "teacher_params_ratio" in g:  # kept, widened so each shrunk student keeps all 3 teachers (tests/test_config.py tests the window)
        g["teacher_params_ratio"] = [1.2, 20.0]
    g.update(student_sizes=students, teacher_sizes=teachers, seeds=SEEDS,
             student_budgets=budgets(len(g.get("student_budgets", [0]))),
             teacher_budgets=budgets(len(g.get("teacher_budgets", [0]))))
    raw.setdefault("fit", {})["bootstrap"] = BOOTSTRAP
    return raw


def assert_prose_gives_the_tables_intervals(report: str) -> None:
    """One verdict system: every verdict and interval the report's prose states for an assumption (and
    the teacher law's slope and exponent CIs) is the one its "Law assumptions" table gives."""
    table, prose = report.split("## Findings", 1)
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in table.splitlines() if line.startswith("| ")]
    head = rows[0]
    given = {(r[head.index("assumption")].strip("`"), r[head.index("CI")], r[head.index("verdict")].strip("*"))
             for r in rows[1:]}
    stated = re.findall(r"`(\w+)` \*\*(\w+)\*\* \(\S+ (\[[^]]*\])", prose)
    assert all((name, ci, verdict) in given for name, verdict, ci in stated), (stated, given)
    for law, name in (("slope 90 % CI ", "slope_pinned"), ("exponent CI ", "linear")):
        for ci in re.findall(re.escape(law) + r"(\[[^]]*\])", prose):
            assert any(g[0] == name and g[1] == ci for g in given), (law, ci, given)


def _distillation_sections(fits: dict) -> list[dict]:
    """The distillation law of every setting in laws.json's "fits"."""
    return [s["distillation"] for fam in fits["families"] for s in fam["settings"]]


@pytest.mark.parametrize("config", shipped_configs(), ids=lambda p: p.stem)
def test_every_shipped_preset_runs_shrunk_through_sweep_and_fit(config, tmp_path, capsys):
    raw = shrink(tomllib.loads(config.read_text()))
    path = tmp_path / config.name
    path.write_text(tomli_w.dumps(raw))
    run = tmp_path / "run"
    assert sweep_main(["--config", str(path), "--out", str(run), "--no-progress"]) == 0
    for name in ("results.csv", "report.md", "laws.json", "optima.csv"):
        assert (run / name).stat().st_size > 0, name
    assert "Traceback" not in (run / "report.md").read_text()
    assert_prose_gives_the_tables_intervals((run / "report.md").read_text())
    laws = json.loads((run / "laws.json").read_text())
    assert "error" not in laws["fits"], laws["fits"]["error"]
    dist = _distillation_sections(laws["fits"])
    assert dist and all(d["status"] == "ok" for d in dist), dist  # the law whose replicates crashed
    assert all(d["bootstrap"]["n_boot"] == BOOTSTRAP for d in dist)
    capsys.readouterr()
    assert cli.main([str(run / "results.csv"), "--out", str(tmp_path / "fit"), "--bootstrap", str(BOOTSTRAP),
                     "--no-plots"]) == 0
    assert "error" not in capsys.readouterr().err


def test_a_bootstrap_replicate_with_E_above_its_break_does_not_end_the_analysis(monkeypatch):
    """The transformer preset's crash, built directly (the shrunk presets' replicates do not reach
    it): one bootstrap replicate of the distillation law whose break d1·L̃_S lies far below its
    supervised E. Its optimal teacher loss (sections.py's derived quantity) raised ValueError
    ("need 0 < lower < upper for the teacher-loss range") and the whole analysis died with it."""
    rng = np.random.default_rng(0)
    N, D = np.repeat(np.geomspace(1e7, 1e9, 5), 3), np.tile([1e9, 4e9, 1.6e10], 5)
    loss = laws.supervised_loss(N, D, SUP) * np.exp(rng.normal(0, 1e-3, N.size))
    NS, DS, LT = (a.ravel() for a in np.meshgrid(N, D[:3], np.geomspace(1.5, 4.0, 4)))
    LS = laws.distill_loss(NS, DS, LT, SUP, DIST) * np.exp(rng.normal(0, 1e-3, NS.size))
    opt = FitOptions(n_boot=12, n_top=3, n_random=0)
    replicate, hostile = resample._replicate, []

    def break_below_E(task):  # the first distillation replicate: break at 1e-6·L̃_S, far below E ≈ 1.2
        law, params = replicate(task)
        if params is not None and hasattr(params, "d1") and not hostile:
            hostile.append(params := dataclasses.replace(params, d1=1e-6))
        return law, params

    monkeypatch.setattr(resample, "_replicate", break_below_E)
    sup = sections.supervised_section(N, D, loss, opt)
    dist = sections.distillation_section(NS, DS, LT, LS, sup, opt)
    assert hostile and isinstance(dist, LawSection), dist
    b = dist.bootstrap
    for name, values in b.samples.items():
        if name.startswith("optimal_teacher_loss"):
            assert len(values) == b.n_boot - b.n_failed
            assert np.isfinite(b.interval(name)).all()
