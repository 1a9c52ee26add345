"""Shared test data for the plan tests: pilots drawn from the reference laws with known truth."""

import json

import numpy as np

from simgap import laws

SUP, DIST = laws.BUSBRIDGE_SUPERVISED, laws.BUSBRIDGE_DISTILL
STUDENTS = np.array([1e7, 2e7, 4e7, 8e7, 1.6e8])
RATIOS = 2.0 ** np.arange(4, 10)  # teachers 16x..512x each student (Eq. 8's optimum is near 100x)


def truth(s, t):
    """Eq. 8 with the supervised law for teachers trained on 20 tokens per parameter, students on 20."""
    return laws.distill_loss(s, 20 * s, laws.supervised_loss(t, 20 * t, SUP), SUP, DIST)


def draw_pilot(rng, n_seeds=5, sd=0.002, students=STUDENTS, ratios=RATIOS):
    """Columns of a pilot table: a per-seed offset shared by the seed's runs plus independent noise."""
    cols = {k: [] for k in ("run_kind", "seed", "student_size", "teacher_size", "student_loss")}
    for k in range(n_seeds):
        off = rng.normal(0, sd)
        for s in students:
            for t in s * ratios:
                cols["run_kind"].append("distilled")
                cols["seed"].append(k)
                cols["student_size"].append(s)
                cols["teacher_size"].append(t)
                cols["student_loss"].append(float(truth(s, t) + off + rng.normal(0, sd)))
    return {k: np.array(v) if k == "run_kind" else np.array(v, float) for k, v in cols.items()}


def write_csv(cols, path):
    keys = list(cols)
    lines = [",".join(keys)] + [",".join(str(cols[k][i]) for k in keys) for i in range(len(cols[keys[0]]))]
    path.write_text("\n".join(lines) + "\n")
    return path


def fit_json(path, sup=SUP, dist=DIST, converged=True, wrap_as_laws=False):
    """A minimal fit.json (or a sweep's laws.json with the same structure under "fits")."""
    from dataclasses import asdict

    fits = {"families": [{"family": "ref", "supervised": {"status": "ok", "fit": {"converged": True, "params": asdict(sup)}},
                          "settings": [{"key": {}, "distillation": {
                              "status": "ok" if converged else "failed",
                              "fit": {"converged": converged, "message": "ABNORMAL" if not converged else "ok",
                                      "params": asdict(dist) if converged else None}}}]}]}
    path.write_text(json.dumps({"fits": fits} if wrap_as_laws else fits))
    return path
