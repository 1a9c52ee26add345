"""After a sweep: optima, law fits, plots and a plain-words report, all from results rows.

Nothing here fits or locates anything itself: `simgap.fit.fit_table` and `simgap.optima` do,
so the sweep and `python -m simgap.fit` give the same numbers on the same table.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from simgap import fit as fit_lib
from simgap import optima as optima_lib
from simgap import rows as rows_lib
from simgap.laws import ZHANG_LINEAR

OPTIMA_COLUMNS = (
    "student_size", "student_params", "student_budget", "optimal_teacher_size", "optimal_teacher_size_lo",
    "optimal_teacher_size_hi", "optimal_teacher_params", "optimal_teacher_params_lo", "optimal_teacher_params_hi",
    "grid_argmin_size", "interior", "edge", "frac_interior", "min_loss", "dip_depth", "dip_lo", "dip_hi",
    "dip_beyond_noise", "supervised_loss", "n_seeds",
)


def with_supervised_loss(rows: list[dict]) -> list[dict]:
    """Copy each supervised baseline's loss onto the distilled rows of the same student, budget, seed."""
    base = {(r["student_size"], r["student_budget"], r["seed"]): r["student_loss"]
            for r in rows if r["run_kind"] == "supervised" and not r["diverged"]}
    out = []
    for r in rows:
        r = dict(r)
        if r["run_kind"] == "distilled":
            r["supervised_loss"] = base.get((r["student_size"], r["student_budget"], r["seed"]), math.nan)
        out.append(r)
    return out


def fit_columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """Rows -> the columns fit_table reads. Budgets that are not finite (closed-form families'
    infinite data) are dropped, so the supervised law is fitted in its reduced, single-D form."""
    cols = {c: np.array([r[c] for r in rows], dtype=object if c in rows_lib.STRING_COLUMNS else None)
            for c in rows_lib.COLUMNS}
    cols["diverged"] = cols["diverged"].astype(bool)
    used = cols["run_kind"] != "teacher"
    if not np.all(np.isfinite(cols["student_budget"][used].astype(float))):
        del cols["student_budget"]
    return cols


def _optima_rows(rows: list[dict], ci: float, n_boot: int) -> list[dict]:
    """Per (student size, budget): optimal teacher in knob units and in parameters."""
    dist = [r for r in rows if r["run_kind"] == "distilled" and not r["diverged"]]
    if not dist:
        return []
    arr = {c: np.array([r[c] for r in dist], float)
           for c in ("student_size", "teacher_size", "teacher_params", "student_loss", "seed", "student_budget")}
    budget = arr["student_budget"] if np.all(np.isfinite(arr["student_budget"])) else None
    kw = dict(n_boot=n_boot, ci=ci)
    by_knob = optima_lib.teacher_optima(arr["student_size"], arr["teacher_size"], arr["student_loss"],
                                        arr["seed"], budget, **kw)
    by_params = optima_lib.teacher_optima(arr["student_size"], arr["teacher_params"], arr["student_loss"],
                                          arr["seed"], budget, **kw)
    params_of = {r["student_size"]: r["student_params"] for r in dist}
    sup = {}
    for r in rows:
        if r["run_kind"] == "supervised" and not r["diverged"]:
            sup.setdefault((r["student_size"], r["student_budget"]), []).append(r["student_loss"])
    out = []
    for k, p in zip(by_knob, by_params):
        b = k.budget if budget is not None else (dist[0]["student_budget"])
        sl = sup.get((k.student_size, b))
        out.append({
            "student_size": k.student_size, "student_params": params_of[k.student_size], "student_budget": b,
            "optimal_teacher_size": k.optimal_teacher, "optimal_teacher_size_lo": k.optimal_teacher_ci[0],
            "optimal_teacher_size_hi": k.optimal_teacher_ci[1], "optimal_teacher_params": p.optimal_teacher,
            "optimal_teacher_params_lo": p.optimal_teacher_ci[0], "optimal_teacher_params_hi": p.optimal_teacher_ci[1],
            "grid_argmin_size": k.optimal_teacher_grid, "interior": k.interior, "edge": k.edge,
            "frac_interior": k.frac_interior, "min_loss": k.min_loss, "dip_depth": k.dip_depth,
            "dip_lo": k.dip_ci[0], "dip_hi": k.dip_ci[1], "dip_beyond_noise": k.dip_beyond_noise,
            "supervised_loss": float(np.mean(sl)) if sl else math.nan, "n_seeds": k.n_seeds,
            "_curve": k,
        })
    return out


def _csv(rows: list[dict], columns) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({c: rows_lib.cell(r[c]) for c in columns})
    return buf.getvalue()


def analyze(cfg, rows: list[dict], out: Path, echo=print) -> dict:
    """Write optima.csv, laws.json, plots and report.md into `out`; returns the laws.json dict."""
    from simgap import plots

    out = Path(out)
    rows = with_supervised_loss(rows)
    rows_lib.atomic_write_text(out / "results.csv", rows_lib.to_csv(rows))
    n_div = sum(bool(r["diverged"]) for r in rows)
    opt = _optima_rows(rows, cfg.fit.ci, n_boot=1000)
    rows_lib.atomic_write_text(out / "optima.csv", _csv(opt, OPTIMA_COLUMNS))
    options = fit_lib.FitOptions(huber_delta=cfg.fit.huber_delta, n_boot=cfg.fit.bootstrap, ci=cfg.fit.ci,
                                 size_column="student_params", teacher_size_column="teacher_params")
    try:
        fits = fit_lib.fit_table(fit_columns(rows), options)
        fits["plots"] = fit_lib.write_plots(fits, out)
    except fit_lib.FitInputError as e:
        fits = {"error": str(e)}
    if opt:
        plots.plot_u_curves([o["_curve"].to_dict() for o in opt], out / "u_curves.png", ci=cfg.fit.ci,
                            title=f"{cfg.name}: student loss vs teacher size, {len(cfg.grid.seeds)} seeds")
    laws = {"config": cfg.name, "family": cfg.family, "n_rows": len(rows), "n_diverged": n_div,
            "optima": [{k: v for k, v in o.items() if k != "_curve"} for o in opt], "fits": fits}
    laws = fit_lib._jsonable(laws)
    rows_lib.atomic_write_text(out / "laws.json", json.dumps(laws, indent=1, allow_nan=False))
    text = render_report(cfg, rows, opt, fits, n_div)
    rows_lib.atomic_write_text(out / "report.md", text)
    echo(text.split("## ", 2)[1].strip() if "## " in text else text)
    return laws


def _fmt(x, spec=".3g") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def _first_setting(fits: dict) -> tuple[dict | None, dict | None]:
    fams = fits.get("families") or []
    if not fams:
        return None, None
    fam = fams[0]
    return fam, (fam["settings"][0] if fam["settings"] else None)


def render_report(cfg, rows, opt, fits, n_div) -> str:
    g = cfg.grid
    kinds = {k: sum(r["run_kind"] == k for r in rows) for k in rows_lib.RUN_KINDS}
    L = [f"# simgap report: {cfg.name}", "",
         f"Family `{cfg.family}` {cfg.family_params}; students {list(g.student_sizes)}, teachers "
         f"{list(g.teacher_sizes)}, student budgets {list(g.student_budgets)}, {len(g.seeds)} seeds, "
         f"student init {g.student_init}, λ = {cfg.train.lam}, τ = {cfg.train.tau}.",
         f"Runs: {kinds['teacher']} teachers, {kinds['supervised']} supervised baselines, "
         f"{kinds['distilled']} distilled students; {n_div} diverged (kept in results.csv, excluded from fits).",
         "", "## Findings", ""]
    L += _gap_findings(opt) + [""]
    fam, setting = _first_setting(fits)
    if "error" in fits:
        L += [f"Law fits could not run: {fits['error']}", ""]
    L += _teacher_law_findings(setting, opt) + [""]
    L += _distillation_findings(fam, setting, cfg) + [""]
    L += ["## What to conclude before an expensive run", ""] + _conclusions(opt, setting) + [""]
    L += ["## Optimal teacher per student", "",
          "| student | params | budget | T* (size) | CI | T* (params) | interior | dip (nats) | dip CI | beyond noise | supervised loss | best distilled loss |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for o in opt:
        L.append(f"| {o['student_size']:g} | {o['student_params']:g} | {_fmt(o['student_budget'])} | "
                 f"{_fmt(o['optimal_teacher_size'])} | [{_fmt(o['optimal_teacher_size_lo'])}, "
                 f"{_fmt(o['optimal_teacher_size_hi'])}] | {_fmt(o['optimal_teacher_params'])} | "
                 f"{'yes' if o['interior'] else 'edge: ' + o['edge']} | {_fmt(o['dip_depth'], '.4f')} | "
                 f"[{_fmt(o['dip_lo'], '.4f')}, {_fmt(o['dip_hi'], '.4f')}] | "
                 f"{'yes' if o['dip_beyond_noise'] else 'no'} | {_fmt(o['supervised_loss'], '.4f')} | "
                 f"{_fmt(o['min_loss'], '.4f')} |")
    L += ["", "The optimum is refined by a parabola in log teacher size through the grid argmin and its "
          "neighbours; its CI is a bootstrap over seeds (a seed's whole curve resampled together). The dip "
          "is loss(largest teacher) − loss(optimum), paired by seed.", "",
          "## Files", "",
          "`results.csv` (one row per model), `optima.csv`, `laws.json` (every fit with CIs and checks), "
          "`u_curves.png`, and the fit plots: " + ", ".join(f"`{Path(p).name}`" for p in fits.get("plots", [])),
          ""]
    return "\n".join(L)


def _gap_findings(opt) -> list[str]:
    if not opt:
        return ["No distilled runs: nothing to say about a capacity gap."]
    interior = [o for o in opt if o["interior"]]
    real = [o for o in interior if o["dip_beyond_noise"]]
    verdict = "yes" if real else "suggested, not beyond seed noise" if interior else "not shown"
    lines = [f"**Capacity gap: {verdict}.** {len(interior)} of {len(opt)} students have an interior optimal "
             f"teacher; for {len(real)} of them the largest teacher is worse than the optimum beyond seed noise "
             "(the dip's CI, paired over seeds and simultaneous over teachers so that picking the best one is "
             "accounted for, excludes 0)."]
    if interior:
        knob = [o["optimal_teacher_size"] / o["student_size"] for o in interior]
        lines.append(f"Optimal teacher / student in the capacity knob (width, d_model or basis functions): "
                     f"{', '.join(f'{r:.2g}' for r in knob)} (median {np.median(knob):.3g}).")
    for o in opt:
        where = "interior" if o["interior"] else f"at the {o['edge']} teacher (edge of the grid: only a bound)"
        lines.append(f"- student {o['student_size']:g} ({o['student_params']:g} params): best teacher "
                     f"{_fmt(o['optimal_teacher_size'])} [{_fmt(o['optimal_teacher_size_lo'])}, "
                     f"{_fmt(o['optimal_teacher_size_hi'])}], {where}; largest teacher worse by "
                     f"{_fmt(o['dip_depth'], '.4f')} nats [{_fmt(o['dip_lo'], '.4f')}, {_fmt(o['dip_hi'], '.4f')}]"
                     + (f"; supervised {_fmt(o['supervised_loss'], '.4f')} vs best distilled "
                        f"{_fmt(o['min_loss'], '.4f')}" if math.isfinite(o["supervised_loss"]) else ""))
    return lines


def _teacher_law_findings(setting, opt) -> list[str]:
    if not setting or not setting.get("teacher_law"):
        reason = (setting or {}).get("optima", {}).get("reason", "no distilled rows")
        return [f"**Linear teacher law:** not fitted ({reason})."]
    lines = []
    for tl in setting["teacher_law"]:
        lin, pw = tl["linear"], tl["loglog"]
        tag = f" (budget {tl['budget']:g})" if tl.get("budget") is not None else ""
        if lin["status"] != "ok":
            lines.append(f"**Linear teacher law{tag}:** not fitted: {lin['reason']}.")
            continue
        ratios = [o["optimal_teacher_params"] / o["student_params"] for o in opt if o["interior"]]
        lines.append(
            f"**Linear teacher law{tag}** (in parameters): T* = {lin['slope']:.3g}·S {lin['intercept']:+.3g}, "
            f"slope {int(lin['ci'] * 100)} % CI [{lin['slope_ci'][0]:.3g}, {lin['slope_ci'][1]:.3g}], "
            f"R² = {lin['r2']:.4f} on {lin['n_points']} interior optima ({lin['n_excluded_edge']} edge optima "
            f"excluded). Median T*/S = {np.median(ratios):.3g} vs Zhang et al.'s {ZHANG_LINEAR.k:.1f} "
            f"(R² 0.9957 on GPT-2/Pythia).")
        if pw["status"] == "ok":
            lines.append(f"Power form: T* = {pw['power_law']['c']:.3g}·S^{pw['power_law']['p']:.3g} "
                         f"(exponent CI [{pw['slope_ci'][0]:.3g}, {pw['slope_ci'][1]:.3g}], R² in log–log "
                         f"{pw['r2']:.4f}); an exponent of 1 means proportional, as Zhang et al.'s law.")
    return lines


def _distillation_findings(fam, setting, cfg) -> list[str]:
    lines = []
    sup = (fam or {}).get("supervised") or {"status": "skipped", "reason": "no fit"}
    if sup["status"] == "ok":
        f = sup["fit"]
        lines.append(f"**Supervised law** L(N, D): fitted on {f['n_points']} runs, RMSE of log residuals "
                     f"{f['rmse_log']:.3g}, max relative error {f['max_rel_error']:.2%}"
                     + (f" ({f['note']})" if f.get("note") else "") + ".")
    else:
        lines.append(f"**Supervised law:** {sup['status']}: {sup.get('reason', '')}.")
    ds = (setting or {}).get("distillation")
    if not ds:
        return lines + ["**Distillation law:** not fitted (no teacher losses)."]
    if ds["status"] != "ok":
        return lines + [f"**Distillation law:** {ds['status']}: {ds['reason']}."]
    f = ds["fit"]
    p = f["params"]
    lines.append(f"**Distillation law (broken power law in L_T):** {f['n_points']} runs, RMSE of log residuals "
                 f"{f['rmse_log']:.3g}, max relative error {f['max_rel_error']:.2%}; d1 = {p['d1']:.3g}, "
                 f"c0 = {p['c0']:.3g}, c1 = {p['c1']:.3g}, f1 = {p['f1']:.3g} (Busbridge et al.: d1 = 1.315, "
                 f"c0 = 2.549, c1 = 522.6, f1 = 0.090).")
    ex = ds.get("extrapolation", {})
    if ex.get("status") == "ok":
        lines.append(f"Extrapolation: fitted on the weaker runs, it predicts {ex['n_test']} held-out stronger runs "
                     f"with max relative error {ex['max_rel_error']:.2%} (Busbridge et al. report ≤ 1 %).")
    elif ex:
        lines.append(f"Extrapolation check: {ex.get('status')}: {ex.get('reason', '')}.")
    checks = ds.get("property_checks", [])
    by_name: dict[str, list[bool]] = {}
    for c in checks:
        by_name.setdefault(c["name"], []).append(c["passed"])
    lines.append("Limit properties of the fitted law: " + "; ".join(
        f"{name}: {'holds' if all(v) else 'FAILS' if not any(v) else f'{sum(v)}/{len(v)} students'}"
        for name, v in by_name.items()) + ".")
    for o in ds.get("optimal_teacher_loss", []):
        lines.append(f"- student N = {o['N']:.3g}: predicted optimal teacher loss {o['teacher_loss']:.4g} → student "
                     f"{o['student_loss']:.4g} vs supervised {o['supervised_loss']:.4g} "
                     f"({'distillation helps' if o['beats_supervised'] else 'no teacher beats supervised training'}).")
    return lines


def _span(v) -> str:
    lo, hi = f"{min(v):.3g}", f"{max(v):.3g}"
    return lo if lo == hi else f"{lo}–{hi}"


def _conclusions(opt, setting) -> list[str]:
    """Plain-words advice, each sentence tied to a number measured above."""
    out = []
    interior = [o for o in opt if o["interior"]]
    real = [o for o in interior if o["dip_beyond_noise"]]
    if real:
        ratios = [o["optimal_teacher_params"] / o["student_params"] for o in real]
        out.append(f"- Do not default to the largest teacher: for {len(real)} student(s) a smaller teacher was "
                   f"better beyond seed noise, at {_span(ratios)}× the student's parameters.")
    elif interior:
        out.append("- Interior optima appeared but none is beyond seed noise: run more seeds before acting on them.")
    elif opt:
        out.append("- No capacity gap in this grid: the largest teacher was (about) best; widen the teacher grid "
                   "or shrink the students to look for the turn.")
    helped = [o for o in opt if math.isfinite(o["supervised_loss"]) and o["min_loss"] < o["supervised_loss"]]
    if opt:
        out.append(f"- Distillation from the best teacher beat supervised training for {len(helped)} of {len(opt)} "
                   "students (seed-mean loss).")
    edge = [o for o in opt if not o["interior"]]
    if edge:
        names = ", ".join(f"{o['student_size']:g}" for o in edge)
        out.append(f"- {len(edge)} optimum(s) sit at the edge of the teacher grid "
                   f"(students {names}): they are bounds, excluded "
                   "from the teacher-law fits; extend the grid to locate them.")
    tl = (setting or {}).get("teacher_law") or []
    lin = tl[0]["linear"] if tl else {"status": "skipped"}
    if lin["status"] == "ok":
        lo, hi = lin["slope_ci"]
        out.append(f"- The linear teacher law rests on {lin['n_points']} optima (R² {lin['r2']:.3f}, slope CI "
                   f"[{lo:.3g}, {hi:.3g}]): " + ("tight enough to plan with." if lin["n_points"] >= 4 and
                                                  lin["r2"] > 0.95 and lo > 0 else
                                                  "too loose to extrapolate from; add student sizes or seeds."))
    ds = (setting or {}).get("distillation") or {}
    ex = ds.get("extrapolation") or {}
    if ds.get("status") == "ok" and ex.get("status") == "ok":
        ok = ex["max_rel_error"] <= 0.01
        out.append(f"- The distillation law {'extrapolates' if ok else 'does NOT extrapolate'} to stronger runs "
                   f"within Busbridge et al.'s 1 % (max error {ex['max_rel_error']:.2%}): "
                   + ("its predicted optimal teacher loss is usable." if ok else
                      "treat its predictions for larger runs as rough."))
        failed = sorted({c["name"] for c in ds.get("property_checks", []) if not c["passed"]})
        if failed:
            out.append(f"- The fitted law breaks limit properties it was built to have ({'; '.join(failed)}): "
                       "this family's data do not pin those regimes down.")
    return out or ["- Nothing to conclude: no distilled runs."]
