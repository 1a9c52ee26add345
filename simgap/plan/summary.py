"""The plan in words: reads the fields of a `Plan`, computes nothing."""

from __future__ import annotations

import math

from simgap.laws import ZHANG_LINEAR, ZHANG_R2
from simgap.plan.results import FLAG_WORDS, Choice, Plan


def g(x: float) -> str:
    """3 significant digits, exponents as 1.2e9 rather than 1.2e+09."""
    return f"{x:.3g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def summarize(plan: Plan) -> str:
    lines = [] if plan.laws is None else _laws(plan)
    if plan.design is not None:
        lines += _design(plan.design)
    if plan.eq8 is not None:
        e = plan.eq8
        lines += ["", f"Eq. 8 extrapolated to S = {g(e.target_student)} on {g(e.target_tokens)} tokens "
                      f"({e.n_boot - e.n_failed} refits on re-drawn pilots, noise {e.noise_log:.2g} in log loss): "
                      f"best L_S {e.student_loss:.4f}, expected error {e.student_loss_rel_error[0]:.2%} "
                      f"(90th percentile {e.student_loss_rel_error[1]:.2%}); its teacher's loss "
                      f"{e.teacher_loss:.4f}, error {e.teacher_loss_rel_error[0]:.2%} "
                      f"(90th percentile {e.teacher_loss_rel_error[1]:.2%})"]
    return "\n".join(lines).strip("\n")


def _verb(c: Choice) -> str:
    a = c.allocation
    nt, dt, ds = g(a.teacher), g(a.teacher_tokens), g(a.student_tokens)
    if c.teacher is not None:
        return f"distil on {ds} tokens"
    if a.scenario == "trained":
        return f"train a {nt} teacher on {dt} tokens, then distil on {ds} tokens"
    if a.scenario == "pretraining":
        return f"train a {nt} teacher on {dt} tokens, then distil on {ds} tokens (logits stored, free)"
    if a.scenario == "inference":
        longest = a.teacher_tokens >= 0.999e5 * a.teacher
        return (f"distil on {ds} tokens from an existing {nt} teacher trained on {dt} tokens ("
                f"{'1e5 per parameter, the longest the search allows; ' if longest else ''}L_T {a.teacher_loss:.4f}; "
                f"its inference paid)")
    return (f"distil on {ds} tokens from any existing teacher with L_T ≈ {a.teacher_loss:.4f} (e.g. {nt} parameters "
            f"trained on {dt} tokens; logits free)")


def choice_lines(c: Choice, head: str) -> list[str]:
    """One plan: what to do, the predicted losses, the decision, and its flags."""
    a, d = c.allocation, c.decision
    margin = (f"; {d.level:.0%} CI [{d.ci[0]:+.4f}, {d.ci[1]:+.4f}]" if d.ci is not None
              else f"; tie margin ±{d.margin:.4f}" if d.margin is not None else "")
    lines = [f"{head}: {_verb(c)}: predicted {a.student_loss:.4f} vs {a.supervised_loss:.4f} supervised "
             f"(gain {a.gain:+.4f} → {d.words}{margin}; constraint residual {a.constraint_residual:.1e})"]
    if c.extrapolated:
        lines.append("  ! extrapolated outside the laws' range: " + ", ".join(
            f"{o.quantity} {g(o.value)} {'<' if o.value < o.low else '>'} {g(o.low if o.value < o.low else o.high)}"
            for o in c.extrapolated))
    if a.flags:
        lines.append(f"  ! flagged: {'; '.join(FLAG_WORDS[f] + ('' if f != 'not_converged' else f' ({a.message})') for f in a.flags)}")
    return lines


def _laws(plan: Plan) -> list[str]:
    L, u = plan.laws, plan.units
    lines = [f"laws: {L.source}",
             f"units: sizes in {u['size']}, tokens, compute in FLOPs; losses in {u['loss']}; gain = supervised − "
             f"distilled loss (> 0: distillation wins)"]
    if L.ranges.source:
        lines.append(f"fitted range ({L.ranges.source}); answers outside it are marked '! extrapolated'")
    if L.ranges.missing:
        lines.append(f"! {L.ranges.missing}")
    al = plan.allocation
    lines += [f"decisions: {next(iter(al.scenarios.values())).decision.basis}", ""]
    for name, c in al.scenarios.items():
        lines += choice_lines(c, f"for a {g(al.student)} student at {g(al.compute)} FLOPs ({c.description})")
    if plan.teachers is not None:
        t = plan.teachers
        lines += ["", f"your teachers for a {g(al.student)} student at {g(al.compute)} FLOPs ({t.scenario}), best "
                      f"student first (a stronger teacher can rank lower: its inference costs more per token, and past the "
                      f"capacity gap it teaches worse):"]
        for i, c in enumerate(t.ranked, 1):
            lines += choice_lines(c, f"  {i}. {c.teacher.name} (L_T {c.teacher.loss:.4f})")
    if plan.sharing is not None:
        sh = plan.sharing
        lines += ["", f"smallest number of students per teacher at which distillation pays at {g(al.compute)} FLOPs "
                      f"(the teacher's training split among them):"]
        for s in sh.per_student:
            if s.smallest_k is None:
                why = (f"never: even with its training free the gain is {s.gain_unlimited:+.4f}"
                       if s.gain_unlimited <= 0 else f"more than {s.k_max}")
                lines.append(f"  N_S = {g(s.student)} ({s.scenario}): {why}")
            else:
                lines.append(f"  N_S = {g(s.student)} ({s.scenario}): K = {s.smallest_k} (gain {s.gain_at_k:+.4f}; "
                             f"{s.gain_unlimited:+.4f} with the teacher's training free)")
    lk = plan.link
    lines += ["", f"implied optimal teacher (Eq. 8 + supervised law for the teacher, {lk.protocol}; {lk.note}):"]
    lines.append("  " + ", ".join(f"T*/S = {g(o.ratio)} at S = {g(o.student)}" + ("" if o.interior else " (edge)")
                                  for o in lk.optima))
    if lk.fit:
        lin, pw, unit = lk.fit.linear, lk.fit.power, lk.size_unit
        unit = " M" if unit == 1e6 else "" if unit == 1 else f" × {unit:g}"
        lines.append(f"  linear law T* = {lin.slope:.4g}·S {lin.intercept:+.4g}{unit}, "
                     f"R² = {lin.r2:.4f}; power law T* = {math.exp(pw.intercept):.4g}·S^{pw.slope:.4f}, "
                     f"R² = {pw.r2:.4f} (Zhang et al.: {ZHANG_LINEAR.slope}·S {ZHANG_LINEAR.intercept:+} M, "
                     f"R² = {ZHANG_R2})" + (f"; {lk.n_edge_excluded} edge optima left out" if lk.n_edge_excluded else ""))
    else:
        lines.append(f"  no teacher law fitted: {lk.n_edge_excluded} of {len(lk.optima)} optima at the edge "
                     f"of the searched sizes (N_S·[1e-2, 1e4])")
    if plan.sweep is not None:
        sw = plan.sweep
        lines += ["", f"crossovers for N_S = {g(al.student)} over C = {g(sw.computes[0])}–{g(sw.computes[-1])} FLOPs:"]
        for name, cs in sw.crossovers.items():
            gains = [a.gain for a in sw.allocations[name]]
            if cs:
                txt = "; ".join(f"{c['direction']} at {g(c['compute'])} FLOPs" for c in cs)
            else:
                txt = f"none: {'distillation' if gains[0] > 0 else 'supervised'} wins throughout"
            n = sw.n_flagged(name)
            lines.append(f"  {name}: {txt}" + (f" ({n} of {len(gains)} swept points flagged: edge, floor or "
                                               f"unconverged; see plan.json)" if n else ""))
    return lines


def _design(d) -> list[str]:
    if d.status != "ok":
        return ["", f"pilot design ({d.table}: {len(d.students)} students, {d.n_seeds} seeds): {d.reason}"]
    p = d.prediction
    lines = ["", f"pilot design ({d.table}: {len(d.students)} students, {d.n_seeds} seeds, "
                 f"seed noise {d.noise_sd:.3g}):",
             f"  teacher-law slope {p.slope:.4g}, {p.ci:.0%} CI [{p.slope_ci[0]:.4g}, {p.slope_ci[1]:.4g}]; "
             f"T* at S = {g(p.target)}: {g(p.target_teacher)}, CI [{g(p.target_teacher_ci[0])}, "
             f"{g(p.target_teacher_ci[1])}]"]
    if d.power_law_target_teacher is not None:
        pw = d.power_law_target_teacher
        lines.append(f"  the power law on the same optima gives {g(pw)} ({pw / p.target_teacher - 1:+.0%} from the "
                     f"linear law: a model-form uncertainty the CI does not include)")
    if d.eq8_implied_target_teacher is not None:
        lines.append(f"  Eq. 8 implies T* = {g(d.eq8_implied_target_teacher)} there")
    if d.eq8_extrapolation is not None:
        e = d.eq8_extrapolation
        lines.append(f"  Eq. 8 extrapolation error on the pilot's held-out strongest runs: max {e['max_rel_error']:.2%}"
                     if e.get("max_rel_error") is not None else f"  Eq. 8 extrapolation check: {e.get('status')}")
    lines.append("  additions ranked by T*-CI shrinkage per cost:")
    for a in d.additions:
        lines.append(f"    {a['addition']}: CI width {g(p.target_width)} → {g(a['target_ci_width'])} "
                     f"for {g(a['cost'])} {a['cost_unit']}")
    return lines
