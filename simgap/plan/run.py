"""Everything `python -m simgap.plan` computes, as importable functions returning plain dicts."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

from simgap.plan import compute, design, link
from simgap.plan.compute import SCENARIOS, PlanError
from simgap.plan.load import Eq8Check, Laws


@dataclass(frozen=True)
class PlanRequest:
    student: float  # N_S, in the laws' size unit
    compute: float  # C, FLOPs
    student_tokens: float | None = None  # D_S for the teacher-law link (default tokens_per_param·N_S)
    tokens_per_param: float = 20.0  # the student's, when student_tokens is not given
    scenarios: tuple[str, ...] = ("free", "inference", "trained")
    protocol: link.TeacherProtocol = link.TeacherProtocol()
    flops_c1: float = 0.0
    flops_c2: float = 0.0
    size_unit: float = 1.0  # sizes are divided by this for the teacher-law fits (1e6: "millions")
    link_students: tuple[float, ...] = ()  # default: 9 sizes from N_S/10 to 10·N_S
    sweep_points: int = 13  # computes per scenario for crossovers and plots
    map_students: int = 5  # student sizes in the gain map
    design_table: str | None = None
    design_students: tuple[float, ...] = ()  # a planned pilot from the laws (no table): students,
    design_ratios: tuple[float, ...] = ()  # teacher sizes as multiples of each student,
    design_seeds: int = 5  # seeds (and noise_sd, required)
    target_student: float | None = None
    design_boot: int = 1000
    eq8_boot: int = 0  # > 0: parametric bootstrap of the Eq. 8 fit (needs --laws with the fit's data)
    noise_sd: float | None = None
    seed: int = 0


def _F(req: PlanRequest):
    return partial(compute.flops_per_token, c1=req.flops_c1, c2=req.flops_c2)


def compute_range(N_S: float, F, n: int) -> np.ndarray:
    """Computes from 2 to 1e5 tokens per parameter's worth of student training."""
    base = 3 * float(F(N_S)) * N_S
    return np.geomspace(2 * base, 1e5 * base, n)


def link_section(L: Laws, req: PlanRequest) -> dict:
    S = np.asarray(req.link_students or np.geomspace(req.student / 10, req.student * 10, 9), float)
    D = None if req.student_tokens is None else req.student_tokens * S / req.student  # same tokens per param
    opts = link.implied_optima(S, L.supervised, L.distill, req.protocol, student_tokens=D,
                               tokens_per_param=req.tokens_per_param)
    T = np.array([o.teacher for o in opts])
    inner = np.array([o.interior for o in opts])  # an edge optimum is only a bound: kept out of the fits
    fit = (link.fit_laws_to_optima(S[inner] / req.size_unit, T[inner] / req.size_unit)
           if len(np.unique(S[inner])) >= 3 else None)
    return {"protocol": req.protocol.describe(), "size_unit": req.size_unit, "n_edge_excluded": int((~inner).sum()),
            "optima": [asdict(o) | {"ratio": o.ratio} for o in opts],
            "fit": asdict(fit) if fit else None, "zhang": link.ZHANG}


def allocation_section(L: Laws, req: PlanRequest) -> dict:
    F = _F(req)
    out = {"student": req.student, "compute": req.compute,
           "supervised_loss": compute.supervised_at_compute(req.student, req.compute, L.supervised, F),
           "scenarios": {}}
    for name in req.scenarios:
        a = compute.optimise(req.student, req.compute, L.supervised, L.distill, SCENARIOS[name], F)
        out["scenarios"][name] = a.to_dict() | {"description": SCENARIOS[name].description}
    return out


def sweep_section(L: Laws, req: PlanRequest) -> tuple[dict, dict]:
    """Allocations over C for the student (crossovers, shares) and the gain map over (N_S, C)."""
    F = _F(req)
    Cs = compute_range(req.student, F, req.sweep_points)
    sweeps, cross = {}, {}
    for name in req.scenarios:
        al = compute.sweep_compute(req.student, Cs, L.supervised, L.distill, SCENARIOS[name], F)
        sweeps[name] = al
        cross[name] = compute.crossovers(req.student, Cs, L.supervised, L.distill, SCENARIOS[name], F, allocations=al)
    students = np.geomspace(req.student / 10, req.student * 10, req.map_students)
    lo, hi = compute_range(students[0], F, 2)[0], compute_range(students[-1], F, 2)[-1]
    map_C = np.geomspace(lo, hi, req.sweep_points)
    gains = {}
    for name in req.scenarios:
        g = np.full((len(students), len(map_C)), np.nan)
        for i, s in enumerate(students):
            for j, c in enumerate(map_C):
                try:
                    g[i, j] = compute.optimise(float(s), float(c), L.supervised, L.distill, SCENARIOS[name], F).gain
                except PlanError:  # too little compute for this student: left blank
                    pass
        gains[name] = g
    section = {"computes": Cs.tolist(),
               "allocations": {k: [a.to_dict() for a in v] for k, v in sweeps.items()},
               "crossovers": cross,
               "gain_map": {"students": students.tolist(), "computes": map_C.tolist(),
                            "supervised_minus_distilled": {k: v.tolist() for k, v in gains.items()}}}
    return section, {"sweeps": sweeps, "gains": gains, "students": students, "map_C": map_C}


def design_section(L: Laws | None, req: PlanRequest) -> tuple[dict, design.Pilot]:
    from simgap import fit as fit_lib

    if req.design_table:
        pilot = design.pilot_from_columns(fit_lib.read_table(req.design_table), noise_sd=req.noise_sd)
    else:
        if L is None or req.noise_sd is None:
            raise PlanError("a planned pilot (--design-students) needs laws and --noise-sd")
        pilot = design.pilot_from_law(L.supervised, L.distill, req.design_students, req.design_ratios,
                                      req.design_seeds, req.noise_sd, req.protocol, req.tokens_per_param)
    target = req.target_student if req.target_student is not None else 10 * pilot.students[-1]
    own = design.estimate(pilot.students, pilot.teachers, [np.asarray(c)[None, :] for c in pilot.curves], target)
    inner = own["interior"][0]
    head = {"table": str(req.design_table or "planned from the laws"), "students": list(pilot.students),
            "n_seeds": pilot.n_seeds, "noise_sd": pilot.noise_sd}
    if inner.sum() < 2:
        return head | {"status": "no_teacher_law", "reason": design.edge_advice(pilot, inner)}, pilot
    base = design.predict(pilot, target, n_boot=req.design_boot, seed=req.seed)
    S_in = np.asarray(pilot.students)[inner]
    power = (link.fit_laws_to_optima(S_in, own["optima"][0][inner]).power(target).item()
             if len(S_in) >= 3 else None)
    out = head | {"status": "ok", "power_law_target_teacher": power, "prediction": design.prediction_dict(base),
           "additions": design.rank_additions(pilot, target, n_boot=req.design_boot, seed=req.seed, base=base)}
    if L is not None and not L.is_reference:
        e = L.eq8_check or Eq8Check("absent")
        out["eq8_extrapolation"] = ({"max_rel_error": e.max_rel_error, "mean_rel_error": e.mean_rel_error,
                                     "n_train": e.n_train, "n_test": e.n_test} if e.status == "ok"
                                    else {"status": "not run", "reason": e.status})
    if L is not None:
        imp = link.implied_optimum(target, req.tokens_per_param * target, L.supervised, L.distill, req.protocol)
        out["eq8_implied_target_teacher"] = imp.teacher
    return out, pilot


def eq8_section(L: Laws, req: PlanRequest) -> dict:
    from simgap.plan import eq8

    if L.eq8_data is None:
        raise PlanError("--eq8-boot needs --laws FILE whose distillation section holds its data and rmse_log")
    e = L.eq8_data
    target = req.target_student if req.target_student is not None else 10 * max(e.N)
    r = eq8.expected_error(L.supervised, L.distill, e.N, e.D, e.teacher_loss, e.rmse_log,
                           target, req.tokens_per_param * target, n_boot=req.eq8_boot, seed=req.seed)
    return r.to_dict()


def make_plan(L: Laws | None, req: PlanRequest, *, sweeps: bool = True) -> tuple[dict, dict]:
    """The plan as a JSON-ready dict, plus the objects the plots need (without laws: the design only)."""
    if L is None:
        d, pilot = design_section(None, req)
        return {"design": d}, {"pilot": pilot}
    if not (math.isfinite(req.student) and req.student > 0):
        raise PlanError(f"student size must be finite and > 0, got {req.student!r}")
    if L.is_reference and req.student < 1:
        raise PlanError(f"the reference laws count parameters: a student has at least one parameter, got "
                        f"{req.student:g} (the paper's runs span {L.ranges.source.split(': ', 1)[-1]})")
    compute.check_laws(L.supervised, L.distill)
    plan = {"laws": {"source": L.source, "supervised": asdict(L.supervised), "distillation": asdict(L.distill)},
            "request": {k: v for k, v in asdict(req).items() if k != "protocol"} | {"protocol": asdict(req.protocol)},
            "allocation": allocation_section(L, req), "link": link_section(L, req)}
    extras: dict = {}
    if sweeps:
        plan["sweep"], extras = sweep_section(L, req)
    if req.design_table or req.design_students:
        plan["design"], extras["pilot"] = design_section(L, req)
    if req.eq8_boot > 0:
        plan["eq8_extrapolation"] = eq8_section(L, req)
    return plan, extras


def write_plots(L: Laws | None, req: PlanRequest, plan: dict, extras: dict, out: Path) -> list[str]:
    from simgap.plan import plots

    paths = []
    if "pilot" in extras and plan["design"]["status"] == "ok":
        pilot, pr = extras["pilot"], plan["design"]["prediction"]
        own = design.estimate(pilot.students, pilot.teachers, [np.asarray(c)[None, :] for c in pilot.curves], 1.0)
        sim = design.simulate(pilot, pr["target"], req.design_boot, np.random.default_rng(req.seed))
        paths.append(plots.plot_design(pilot.students, own["optima"][0], own["interior"][0], sim["slope"],
                                       sim["intercept"], pr["target"], pr["ci"], out / "design.png",
                                       implied=plan["design"].get("eq8_implied_target_teacher")))
    if L is None:
        return [str(p) for p in paths]
    D_S = req.student_tokens or req.tokens_per_param * req.student
    T = np.geomspace(req.student * link.RATIO_RANGE[0], req.student * link.RATIO_RANGE[1], 400)
    Ls = link.student_loss_vs_teacher(req.student, D_S, T, L.supervised, L.distill, req.protocol)
    o = link.implied_optimum(req.student, D_S, L.supervised, L.distill, req.protocol)
    paths += [plots.plot_student_vs_teacher(
        T, Ls, o.supervised_loss, (o.teacher, o.student_loss), out / "student_vs_teacher.png",
        title=f"N_S = {req.student:.3g} on D_S = {D_S:.3g} tokens; teachers: {req.protocol.describe()}")]
    if "sweeps" in extras:
        paths.append(plots.plot_gain_map(extras["students"], extras["map_C"], extras["gains"], out / "gain_map.png"))
        paths.append(plots.plot_allocation(extras["sweeps"], out / "allocation.png"))
    return [str(p) for p in paths]


def _g(x: float) -> str:
    """3 significant digits, exponents as 1.2e9 rather than 1.2e+09."""
    return f"{x:.3g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def summarize(plan: dict) -> str:
    lines = [] if "laws" not in plan else [f"laws: {plan['laws']['source']}", ""] + _summarize_laws(plan)
    if "design" in plan:
        lines += _summarize_design(plan["design"])
    if "eq8_extrapolation" in plan:
        e = plan["eq8_extrapolation"]
        lines += ["", f"Eq. 8 extrapolated to S = {_g(e['target_student'])} on {_g(e['target_tokens'])} tokens "
                      f"({e['n_boot'] - e['n_failed']} refits on re-drawn pilots, noise {e['noise_log']:.2g} in log loss): "
                      f"best L_S {e['student_loss']:.4f}, expected error {e['student_loss_rel_error'][0]:.2%} "
                      f"(90th percentile {e['student_loss_rel_error'][1]:.2%}); its teacher's loss "
                      f"{e['teacher_loss']:.4f}, error {e['teacher_loss_rel_error'][0]:.2%} "
                      f"(90th percentile {e['teacher_loss_rel_error'][1]:.2%})"]
    return "\n".join(lines).strip("\n")


def _summarize_laws(plan: dict) -> list[str]:
    al = plan["allocation"]
    N, C = al["student"], al["compute"]
    lines = []
    verbs = {"trained": "train a {nt} teacher on {dt} tokens, then distil on {ds} tokens",
             "inference": "distil on {ds} tokens from an existing {nt} teacher (L_T {lt:.4f}; its inference paid)",
             "free": "distil on {ds} tokens from any existing teacher with L_T ≈ {lt:.4f} (e.g. {nt} parameters "
                     "trained on {dt} tokens; logits free)"}
    for name, a in al["scenarios"].items():
        verb = verbs[name].format(nt=_g(a["teacher"]), dt=_g(a["teacher_tokens"]), ds=_g(a["student_tokens"]),
                                  lt=a["teacher_loss"])
        better = "distillation wins" if a["gain"] > 0 else "supervised wins"
        flag = "" if a["converged"] else f" [NOT CONVERGED: {a['message']}]"
        lines.append(f"for a {_g(N)} student at {_g(C)} FLOPs ({a['description']}): {verb}: predicted "
                     f"{a['student_loss']:.4f} vs {a['supervised_loss']:.4f} supervised ({better} by "
                     f"{abs(a['gain']):.4f}; constraint residual {a['constraint_residual']:.1e}){flag}")
    lk = plan["link"]
    lines += ["", f"implied optimal teacher (Eq. 8 + supervised law for the teacher, {lk['protocol']}):"]
    lines.append("  " + ", ".join(f"T*/S = {_g(o['ratio'])} at S = {_g(o['student'])}" +
                                  ("" if o["interior"] else " (edge)") for o in lk["optima"]))
    if lk["fit"]:
        f, z, u = lk["fit"], lk["zhang"], lk["size_unit"]
        unit = " M" if u == 1e6 else "" if u == 1 else f" × {u:g}"
        lines.append(f"  linear law T* = {f['linear_slope']:.4g}·S {f['linear_intercept']:+.4g}{unit}, "
                     f"R² = {f['linear_r2']:.4f}; power law T* = {f['power_c']:.4g}·S^{f['power_p']:.4f}, "
                     f"R² = {f['power_r2']:.4f} (Zhang et al.: {z['slope']}·S {z['intercept_millions']:+} M, "
                     f"R² = {z['r2']})" + (f"; {lk['n_edge_excluded']} edge optima left out" if lk["n_edge_excluded"] else ""))
    else:
        lines.append(f"  no teacher law fitted: {lk['n_edge_excluded']} of {len(lk['optima'])} optima at the edge "
                     f"of the searched sizes (N_S·[1e-2, 1e4])")
    if "sweep" in plan:
        lines += ["", f"crossovers for N_S = {_g(N)} over C = {_g(plan['sweep']['computes'][0])}–"
                      f"{_g(plan['sweep']['computes'][-1])} FLOPs:"]
        for name, cs in plan["sweep"]["crossovers"].items():
            gains = [a["gain"] for a in plan["sweep"]["allocations"][name]]
            if cs:
                txt = "; ".join(f"{c['direction']} at {_g(c['compute'])} FLOPs" for c in cs)
            else:
                txt = f"none: {'distillation' if gains[0] > 0 else 'supervised'} wins throughout"
            lines.append(f"  {name}: {txt}")
    return lines


def _summarize_design(d: dict) -> list[str]:
    if d["status"] != "ok":
        return ["", f"pilot design ({d['table']}: {len(d['students'])} students, {d['n_seeds']} seeds): {d['reason']}"]
    p = d["prediction"]
    lines = ["", f"pilot design ({d['table']}: {len(d['students'])} students, {d['n_seeds']} seeds, "
                 f"seed noise {d['noise_sd']:.3g}):",
             f"  teacher-law slope {p['slope']:.4g}, {p['ci']:.0%} CI [{p['slope_ci'][0]:.4g}, {p['slope_ci'][1]:.4g}]; "
             f"T* at S = {_g(p['target'])}: {_g(p['target_teacher'])}, CI [{_g(p['target_teacher_ci'][0])}, "
             f"{_g(p['target_teacher_ci'][1])}]"]
    if d.get("power_law_target_teacher") is not None:
        pw = d["power_law_target_teacher"]
        lines.append(f"  the power law on the same optima gives {_g(pw)} ({pw / p['target_teacher'] - 1:+.0%} from the "
                     f"linear law: a model-form uncertainty the CI does not include)")
    if "eq8_implied_target_teacher" in d:
        lines.append(f"  Eq. 8 implies T* = {_g(d['eq8_implied_target_teacher'])} there")
    if "eq8_extrapolation" in d:
        e = d["eq8_extrapolation"]
        lines.append(f"  Eq. 8 extrapolation error on the pilot's held-out strongest runs: max {e['max_rel_error']:.2%}"
                     if e.get("max_rel_error") is not None else f"  Eq. 8 extrapolation check: {e.get('status')}")
    lines.append("  additions ranked by T*-CI shrinkage per cost:")
    for a in d["additions"]:
        lines.append(f"    {a['addition']}: CI width {_g(p['target_ci_width'])} → {_g(a['target_ci_width'])} "
                     f"for {_g(a['cost'])} {a['cost_unit']}")
    return lines
