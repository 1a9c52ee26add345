"""Fit the start-aware law (simgap.fit.start_law) to runs of both student starts at once.

    python experiments/start_law.py RESULTS.csv [RESULTS.csv ...] [--bootstrap 100] [--seed 0]

The tables (a sweep's results.csv, or docs/results/<name>.csv) are read together. The supervised law
is fitted on their supervised rows (random init), with E held at the family's irreducible loss when
the rows state it. The start-aware law is fitted on every distilled row, so Eq. 8's parameters are
shared by both starts and only the handicap π·H·p^κ·(D_S/D̄_S)^−ω tells them apart. Printed: the
parameters with bootstrap CIs (every replicate refits the supervised law too), the in-sample error
per start, and per start the held-out error of a fit on the other rows with that start's strongest
quarter (by loss) left out. Exploratory: issue 27 §4 moves this into simgap.fit.table with verdicts.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from simgap import rows as rows_lib
from simgap.fit.objectives import SUPERVISED
from simgap.fit.resample import bootstrap
from simgap.fit.solver import fit_law
from simgap.fit.start_law import PRUNED, StartAwareLaw, start_code


def columns(rows: list[dict], kind: str) -> dict[str, np.ndarray]:
    sel = [r for r in rows if r["run_kind"] == kind and not r["diverged"]]
    num = lambda k: np.array([float(r[k]) for r in sel])  # noqa: E731
    out = {"N": num("student_params"), "D": num("student_budget"), "loss": num("student_loss")}
    if kind == "distilled":
        out |= {"teacher_loss": num("teacher_loss"), "teacher_size": num("teacher_params"),
                "start": start_code([r["student_init"] for r in sel])}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tables", nargs="+")
    ap.add_argument("--bootstrap", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    rows = [r for t in a.tables for r in rows_lib.read_csv(t)]
    E = {float(r["irreducible_loss"]) for r in rows if r.get("irreducible_loss") not in (None, "")}
    fixed = {"E": E.pop()} if len(E) == 1 and all(math.isfinite(e) for e in E) else {}
    sup = fit_law(SUPERVISED, columns(rows, "supervised"), fixed=fixed, seed=a.seed)
    data = columns(rows, "distilled")
    law = StartAwareLaw(sup.require(), float(np.mean(np.log(data["D"]))))
    f = fit_law(law, data, seed=a.seed)
    p = f.require()
    pruned = data["start"] == 2.0
    print(f"{len(rows)} rows: {int((~pruned).sum())} random-init and {int(pruned.sum())} {PRUNED} distilled; "
          f"supervised law {sup.raw_params}" + (f" (E fixed at {fixed['E']:.4g})" if fixed else ""))
    b = bootstrap(f, n_boot=a.bootstrap, seed=a.seed, supervised_fit=sup) if a.bootstrap else None
    for name in ("H", "kappa", "omega", "c0", "c1", "f1", "d1", "A", "alpha", "gamma"):
        ci = b.interval(name) if b else (math.nan, math.nan)
        print(f"  {name:6s} {getattr(p, name):.4g} [{ci[0]:.4g}, {ci[1]:.4g}]")
    err = np.log(law.predict(p, data) / data["loss"])
    for label, m in (("random", ~pruned), (PRUNED, pruned)):
        keep = ~m | (data["loss"] >= np.quantile(data["loss"][m], 0.25))  # hold out this start's strongest quarter
        g = fit_law(law, {k: v[keep] for k, v in data.items()}, seed=a.seed)
        out = ~keep
        bias = float(np.mean(g.law.predict(g.require(), {k: v[out] for k, v in data.items()}) / data["loss"][out] - 1))
        print(f"  {label}: in-sample RMSE of log loss {np.sqrt(np.mean(err[m] ** 2)):.4f}; its strongest quarter "
              f"held out ({int(out.sum())} runs): mean relative error {bias:+.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
