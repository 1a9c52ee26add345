"""The report's findings in plain words: the gap, the teacher-loss axis, the teacher laws, the law fits,
whether the two laws agree, and what to conclude.

Each section renders fields of the typed analysis (simgap.fit.results) and the setting's tested
assumptions (simgap.fit.verdicts.Assumption): every "beyond noise", "pinned", "extrapolates" or
"agrees" here is a verdict computed once in the fitting layer with the configured tolerances, and
every interval is the one the "Law assumptions" table shows. Nothing here decides or resamples.
A new report section is a new function here, called from simgap.report.render_report.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from simgap.fit.results import LawSection, SettingFit, StudentOptimum, ok
from simgap.fit.start_law import omega_unidentified
from simgap.fit.teacher import TeacherLawFit
from simgap.fit.verdicts import VERDICTS, Assumption, interval, num, same_key
from simgap.laws import ZHANG_LINEAR, ZHANG_R2

Checks = tuple[Assumption, ...]  # one setting's tested assumptions (TableFit.checks)


def _students(st: SettingFit) -> tuple[StudentOptimum, ...]:
    return st.optima.students if ok(st.optima) else ()


def fmt(x, spec=".3g") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def _one(found: Checks, name: str, **keys) -> Assumption | None:
    return next((a for a in found if a.about(name, **keys)), None)


def _gap_of(found: Checks, o: StudentOptimum) -> Assumption | None:
    return _one(found, "gap_exists", student=o.params.student_size, budget=o.params.budget,
                teacher_budget=o.teacher_budget)


def verdict_phrase(a: Assumption | None) -> str:
    """`name`: **verdict** (estimate [CI], tolerance t), with what would decide it."""
    if a is None:
        return "not tested"
    est = f"{num(a.estimate)} {interval(a)}" if math.isfinite(a.ci[0]) else num(a.estimate)
    return (f"`{a.name}` **{a.verdict}** ({est}, tolerance {num(a.tolerance)})"
            + (f"; needs {a.needs}" if a.verdict == "undecided" and a.needs else ""))


def gap(st: SettingFit, found: Checks) -> list[str]:
    opt = _students(st)
    if not opt:
        reason = st.optima.reason if st.optima is not None and not ok(st.optima) else "no teacher sizes"
        return [f"**Capacity gap:** not analysed ({reason})."]
    interior = [o for o in opt if o.params.interior]
    # the gap is a bigger teacher doing worse (gap_exists): an optimum at the smallest teacher shows
    # it as well as an interior one; only locating T* needs the optimum inside the grid
    checks = [_gap_of(found, o) for o in opt]
    real = sum(a is not None and a.verdict == "holds" for a in checks)
    dips = [o for o in opt if o.params.edge != "largest"]
    verdict = "yes" if real else "suggested, not beyond seed noise" if dips else "not shown"
    lines = [f"**Capacity gap: {verdict}.** For {real} of {len(opt)} students the largest teacher is worse "
             "than the best one beyond seed noise (`gap_exists` holds: the dip's CI, paired over seeds and "
             "simultaneous over teachers so that picking the best one is accounted for, excludes 0); "
             f"{len(interior)} have an interior optimal teacher (an optimum at an edge of the grid only bounds T*)."]
    if interior:
        knob = [o.knob.optimal_teacher / o.student_size for o in interior]
        lines.append(f"Optimal teacher / student in the capacity knob (width, d_model or basis functions): "
                     f"{', '.join(f'{r:.2g}' for r in knob)} (median {np.median(knob):.3g}).")
    many_budgets = len(np.unique([r.budget for r in opt])) > 1
    for o, a in zip(opt, checks):
        where = ("interior" if o.params.located else "interior, but its CI reaches an end of the teachers (only a bound)"
                 if o.params.interior else f"at the {o.params.edge} teacher (edge of the grid: only a bound)")
        tb = f", teacher budget {o.teacher_budget:g}" if math.isfinite(o.teacher_budget) else ""
        tb = f", budget {o.budget:g}{tb}" if many_budgets else tb
        lines.append(f"- student {o.student_size:g} ({o.student_params:g} params{tb}): best teacher "
                     f"{fmt(o.knob.optimal_teacher)} [{fmt(o.knob.optimal_teacher_ci[0])}, "
                     f"{fmt(o.knob.optimal_teacher_ci[1])}], {where}; largest teacher worse by "
                     f"{num(o.params.dip_depth)} nats: {verdict_phrase(a)}"
                     + (f"; supervised {fmt(o.supervised_loss, '.4f')} vs best distilled "
                        f"{fmt(o.params.min_loss, '.4f')}" if math.isfinite(o.supervised_loss) else ""))
    return lines


def teacher_loss_axis(st: SettingFit) -> list[str]:
    """The U-curve read in teacher loss L_T, over teachers of every size and training length."""
    if not ok(st.optima) or not st.optima.by_teacher_loss:
        return []
    lt = st.optima.by_teacher_loss
    lines = [f"**On the teacher-loss axis** ({len(lt[0].teacher_losses)} teachers ordered by seed-mean L_T, "
             "all sizes and training lengths): a student's best teacher has the loss below; 'best teacher worse "
             "by' compares the lowest-loss teacher with it, paired by seed."]
    for o in lt:
        where = "interior" if o.interior else f"at the {o.edge} teacher of the grid (only a bound)"
        lines.append(f"- student of {o.student_size:g} params" + (f", budget {o.budget:g}" if math.isfinite(o.budget) else "")
                     + f": best L_T = {o.teacher_loss:.4g} [{fmt(o.teacher_loss_ci[0], '.4g')}, "
                     f"{fmt(o.teacher_loss_ci[1], '.4g')}], {where}; best teacher worse by {num(o.dip_depth)} "
                     f"[{num(o.dip_ci[0])}, {num(o.dip_ci[1])}]" + (" (beyond noise)" if o.dip_beyond_noise else ""))
    return lines + [""]


def teacher_laws(st: SettingFit, found: Checks) -> list[str]:
    opt = _students(st)
    if not st.teacher_law:
        reason = st.optima.reason if st.optima is not None and not ok(st.optima) else "no distilled rows"
        return [f"**Linear teacher law:** not fitted ({reason})."]
    lines = []
    for tl in st.teacher_law:
        lin, pw = tl.linear, tl.loglog
        keys = dict(budget=tl.budget, teacher_budget=tl.teacher_budget)
        tag = ", ".join(([f"budget {tl.budget:g}"] if math.isfinite(tl.budget) else [])
                        + ([f"teacher budget {tl.teacher_budget:g}"] if math.isfinite(tl.teacher_budget) else []))
        tag = f" ({tag})" if tag else ""
        if not isinstance(lin, TeacherLawFit):
            lines.append(f"**Linear teacher law{tag}:** not fitted: {lin.reason}.")
            continue
        ratios = [o.params.optimal_teacher / o.student_params for o in opt if o.params.located
                  and same_key(o.teacher_budget, tl.teacher_budget) and same_key(o.params.budget, tl.budget)]
        lines.append(
            f"**Linear teacher law{tag}** (in parameters): {lin.describe()}, "
            f"slope {int(lin.ci * 100)} % CI {interval(lin.slope_ci)} (over seeds), "
            f"R² = {lin.r2:.4f} on {lin.n_points} located optima ({lin.n_excluded_edge} excluded: at an edge of "
            f"their teachers or with a CI reaching one), beside Zhang et al.'s T* = {ZHANG_LINEAR.slope}·S {ZHANG_LINEAR.intercept:+} (S in millions "
            f"of parameters, R² {ZHANG_R2} on GPT-2/Pythia: an intercept in millions does not carry to "
            f"this scale, the slope does). Median T*/S = {fmt(np.median(ratios) if ratios else math.nan)} "
            f"and optimal pruned fraction 1 − S/T* = {fmt(1 - 1 / np.median(ratios) if ratios else math.nan, '.0%')} "
            f"(Zhang et al.'s ≈ 60 % at every size). Is the slope pinned? "
            + verdict_phrase(_one(found, "slope_pinned", **keys)) + ".")
        if isinstance(pw, TeacherLawFit):
            lines.append(f"Power form: {pw.describe()} "
                         f"(exponent CI {interval(pw.slope_ci)}, R² in log–log {pw.r2:.4f}); is T* proportional "
                         f"to S, as Zhang et al.'s law? " + verdict_phrase(_one(found, "linear", **keys)) + ".")
    return lines



def law_fits(sup, st: SettingFit, found: Checks) -> list[str]:
    lines = []
    if isinstance(sup, LawSection):
        f = sup.fit
        lines.append(f"**Supervised law** L(N, D): fitted on {f.n_points} runs, RMSE of log residuals "
                     f"{f.rmse_log:.3g}, max relative error {f.max_rel_error:.2%}" + (f" ({f.note})" if f.note else "") + ".")
        if sup.identification_note:
            lines.append(f"Its parameters are {sup.identification_note}.")
        if f.fixed:
            lines.append("Held fixed in the supervised fit: " + ", ".join(f"{k} = {v:g}" for k, v in f.fixed) + ".")
        if not f.describes_data:
            lines.append(f"The supervised law does not describe these data: {f.bounds_text} of the "
                         "search box (the loss does not fall with size or data as the law requires).")
    else:
        lines.append(f"**Supervised law:** {sup.status}: {sup.reason}.")
    ds = st.distillation
    if ds is None:
        return lines + ["**Distillation law:** not fitted (no teacher losses)."]
    if not ok(ds):
        return lines + [f"**Distillation law:** {ds.status}: {ds.reason}."]
    f, p = ds.fit, ds.fit.raw_params
    lines.append(f"**Distillation law (broken power law in L_T):** {f.n_points} runs, RMSE of log residuals "
                 f"{f.rmse_log:.3g}, max relative error {f.max_rel_error:.2%}; d1 = {p.d1:.3g}, "
                 f"c0 = {p.c0:.3g}, c1 = {p.c1:.3g}, f1 = {p.f1:.3g} (Busbridge et al.: d1 = 1.315, "
                 f"c0 = 2.549, c1 = 522.6, f1 = 0.090).")
    if f.fixed:
        lines.append("Held fixed in the distillation fit: " + ", ".join(f"{k} = {v:g}" for k, v in f.fixed) + ".")
    ex = ds.extrapolation
    if ok(ex):
        lines.append(f"Extrapolation: fitted on the weaker runs, it predicts {ex.n_test} held-out stronger runs "
                     f"with max relative error {ex.max_rel_error:.2%} (Busbridge et al. report ≤ 1 %).")
    else:
        lines.append(f"Extrapolation check: {ex.status}: {ex.reason}.")
    by_name: dict[str, list[bool]] = {}
    for _, c in ds.property_checks:
        by_name.setdefault(c.name, []).append(c.passed)
    lines.append("Limit properties at the fitted parameters: " + "; ".join(
        f"{name}: {'kept' if all(v) else 'broken'}" + ("" if all(v) or not any(v) else f" at {len(v) - sum(v)} of {len(v)} students")
        for name, v in by_name.items()) + ".")
    if not f.describes_data:
        lines.append(f"The fitted distillation law has {f.bounds_text} of its search box: "
                     "its form does not describe these data (a size or data exponent of 0 means no improvement).")
    lines.append(eq8_verdict(ds, found))
    for s in ds.students:
        o = s.optimum
        verdict = "distillation helps" if o.beats_supervised else "no teacher beats supervised training"
        if s.extrapolated:
            lo, hi = s.observed_teacher_loss
            verdict = (f"the law says {verdict}, but only by extrapolation: the observed teacher losses span "
                       f"[{lo:.4g}, {hi:.4g}]")
        lines.append(f"- student N = {s.N:.3g}: predicted optimal teacher loss {o.teacher_loss:.4g} → student "
                     f"{o.student_loss:.4g} vs supervised {o.supervised_loss:.4g} ({verdict}).")
    return lines


EQ8_CHECKS = ("extrapolates", "limit_properties", "teacher_only_through_loss", "break_at_fixed_ratio")


def eq8_verdict(ds: LawSection, found: Checks) -> str:
    """Does Eq. 8 describe this family? Its exponents (at a bound: no), then its assumptions' verdicts,
    and where the residuals miss most systematically (the section's `misfit`)."""
    f, m = ds.fit, ds.misfit
    if not f.describes_data:
        head = f"Eq. 8 does NOT describe this family ({f.bounds_text} of the search box)"
    else:
        ex = _one(found, "extrapolates")
        how = {"holds": "and extrapolates to the stronger runs within tolerance",
               "fails": "but does not extrapolate to the stronger runs"}.get(ex.verdict if ex else "",
                                                                          "; whether it extrapolates is undecided")
        head = f"Eq. 8 fits this family in-sample (max error {f.max_rel_error:.2%}) {how}".replace(" ;", ";")
    checks = [_one(found, n) for n in EQ8_CHECKS]
    tested = "; ".join(verdict_phrase(a) for a in checks if a is not None)
    where = (f" Its largest systematic misfit is in the {m.third} third of {m.axis} (predictions "
             f"{'above' if m.mean_log_residual > 0 else 'below'} the runs by "
             f"{abs(np.expm1(m.mean_log_residual)):.2%} on average)." if m is not None else "")
    return f"**Verdict on Eq. 8:** {head}." + (f" Its assumptions: {tested}." if tested else "") + where


def laws_agree(st: SettingFit, plot_paths, found: Checks = ()) -> list[str]:
    """Do the two laws agree? One line per teacher-length series (the setting's `agreement`): the
    optimal teachers Eq. 8 implies against the measured ones, and each student's `agrees_with_optima`
    verdict (computed in the fitting layer); `plot_paths` names each series' plot (None: none drawn)."""
    lines = ["**Do the two laws agree?**"]
    for s, path in zip(st.agreement, plot_paths):
        a = s.agreement
        if a is None:
            lines.append(f"- not computed ({s.error}).")
            continue
        note = " Single-budget laws: D does not enter, so the teacher's D_T is immaterial." if s.reduced else ""
        checks = [c for S, b in zip(a.students, s.budgets) if (c := _one(
            found, "agrees_with_optima", student=S, budget=b, teacher_budget=s.teacher_budget)) is not None]
        counts = ", ".join(f"{v} for {n}" for v in VERDICTS if (n := sum(c.verdict == v for c in checks)))
        pairs = "; ".join(f"student {S:g}: {fmt(i)} vs {fmt(T)} [{fmt(lo)}, {fmt(hi)}]"
                          for S, i, T, (lo, hi) in zip(a.students, a.implied, a.measured, a.measured_ci))
        lines.append(f"- Eq. 8 with the supervised teacher law ({a.protocol}) implies optimal teachers (implied vs "
                     f"measured [CI], parameters) {pairs}: {a.n_inside_ci} of {len(a.students)} inside the measured "
                     f"CIs. `agrees_with_optima`: " + (counts or "not tested") + f" of {len(a.students)} students."
                     + note + (f" (`{Path(path).name}`)" if path else ""))
    return lines if len(lines) > 1 else []


def _span(v) -> str:
    lo, hi = f"{min(v):.3g}", f"{max(v):.3g}"
    return lo if lo == hi else f"{lo}–{hi}"


def conclusions(st: SettingFit, found: Checks) -> list[str]:
    """Plain-words advice, each sentence tied to a number measured above or a verdict."""
    opt = _students(st)
    real = [o for o in opt if (a := _gap_of(found, o)) is not None and a.verdict == "holds"]
    out = _gap_advice(opt, real)
    helped = [o for o in opt if math.isfinite(o.supervised_loss) and o.params.min_loss < o.supervised_loss]
    if opt:
        out.append(f"- Distillation from the best teacher beat supervised training for {len(helped)} of {len(opt)} "
                   "students (seed-mean loss, observed).")
    ds = st.distillation
    if ok(ds) and opt:
        claims = [s for s in ds.students if s.optimum.beats_supervised]
        if claims and not helped:
            out.append(f"- The fitted law predicts that distillation helps for {len(claims)} of the students it was "
                       "checked on, but no observed run supports it"
                       + (" (the predicted optimal teacher lies outside the observed teacher losses)"
                          if any(s.extrapolated for s in claims) else "")
                       + ": trust the observed runs, and add teachers in the predicted range before acting on it.")
    edge = [o for o in opt if not o.params.interior]
    if edge:
        names = ", ".join(f"{o.student_size:g}" for o in edge)
        out.append(f"- {len(edge)} optimum(s) sit at the edge of the teacher grid (students {names}): they are "
                   "bounds, excluded from the teacher-law fits; extend the grid to locate them.")
    out += _teacher_law_advice(st, found) + _eq8_advice(ds, found)
    return out or ["- Nothing to conclude: no distilled runs."]


def _gap_advice(opt, real) -> list[str]:
    if real:
        ratios = [o.params.optimal_teacher / o.student_params for o in real]
        bound = any(o.params.edge == "smallest" for o in real)
        return [f"- Do not default to the largest teacher: for {len(real)} student(s) a smaller teacher was "
                f"better beyond seed noise, at {_span(ratios)}× the student's parameters"
                + (" (an upper bound where the best teacher is the grid's smallest)." if bound else ".")]
    if any(o.params.edge != "largest" for o in opt):
        return ["- A smaller teacher looked better, but not beyond seed noise: run more seeds before acting on it."]
    if opt:
        return ["- No capacity gap in this grid: the largest teacher was (about) best; widen the teacher grid "
                "or shrink the students to look for the turn."]
    return []


def _teacher_law_advice(st: SettingFit, found: Checks) -> list[str]:
    tl = st.teacher_law[0] if st.teacher_law else None
    if tl is None or not isinstance(tl.linear, TeacherLawFit):
        return []
    lin, keys = tl.linear, dict(budget=tl.budget, teacher_budget=tl.teacher_budget)
    pinned, linear = _one(found, "slope_pinned", **keys), _one(found, "linear", **keys)
    head = (f"- The linear teacher law rests on {lin.n_points} optima (R² {lin.r2:.3f}, slope CI "
            f"{interval(lin.slope_ci)}): ")
    if pinned is not None and pinned.verdict == "holds":
        tail = "its slope is pinned (`slope_pinned` holds): usable for planning"
    else:
        tail = "its slope is not pinned (`slope_pinned` " + (pinned.verdict if pinned else "not tested") + \
            (f": needs {pinned.needs}" if pinned is not None and pinned.needs else "") + ")"
    if linear is not None and linear.verdict == "fails":
        tail += (f"; T* is not proportional to S (`linear` fails: exponent {num(linear.estimate)} "
                 f"{interval(linear)}), so plan with the power form")
    return [head + tail + "."]


def _eq8_advice(ds, found: Checks) -> list[str]:
    if not ok(ds):
        return []
    out = []
    ex = _one(found, "extrapolates")
    if ex is not None and ex.verdict != "undecided":
        holds = ex.verdict == "holds"
        out.append(f"- The distillation law {'extrapolates' if holds else 'does NOT extrapolate'} to stronger runs "
                   f"(`extrapolates` {ex.verdict}: mean error {num(ex.estimate)} {interval(ex)}, tolerance "
                   f"{num(ex.tolerance)}): " + ("its predicted optimal teacher loss is usable." if holds else
                                                 "treat its predictions for larger runs as rough."))
    lim = _one(found, "limit_properties")
    if lim is not None and lim.verdict == "fails":
        out.append(f"- The fitted law breaks limit properties it was built to have (`limit_properties` fails: "
                   f"{num(lim.estimate)} failed checks {interval(lim)}): this family's data do not pin those "
                   "regimes down.")
    return out


def start_law_lines(family: str, sec) -> list[str]:
    """The start-aware law (simgap.fit.results.StartLawSection) in words: its head-start parameters with
    CIs, its error under each start, and the T* it implies under each start against the measured optima."""
    where = ", ".join(f"{k} = {v}" for k, v in {**({"family": family} if family else {}), **sec.key}.items())
    head = f"### One law for both starts{' (' + where + ')' if where else ''}"
    if not ok(sec.law):
        return [head, "", f"The start-aware law was not fitted: {sec.law.status} ({sec.law.reason}).", ""]
    f, ci = sec.law.fit, sec.law.ci
    p = f.raw_params

    held = dict(f.fixed)

    def par(name: str, label: str) -> str:
        if name in held:  # the user's --fix-distillation, or ω with one distillation length (omega_unidentified)
            one_length = name == "omega" and omega_unidentified(f.data)
            why = ": the pruned runs have one distillation length, which does not identify it" if one_length else ""
            return f"{label} = {fmt(held[name])} (held fixed{why})"
        lo, hi = ci.get(name, (math.nan, math.nan))
        return f"{label} = {fmt(getattr(p, name))}" + (f" [{fmt(lo)}, {fmt(hi)}]" if math.isfinite(lo) else "")

    L = [head, "",
         f"L_S = L_T + Eq. 8's excess × exp(−π·H·(N_S/N_T)^κ·(D_S/D̄_S)^−ω), π = 1 for a student pruned from its "
         f"teacher, fitted to {' and '.join(f'{r.n_rows} {r.start}' for r in sec.starts)} distilled runs at once: "
         f"{par('H', 'H')}, {par('kappa', 'κ')}, {par('omega', 'ω')} (Eq. 8's own: {par('c0', 'c0')}, "
         f"{par('c1', 'c1')}, {par('f1', 'f1')}, {par('d1', 'd1')}).", "",
         "| start | runs | in-sample RMSE of log loss | held-out strongest runs | their mean error (pred/obs − 1) |",
         "|---|---|---|---|---|"]
    for r in sec.starts:
        ex = r.extrapolation
        L.append(f"| {r.start} | {r.n_rows} | {fmt(r.rmse_log, '.4f')} | "
                 + (f"{ex.n_test} | {ex.mean_signed_error:+.2%} |" if ok(ex) else f"– | {ex.reason} |"))
    rows = [(s.setting.get("student_init", ""), s.series, a) for s in sec.agreement
            if (a := s.series.agreement) is not None]
    if rows:
        L += ["", "| start | student | budget | teacher budget | measured T* [CI] | implied T* | implied / measured |",
              "|---|---|---|---|---|---|---|"]
        for start, series, a in rows:
            for i, S in enumerate(a.students):
                lo, hi = a.measured_ci[i]
                edge = "" if a.implied_interior[i] else " (edge: a bound)"
                L.append(f"| {start} | {fmt(S)} | {fmt(series.budgets[i])} | {fmt(series.teacher_budget)} | "
                         f"{fmt(a.measured[i])} [{fmt(lo)}, {fmt(hi)}] | {fmt(a.implied[i])}{edge} | "
                         f"{fmt(a.implied[i] / a.measured[i])} |")
    return L + [""]
