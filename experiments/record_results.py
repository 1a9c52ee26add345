"""Record a preset's result: the numbers README.md, docs/ and the preset's own comment state about it.

    python experiments/record_results.py RUN_DIR [--out docs/results]
    python experiments/record_results.py --again PRESET   # re-analyse docs/results/PRESET.csv with today's code

Reads a finished sweep's run directory (its config.toml and results.csv), re-analyses the rows with
the current code (simgap.report.fit_rows: the sweep's own analysis) and writes
docs/results/<config>.json (the summary below) and docs/results/<config>.csv (the rows). The docs
quote the JSON; tests/test_docs_results.py checks each quoted number against it, and re-analyses the
CSV to check that the JSON is what the current code gives, so neither can drift.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from simgap import report
from simgap import rows as rows_lib
from simgap.config import load_config
from simgap.fit.results import TableFit, ok, to_json
from simgap.fit.teacher import TeacherLawFit

ROOT = Path(__file__).resolve().parents[1]


def summary(name: str, rows: list[dict], fits: TableFit) -> dict:
    """What the docs may state about one preset's run, from the typed analysis."""
    [(fam, st)] = fits.settings()  # the presets recorded here have one family and one setting
    out = {"config": name, "runs": len(rows), "seeds": len({r["seed"] for r in rows}),
           "distilled": sum(r["run_kind"] == "distilled" for r in rows), "students": [], "teacher_laws": [],
           "assumptions": [{k: getattr(a, k) for k in ("name", "subject", "student", "budget", "teacher_budget", "estimate",
                                                       "ci", "verdict", "needs")}
                           for a in fits.assumptions],
           "verdicts": {v: sum(a.verdict == v for a in fits.assumptions) for v in ("holds", "fails", "undecided")}}
    for o in st.optima.students if ok(st.optima) else ():
        out["students"].append({
            "size": o.student_size, "params": o.student_params, "budget": o.budget, "teacher_budget": o.teacher_tokens,
            "optimal_teacher": o.knob.optimal_teacher,
            "optimal_teacher_ci": o.knob.optimal_teacher_ci, "optimal_teacher_params": o.params.optimal_teacher,
            "interior": o.params.interior, "edge": o.params.edge, "dip": o.params.dip_depth, "dip_ci": o.params.dip_ci,
            "min_loss": o.params.min_loss, "supervised_loss": o.supervised_loss})
    for tl in st.teacher_law:
        lin, pw = tl.linear, tl.loglog
        if isinstance(lin, TeacherLawFit) and isinstance(pw, TeacherLawFit):
            out["teacher_laws"].append({"budget": tl.budget, "teacher_budget": tl.teacher_budget,
                                        "slope": lin.slope, "intercept": lin.intercept, "r2": lin.r2,
                                        "n_points": lin.n_points, "slope_ci": lin.slope_ci,
                                        "exponent": pw.slope, "exponent_ci": pw.slope_ci})
    by_loss = st.optima.by_teacher_loss if ok(st.optima) else ()
    out["teacher_loss_axis"] = {"students": len(by_loss), "interior": sum(o.interior for o in by_loss),
                                "beyond_noise": sum(o.dip_beyond_noise for o in by_loss)}
    if ok(fam.supervised):
        f = fam.supervised.fit
        out["supervised"] = {"n_points": f.n_points, "rmse_log": f.rmse_log, "max_rel_error": f.max_rel_error}
    ds = st.distillation
    if ok(ds):
        props = {}
        for _, c in ds.property_checks:
            props[c.name] = props.get(c.name, True) and c.passed
        out["distillation"] = {"n_points": ds.fit.n_points, "rmse_log": ds.fit.rmse_log,
                               "max_rel_error": ds.fit.max_rel_error, "properties_kept": props,
                               "extrapolation_max_rel_error": ds.extrapolation.max_rel_error if ok(ds.extrapolation)
                               else None, "misfit": ds.misfit}
    return to_json(out)


def record(run: Path, out: Path, config: Path | None = None) -> Path:
    """Record RUN's results.csv (or, with `config`, the table at RUN itself analysed with that config)."""
    table = run if config is not None else run / "results.csv"
    cfg = load_config(config if config is not None else run / "config.toml")
    rows = rows_lib.read_csv(table)
    doc = summary(cfg.name, rows, report.fit_rows(cfg, rows))
    out.mkdir(parents=True, exist_ok=True)
    if table.resolve() != (out / f"{cfg.name}.csv").resolve():
        shutil.copyfile(table, out / f"{cfg.name}.csv")
    path = out / f"{cfg.name}.json"
    rows_lib.atomic_write_text(path, json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, nargs="?", help="a finished sweep's run directory")
    p.add_argument("--again", metavar="PRESET", help="re-record PRESET from its recorded rows "
                   "(OUT/PRESET.csv, configs/PRESET.toml): after a change to the analysis, no training")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    args = p.parse_args(argv)
    if (args.run is None) == (args.again is None):
        p.error("give a run directory or --again PRESET")
    if args.again:
        print(f"wrote {record(args.out / f'{args.again}.csv', args.out, ROOT / 'configs' / f'{args.again}.toml')}")
    else:
        print(f"wrote {record(args.run, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
