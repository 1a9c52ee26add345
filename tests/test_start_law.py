"""The start-aware law (simgap.fit.start_law): Eq. 8 on random-init rows whatever the head start, its
hand-derived gradient, and a fit that recovers a head start planted in Busbridge et al.'s laws."""

import itertools

import numpy as np
import pytest

from simgap import laws
from simgap.fit.objectives import DistillationLaw
from simgap.fit.solver import fit_law
from simgap.fit.start_law import StartAwareLaw, StartParams, start_code

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


def test_the_script_fits_both_starts_and_docs_state_its_numbers(capsys):
    """experiments/start_law.py end to end on the recorded random-init and pruned runs of one grid, and
    docs/phase-map.md states the point estimates and errors it prints (the CIs need --bootstrap 100)."""
    import re

    import experiment_scripts
    from recorded import RESULTS, ROOT

    script = experiment_scripts.load("start_law")
    assert script.main([str(RESULTS / "transformer_busbridge.csv"), str(RESULTS / "transformer_busbridge_pruned.csv"),
                        "--bootstrap", "0"]) == 0
    out = capsys.readouterr().out
    assert "240 random-init and 168 pruned_from_teacher distilled" in out and "(E fixed at 0.3488)" in out
    est = {m[1]: float(m[2]) for m in re.finditer(r"^  (H|kappa|omega) +(\S+)", out, re.M)}
    errs = re.findall(r"RMSE of log loss ([\d.]+); .*mean relative error ([-+][\d.]+)%", out)
    assert len(est) == 3 and len(errs) == 2, out
    doc = " ".join((ROOT / "docs" / "phase-map.md").read_text().split())
    assert f"H = {est['H']:.2f} [" in doc and f"κ = {est['kappa']:.2f} [" in doc and f"ω = {est['omega']:.2f} [" in doc
    (rmse_r, held_r), (rmse_p, held_p) = errs
    assert f"RMSE of log loss {100 * float(rmse_r):.1f} %" in doc and f"predicted to {float(held_r):.1f} %".replace("-", "−") in doc
    assert f"pruned rows: RMSE {100 * float(rmse_p):.1f} %" in doc and f"over-predicted by {held_p[0]}{float(held_p[1:]):.1f} %" in doc
