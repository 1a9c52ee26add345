"""The report's findings in plain words, each a function of the typed analysis (simgap.fit.results)
and the optimum rows: the gap, the teacher-loss axis, the teacher laws and whether their slope is
pinned, the law fits with a verdict on Eq. 8, whether the two laws agree, and what to conclude.
A new report section is a new function here, called from simgap.report.render_report."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from simgap.fit import agreement
from simgap.fit.results import LawSection, SettingFit, StudentOptimum, ok
from simgap.fit.teacher import TeacherLawFit
from simgap.laws import ZHANG_LINEAR, ZHANG_R2


def _students(st: SettingFit) -> tuple[StudentOptimum, ...]:
    return st.optima.students if ok(st.optima) else ()


def fmt(x, spec=".3g") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def gap(st: SettingFit) -> list[str]:
    opt = _students(st)
    if not opt:
        reason = st.optima.reason if st.optima is not None and not ok(st.optima) else "no teacher sizes"
        return [f"**Capacity gap:** not analysed ({reason})."]
    interior = [o for o in opt if o.params.interior]
    # the gap is a bigger teacher doing worse (gap_exists): an optimum at the smallest teacher shows
    # it as well as an interior one; only locating T* needs the optimum inside the grid
    real = [o for o in opt if o.params.dip_beyond_noise]
    dips = [o for o in opt if o.params.edge != "largest"]
    verdict = "yes" if real else "suggested, not beyond seed noise" if dips else "not shown"
    lines = [f"**Capacity gap: {verdict}.** For {len(real)} of {len(opt)} students the largest teacher is worse "
             "than the best one beyond seed noise (the dip's CI, paired over seeds and simultaneous over teachers "
             f"so that picking the best one is accounted for, excludes 0); {len(interior)} have an interior "
             "optimal teacher (an optimum at an edge of the grid only bounds T*)."]
    if interior:
        knob = [o.knob.optimal_teacher / o.student_size for o in interior]
        lines.append(f"Optimal teacher / student in the capacity knob (width, d_model or basis functions): "
                     f"{', '.join(f'{r:.2g}' for r in knob)} (median {np.median(knob):.3g}).")
    for o in opt:
        where = "interior" if o.params.interior else f"at the {o.params.edge} teacher (edge of the grid: only a bound)"
        tb = f", teacher budget {o.teacher_budget:g}" if math.isfinite(o.teacher_budget) else ""
        if len(np.unique([r.budget for r in opt])) > 1:
            tb = f", budget {o.budget:g}{tb}"
        lines.append(f"- student {o.student_size:g} ({o.student_params:g} params{tb}): best teacher "
                     f"{fmt(o.knob.optimal_teacher)} [{fmt(o.knob.optimal_teacher_ci[0])}, "
                     f"{fmt(o.knob.optimal_teacher_ci[1])}], {where}; largest teacher worse by "
                     f"{fmt(o.params.dip_depth, '.4f')} nats [{fmt(o.params.dip_ci[0], '.4f')}, {fmt(o.params.dip_ci[1], '.4f')}]"
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
                     f"{fmt(o.teacher_loss_ci[1], '.4g')}], {where}; best teacher worse by {o.dip_depth:.4f} "
                     f"[{fmt(o.dip_ci[0], '.4f')}, {fmt(o.dip_ci[1], '.4f')}]"
                     + (" (beyond noise)" if o.dip_beyond_noise else ""))
    return lines + [""]


def teacher_laws(st: SettingFit) -> list[str]:
    opt = _students(st)
    if not st.teacher_law:
        reason = st.optima.reason if st.optima is not None and not ok(st.optima) else "no distilled rows"
        return [f"**Linear teacher law:** not fitted ({reason})."]
    lines = []
    for tl in st.teacher_law:
        lin, pw = tl.linear, tl.loglog
        tag = ", ".join(([f"budget {tl.budget:g}"] if math.isfinite(tl.budget) else [])
                        + ([f"teacher budget {tl.teacher_budget:g}"] if math.isfinite(tl.teacher_budget) else []))
        tag = f" ({tag})" if tag else ""
        if not isinstance(lin, TeacherLawFit):
            lines.append(f"**Linear teacher law{tag}:** not fitted: {lin.reason}.")
            continue
        ratios = [o.params.optimal_teacher / o.student_params for o in opt if o.params.interior
                  and _same(o.teacher_budget, tl.teacher_budget)]
        lines.append(
            f"**Linear teacher law{tag}** (in parameters): T* = {lin.slope:.3g}·S {lin.intercept:+.3g}, "
            f"slope {int(lin.ci * 100)} % CI [{lin.slope_ci[0]:.3g}, {lin.slope_ci[1]:.3g}], "
            f"R² = {lin.r2:.4f} on {lin.n_points} interior optima ({lin.n_excluded_edge} edge optima "
            f"excluded). Median T*/S = {np.median(ratios):.3g} vs Zhang et al.'s {ZHANG_LINEAR.k:.1f} "
            f"(R² {ZHANG_R2} on GPT-2/Pythia).")
        lines.append(slope_precision(lin, max((o.params.n_seeds for o in opt), default=0)))
        if isinstance(pw, TeacherLawFit):
            lines.append(f"Power form: T* = {math.exp(pw.intercept):.3g}·S^{pw.slope:.3g} "
                         f"(exponent CI [{pw.slope_ci[0]:.3g}, {pw.slope_ci[1]:.3g}], R² in log–log "
                         f"{pw.r2:.4f}); an exponent of 1 means proportional, as Zhang et al.'s law.")
    return lines


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def slope_precision(lin: TeacherLawFit, n_seeds: int, target: float = 0.3) -> str:
    """Is the slope pinned (CI half-width ≤ 30 % of it)? If not, what it would take, assuming the
    CI shrinks as 1/√seeds (the optima's noise is seed noise)."""
    half = (lin.slope_ci[1] - lin.slope_ci[0]) / 2
    rel = half / abs(lin.slope) if lin.slope else math.inf
    if rel <= target:
        return f"The slope is pinned: CI half-width {rel:.0%} of the slope (≤ {target:.0%})."
    need = (rel / target) ** 2
    head = f"The slope is not pinned: CI half-width {rel:.0%} of the slope (target ≤ {target:.0%}); "
    if need > 100:
        return head + "more seeds alone will not do it (> 100× the seeds): the slope is not resolved from 0."
    return head + (f"if the CI shrinks as 1/√seeds that needs about {need:.1f}× the seeds (≈ {math.ceil(need * n_seeds)} "
                   "seeds), or see `python -m simgap.plan --design` for cheaper additions.")


def law_fits(sup, st: SettingFit) -> list[str]:
    lines = []
    if isinstance(sup, LawSection):
        f = sup.fit
        lines.append(f"**Supervised law** L(N, D): fitted on {f.n_points} runs, RMSE of log residuals "
                     f"{f.rmse_log:.3g}, max relative error {f.max_rel_error:.2%}" + (f" ({f.note})" if f.note else "") + ".")
        if f.fixed:
            lines.append("Held fixed in the supervised fit: " + ", ".join(f"{k} = {v:g}" for k, v in f.fixed) + ".")
        if not f.describes_data:
            lines.append(f"The supervised law does not describe these data: {', '.join(f.at_bounds)} ended at the "
                         "bound of the search box (the loss does not fall with size or data as the law requires).")
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
    lines.append("Limit properties of the fitted law: " + "; ".join(
        f"{name}: {'holds' if all(v) else 'FAILS' if not any(v) else f'{sum(v)}/{len(v)} students'}"
        for name, v in by_name.items()) + ".")
    if not f.describes_data:
        lines.append(f"The fitted distillation law has {', '.join(f.at_bounds)} at the bound of its search box: "
                     "its form does not describe these data (a size or data exponent of 0 means no improvement).")
    lines.append(eq8_verdict(ds))
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


def eq8_verdict(ds: LawSection) -> str:
    """Does Eq. 8 describe this family, and where does it fail? From the numbers above and the
    residuals' largest systematic shift (the section's `misfit`)."""
    f, m = ds.fit, ds.misfit
    ex = ds.extrapolation
    failed = sorted({c.name.split()[0] for _, c in ds.property_checks if not c.passed})
    where = (f"; its largest systematic misfit is in the {m.third} third of {m.axis} (predictions "
             f"{'above' if m.mean_log_residual > 0 else 'below'} the runs by "
             f"{abs(np.expm1(m.mean_log_residual)):.2%} on average)" if m is not None else "")
    if not f.describes_data or f.max_rel_error > 0.05:
        head = "Eq. 8 does NOT describe this family" + (
            f" (in-sample max error {f.max_rel_error:.1%})" if f.describes_data else " (an exponent sits at 0)")
    elif ok(ex) and ex.within_1_percent and not failed:
        head = "Eq. 8 describes this family within Busbridge et al.'s 1 %, in-sample and extrapolated"
    elif ok(ex) and not ex.within_1_percent:
        head = (f"Eq. 8 fits this family in-sample (max error {f.max_rel_error:.2%}) but does not extrapolate "
                f"to stronger runs (max error {ex.max_rel_error:.2%})")
    else:
        head = f"Eq. 8 fits this family in-sample (max error {f.max_rel_error:.2%})"
    tail = f"; the fitted law breaks {', '.join(failed)}" if failed else ""
    return f"**Verdict on Eq. 8:** {head}{tail}{where}."


def laws_agree(series: tuple[agreement.SeriesAgreement, ...], plot_paths) -> list[str]:
    """Do the two laws agree? One line per teacher-length series (`simgap.fit.agreement.for_setting`),
    naming its plot (`plot_paths`, one per series, None where none was drawn)."""
    lines = ["**Do the two laws agree?**"]
    for s, path in zip(series, plot_paths):
        if s.agreement is None:
            lines.append(f"- not computed ({s.error}).")
            continue
        note = " Single-budget laws: D does not enter, so the teacher's D_T is immaterial." if s.reduced else ""
        lines.append(f"- {s.agreement.verdict}{note} (`{Path(path).name}`)")
    return lines if len(lines) > 1 else []


def _span(v) -> str:
    lo, hi = f"{min(v):.3g}", f"{max(v):.3g}"
    return lo if lo == hi else f"{lo}–{hi}"


def conclusions(st: SettingFit) -> list[str]:
    """Plain-words advice, each sentence tied to a number measured above."""
    opt = _students(st)
    out = []
    real = [o for o in opt if o.params.dip_beyond_noise]
    if real:
        ratios = [o.params.optimal_teacher / o.student_params for o in real]
        bound = any(o.params.edge == "smallest" for o in real)
        out.append(f"- Do not default to the largest teacher: for {len(real)} student(s) a smaller teacher was "
                   f"better beyond seed noise, at {_span(ratios)}× the student's parameters"
                   + (" (an upper bound where the best teacher is the grid's smallest)." if bound else "."))
    elif any(o.params.edge != "largest" for o in opt):
        out.append("- A smaller teacher looked better, but not beyond seed noise: run more seeds before acting on it.")
    elif opt:
        out.append("- No capacity gap in this grid: the largest teacher was (about) best; widen the teacher grid "
                   "or shrink the students to look for the turn.")
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
        out.append(f"- {len(edge)} optimum(s) sit at the edge of the teacher grid "
                   f"(students {names}): they are bounds, excluded "
                   "from the teacher-law fits; extend the grid to locate them.")
    lin = st.teacher_law[0].linear if st.teacher_law else None
    if isinstance(lin, TeacherLawFit):
        lo, hi = lin.slope_ci
        out.append(f"- The linear teacher law rests on {lin.n_points} optima (R² {lin.r2:.3f}, slope CI "
                   f"[{lo:.3g}, {hi:.3g}]): " + ("tight enough to plan with." if lin.n_points >= 4 and
                                                  lin.r2 > 0.95 and lo > 0 else
                                                  "too loose to extrapolate from; add student sizes or seeds."))
    if ok(ds) and ok(ds.extrapolation):
        ex = ds.extrapolation
        out.append(f"- The distillation law {'extrapolates' if ex.within_1_percent else 'does NOT extrapolate'} to "
                   f"stronger runs within Busbridge et al.'s 1 % (max error {ex.max_rel_error:.2%}): "
                   + ("its predicted optimal teacher loss is usable." if ex.within_1_percent else
                      "treat its predictions for larger runs as rough."))
        failed = sorted({c.name for _, c in ds.property_checks if not c.passed})
        if failed:
            out.append(f"- The fitted law breaks limit properties it was built to have ({'; '.join(failed)}): "
                       "this family's data do not pin those regimes down.")
    return out or ["- Nothing to conclude: no distilled runs."]
