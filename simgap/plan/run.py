"""Everything `python -m simgap.plan` computes, as importable functions returning the typed results
of `simgap.plan.results` (plan.json is `simgap.fit.results.to_json` of a `Plan`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from simgap.fit import read_table
from simgap.plan import compute, decisions, design, eq8, link, teachers
from simgap.plan.compute import SCENARIOS, Allocation, PlanError
from simgap.plan.load import Eq8Check, Laws
from simgap.plan.results import (AllocationSection, Choice, DesignSection, LinkSection, Plan, SharingSection,
                                 SweepSection, TeacherSection)


@dataclass(frozen=True)
class PlanRequest:
    student: float  # N_S, in the laws' size unit
    compute: float  # C, FLOPs charged to this student
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
    teacher_size: float | None = None  # your teacher: N_T with teacher_tokens D_T, or its loss
    teacher_tokens: float | None = None
    teacher_loss: float | None = None
    teachers_csv: str | None = None  # several teachers to rank
    students_per_teacher: float = 1.0  # K: the teacher's training is charged 1/K to this student
    design_table: str | None = None
    design_students: tuple[float, ...] = ()  # a planned pilot from the laws (no table): students,
    design_ratios: tuple[float, ...] = ()  # teacher sizes as multiples of each student,
    design_seeds: int = 5  # seeds (and noise_sd, required)
    target_student: float | None = None
    design_boot: int = 1000
    eq8_boot: int = 0  # > 0: parametric bootstrap of the Eq. 8 fit (needs --laws with the fit's data)
    noise_sd: float | None = None
    seed: int = 0
    level: float = 0.9  # decision intervals

    @property
    def own_teacher(self) -> bool:
        return self.teacher_size is not None or self.teacher_loss is not None


def _F(req: PlanRequest):
    return partial(compute.flops_per_token, c1=req.flops_c1, c2=req.flops_c2)


def compute_range(N_S: float, F, n: int) -> np.ndarray:
    """Computes from 2 to 1e5 tokens per parameter's worth of student training."""
    base = 3 * float(F(N_S)) * N_S
    return np.geomspace(2 * base, 1e5 * base, n)


def units(L: Laws, req: PlanRequest) -> dict:
    loss = ("nats per token on C4 English, the paper's data" if L.is_reference
            else "nats per token, on the data the laws were fitted on")
    return {"size": "parameters" if L.is_reference else "the fit's size unit (its size column)",
            "tokens": "tokens", "compute": "FLOPs", "loss": loss,
            "gain": "supervised − distilled student loss, same unit: > 0 means distillation wins",
            "teacher_law_sizes": f"sizes / {req.size_unit:g}"}


def scenario_of(name: str, req: PlanRequest) -> compute.Scenario:
    return teachers.shared(SCENARIOS[name], req.students_per_teacher)


def choose(a: Allocation, description: str, L: Laws, req: PlanRequest, teacher=None) -> Choice:
    """An allocation with its decision and its extrapolation flags."""
    d = decisions.decide(a.student, a.compute, a.student_tokens, a.teacher, a.teacher_tokens, a.teacher_loss, L, _F(req),
                      level=req.level, fixed_teacher_loss=teacher is not None and teacher.loss_given)
    ext = decisions.extrapolation(L.ranges, student_size=a.student, student_tokens=a.student_tokens,
                               teacher_size=a.teacher, teacher_tokens=a.teacher_tokens, teacher_loss=a.teacher_loss)
    return Choice(a, description, d, ext, teacher)


def allocation_section(L: Laws, req: PlanRequest) -> AllocationSection:
    F = _F(req)
    out = {}
    for name in req.scenarios:
        sc = scenario_of(name, req)
        out[name] = choose(compute.optimise(req.student, req.compute, L.supervised, L.distill, sc, F),
                           sc.description, L, req)
    return AllocationSection(req.student, req.compute,
                             compute.supervised_at_compute(req.student, req.compute, L.supervised, F), out)


def teacher_section(L: Laws, req: PlanRequest) -> TeacherSection:
    """The user's teacher(s) under the scenarios that keep a teacher's training sunk (or shared)."""
    F = _F(req)
    if req.teachers_csv:
        ts = teachers.read_teachers(req.teachers_csv, L.supervised)
    else:
        nan = lambda x: math.nan if x is None else x  # noqa: E731
        ts = (teachers.make_teacher(L.supervised, size=nan(req.teacher_size), tokens=nan(req.teacher_tokens),
                                    loss=nan(req.teacher_loss), name="your teacher"),)
    name = "free" if req.scenarios == ("free",) else "inference"
    sc = SCENARIOS[name]
    ranked = teachers.rank_teachers(req.student, req.compute, ts, L.supervised, L.distill, sc, F)
    return TeacherSection(sc.description, tuple(choose(a, sc.description, L, req, t) for t, a in ranked))


def sharing_section(L: Laws, req: PlanRequest, students) -> SharingSection:
    F = _F(req)
    names = [n for n in req.scenarios if SCENARIOS[n].delta_pre > 0] or ["trained"]
    per = tuple(teachers.smallest_k(float(s), req.compute, L.supervised, L.distill, SCENARIOS[n], F)
                for n in names for s in students
                if req.compute >= 2 * 3 * float(F(s)) * s)  # students C can train on ≥ 2 tokens per parameter
    return SharingSection(req.students_per_teacher, per)


def link_section(L: Laws, req: PlanRequest) -> LinkSection:
    S = np.asarray(req.link_students or np.geomspace(req.student / 10, req.student * 10, 9), float)
    D = None if req.student_tokens is None else req.student_tokens * S / req.student  # same tokens per param
    opts = link.implied_optima(S, L.supervised, L.distill, req.protocol, student_tokens=D,
                               tokens_per_param=req.tokens_per_param)
    T = np.array([o.teacher for o in opts])
    inner = np.array([o.interior for o in opts])  # an edge optimum is only a bound: kept out of the fits
    fit = (link.fit_both(S[inner] / req.size_unit, T[inner] / req.size_unit)
           if len(np.unique(S[inner])) >= 3 else None)
    D_S = req.student_tokens or req.tokens_per_param * req.student
    tokens = (f"students on D_S = {req.student_tokens:.3g}·N_S/{req.student:.3g}" if req.student_tokens
              else f"students on D_S = {req.tokens_per_param:g}·N_S")
    note = (f"{tokens}, teachers' compute not charged — a fixed protocol, not the allocation's D_S and budget, "
            f"so its T* differs from the teachers the allocations above pay for")
    grid = np.geomspace(req.student * link.RATIO_RANGE[0], req.student * link.RATIO_RANGE[1], 400)
    return LinkSection(req.protocol.describe(), req.size_unit, tuple(opts), fit, note,
                       link.implied_optimum(req.student, D_S, L.supervised, L.distill, req.protocol), grid,
                       link.student_loss_vs_teacher(req.student, D_S, grid, L.supervised, L.distill, req.protocol))


def sweep_section(L: Laws, req: PlanRequest) -> SweepSection:
    """Allocations over C for the student (crossovers, shares) and the gain map over (N_S, C)."""
    F = _F(req)
    Cs = compute_range(req.student, F, req.sweep_points)
    sweeps, cross = {}, {}
    for name in req.scenarios:
        sc = scenario_of(name, req)
        al = compute.sweep_compute(req.student, Cs, L.supervised, L.distill, sc, F)
        sweeps[name] = tuple(al)
        cross[name] = compute.crossovers(req.student, Cs, L.supervised, L.distill, sc, F, allocations=al)
    students = np.geomspace(req.student / 10, req.student * 10, req.map_students)
    lo, hi = compute_range(students[0], F, 2)[0], compute_range(students[-1], F, 2)[-1]
    map_C = np.geomspace(lo, hi, req.sweep_points)
    gains, flags, ties = {}, {}, {}
    for name in req.scenarios:
        sc = scenario_of(name, req)
        g = np.full((len(students), len(map_C)), np.nan)
        f, t = np.zeros(g.shape, bool), np.zeros(g.shape, bool)
        for i, s in enumerate(students):
            for j, c in enumerate(map_C):
                try:
                    a = compute.optimise(float(s), float(c), L.supervised, L.distill, sc, F)
                except PlanError:  # too little compute for this student: left blank
                    continue
                g[i, j], f[i, j] = a.gain, bool(a.flags)
                t[i, j] = L.fit_error is not None and abs(a.gain) < L.fit_error * a.supervised_loss
        gains[name], flags[name], ties[name] = g, f, t
    return SweepSection(tuple(Cs.tolist()), sweeps, cross, tuple(students.tolist()), tuple(map_C.tolist()), gains,
                        flags, ties if L.fit_error is not None else None)


def design_section(L: Laws | None, req: PlanRequest) -> DesignSection:
    if req.design_table:
        pilot = design.pilot_from_columns(read_table(req.design_table), noise_sd=req.noise_sd)
    else:
        if L is None or req.noise_sd is None:
            raise PlanError("a planned pilot (--design-students) needs laws and --noise-sd")
        pilot = design.pilot_from_law(L.supervised, L.distill, req.design_students, req.design_ratios,
                                      req.design_seeds, req.noise_sd, req.protocol, req.tokens_per_param)
    target = req.target_student if req.target_student is not None else 10 * pilot.students[-1]
    own = design.estimate(pilot.students, pilot.teachers, [np.asarray(c)[None, :] for c in pilot.curves], target)
    inner = own.interior[0]
    head = dict(table=str(req.design_table or "planned from the laws"), students=tuple(pilot.students),
                n_seeds=pilot.n_seeds, noise_sd=pilot.noise_sd)
    if inner.sum() < 2:
        return DesignSection(**head, status="no_teacher_law", reason=design.edge_advice(pilot, inner))
    base, draws = design.predict(pilot, target, n_boot=req.design_boot, seed=req.seed, with_draws=True)
    S_in = np.asarray(pilot.students)[inner]
    power = (link.fit_both(S_in, own.optima[0][inner]).power(target).item()
             if len(S_in) >= 3 else None)
    ext = None
    if L is not None and not L.is_reference:
        e = L.eq8_check or Eq8Check("absent")
        ext = ({"max_rel_error": e.max_rel_error, "mean_rel_error": e.mean_rel_error, "n_train": e.n_train,
                "n_test": e.n_test} if e.status == "ok" else {"status": "not run", "reason": e.status})
    implied = (link.implied_optimum(target, req.tokens_per_param * target, L.supervised, L.distill,
                                    req.protocol).teacher if L is not None else None)
    return DesignSection(**head, status="ok", power_law_target_teacher=power, prediction=base,
                         additions=tuple(design.rank_additions(pilot, target, n_boot=req.design_boot, seed=req.seed,
                                                               base=base)),
                         eq8_extrapolation=ext, eq8_implied_target_teacher=implied, pilot=pilot,
                         optima=own.optima[0], interior=inner, draws=draws)


def eq8_section(L: Laws, req: PlanRequest) -> eq8.Eq8Extrapolation:
    if L.eq8_data is None:
        raise PlanError(f"--eq8-boot needs --laws FILE whose distillation section holds its data and rmse_log "
                        f"('data' with N, D and teacher_loss, and fit.rmse_log): {L.source} lacks them")
    e = L.eq8_data
    target = req.target_student if req.target_student is not None else 10 * max(e.N)
    return eq8.expected_error(L.supervised, L.distill, e.N, e.D, e.teacher_loss, e.rmse_log,
                              target, req.tokens_per_param * target, n_boot=req.eq8_boot, seed=req.seed)


def make_plan(L: Laws | None, req: PlanRequest, *, sweeps: bool = True) -> Plan:
    """The plan (without laws: the pilot design only)."""
    if L is None:
        return Plan(None, req, {}, design=design_section(None, req))
    if not (math.isfinite(req.student) and req.student > 0):
        raise PlanError(f"student size must be finite and > 0, got {req.student!r}")
    if L.is_reference and req.student < 1:
        raise PlanError(f"the reference laws count parameters: a student has at least one parameter, got "
                        f"{req.student:g} (the paper's runs span {L.ranges.source.split(': ', 1)[-1]})")
    compute.check_laws(L.supervised, L.distill)
    plan = Plan(L, req, units(L, req), allocation=allocation_section(L, req), link=link_section(L, req))
    if req.own_teacher or req.teachers_csv:
        plan = replace(plan, teachers=teacher_section(L, req))
    if sweeps:
        plan = replace(plan, sweep=sweep_section(L, req))
    if req.students_per_teacher > 1:
        students = plan.sweep.map_students if sweeps else (req.student,)
        plan = replace(plan, sharing=sharing_section(L, req, students))
    if req.design_table or req.design_students:
        plan = replace(plan, design=design_section(L, req))
    if req.eq8_boot > 0:
        plan = replace(plan, eq8=eq8_section(L, req))
    return plan

