"""The start-aware law (simgap.fit.start_law): Eq. 8 on random-init rows whatever the head start, its
hand-derived gradient, a fit that recovers a head start planted in Busbridge et al.'s laws, the optimal
teacher it implies under each start, and its section of fit_table with verdicts under each start."""

import dataclasses
import itertools
import json
import re

import numpy as np
import pytest

from simgap import laws
from simgap.fit.objectives import DistillationLaw
from simgap.fit.solver import fit_law
from simgap.config import FitOptions
from simgap.fit.agreement import TeacherProtocol
from simgap.fit.agreement import implied_optimum as eq8_implied
from simgap.fit.start_law import LAW, StartAwareLaw, StartParams, implied_optimum, start_code
from simgap.fit.table import fit_table

SUP, DIST = laws.BUSBRIDGE_SUPERVISED, laws.BUSBRIDGE_DISTILL
TRUE = StartParams(**{f: getattr(DIST, f) for f in DIST.__dataclass_fields__}, H=1.0, kappa=2.0, omega=0.5)


def table(rng, noise=1e-3) -> dict:
    """Students 1e8-1e9 at 10, 40 and 160 tokens per parameter, each distilled from 5 teachers (1e9-1e11,
    trained on 20 tokens per parameter) twice: from a random start and pruned from that teacher."""
    N, D, NT, start = [], [], [], []
    for n, r, t, s in itertools.product(np.geomspace(1e8, 1e9, 4), (10.0, 40.0, 160.0), np.geomspace(1e9, 1e11, 5),
                                        ("random", "pruned_from_teacher")):
        N.append(n), D.append(r * n), NT.append(t), start.append(s)
    N, D, NT = map(np.array, (N, D, NT))
    data = {"N": N, "D": D, "teacher_size": NT, "teacher_loss": laws.supervised_loss(NT, 20 * NT, SUP),
            "start": start_code(start)}
    law = StartAwareLaw(SUP, float(np.mean(np.log(D))))
    data["loss"] = law.predict(TRUE, data) * np.exp(rng.normal(0, noise, len(N)))
    return data


def test_random_rows_are_eq8_and_the_head_start_scales_the_excess():
    data = table(np.random.default_rng(0), noise=0.0)
    law = StartAwareLaw(SUP, float(np.mean(np.log(data["D"]))))
    eq8 = laws.distill_loss(data["N"], data["D"], data["teacher_loss"], SUP, DIST)
    pred = law.predict(TRUE, data)
    random = data["start"] == 1.0
    np.testing.assert_allclose(pred[random], eq8[random], rtol=1e-12)
    keep = data["N"] / data["teacher_size"]
    lead = TRUE.H * keep ** TRUE.kappa * np.exp(-TRUE.omega * (np.log(data["D"]) - np.mean(np.log(data["D"]))))
    LT = data["teacher_loss"]
    np.testing.assert_allclose((pred - LT)[~random], ((eq8 - LT) * np.exp(-lead))[~random], rtol=1e-9)
    assert np.all(pred[~random] < eq8[~random]) and np.all(pred > LT)


def test_gradient_matches_finite_differences():
    data = table(np.random.default_rng(0))
    law = StartAwareLaw(SUP, float(np.mean(np.log(data["D"]))))
    x = {"logN": np.log(data["N"]) - 19, "logD": np.log(data["D"]) - 22, **law.features(data)}
    theta = law.from_params(TRUE, False)
    pred, g = law.logpred_and_grad(theta, x, False)
    np.testing.assert_allclose(pred, law.logpred(theta, x, False), rtol=1e-12)
    eps = 1e-6
    for i in range(len(theta)):
        d = np.zeros_like(theta)
        d[i] = eps
        fd = (law.logpred(theta + d, x, False) - law.logpred(theta - d, x, False)) / (2 * eps)
        np.testing.assert_allclose(g[i], fd, rtol=1e-4, atol=1e-8, err_msg=law.full_names[i])
    # H at its lower bound: Eq. 8 everywhere
    theta[law.full_names.index("log_H")] = -20.0
    eq8 = DistillationLaw(SUP).logpred(theta[:-3], x, False)
    np.testing.assert_allclose(law.logpred(theta, x, False), eq8, atol=1e-8)


def test_a_planted_handicap_is_recovered():
    """H, κ and ω of a head start planted in Busbridge et al.'s laws (0.1 % noise), fitted with Eq. 8's
    parameters from the grid: within 10 %, 10 % and 0.1."""
    data = table(np.random.default_rng(1))
    law = StartAwareLaw(SUP, float(np.mean(np.log(data["D"]))))
    f = fit_law(law, data, n_top=3, n_random=2)
    p = f.require()
    assert p.H == pytest.approx(TRUE.H, rel=0.1) and p.kappa == pytest.approx(TRUE.kappa, rel=0.1), p
    assert p.omega == pytest.approx(TRUE.omega, abs=0.1), p


def test_the_implied_teacher_is_eq8s_from_a_random_start_and_no_larger_from_a_pruned_one():
    """From a random start the law is Eq. 8, so is its optimal teacher; a head start that grows as less of
    the teacher is pruned away can only pull the optimum down (never below the student: it is pruned from
    it), and with H = 0 the pruned optimum is Eq. 8's, clipped at the student's size."""
    law = StartAwareLaw(SUP, 25.0)
    protocol = TeacherProtocol("tokens_per_param", tokens_per_param=20.0)
    for N, D in ((1e8, 2e9), (1e9, 2e11)):
        eq8 = eq8_implied(N, D, SUP, DIST, protocol)
        random = implied_optimum(law, False, N, D, SUP, TRUE, protocol)
        assert random.teacher == pytest.approx(eq8.teacher, rel=1e-6) and random.interior == eq8.interior
        pruned = implied_optimum(law, True, N, D, SUP, TRUE, protocol)
        assert N <= pruned.teacher <= random.teacher * (1 + 1e-9) and pruned.student_loss <= random.student_loss
        no_lead = implied_optimum(law, True, N, D, SUP, StartParams(**{**TRUE.__dict__, "H": 0.0}), protocol)
        assert no_lead.teacher == pytest.approx(max(eq8.teacher, N), rel=1e-6)


def both_starts_table(rng, noise=0.01) -> dict:
    """`table`'s distilled rows (1 % noise, as a seed's spread) with supervised rows at the same students and
    budgets, as columns a user's merged table would have."""
    d = table(rng, noise)
    n = len(d["N"])
    sup = list(itertools.product(np.geomspace(1e8, 1e9, 4), (10.0, 40.0, 160.0)))
    N = np.array([x for x, _ in sup])
    D = np.array([x * r for x, r in sup])
    loss = laws.supervised_loss(N, D, SUP) * np.exp(rng.normal(0, noise, len(N)))
    return {"run_kind": np.array(["distilled"] * n + ["supervised"] * len(N), dtype=object),
            "student_size": np.concatenate([d["N"], N]), "student_tokens": np.concatenate([d["D"], D]),
            "teacher_size": np.concatenate([d["teacher_size"], np.full(len(N), np.nan)]),
            "teacher_loss": np.concatenate([d["teacher_loss"], np.full(len(N), np.nan)]),
            "student_loss": np.concatenate([d["loss"], loss]),
            "student_init": np.array(["random" if c == 1.0 else "pruned_from_teacher" for c in d["start"]]
                                     + ["random"] * len(N), dtype=object)}


def test_fit_table_fits_both_starts_at_once_with_verdicts_under_each():
    """A table with random and pruned students gets one start-aware fit over both settings, a head start
    whose CI excludes 0, and `extrapolates` under each start as its own verdict (law "distillation +
    start", keyed by that start's setting, apart from the setting's own Eq. 8 verdict); on the true law
    neither fails."""
    f = fit_table(both_starts_table(np.random.default_rng(0)), FitOptions(n_boot=10, n_top=3, n_random=1))
    [sec] = f.families[0].start_law
    assert sec.key == {} and [(r.start, r.n_rows) for r in sec.starts] == [("random", 60), ("pruned_from_teacher", 60)]
    assert sec.law.ci["H"][0] > 0 and all(r.rmse_log < 0.02 for r in sec.starts), (sec.law.ci["H"], sec.starts)
    assert sec.law.fit.fixed == () and np.ptp(sec.law.ci["omega"]) > 0  # three lengths: ω is estimated
    mine = [a for a in f.assumptions if a.law == LAW]
    assert sorted((a.name, a.setting) for a in mine) == [("extrapolates", (("student_init", s),))
                                                         for s in ("pruned_from_teacher", "random")]
    assert all(a.verdict != "fails" for a in mine), mine
    eq8 = [a for a in f.assumptions if a.name == "extrapolates" and a.law != LAW]
    assert len(eq8) == 2 and not {a.key() for a in eq8} & {a.key() for a in mine}


def test_one_distillation_length_holds_omega_fixed_and_says_so():
    """Every student distilled for one length (Zhang et al.'s pilots): (D_S/D̄_S)^−ω is one constant, so ω
    is held at 0 rather than reported with a CI of zero width, the head start is still found, and the
    report says why ω is not estimated."""
    from simgap.findings import start_law_lines

    cols = both_starts_table(np.random.default_rng(0))
    dist, rng = cols["run_kind"] == "distilled", np.random.default_rng(1)
    cols["student_tokens"][:] = 4e10  # supervised runs too: a table's laws share its one budget
    cols["student_loss"][~dist] = laws.supervised_loss(cols["student_size"][~dist], 4e10, SUP) * np.exp(
        rng.normal(0, 0.01, int((~dist).sum())))
    data = {"N": cols["student_size"][dist], "D": cols["student_tokens"][dist], "start":
            start_code(cols["student_init"][dist]), "teacher_size": cols["teacher_size"][dist],
            "teacher_loss": cols["teacher_loss"][dist]}
    cols["student_loss"][dist] = StartAwareLaw(SUP, float(np.log(4e10))).predict(TRUE, data) * np.exp(
        rng.normal(0, 0.01, int(dist.sum())))
    f = fit_table(cols, FitOptions(n_boot=10, n_top=3, n_random=1))
    [sec] = f.families[0].start_law
    assert dict(sec.law.fit.fixed) == {"omega": 0.0} and sec.law.ci["H"][0] > 0, (sec.law.fit.fixed, sec.law.ci)
    assert "ω = 0 (held fixed: the pruned runs have one distillation length" in " ".join(start_law_lines("", sec))


def test_without_a_supervised_law_each_start_is_undecided_and_says_why():
    cols = both_starts_table(np.random.default_rng(0))
    keep = cols["run_kind"] == "distilled"
    f = fit_table({k: v[keep] for k, v in cols.items()}, FitOptions(n_boot=0))
    [sec] = f.families[0].start_law
    assert not sec.starts and "supervised" in sec.law.reason
    mine = [a for a in f.assumptions if a.law == LAW]
    assert [(a.name, a.verdict, dict(a.setting)["student_init"]) for a in mine] == [
        ("extrapolates", "undecided", "random"), ("extrapolates", "undecided", "pruned_from_teacher")]
    assert all("a converged start-aware fit" in a.needs for a in mine), mine


BOTH = ["docs/results/transformer_busbridge.csv", "docs/results/transformer_busbridge_pruned.csv"]


def _both_starts(tmp_path, capsys, bootstrap: int) -> tuple[str, str]:
    """docs/phase-map.md's command on the recorded random-init and pruned runs: (stdout, the page)."""
    from recorded import ROOT

    from simgap.fit import cli

    assert cli.main([str(ROOT / t) for t in BOTH] + ["--size-column", "student_params", "--fix-supervised",
                                                     "E=irreducible", "--bootstrap", str(bootstrap), "--no-plots",
                                                     "--out", str(tmp_path)]) == 0
    page = " ".join((ROOT / "docs" / "phase-map.md").read_text().replace("−", "-").split())
    return capsys.readouterr().out, page


def _rows(out: str, head: str) -> list[list[str]]:
    """The cells of the markdown table that follows the line starting with `head`."""
    lines = out.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith(head))
    return [[c.strip() for c in line.strip("|").split("|")] for line in itertools.takewhile(
        lambda x: x.startswith("|"), lines[i + 2:])]


def test_docs_state_what_the_fit_of_both_starts_gives(tmp_path, capsys):
    """The page's point estimates, errors and implied optima are what `simgap.fit` prints for its command
    (the CIs and verdicts need its --bootstrap 200: test_docs_state_the_verdicts_of_both_starts, slow)."""
    out, page = _both_starts(tmp_path, capsys, 0)
    assert "240 random and 168 pruned_from_teacher distilled runs" in out
    assert "54 rows of a later table repeat runs of an earlier one" not in out  # a warning: stderr, not stdout
    law = json.loads((tmp_path / "fit.json").read_text())["families"][0]["start_law"][0]["law"]
    for name, field in (("H", "H"), ("κ", "kappa"), ("ω", "omega")):
        assert f"{name} = {law['fit']['params'][field]:.2f} [" in page, name
    for start, runs, rmse, held, err in _rows(out, "| start | runs |"):
        assert f"RMSE of log loss {100 * float(rmse):.1f} %" in page and f"{float(err[:-1]):+.1f} %" in page, start
    sig = lambda x: f"{float(f'{float(x):.3g}'):,.0f}"  # noqa: E731  (3 significant figures, as the page's table)
    for start, student, budget, tb, measured, implied, ratio in _rows(out, "| start | student |"):
        if start == "pruned_from_teacher":
            T, lo, hi = re.match(r"(\S+) \[(\S+), (\S+)\]", measured).groups()
            assert f"| {sig(T)} [{sig(lo)}, {sig(hi)}] | {sig(implied)} | {float(ratio):.2g} |" in page, (student, tb)


@pytest.mark.slow
def test_docs_state_the_verdicts_of_both_starts(tmp_path, capsys):
    """With the page's --bootstrap 200: the CIs of H, κ, ω and of each start's held-out error, and the
    start-aware law's verdicts."""
    out, page = _both_starts(tmp_path, capsys, 200)
    law = json.loads((tmp_path / "fit.json").read_text())["families"][0]["start_law"][0]["law"]
    for name, field in (("H", "H"), ("κ", "kappa"), ("ω", "omega")):
        lo, hi = law["ci"][field]
        assert f"{name} = {law['fit']['params'][field]:.2f} [{lo:.2f}, {hi:.2f}]" in page, name
    lines = [x for x in out.splitlines() if "of the distillation + start law" in x]
    ext = {("pruned" if "pruned_from_teacher" in x else "random"): x for x in lines if "extrapolates" in x}
    assert ext["pruned"].split()[0] == "FAILS" and ext["random"].split()[0] == "UNDECIDED"
    for x in ext.values():
        lo, hi = map(float, re.search(r": \S+ \[(\S+), (\S+)\]", x).groups())
        assert f"[{100 * lo:+.1f}, {100 * hi:+.1f}]" in page
    agree = [x for x in lines if "agrees_with_optima" in x]
    pruned = [x.split()[0].lower() for x in agree if "pruned_from_teacher" in x]
    random = [x.split()[0].lower() for x in agree if "student_init = random" in x]
    assert pruned == ["fails", "undecided", "undecided"] and (random.count("fails"), len(random)) == (1, 7)


def test_the_calibration_tables_add_pruned_twins_with_a_head_start():
    """simgap.fit.calibration's `start` tables: `optima`'s runs as they were, plus each student pruned from
    every larger teacher, better than its random twin (the head start); their verdicts are counted apart
    from Eq. 8's (`check_name`)."""
    from simgap.fit import simulate
    from simgap.fit.calibration import check_name
    from simgap.fit.verdicts import undecided

    t = simulate.start_table(simulate.OptimaTruth(), 1, np.random.default_rng(0))
    base = simulate.optima_table(simulate.OptimaTruth(), 1, np.random.default_rng(0))
    n = len(base["seed"])
    assert np.array_equal(t["student_loss"][:n], base["student_loss"]) and set(t["student_init"][:n]) == {"random"}
    twin = {(s, T): loss for s, T, loss, k in zip(t["student_size"][:n], t["teacher_size"][:n], t["student_loss"][:n],
                                                  t["run_kind"][:n]) if k == "distilled"}
    pruned = [(s, T, loss) for s, T, loss in zip(t["student_size"][n:], t["teacher_size"][n:], t["student_loss"][n:])]
    assert pruned and all(T > s and loss < twin[s, T] for s, T, loss in pruned)
    a = undecided("extrapolates", "")
    assert check_name(a) == "extrapolates"
    assert check_name(dataclasses.replace(a, law=LAW)) == f"extrapolates ({LAW})"


ZHANG_PAIRS = {"transformer": ["docs/results/transformer.csv", "docs/results/transformer_random_init.csv"],
               "MLP": ["docs/results/mlp_zhang.csv", "docs/results/mlp_zhang_random_init.csv"]}


def _zhang_pair(tmp_path, capsys, pair: str, bootstrap: int) -> tuple[dict, str, str]:
    """docs/phase-map.md's λ = 0.5 command on one recorded pair: (its start-aware section, stdout, page row)."""
    from recorded import ROOT

    from simgap.fit import cli

    assert cli.main([str(ROOT / t) for t in ZHANG_PAIRS[pair]] + ["--size-column", "student_params", "--bootstrap",
                                                                  str(bootstrap), "--no-plots", "--out", str(tmp_path)]) == 0
    sec = json.loads((tmp_path / "fit.json").read_text())["families"][0]["start_law"][0]
    page = (ROOT / "docs" / "phase-map.md").read_text()
    [row] = [x for x in page.splitlines() if x.startswith(f"| {pair}, λ = 0.5 |")]
    return sec, capsys.readouterr().out, row


def test_docs_state_the_zhang_loss_fit_of_the_transformer_pair(tmp_path, capsys):
    """The page's λ = 0.5 row for the transformer pair: its point estimates and errors, ω held at 0 (one
    distillation length); the CIs and the MLP row need --bootstrap 200 (the slow test below)."""
    sec, out, row = _zhang_pair(tmp_path, capsys, "transformer", 0)
    p = sec["law"]["fit"]["params"]
    assert sec["law"]["fit"]["fixed"] == {"omega": 0.0} and "ω = 0 (held fixed" in out
    assert row.startswith(f"| transformer, λ = 0.5 | {p['H']:.2f} [") and f"| {p['kappa']:.3f} [" in row
    rmse = " / ".join(f"{100 * r['rmse_log']:.1f} %" for r in sec["starts"])
    errs = " / ".join(f"{100 * r['extrapolation']['mean_signed_error']:+.1f} %" for r in sec["starts"])
    assert f"| {rmse} | {errs}:" in row, (rmse, errs, row)
    [(start, student, *_, ratio)] = _rows(out, "| start | student |")
    assert (start, student) == ("pruned_from_teacher", "4.02e+03") and f"(implied {float(ratio):.3g}× the measured" in row


@pytest.mark.slow
@pytest.mark.parametrize("pair", list(ZHANG_PAIRS))
def test_docs_state_the_zhang_loss_fits_with_their_cis(pair, tmp_path, capsys):
    sec, out, row = _zhang_pair(tmp_path, capsys, pair, 200)
    ci = sec["law"]["ci"]
    for name in ("H", "kappa"):
        assert f"[{ci[name][0]:.3g}, " in row and (f", {ci[name][1]:.3g}]" in row or ci[name][1] == 10.0), (name, ci)
    lines = [x for x in out.splitlines() if "of the distillation + start law" in x]
    assert [x.split()[0] for x in lines if "extrapolates" in x] == ["FAILS", "FAILS"]
    agree = [x.split()[0] for x in lines if "agrees_with_optima" in x and "pruned_from_teacher" in x]
    assert agree == ["FAILS"], lines
