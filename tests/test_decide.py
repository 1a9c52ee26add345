"""`--until-decided` (simgap.decide): rounds are planned, costed, recorded and resumed."""

import fcntl
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simgap import decide, engine, fit, flops
from simgap import rows as rows_lib
from simgap.config import parse_config
from simgap.families import from_config
from simgap.fit.memo import Memo
from simgap.fit.results import OptimaSection, StudentOptimum, to_json
from simgap.fit.results_read import assumption_from_json
from simgap.fit import verdicts
from simgap.fit.verdicts import Assumption
from simgap.optima import TeacherOptimumEstimate
from simgap.plan import additions, design
from simgap.rundir import RunDirError
from simgap.report import analyze
from test_fit import _table_from_reference

ROOT = Path(__file__).resolve().parents[1]
TINY = {"name": "tiny", "family": "kernel",
        "family_params": {"coefficients": 64, "teacher_norm": 1.5, "student_norm": 1.5, "mode": "sampled", "noise": 0.1},
        "grid": {"student_sizes": [19, 23, 27], "teacher_sizes": [17, 21, 25, 29, 32], "student_budgets": [128],
                 "teacher_budgets": [128], "seeds": 2}, "fit": {"bootstrap": 0}}


def test_rounds_plan_new_units_only():
    cfg = parse_config(TINY)
    family = from_config(cfg)
    optima = [_optimum(19, 22.0), _optimum(27, 27.5), _optimum(23, 32.0)]
    cands = additions.candidates(cfg, [], optima)
    kinds = {c["kind"]: c for c in cands}
    assert kinds["seeds"]["seeds"] == [2, 3]
    assert set(kinds["teachers"]["teacher_sizes"]) == {23, 26, 28}  # between each optimum and its grid neighbours
    assert kinds["teacher length"]["teacher_budgets"] == [256]
    assert kinds["student"]["student_sizes"] == [21]  # in the widest gap between students with interior optima
    assert additions.student_between(cfg.grid, optima, step=4) == 20  # on the family's size step
    rounds = [{"round": 1, "addition": kinds["seeds"]}]
    units = decide.round_units(family, cfg, rounds)
    assert units and all(u.uid.startswith("r1-") for u in units)
    assert {m.seed for u in units for m in u.members} == {2, 3}
    todo = [_target({"name": "gap_exists", "subject": "student 19", "verdict": "undecided", "ci": [-0.01, 0.02]}),
            _target({"name": "ratio_independent_of_budget", "subject": "", "verdict": "undecided", "ci": [None, None]})]
    ranked = additions.rank(family, cfg, rounds, todo, optima, rows=[])
    assert all(c["flops"] > 0 for c in ranked) and ranked == sorted(ranked, key=lambda c: -c["score"])
    length = next(c for c in ranked if c["addition"]["kind"] == "teacher length")
    assert "ratio_independent_of_budget" in length["why"]
    # the second round of seeds continues after the first round's
    assert additions.candidates(cfg, rounds, optima)[0]["seeds"] == [4, 5, 6, 7]


def test_rounds_train_only_new_runs_and_never_a_teacher_twice():
    """A student round distils the new student from the teachers already trained (every seed so far)
    and trains no teacher; a seeds round after a teachers round gives the new seeds those teachers too."""
    cfg = parse_config(TINY)
    family = from_config(cfg)
    rounds = [{"round": 1, "addition": {"kind": "teachers", "teacher_sizes": [23]}},
              {"round": 2, "addition": {"kind": "seeds", "seeds": [2, 3]}},
              {"round": 3, "addition": {"kind": "student", "student_sizes": [21]}}]
    units = decide.round_units(family, cfg, rounds)
    members = lambda n, kind: {m for u in units if u.uid.startswith(f"r{n}-") and u.kind == kind  # noqa: E731
                               for m in u.members}
    assert {(m.size, m.seed) for m in members(1, "teacher")} == {(23, s) for s in (0, 1)}
    assert {(m.size, m.seed) for m in members(2, "teacher")} == {(t, s) for t in (17, 21, 23, 25, 29, 32) for s in (2, 3)}
    assert not members(3, "teacher")  # every teacher the student needs exists
    assert {(m.teacher_size, m.seed) for m in members(3, "distilled")} == \
        {(t, s) for t in (17, 21, 23, 25, 29, 32) for s in range(4)}
    assert {(m.size, m.seed) for m in members(3, "supervised")} == {(21, s) for s in range(4)}
    keys = [(m.size, m.budget, m.seed) for u in engine.plan(family, cfg.grid, cfg.train) + units
            if u.kind == "teacher" for m in u.members]
    assert len(keys) == len(set(keys))  # no teacher is trained twice
    owned = set(keys)
    assert all(k in owned for u in units for k in u.needs)
    optima = [_optimum(19, math.nan), _optimum(23, math.nan)]
    todo = [_target({"name": "linear", "subject": "", "verdict": "undecided", "ci": [0.2, 1.4]})]
    student = next(c for c in additions.rank(family, cfg, rounds[:2], todo, optima, rows=[])
                   if c["addition"]["kind"] == "student")
    expected = additions.new_units(family, additions.grid_now(cfg.grid, rounds[:2]), additions.grid_now(cfg.grid, rounds), cfg.train)
    assert student["flops"] == sum(c["useful_flops"] for c in flops.bucket_costs(family, expected, cfg.grid, cfg.train))
    assert student["score"] > 0 and "linear" in student["why"]  # one more of 2 interior points, by assumption


def test_round_units_have_the_grids_shapes():
    """A round of 4 new seeds on a 2-seed grid trains in units of 2 seeds, each the size of the grid's
    unit of the same id (so its program is the grid's, compiled once), covering every new run once."""
    cfg = parse_config(TINY)
    family = from_config(cfg)
    grid_units = {u.uid: u for u in engine.plan(family, cfg.grid, cfg.train)}
    units = decide.round_units(family, cfg, [{"round": 1, "addition": {"kind": "seeds", "seeds": [2, 3, 4, 5]}}])
    assert {u.uid for u in units} == {f"r1-{uid}-c{j}" for uid in grid_units for j in (0, 1)}
    for u in units:
        assert len({m.seed for m in u.members}) == 2
        assert len(u.members) == len(grid_units[u.uid[3:-3]].members)
        assert all(t[2] in {m.seed for m in u.members} for t in u.needs)
    unchunked = additions.new_units(family, cfg.grid, additions.extend(cfg.grid, {"kind": "seeds", "seeds": [2, 3, 4, 5]}),
                                 cfg.train)
    assert sorted((u.kind, m) for u in units for m in u.members) == sorted((u.kind, m) for u in unchunked for m in u.members)


def test_rounds_that_did_not_deliver_are_discounted():
    """A kind of addition whose round achieved none of its predicted shrinkage is trusted less next
    time (so a cheap addition that never moves a CI is not picked round after round); one that
    decided its target, or did as predicted, keeps its predictions."""
    def rnd(kind, before, after, verdict="undecided", predicted=0.2):
        # the same assumption before and after by its typed keys; its label was reworded between
        # the two analyses, which must not matter (labels are for people)
        return {"round": 1, "addition": {"kind": kind}, "gains": [predicted],
                "targets": [{"name": "linear", "subject": "budget 1", "budget": 1.0,
                             "ci": [None, None] if before is None else [0, 2 * before]}],
                "half_widths_before": [before],
                "after": [{"name": "linear", "subject": "student budget 1 (reworded)", "budget": 1.0,
                           "ci": [0, 2 * after], "verdict": verdict},
                          {"name": "linear", "subject": "budget 1", "budget": 2.0, "ci": [0, 0.1], "verdict": "holds"}]}
    stuck = additions.realization([rnd("student", 0.4, 0.4), rnd("student", 0.4, 0.41)])
    assert stuck["student"] == pytest.approx((0.25 - 0.025) / 0.65)
    assert additions.realization([rnd("seeds", 0.4, 0.3)])["seeds"] == 1.0  # 25 % achieved of 20 % predicted
    assert additions.realization([rnd("seeds", 0.4, 0.4, "fails")])["seeds"] == 1.0  # decided
    assert additions.realization([rnd("seeds", None, 0.4)])["seeds"] == 1.0  # a CI it lacked
    assert additions.realization([{**rnd("seeds", 0.4, 0.4), "gains": None}]) == {}  # an older decide.json
    cfg = parse_config(TINY)
    family = from_config(cfg)
    optima = [_optimum(19, 22.0), _optimum(27, 27.5), _optimum(23, 32.0)]
    todo = [_target({"name": "gap_exists", "subject": "student 19", "verdict": "undecided", "ci": [-0.01, 0.02]})]
    fresh = {c["addition"]["kind"]: c for c in additions.rank(family, cfg, [], todo, optima, rows=[])}
    seeds_round = {**rnd("seeds", 0.015, 0.015), "addition": fresh["seeds"]["addition"],
                   "gains": [0.29],
                   "targets": [{"name": "gap_exists", "subject": "student 19", "ci": [-0.01, 0.02]}],
                   "after": [{"name": "gap_exists", "subject": "student 19", "ci": [-0.01, 0.02], "verdict": "undecided"}]}
    later = {c["addition"]["kind"]: c for c in additions.rank(family, cfg, [seeds_round], todo, optima, rows=[])}
    factor = 0.25 / (0.29 + 0.25)
    assert later["seeds"]["gains"] == [pytest.approx(factor * (1 - 0.5 ** 0.5))]
    assert "earlier seeds rounds" in later["seeds"]["why"]


def test_unknown_assumption_is_one_clear_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "simgap.sweep", "--config", str(ROOT / "configs" / "kernel.toml"),
                        "--out", str(tmp_path / "run"), "--until-decided", "--decide", "lineer"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 2 and "lineer" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_until_decided_end_to_end(tmp_path):
    """The tiny kernel grid (one teacher length), then rounds until ratio_independent_of_budget is
    decided or 6 minutes are spent; every round is recorded with the CIs after it, and a rerun
    resumes without training anything again."""
    import tomli_w

    config = tmp_path / "tiny.toml"
    config.write_text(tomli_w.dumps(TINY))
    out = tmp_path / "run"
    args = [sys.executable, "-m", "simgap.sweep", "--config", str(config), "--out", str(out), "--no-progress",
            "--until-decided", "--decide", "ratio_independent_of_budget", "--max-minutes", "6"]
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=1200)
    assert r.returncode == 0, r.stderr[-2000:]
    rounds = json.loads((out / "decide.json").read_text())["rounds"]
    assert rounds and all(r["after"] is not None for r in rounds)
    assert all(math.isfinite(r["flops"]) and r["flops"] > 0 for r in rounds)
    assert "final analysis (with Eq. 8)" in r.stdout
    again = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=1200)
    trained = [line for line in again.stdout.splitlines() if line.startswith("trained ")]
    assert again.returncode == 0 and trained and all(line.startswith("trained 0 runs") for line in trained)
    # the rounds' cached, Eq. 8-free analyses end in a full one, the same as a fresh analysis
    fresh = analyze(parse_config(TINY), rows_lib.read_csv(out / "results.csv"), tmp_path / "fresh", echo=lambda *a: None)
    final = json.loads((out / "laws.json").read_text())
    assert any(a["name"] == "extrapolates" for a in final["assumptions"])
    for doc in (fresh, final):
        doc["fits"].pop("plots", None)
    assert _timeless(final) == _timeless(json.loads(json.dumps(fresh)))


def test_rounds_reach_the_report_and_plot(tmp_path):
    rounds = [{"round": 1, "addition": {"kind": "seeds", "seeds": [2, 3]}, "flops": 1e9,
               "why": "gap_exists (student 19): −29%", "half_widths_before": [0.02],
               "targets": [{"name": "gap_exists", "subject": "student 19", "ci": [-0.01, 0.03]}],
               "after": [{"name": "gap_exists", "subject": "student 19", "estimate": 0.01, "ci": [0.002, 0.022],
                          "verdict": "holds"}]}]
    assert decide.history(rounds)["gap_exists (student 19)"] == [(0.0, 0.02), (1e9, pytest.approx(0.01))]
    (tmp_path / "report.md").write_text("# report\n\n## Findings\n")
    decide.write_report(tmp_path, rounds)
    decide.write_report(tmp_path, rounds)  # after every round: replaced, not appended twice
    text = (tmp_path / "report.md").read_text()
    assert text.count("## Until decided") == 1 and "gap_exists (student 19): holds" in text
    assert (tmp_path / "until_decided.png").stat().st_size > 0


def test_teachers_between_grid_points_are_not_expected_to_narrow_a_gap_ci():
    """The dip's CI is a band over every teacher: more teachers add comparisons. Round 1 of the
    transformer preset chose a d40 teacher for "gap_exists −11 %", below 5 more seeds' −29 %/FLOP."""
    gap = _target({"name": "gap_exists", "subject": "student 8", "ci": [-0.01, 0.02]})
    assert additions.expected_shrinkage({"kind": additions.TEACHERS}, gap, 1, {}) == 0.0
    assert additions.expected_shrinkage({"kind": additions.SEEDS}, gap, 1, {}) > 0.25


def test_design_scores_a_student_between_two_students():
    """plan.design's bootstrap scores the student round on the teachers its neighbours share; a size
    outside the students is refused (decide then falls back to its stated assumption)."""
    rng = np.random.default_rng(0)
    teachers = [8, 12, 16, 24, 32, 48, 64, 96, 128]
    rows = [{"run_kind": "distilled", "diverged": False, "student_budget": 1.0, "teacher_budget": 1.0, "lam": 1.0,
             "tau": 1.0, "student_size": s, "teacher_size": t, "seed": seed,
             "student_loss": 1 / s + 0.02 * np.log(t / (2.5 * s)) ** 2 + rng.normal(0, 0.001)}
            for s in (6, 12, 24) for t in teachers for seed in range(3)]
    scores = additions.design_shrinkage(rows, student=9)[(1.0, 1.0)]
    assert set(scores) == {"seeds", "teachers", "student"} and 0 < scores["student"] < 1
    assert "student" not in additions.design_shrinkage(rows, student=48)[(1.0, 1.0)]  # outside the students
    keys = [(384000.0, 384000.0), (384000.0, 1.536e6), (768000.0, 1.536e6)]
    # a target's series is its typed budget and teacher_budget; its subject is a label and is not read
    for subject in ("budget 384000, teacher budget 1.536e+06", "reworded: student budget 7, teachers ×2", ""):
        t = {"name": "linear", "subject": subject}
        assert additions.series_of(_target({**t, "budget": 384000.0, "teacher_budget": 1.536e6}), keys) == keys[1]
        assert additions.series_of(_target({**t, "teacher_budget": 1.536e6}), keys) is None  # two series match
        assert additions.series_of(_target(t), keys[:1]) == keys[0]
    pilot = design.pilot_from_columns({c: np.array([r[c] for r in rows], float)
                                       for c in ("student_size", "teacher_size", "student_loss", "seed")})
    added, cost = design._add_student_at(pilot, 9)
    assert added.students == (6, 9, 12, 24) and added.teachers[1] == tuple(map(float, teachers))
    assert cost == pytest.approx(3 * sum(added.cost_student_run[1]))  # no teacher is trained for it
    assert all(min(a, b) <= c <= max(a, b) for a, b, c in zip(pilot.curves[0], pilot.curves[1], added.curves[1]))


def _timeless(doc):
    """A fit's JSON without its wall times (the only numbers two identical fits do not share)."""
    if isinstance(doc, dict):
        return {k: _timeless(v) for k, v in doc.items() if not k.endswith("time_s")}
    return [_timeless(v) for v in doc] if isinstance(doc, list) else doc


def test_fit_cache_reuses_only_unchanged_fits_and_survives_damage(tmp_path):
    """Rounds refit only what changed: the supervised law is read back when only distilled rows
    change, refitted when a supervised row changes; a damaged entry is refitted and rewritten; and
    the results are the same with and without the cache."""
    table = _table_from_reference(np.random.default_rng(11), n_seeds=2)
    del table["teacher_loss"]  # supervised law (with a bootstrap) + optima + teacher laws: cheap
    opt = fit.FitOptions(n_boot=4, n_top=3, n_random=1, optima_boot=50)
    plain = fit.to_json(fit.fit_table(table, opt))
    memo = Memo(tmp_path)
    cold = fit.to_json(fit.fit_table(table, opt, memo=memo))
    assert (memo.hits, memo.misses) == (0, 1) and _timeless(cold) == _timeless(plain)
    assert fit.to_json(fit.fit_table(table, opt, memo=memo)) == cold and memo.hits == 1  # read back exactly
    # a fit that reads an earlier one's result is keyed by that fit's key: the same whether the
    # result was computed or read back (which pickles differently)
    chained = lambda m: m.key("next", (m("first", lambda x: {"fit": np.arange(x)}, 3),))  # noqa: E731
    assert chained(Memo(tmp_path)) == chained(Memo(tmp_path))
    (entry,) = tmp_path.glob("supervised-*.pkl")
    for damage in (entry.read_bytes()[:-7], b"not a cache entry"):
        entry.write_bytes(damage)
        memo = Memo(tmp_path)
        assert _timeless(fit.to_json(fit.fit_table(table, opt, memo=memo))) == _timeless(plain)
        assert memo.misses == 1 and Memo._load(entry) is not None  # refitted and rewritten
    distilled = np.isfinite(table["teacher_size"])
    table["student_loss"] = np.where(distilled, table["student_loss"] * 1.001, table["student_loss"])
    memo = Memo(tmp_path)
    fit.fit_table(table, opt, memo=memo)
    assert (memo.hits, memo.misses) == (1, 0)  # only distilled rows changed: the supervised law is reused
    table["loss"] = np.where(distilled, table["loss"], table["loss"] * 1.001)
    memo = Memo(tmp_path)
    fit.fit_table(table, opt, memo=memo)
    assert (memo.hits, memo.misses) == (0, 1)
    memo.prune()
    assert [p.name for p in tmp_path.glob("*.pkl")] == sorted(memo.used)


def test_rounds_skip_eq8_only_when_no_target_needs_it_and_end_with_a_full_analysis(tmp_path):
    """--decide linear: the grid's and every round's analysis skip Eq. 8, and one full analysis
    (eq8=True) ends the run; with an Eq. 8 target (or none named) every analysis is full."""
    cfg = parse_config(TINY)
    optima = [_optimum(s, 25.0) for s in (19, 23, 27)]

    def fake_run(calls):
        def run(c, out, units, eq8):
            calls.append((len(units), eq8))
            verdict = "holds" if units else "undecided"  # decided by the first round
            doc = _laws_doc([{"name": n, "subject": "", "estimate": 1.0, "ci": [0.5, 1.5], "verdict": verdict}
                             for n in ("linear", "extrapolates")], optima)
            (tmp_path / "laws.json").write_text(json.dumps(doc))
            (tmp_path / "report.md").write_text("# report\n")
            (tmp_path / "results.csv").write_text(rows_lib.to_csv([]))
        return run

    calls = []
    rounds = decide.until_decided(cfg, tmp_path, ("linear",), run=fake_run(calls), echo=lambda *a: None)
    assert len(rounds) == 1 and [eq8 for _, eq8 in calls] == [False, False, True]
    assert calls[1][0] == calls[2][0] > 0  # the final analysis trains nothing more
    (tmp_path / "decide.json").unlink()
    calls = []
    decide.until_decided(cfg, tmp_path, ("linear", "extrapolates"), run=fake_run(calls), echo=lambda *a: None)
    assert [eq8 for _, eq8 in calls] == [True, True]


def test_max_minutes_is_a_cap_a_round_predicted_to_overrun_it_is_not_started(tmp_path, monkeypatch):
    """Each round's time is predicted from the latest round's seconds per FLOP; the
    transformer preset started a 16-minute round at minute 23 of a 30-minute budget (38.8 min)."""
    cfg = parse_config(TINY)
    family = from_config(cfg)
    grid = additions.unit_flops(family, cfg, engine.plan(family, cfg.grid, cfg.train))
    clock = [0.0]
    monkeypatch.setattr(decide.time, "perf_counter", lambda: clock[0])
    messages = []

    def run(c, out, units, eq8):  # a fake sweep: one minute per grid's worth of FLOPs, never decided
        clock[0] += 60 * additions.unit_flops(family, cfg, units) / grid if units else 60
        doc = _laws_doc([{"name": "gap_exists", "subject": "student 19", "estimate": 0.0, "ci": [-1.0, 1.0],
                          "verdict": "undecided"}])
        (tmp_path / "laws.json").write_text(json.dumps(doc))
        (tmp_path / "report.md").write_text("# report\n")
        (tmp_path / "results.csv").write_text(rows_lib.to_csv([]))

    rounds = decide.until_decided(cfg, tmp_path, ("gap_exists",), max_minutes=3.0, run=run, echo=messages.append)
    # grid 1 min; round 1 (2 more seeds) 1 min -> 2 min; round 2 (4 more seeds) would end at 4 > 3 min
    assert [r["addition"]["seeds"] for r in rounds] == [[2, 3]]
    assert any("would take ≈ 2.0 min" in m for m in messages), messages


def _target(d: dict) -> Assumption:
    return assumption_from_json(d)


def _optimum(student: float, teacher: float, interior: bool = True) -> StudentOptimum:
    """A located optimum as the analysis types it (knob = parameters here)."""
    nan = math.nan
    e = TeacherOptimumEstimate(student, nan, teacher, teacher, (nan, nan), interior, "" if interior else "largest", nan,
                               nan, (nan, nan), False, nan, 2, (), (), ())
    return StudentOptimum(student, student, nan, nan, nan, nan, e, e)


def _laws_doc(assumptions: list[dict], optima=()) -> dict:
    """A laws.json as the sweep writes it: the assumptions and one setting's optima."""
    section = OptimaSection(None, tuple(o.params for o in optima), students=tuple(optima))
    return to_json({"assumptions": assumptions, "fits": {"families": [{"family": "", "settings": [
        {"key": {}, "optima": section, "teacher_law": []}]}]}})


def _laws_writer(out, assumptions_of):
    """A fake sweep for decide.until_decided: writes laws.json with `assumptions_of(units)`."""
    calls = []

    def run(c, o, units, eq8):
        calls.append(units)
        (out / "laws.json").write_text(json.dumps(_laws_doc(assumptions_of(units))))
        (out / "report.md").write_text("# report\n")
        (out / "results.csv").write_text(rows_lib.to_csv([]))
    return run, calls


def _locked_by_someone(out) -> bool:
    with open(out / ".lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def test_one_lock_covers_the_whole_run_from_the_first_round_to_the_final_report(tmp_path, monkeypatch):
    """Every round's training, decide.json and report.md are written under one lock, which a second
    writer cannot take between rounds (issue 28, case 4); a directory someone holds is refused at start."""
    cfg = parse_config(TINY)
    undecided = {"name": "linear", "subject": "", "estimate": 1.0, "ci": [0.5, 1.5], "tolerance": 0.1,
                 "verdict": "undecided"}
    held = []
    run, calls = _laws_writer(tmp_path, lambda units: held.append(_locked_by_someone(tmp_path)) or [
        {**undecided, "verdict": "holds" if units else "undecided"}])
    write_report = decide.write_report
    monkeypatch.setattr(decide, "write_report", lambda *a: held.append(_locked_by_someone(tmp_path)) or write_report(*a))
    rounds = decide.until_decided(cfg, tmp_path, ("linear",), run=run, echo=lambda *a: None)
    assert len(rounds) == 1 and len(calls) == 3  # grid, round 1, final analysis with Eq. 8
    assert len(held) == 6 and all(held), held
    assert not _locked_by_someone(tmp_path)  # released at the end
    with open(tmp_path / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunDirError, match="another sweep is writing"):
            decide.until_decided(cfg, tmp_path, ("linear",), run=run, echo=lambda *a: None)


def test_named_targets_the_analysis_did_not_produce_are_undecided_and_get_teachers(tmp_path):
    """With two teacher sizes there are no optima, so no `linear` or `gap_exists`: named, they are
    undecided (not "decided after 0 rounds"), and a third teacher size is added to produce them
    (issue 28, case 3); a named check no addition can produce is said to be undecidable."""
    raw = {**TINY, "grid": {**TINY["grid"], "teacher_sizes": [17, 32]}}
    cfg = parse_config(raw)
    sup = {"name": "chinchilla_form", "subject": "", "estimate": 1.0, "ci": [0.99, 1.01], "tolerance": 0.1,
           "verdict": "holds"}

    def produced(units):
        three = any(m.size == 23 for u in units if u.kind == "teacher" for m in u.members)
        return [sup] + [{"name": n, "subject": "", "estimate": 1.0, "ci": [0.9, 1.1], "tolerance": 0.1, "verdict": "holds"}
                        for n in ("linear", "gap_exists") if three]
    run, _ = _laws_writer(tmp_path, produced)
    said = []
    rounds = decide.until_decided(cfg, tmp_path, ("linear", "gap_exists"), run=run, echo=said.append)
    assert [r["addition"] for r in rounds] == [{"kind": "teachers", "teacher_sizes": [23]}], said
    assert {a["name"]: a["verdict"] for a in rounds[0]["after"]} == {"linear": "holds", "gap_exists": "holds"}
    (missing,) = decide.targets([_target(sup)], ("linear",), cfg.grid)
    assert missing.verdict == "undecided" and not missing.tested and "≥ 3 teacher sizes (the grid has 2)" in missing.needs
    (tmp_path / "decide.json").unlink()
    said = []
    assert decide.until_decided(cfg, tmp_path, ("irreducible_loss",), run=run, echo=said.append) == []
    assert any("irreducible_loss cannot be decided by this grid: not tested" in s for s in said), said
    assert not any("is decided" in s for s in said)


def test_targets_no_addition_can_move_end_the_loop_instead_of_doubling_seeds(tmp_path):
    """chinchilla_form without a CI on one budget (more seeds cannot identify the law) and a
    slope_pinned needing > 100x the seeds are not offered seeds: once gap_exists is decided the
    loop ends, naming each with what it needs (issue 28, case 2; before, seeds doubled until a cap)."""
    cfg = parse_config(TINY)
    family = from_config(cfg)
    grid = additions.unit_flops(family, cfg, engine.plan(family, cfg.grid, cfg.train))
    need = "a supervised law the runs identify: 3 distinct (size, budget) points; more student sizes or budgets"
    stuck = [{"name": "chinchilla_form", "subject": "", "estimate": 1.3, "ci": [None, None], "tolerance": 0.1,
              "verdict": "undecided", "needs": need},
             {"name": "slope_pinned", "subject": "", "estimate": 5.6, "ci": [-20.0, 30.0], "tolerance": 0.3,
              "verdict": "undecided", "needs": "> 100× the seeds: more seeds alone will not do it"}]
    gap = {"name": "gap_exists", "subject": "student 19", "estimate": 0.004, "ci": [-0.001, 0.009], "tolerance": 0.005}
    run, _ = _laws_writer(tmp_path, lambda units: stuck + [{**gap, "verdict": "holds" if units else "undecided"}])
    said = []
    rounds = decide.until_decided(cfg, tmp_path, (), max_flops=4 * grid, run=run, echo=said.append)
    assert [r["addition"]["kind"] for r in rounds] == ["seeds"], said
    assert any(f"chinchilla_form cannot be decided by this grid: {need}" in s for s in said), said
    assert any("slope_pinned cannot be decided by this grid: > 100×" in s for s in said), said
    assert additions.expected_shrinkage({"kind": "seeds"}, _target(stuck[0]), 1, {}, n_seeds=1) > 0  # 1 seed: a CI


def test_a_round_resumed_with_another_decide_keeps_its_own_targets_verdicts(tmp_path):
    """A round killed while it trained for `linear`, resumed with --decide gap_exists: its record
    keeps linear's result (it was filtered by the new names, and lost; issue 28, case 8)."""
    cfg = parse_config(TINY)
    round1 = {"round": 1, "addition": {"kind": "seeds", "seeds": [2, 3]}, "flops": 1.0, "why": "", "gains": [],
              "targets": [{"name": "linear", "subject": "", "ci": [0.5, 1.5]}], "half_widths_before": [0.5],
              "candidates": [], "after": None}
    decide.save_rounds(tmp_path, [round1])
    run, _ = _laws_writer(tmp_path, lambda units: [
        {"name": n, "subject": "", "estimate": 1.0, "ci": [0.95, 1.05], "tolerance": 0.1, "verdict": "holds"}
        for n in ("linear", "gap_exists")])
    (rnd,) = decide.until_decided(cfg, tmp_path, ("gap_exists",), run=run, echo=lambda *a: None)
    assert [a["name"] for a in rnd["after"]] == ["linear"]
    assert json.loads((tmp_path / "decide.json").read_text())["rounds"][0]["after"][0]["verdict"] == "holds"


def test_a_target_the_budget_left_cannot_decide_by_seeds_is_not_chased():
    """Issue 28, case 2: a target whose CI needs ≈ 9× the seeds gains from more seeds while the budget
    can pay for that, and from nothing once the budget left pays for less (so the loop ends instead of
    spending its cap on rounds that cannot decide it). The reach: 1 + FLOPs left / FLOPs so far."""
    cfg = parse_config(TINY)
    family = from_config(cfg)
    target = _target({"name": "gap_exists", "subject": "student 19", "verdict": "undecided", "estimate": 0.01,
                      "ci": [-0.02, 0.04], "tolerance": 0.005})
    assert additions.seeds_factor(target) == pytest.approx(9.0)
    seeds = {"kind": additions.SEEDS, "seeds": [2, 3]}
    assert additions.expected_shrinkage(seeds, target, 1, {}, reach=additions.REACH) > 0
    assert additions.expected_shrinkage(seeds, target, 1, {}, reach=5.0) == 0.0
    grid = additions.unit_flops(family, cfg, engine.plan(family, cfg.grid, cfg.train))
    rate = 60 / grid  # the grid took a minute: 20 minutes left pay for 20 more grids
    assert decide._reach(family, cfg, [], 10.0, rate, (30.0, math.inf)) == pytest.approx(21.0)
    assert decide._reach(family, cfg, [], 29.0, rate, (30.0, math.inf)) == pytest.approx(2.0)
    assert decide._reach(family, cfg, [], 10.0, rate, (30.0, 3 * grid)) == pytest.approx(4.0)
    ranked = additions.rank(family, cfg, [], [target], [], [], reach=2.0)
    assert all(c.get("gains", [0])[0] == 0 for c in ranked)


def test_seeds_factor_is_the_verdicts_own():
    """The seeds a target needs, as --until-decided ranks it, is the figure its verdict states
    (slope_pinned: the CI's farther end from the slope; the default config's series said ≈ 14.1×
    in the table while the ranking used 4.8× from the symmetric half-width)."""
    k, ci, tol = 4.65, (-0.593, 5.53), 0.3
    a = verdicts.assumption("slope_pinned", k, ci, tol, "undecided")
    rel = max(ci[1] - k, k - ci[0]) / k
    assert additions.seeds_factor(a) == pytest.approx((rel / tol) ** 2)
    assert "≈ 14.1× the seeds" in verdicts.more_data(rel, tol, 16)


def test_a_new_student_needs_three_teachers_in_the_grids_window():
    """With [grid].teacher_params_ratio a midpoint student is proposed only when ≥ 3 teachers fall
    in its window (otherwise its optimum could not be located)."""
    import copy
    raw = copy.deepcopy(TINY)
    cfg = parse_config(raw)
    family = from_config(cfg)
    optima = [_optimum(19, 22.0), _optimum(27, 27.5), _optimum(23, 32.0)]
    assert additions.student_between(cfg.grid, optima, step=1, family=family) == 21
    raw["grid"]["teacher_params_ratio"] = [1.1, 1.3]  # kernel: parameters = coefficients, so 1.1-1.3x the size
    narrow = parse_config(raw)
    assert sum(narrow.grid.runs_pair(21, t, family.param_count) for t in narrow.grid.teacher_sizes) < 3
    assert additions.student_between(narrow.grid, optima, step=1, family=family) is None
