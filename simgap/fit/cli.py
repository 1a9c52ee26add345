"""`python -m simgap.fit TABLE.csv [MORE.csv ...] --out DIR`: fit the laws a table allows; writes fit.json, plots
and a plain-text summary (one line per finding). The command line of `simgap.fit(table, ...)`
(simgap.api): it parses its flags, calls the API, and writes and prints what it returns."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

from simgap import api, findings, plots
from simgap.config import FitOptions, parse_tolerances
from simgap.fit.inputs import FitInputError
from simgap.fit.resample import MAX_BOOT
from simgap.fit.results import LawSection, TableFit, TeacherLawSection, ok, to_json
from simgap.fit.teacher import TeacherLawFit
from simgap.fit.verdicts import interval, summary_lines


def _fmt_ci(ci: dict, name: str) -> str:
    lo, hi = ci.get(name, (math.nan, math.nan))
    return "" if not math.isfinite(lo) else f" [{lo:.4g}, {hi:.4g}]"


def _params(sec: LawSection) -> str:
    f = sec.fit
    text = ", ".join(f"{k}={v:.4g}{_fmt_ci(sec.ci, k)}" for k, v in dataclasses.asdict(f.raw_params).items())
    text += f"; held fixed: {', '.join(f'{k}={v:g}' for k, v in f.fixed)}" if f.fixed else ""
    return text + (f"; AT BOUNDS: {f.bounds_text}" if f.at_bounds else "") + (
        "; the law does NOT describe these data (an exponent at 0)" if not f.describes_data else "")


def _teacher_law_lines(tl: TeacherLawSection, budget_kind: str | None, ci: float) -> list[str]:
    out = [f"  [{budget_kind} = {tl.budget:g}]"] if math.isfinite(tl.budget) else []
    lin, pw = tl.linear, tl.loglog
    if isinstance(lin, TeacherLawFit):
        out.append(f"  linear teacher law: {lin.describe()} "
                   f"(slope {ci:.0%} CI {interval(lin.slope_ci)} over {lin.ci_over}), "
                   f"R² = {lin.r2:.4f}, {lin.n_points} pts, {lin.n_excluded_edge} bounds excluded")
    else:
        out.append(f"  linear teacher law: {lin.status} ({lin.reason})")
    if isinstance(pw, TeacherLawFit):
        out.append(f"  power teacher law: {pw.describe()} (exponent CI {interval(pw.slope_ci)}), "
                   f"R²(log) = {pw.r2:.4f}")
    return out


def summarize(result: TableFit) -> str:
    """A short human-readable account of fit_table's result."""
    i = result.input
    lines = [f"rows: {i.n_rows} ({i.n_supervised} supervised, {i.n_distilled} distilled, "
             f"{i.n_diverged_dropped} diverged dropped, {i.n_duplicates} duplicated)"]
    for fam in result.families:
        lines.append(f"== family {fam.family or '(no family column)'}")
        sec = fam.supervised
        if ok(sec):
            f = sec.fit
            lines.append(f"supervised law ({f.n_points} pts, {f.fit_time_s:.1f} s): {_params(sec)}")
            lines.append(f"  rmse(log) {f.rmse_log:.2e}, max rel err {f.max_rel_error:.2%}" + (f"; {f.note}" if f.note else ""))
            if sec.identification_note:
                lines.append(f"  {sec.identification_note}")
            if ok(sec.extrapolation):
                ex = sec.extrapolation
                lines.append(f"  extrapolation to {ex.n_test} held-out stronger runs: max rel err {ex.max_rel_error:.2%}")
        else:
            lines.append(f"supervised law: {sec.status} ({sec.reason})")
        for st in fam.settings:
            key = ", ".join(f"{k}={v}" for k, v in st.key.items())
            lines.append(f"-- distilled rows{' (' + key + ')' if key else ''}: {st.n_rows}")
            if ok(st.optima):
                kind = st.optima.teacher_budget_kind
                lines.append(f"  teachers grouped by {kind}" if kind else
                             "  teachers: one series (no teacher size was trained for several lengths)")
                for o in st.optima.per_student:
                    where = ("interior" if o.located else "interior, CI reaches an end (a bound)") if o.interior \
                        else f"EDGE ({o.edge})"
                    lo, hi = o.optimal_teacher_ci
                    dlo, dhi = o.dip_ci
                    lines.append(f"  student {o.student_size:g}: T* = {o.optimal_teacher:.3g}"
                                 + (f" [{lo:.3g}, {hi:.3g}]" if math.isfinite(lo) else "") + f" {where}; "
                                 f"dip {o.dip_depth:.3g}" + (f" [{dlo:.3g}, {dhi:.3g}]" if math.isfinite(dlo) else ""))
                for x in st.optima.left_out:
                    lines.append(f"  student {x.student_size:g}: left out, {x.n_teachers} teacher size(s) "
                                 f"(an optimum needs ≥ 3)" + (f" [budget {x.budget:g}]" if math.isfinite(x.budget) else "")
                                 + (f" [teacher budget {x.teacher_budget:g}]" if math.isfinite(x.teacher_budget) else ""))
                for tl in st.teacher_law:
                    lines += _teacher_law_lines(tl, st.optima.budget_kind, result.options.ci)
            elif st.optima is not None:
                lines.append(f"  optima: {st.optima.status} ({st.optima.reason})")
            ds = st.distillation
            if ok(ds):
                f = ds.fit
                lines.append(f"  distillation law ({f.n_points} pts, {f.fit_time_s:.1f} s): {_params(ds)}")
                lines.append(f"    rmse(log) {f.rmse_log:.2e}, max rel err {f.max_rel_error:.2%}")
                if ok(ds.extrapolation):
                    ex = ds.extrapolation
                    lines.append(f"    extrapolation: max rel err {ex.max_rel_error:.2%} on {ex.n_test} held-out")
                failed = [c.name for _, c in ds.property_checks if not c.passed]
                lines.append("    property checks: " + ("all pass" if not failed else "FAILED " + "; ".join(failed)))
            elif ds is not None:
                lines.append(f"  distillation law: {ds.status} ({ds.reason})")
        for sec in fam.start_law:
            lines += findings.start_law_lines(fam.family, sec)
    if result.assumptions:
        lines += ["== law assumptions (holds: CI inside the tolerance; fails: CI excludes holds)"]
        lines += summary_lines(result.assumptions)
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m simgap.fit", description=(
        "Fit the laws a results table allows (supervised, distillation, per-student optimal teacher, "
        "linear teacher law); writes DIR/fit.json, PNG plots and a summary on stdout."))
    d = FitOptions()
    ap.add_argument("table", nargs="+", help="tidy CSV, one row per run (several: read as one table, a run "
                    "repeated across them counted once)")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--huber-delta", type=float, default=d.huber_delta)
    ap.add_argument("--bootstrap", type=int, default=d.n_boot, help="bootstrap refits per law (0: no CIs)")
    ap.add_argument("--ci", type=float, default=d.ci)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--size-column", default="student_size", choices=["student_size", "student_params"])
    ap.add_argument("--extrapolate-by", default="loss", choices=["loss", "size"])
    ap.add_argument("--extrapolate-threshold", type=float, default=None)
    ap.add_argument("--teacher-series", default=None, metavar="COLUMN",
                    help="locate optima over teachers grouped by this column (default: one series, or one "
                         "per teacher length when a teacher size was trained for several lengths)")
    ap.add_argument("--fix-supervised", type=_pairs, default=(), metavar="NAME=VALUE,...",
                    help='hold supervised-law parameters fixed, e.g. "E=0,gamma=1" or "E=irreducible" '
                         "(the table's irreducible_loss column)")
    ap.add_argument("--fix-distillation", type=_pairs, default=(), metavar="NAME=VALUE,...",
                    help='hold distillation-law parameters fixed, e.g. "gamma=1"')
    ap.add_argument("--tolerance", default="", metavar="NAME=VALUE,...",
                    help='practical tolerances of the assumption checks, e.g. "linear=0.05,gap_exists=0.01" '
                         "(defaults and units: docs/verdicts.md)")
    ap.add_argument("--no-plots", action="store_true")
    return ap


def _pairs(text: str) -> tuple[tuple[str, float | str], ...]:
    out = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {item!r}")
        try:
            out.append((name.strip(), value.strip() if value.strip() == "irreducible" else float(value)))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name.strip()}: {value!r} is not a number") from None
    return tuple(sorted(out))


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if not 0 < args.ci < 1:
        ap.error(f"--ci must be in (0, 1), got {args.ci}")
    if not 0 <= args.bootstrap <= MAX_BOOT:
        ap.error(f"--bootstrap must be in 0..{MAX_BOOT} (Busbridge et al. used 4096), got {args.bootstrap}")
    if not args.huber_delta > 0:
        ap.error(f"--huber-delta must be > 0, got {args.huber_delta}")
    out = Path(args.out)
    try:
        opt = api.fit_options(huber_delta=args.huber_delta, bootstrap=args.bootstrap, ci=args.ci, seed=args.seed,
                              size_column=args.size_column, extrapolate_by=args.extrapolate_by,
                              extrapolate_threshold=args.extrapolate_threshold, teacher_series=args.teacher_series,
                              fix={"supervised": args.fix_supervised, "distillation": args.fix_distillation},
                              tolerances=dict(parse_tolerances(args.tolerance)))
        _check_out_dir(out)
        result = api.fit(args.table[0] if len(args.table) == 1 else args.table, options=opt)
        doc = to_json(result)
        if not args.no_plots:
            doc["plots"] = plots.write_plots(result, out)
        (out / "fit.json").write_text(json.dumps(doc, indent=1, allow_nan=False))
    except (FitInputError, OSError, ValueError) as e:
        print(f"simgap.fit: error: {e}", file=sys.stderr)
        return 2
    print(summarize(result))
    print(f"wrote {out / 'fit.json'}" + (f" and {len(doc['plots'])} plots" if "plots" in doc else ""))
    for w in result.warnings:
        print(f"simgap.fit: warning: {w}", file=sys.stderr)
    if not result.fitted_anything:
        print("simgap.fit: error: nothing could be fitted (every section was skipped or failed; see above)",
              file=sys.stderr)
        return 1
    return 0


def _check_out_dir(out: Path) -> None:
    """Refuse an --out that is a file or cannot be written, before any work."""
    if out.exists() and not out.is_dir():
        raise FitInputError(f"--out {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".simgap-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise FitInputError(f"--out {out}: cannot write there ({e.strerror or e})") from None
