"""Record a preset's result: the numbers README.md, docs/ and the preset's own comment state about it.

    python experiments/record_results.py RUN_DIR [--name NAME] [--out docs/results]
    python experiments/record_results.py --again NAME   # re-analyse docs/results/NAME.csv with today's code

Reads a finished sweep's run directory (its config.toml and results.csv), re-analyses the rows with
the current code (simgap.report.fit_rows: the sweep's own analysis) and writes
docs/results/<config>.json (the summary below) and docs/results/<config>.csv (the rows). The docs
quote the JSON; tests/test_docs_results.py checks each quoted number against it, and re-analyses the
CSV to check that the JSON is what the current code gives, so neither can drift.

A run that is not a preset as shipped (a random-init control of a pruned-student preset, a preset
with its `--until-decided` rounds) is recorded under its own --name, with its config.toml as
docs/results/<name>.toml and its rounds (decide.json, less the candidates' scores) as
docs/results/<name>.decide.json. After a change to the analysis, `--again NAME` re-records from the
recorded rows without training.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import fig12_teacher_length

from simgap import figures, report
from simgap import rows as rows_lib
from simgap.config import SweepConfig, load_config
from simgap.fit.results import TableFit, ok, to_json
from simgap.fit.teacher import TeacherLawFit

ROOT = Path(__file__).resolve().parents[1]


def summary(name: str, rows: list[dict], fits: TableFit, cfg: SweepConfig, rounds: list[dict] | None = None) -> dict:
    """What the docs may state about one preset's run, from the typed analysis (and the figure
    scripts' tables: seed-mean curves, Fig. 10's flat minima, Fig. 12's optimal training lengths)."""
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
            "interior": o.params.interior, "located": o.params.located, "edge": o.params.edge, "dip": o.params.dip_depth, "dip_ci": o.params.dip_ci,
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
    out |= figure_tables(rows, cfg) | ({"rounds": rounds} if rounds is not None else {})
    return to_json(out)


def figure_tables(rows: list[dict], cfg: SweepConfig) -> dict:
    """The buckets trained (one compile each), the family's irreducible loss E (the rows' own, where
    they know it), the seed-mean curves (figures.curve_table: every teacher, supervised student and
    distilled pair), and what the papers' figure scripts compute from them: Fig. 10's flat minima for
    the kernel family, Fig. 12's optimal teacher training lengths where one teacher size is trained at
    >= 3 lengths."""
    table = figures.curve_table(rows)
    e = {r["irreducible_loss"] for r in rows if r["irreducible_loss"] == r["irreducible_loss"]}  # NaN: unknown
    keys = ("curve", "student_size", "teacher_size", "teacher_budget", "mean_loss", "sem_loss", "n_seeds")
    out = {"buckets": len({r["bucket"] for r in rows}), "irreducible_loss": e.pop() if len(e) == 1 else None,
           "curves": [{k: c[k] for k in keys} for c in table]}
    if cfg.family == "kernel":
        out["flat_minima"] = figures.flat_minimum_table(table)
    if len(cfg.grid.teacher_sizes) == 1 and len(cfg.grid.teacher_budgets) >= 3:
        out["length_optima"] = figures.optima_table(fig12_teacher_length.length_optima(cfg, rows), "teacher_budget")
    return out


def record(run: Path, out: Path, name: str | None = None) -> Path:
    """Record RUN (a finished sweep's run directory) as OUT/NAME.{json,csv} (NAME: the config's name).
    A run that is not a shipped preset as it stands (another student init, `--until-decided` rounds)
    takes its own NAME, and its config.toml (and its rounds) are kept beside the record."""
    cfg = load_config(run / "config.toml")
    name = name or cfg.name
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / "results.csv", out / f"{name}.csv")
    if name != cfg.name:
        shutil.copyfile(run / "config.toml", out / f"{name}.toml")
    if (run / "decide.json").exists():  # what `rounds` reads of it (not every candidate's score)
        rows_lib.atomic_write_text(out / f"{name}.decide.json",
                                   json.dumps({"rounds": rounds(run / "decide.json")}, indent=1, allow_nan=False) + "\n")
    return again(name, out)


def again(name: str, out: Path) -> Path:
    """Re-analyse the recorded rows OUT/NAME.csv with today's code and rewrite OUT/NAME.json (the config:
    OUT/NAME.toml where the record keeps its own, else configs/NAME.toml)."""
    cfg = load_config(recorded_config(name, out))
    rows = rows_lib.read_csv(out / f"{name}.csv")
    doc = summary(cfg.name, rows, report.fit_rows(cfg, rows), cfg, rounds(out / f"{name}.decide.json"))
    path = out / f"{name}.json"
    rows_lib.atomic_write_text(path, json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return path


def recorded_config(name: str, out: Path = ROOT / "docs" / "results") -> Path:
    return out / f"{name}.toml" if (out / f"{name}.toml").exists() else ROOT / "configs" / f"{name}.toml"


def rounds(decide_json: Path) -> list[dict] | None:
    """An `--until-decided` run's rounds (its decide.json): what each added, at what cost, why, and
    the targeted assumptions after it; None for a plain sweep."""
    if not decide_json.exists():
        return None
    keys = ("name", "subject", "student", "budget", "teacher_budget", "estimate", "ci", "verdict")
    return [{"round": r["round"], "addition": r["addition"], "flops": r["flops"], "why": r["why"],
             "after": [{k: a[k] for k in keys} for a in r["after"]]}
            for r in json.loads(decide_json.read_text())["rounds"]]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, nargs="?", help="a finished sweep's run directory")
    p.add_argument("--name", help="record it under this name (default: its config's name)")
    p.add_argument("--again", metavar="NAME", help="re-record NAME from its recorded rows "
                   "(OUT/NAME.csv): after a change to the analysis, no training")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    args = p.parse_args(argv)
    if (args.run is None) == (args.again is None):
        p.error("give a run directory or --again NAME")
    print(f"wrote {again(args.again, args.out) if args.again else record(args.run, args.out, args.name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
