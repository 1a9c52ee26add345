"""After a sweep: one analysis of the rows (simgap.fit.fit_table), then optima.csv, laws.json,
plots and a plain-words report.md, all read from that one typed result.

Nothing here fits or locates anything itself, so the sweep and `python -m simgap.fit` give the
same numbers on the same table. The plain-words sections live in simgap.findings.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np

from simgap import findings, plots
from simgap import fit as fit_lib
from simgap import rows as rows_lib
from simgap.findings import fmt
from simgap.fit.memo import Memo
from simgap.fit.results import SettingFit, TableFit, ok, to_json
from simgap.fit.verdicts import markdown_table

CACHE = "fit_cache"  # the run directory's cache of fits (simgap.fit.memo)
OPTIMA_COLUMNS = (
    "student_size", "student_params", "student_budget", "teacher_budget", "optimal_teacher_size", "optimal_teacher_size_lo",
    "optimal_teacher_size_hi", "optimal_teacher_params", "optimal_teacher_params_lo", "optimal_teacher_params_hi",
    "grid_argmin_size", "interior", "located", "edge", "frac_interior", "min_loss", "dip_depth", "dip_lo", "dip_hi",
    "dip_beyond_noise", "supervised_loss", "n_seeds",
)


def fit_columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """Rows -> the columns fit_table reads (the same columns results.csv holds)."""
    cols = {c: np.array([r[c] for r in rows], dtype=object if c in rows_lib.STRING_COLUMNS else None)
            for c in rows_lib.COLUMNS}
    cols["diverged"] = cols["diverged"].astype(bool)
    return cols


def fit_rows(cfg, rows: list[dict], memo: Memo | None = None, eq8: bool = True) -> TableFit:
    """The sweep's one analysis of its rows: fit_table on results.csv's columns, sizes in parameters
    (raises FitInputError when nothing can be fitted)."""
    options = dataclasses.replace(cfg.fit, size_column="student_params", teacher_size_column="teacher_params")
    return fit_lib.fit_table(fit_columns(rows_lib.with_supervised_loss(rows)), options, memo=memo, eq8=eq8)


def optima_rows(setting: SettingFit) -> list[dict]:
    """One row per (student, budget) of a setting: the optimum in parameters and in the capacity knob."""
    return [s.row() for s in setting.optima.students] if ok(setting.optima) else []


def analyze(cfg, rows: list[dict], out: Path, echo=print, timing: dict | None = None, eq8: bool = True) -> dict:
    """Write optima.csv, laws.json, plots and report.md into `out`; returns the laws.json dict.
    `timing` (from simgap.sweep) adds a "## Time" section; its analysis_s is set here. Fits whose
    rows and options did not change since the last analysis in `out` are read from `out/CACHE`
    (simgap.fit.memo); eq8=False skips Eq. 8 (a --until-decided round whose targets need neither)."""
    t0 = time.perf_counter()
    out = Path(out)
    memo = Memo(out / CACHE)
    rows = rows_lib.with_supervised_loss(rows)  # results.csv already has it; rows from elsewhere may not
    n_div = sum(bool(r["diverged"]) for r in rows)
    error, fits, plot_paths, agree_paths = "", None, [], []
    try:
        fits = fit_rows(cfg, rows, memo, eq8)
        plot_paths = plots.write_plots(fits, out)
        agree_paths = [plots.plot_agreements(st.agreement, out) for _, st in fits.settings()]
    except fit_lib.FitInputError as e:
        error = str(e)
    settings = fits.settings() if fits else []
    opt = [o for _, st in settings for o in optima_rows(st)]
    rows_lib.atomic_write_text(out / "optima.csv", rows_lib.to_csv(opt, columns=OPTIMA_COLUMNS))
    knob_optima = [o for _, st in settings if ok(st.optima) for o in st.optima.by_knob]
    if knob_optima:
        plots.plot_u_curves(knob_optima, out / "u_curves.png", ci=cfg.fit.ci,
                            title=f"{cfg.name}: student loss vs teacher size, {len(cfg.grid.seeds)} seeds")
    doc = {"config": cfg.name, "family": cfg.family, "n_rows": len(rows), "n_diverged": n_div, "optima": opt,
           "assumptions": list(fits.assumptions) if fits else [],
           "fits": {"error": error} if error else {**to_json(fits), "plots": plot_paths}}
    doc = to_json(doc)
    rows_lib.atomic_write_text(out / "laws.json", json.dumps(doc, indent=1, allow_nan=False))
    if eq8:  # a light analysis keeps the Eq. 8 entries the final one may still reuse
        memo.prune()
    if timing is not None:
        timing["analysis_s"] = time.perf_counter() - t0  # fits and plots; report.md is written next
    text = render_report(cfg, rows, fits, error, plot_paths, n_div, timing, agree_paths)
    rows_lib.atomic_write_text(out / "report.md", text)
    echo(text.split("## ", 2)[1].strip() if "## " in text else text)
    return doc


def _no_settings(rows, error: str) -> str:
    """Why there is nothing to say about a capacity gap: no distilled runs, all of them
    diverged, or the fits could not use them (not "no distilled runs" when there were 12)."""
    distilled = [r for r in rows if r["run_kind"] == "distilled"]
    if not distilled:
        return "No distilled runs: nothing to say about a capacity gap."
    n_div = sum(bool(r["diverged"]) for r in distilled)
    if n_div == len(distilled):
        return (f"{len(distilled)} distilled runs, all diverged (see results.csv's `diverged` column): "
                "nothing to say about a capacity gap.")
    return (f"{len(distilled)} distilled runs ({n_div} diverged), but none could be analysed"
            + (f": {error}" if error else "") + ".")


def render_report(cfg, rows, fits: TableFit | None, error: str, plot_paths, n_div, timing: dict | None = None,
                  agree_paths=()) -> str:
    """report.md from the typed analysis and the plots already drawn (`agree_paths`: per setting, the
    laws_agree plot of each series); it renders fields, it computes nothing."""
    g = cfg.grid
    kinds = {k: sum(r["run_kind"] == k for r in rows) for k in rows_lib.RUN_KINDS}
    L = [f"# simgap report: {cfg.name}", "",
         f"Family `{cfg.family}` {cfg.family_params}; {_grid_of(rows, g)}, "
         f"student init {g.student_init}, λ = {cfg.train.lam}, τ = {cfg.train.tau}.",
         f"Runs: {kinds['teacher']} teachers, {kinds['supervised']} supervised baselines, "
         f"{kinds['distilled']} distilled students; {n_div} diverged (kept in results.csv, excluded from fits).",
         ""]
    L += assumptions_section(fits)
    L += ["## Findings", ""]
    if error:
        L += [f"Law fits could not run: {error}", ""]
    for w in fits.warnings if fits else ():
        L += [f"**Warning:** {w}.", ""]
    settings = fits.settings() if fits else []
    if not settings:
        L += [_no_settings(rows, error), ""]
    many = len(settings) > 1
    for i, (fam, st) in enumerate(settings):
        found = fits.checks(fam, st)
        if many:
            L += [f"### Setting {', '.join(f'{k} = {v}' for k, v in st.key.items())}", ""]
        L += findings.gap(st, found) + [""]
        L += findings.teacher_loss_axis(st) + findings.teacher_laws(st, found) + [""]
        L += findings.law_fits(fam.supervised, st, found) + [""]
        paths = agree_paths[i] if i < len(agree_paths) else [None] * len(st.agreement)
        L += findings.laws_agree(st, paths, found) + [""]
        L += ["## What to conclude before an expensive run", ""] + findings.conclusions(st, found) + [""]
        L += optima_table(st.optima.students if ok(st.optima) else (), st.optima.left_out if ok(st.optima) else ())
    L += ["The optimum is refined by a parabola in log teacher size through the grid argmin and its "
          "neighbours; its CI is a bootstrap over seeds (a seed's whole curve resampled together). The dip "
          "is loss(largest teacher) − loss(optimum), paired by seed.", "",
          "## Files", "",
          "`results.csv` (one row per model), `optima.csv`, `laws.json` (every fit with CIs and checks), "
          "`u_curves.png`, and the fit plots: " + ", ".join(f"`{Path(p).name}`" for p in plot_paths), ""]
    if timing is not None:
        L += _time_section(timing)
    return "\n".join(L)


def _grid_of(rows: list[dict], g) -> str:
    """The grid the rows hold (a --until-decided run's rounds add seeds, students and teachers to
    the config's grid); the config's own grid when there are no rows yet."""
    def values(col: str, kinds: tuple[str, ...]):
        v = sorted({r[col] for r in rows if r["run_kind"] in kinds and r[col] is not None and r[col] == r[col]})
        return [int(x) if float(x).is_integer() else x for x in v]
    if not rows:
        return (f"students {list(g.student_sizes)}, teachers {list(g.teacher_sizes)}, student budgets "
                f"{list(g.student_budgets)}, {len(g.seeds)} seeds")
    return (f"students {values('student_size', ('supervised', 'distilled'))}, teachers "
            f"{values('teacher_size', ('teacher',))}, student budgets {values('student_budget', ('supervised', 'distilled'))}, "
            f"{len(values('seed', rows_lib.RUN_KINDS))} seeds")


def assumptions_section(fits: TableFit | None) -> list[str]:
    """Each law's assumptions with a verdict (simgap.fit.assumptions; tolerances: docs/verdicts.md)."""
    if fits is None:
        return []
    counts = {v: sum(a.verdict == v for a in fits.assumptions) for v in ("holds", "fails", "undecided")}
    return ["## Law assumptions", "",
            f"Each assumption a law rests on, tested on these runs: **fails** when the CI excludes \"holds\", "
            f"**holds** when the CI lies inside the stated tolerance, else **undecided** (with what would decide "
            f"it). {counts['holds']} hold, {counts['fails']} fail, {counts['undecided']} undecided.", ""] + \
        markdown_table(fits.assumptions) + [""]


def fit_markdown(fits: TableFit) -> str:
    """A fit in report.md's words, by report.md's own renderers: its "Law assumptions" table, its
    warnings and each setting's optimal teachers (how `simgap.fit`'s result shows in a notebook)."""
    L = assumptions_section(fits) + [x for w in fits.warnings for x in (f"**Warning:** {w}.", "")]
    settings = fits.settings()
    for fam, st in settings:
        if ok(st.optima):
            table = optima_table(st.optima.students, st.optima.left_out)
            if len(settings) > 1:  # which setting, as the report's "### Setting" heading names it
                where = ({"family": fam.family} | st.key).items()
                table[0] += " (" + ", ".join(f"{k} = {v}" for k, v in where) + ")"
            L += table
    L += [x for fam in fits.families for sec in fam.start_law for x in findings.start_law_lines(fam.family, sec)]
    return "\n".join(L).strip() + "\n"


def _time_section(t: dict) -> list[str]:
    """Where this process's wall time went, and each compiled bucket's padding waste."""
    rate = t["useful_flops"] / t["training_s"] if t["training_s"] > 0 else math.nan
    waste = t["padded_flops"] / t["useful_flops"] if t["useful_flops"] else math.nan
    if not t["runs"]:  # a re-analysis of a finished run directory
        return ["## Time", "", f"No runs trained by this process (every row was on disk: a re-analysis); analysis "
                f"{t.get('analysis_s', math.nan):.1f} s. The training times are in results.csv (`wall_s`).", ""]
    L = ["## Time", "",
         f"Trained {t['runs']} runs in {t['training_s']:.1f} s: XLA compilation {t['compile_s']:.1f} s "
         f"({t['compiles']} bucket programs; {t['from_cache']} of {t['programs']} XLA programs loaded from the "
         f"compile cache), training {t['train_s']:.1f} s; analysis {t.get('analysis_s', math.nan):.1f} s. "
         f"Useful FLOPs (true sizes) {t['useful_flops']:.3g}, {fmt(rate / 1e9)} GFLOP/s over training and "
         f"compilation; padded FLOPs executed {t['padded_flops']:.3g} (padded / useful {fmt(waste, '.2f')}×).", ""]
    if t["buckets"]:
        L += ["| bucket (one compile) | runs | padded FLOPs | useful FLOPs | padded / useful |",
              "|---|---|---|---|---|"]
        L += [f"| {b['uid']} | {b['runs']} | {b['padded_flops']:.3g} | {b['useful_flops']:.3g} | "
              f"{fmt(b['waste'], '.2f')} |" for b in t["buckets"]]
        L += [""]
    return L


def optima_table(students, left_out=()) -> list[str]:
    """report.md's "Optimal teacher per student": one row per StudentOptimum, the fields of optima.csv,
    and the students left out (too few teachers, simgap.fit.results.LeftOut) named below it."""
    L = ["## Optimal teacher per student", "",
         "T*/S is in parameters, with the CI of T* over seeds; the pruned fraction 1 − S/T* is how much of its "
         "optimal teacher a student pruned from it drops (Zhang et al.: ≈ 60 % at every size, T* ≈ 2.5·S).", "",
         "| student | params | budget | teacher budget | T* (size) | CI | T* (params) | T*/S [CI] | pruned 1 − S/T* | interior | dip (nats) | dip CI | beyond noise | supervised loss | best distilled loss |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for o in students:
        p, k = o.params, o.knob
        r, (lo, hi) = p.optimal_teacher / o.student_params, (x / o.student_params for x in p.optimal_teacher_ci)
        L.append(f"| {o.student_size:g} | {o.student_params:g} | {fmt(o.budget)} | {fmt(o.teacher_tokens)} | "
                 f"{fmt(k.optimal_teacher)} | [{fmt(k.optimal_teacher_ci[0])}, {fmt(k.optimal_teacher_ci[1])}] | "
                 f"{fmt(p.optimal_teacher)} | {fmt(r, '.2f')} [{fmt(lo, '.2f')}, {fmt(hi, '.2f')}] | {fmt(1 - 1 / r, '.0%')} | "
                 f"{'yes' if p.interior else 'edge: ' + p.edge} | {fmt(p.dip_depth, '.4f')} | "
                 f"[{fmt(p.dip_ci[0], '.4f')}, {fmt(p.dip_ci[1], '.4f')}] | {'yes' if p.dip_beyond_noise else 'no'} | "
                 f"{fmt(o.supervised_loss, '.4f')} | {fmt(p.min_loss, '.4f')} |")
    if left_out:
        L += ["", "Left out (fewer than 3 teacher sizes, so no optimum can be told interior or at an edge): " + "; ".join(
            f"student {x.student_size:g}" + "".join(f", {k} {fmt(v)}" for k, v in (
                ("budget", x.budget), ("teacher budget", x.teacher_budget)) if math.isfinite(v))
            + f" ({x.n_teachers} teacher{'s' if x.n_teachers != 1 else ''})" for x in left_out) + "."]
    return L + [""]
