"""Do the two laws agree? The optimal teacher *size* that a fitted Eq. 8 implies, against measured optima.

Eq. 8 (Busbridge et al. 2025) gives the student's loss from the teacher's loss L_T only. With a
supervised law for the teacher, L_T = L(N_T, D_T), and a protocol saying how the teacher is
trained (D_T as a function of N_T), it becomes a curve L_S(N_T) whose argmin is the implied
optimal teacher T*(S). This module is the fitting layer's half (fit_table computes it for every
setting, simgap.fit.sections.agreement_section); simgap.plan.link adds the compute-optimal protocol, which needs the planner's allocation.

Protocols (`TeacherProtocol`):
- "tokens_per_param": D_T = k·N_T (k = 20, Chinchilla's ratio, by default);
- "fixed_tokens": every teacher sees the same D_T;
- "compute_optimal": the teacher that the compute-optimal allocation picks at total compute
  C = multiple · 6·N_S·D_S, D_S the student's tokens (simgap.plan.link.implied_optimum).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simgap import laws
from simgap.fit.teacher import TeacherLawPair, fit_both
from simgap.fit.verdicts import equivalence, undecided
from simgap.intervals import mc_widened, percentile_interval
from simgap.laws import DistillParams, SupervisedParams

RATIO_RANGE = (1e-2, 1e4)  # searched teacher sizes, as multiples of the student's


@dataclass(frozen=True)
class TeacherProtocol:
    """How a teacher of N_T parameters is trained; `teacher_tokens(N_T)` gives its D_T."""

    kind: str = "tokens_per_param"  # | "fixed_tokens" | "compute_optimal"
    tokens_per_param: float = 20.0
    tokens: float = math.nan  # D_T for "fixed_tokens"
    compute_multiple: float = 10.0  # "compute_optimal": C = multiple · 6·N_S·D_S
    scenario: str = "trained"  # "compute_optimal": which compute.SCENARIOS entry

    def __post_init__(self):
        if self.kind not in ("tokens_per_param", "fixed_tokens", "compute_optimal"):
            raise ValueError(f"teacher protocol must be tokens_per_param, fixed_tokens or compute_optimal, got {self.kind!r}")
        if self.kind == "tokens_per_param" and not self.tokens_per_param > 0:
            raise ValueError(f"teacher tokens per parameter must be > 0, got {self.tokens_per_param}")
        if self.kind == "fixed_tokens" and not (math.isfinite(self.tokens) and self.tokens > 0):
            raise ValueError(f"fixed_tokens protocol needs teacher tokens > 0, got {self.tokens}")
        if self.kind == "compute_optimal" and not self.compute_multiple > 1:
            raise ValueError(f"compute multiple must be > 1 (the student alone costs 1), got {self.compute_multiple}")

    def teacher_tokens(self, N_T):
        N_T = np.asarray(N_T, float)
        if self.kind == "fixed_tokens":
            return np.full_like(N_T, self.tokens)
        return self.tokens_per_param * N_T

    def describe(self) -> str:
        if self.kind == "tokens_per_param":
            return f"D_T = {self.tokens_per_param:g}·N_T"
        if self.kind == "fixed_tokens":
            return f"D_T = {self.tokens:.3g} for every teacher"
        return f"compute-optimal ({self.scenario}) at C = {self.compute_multiple:g}·6·N_S·D_S"


@dataclass(frozen=True)
class ImpliedOptimum:
    """One student's implied optimal teacher under a protocol."""

    student: float
    student_tokens: float
    teacher: float  # N_T*
    teacher_tokens: float
    teacher_loss: float
    student_loss: float
    supervised_loss: float  # the student trained on labels with the same D_S
    interior: bool  # False: the optimum sits at the edge of the searched teacher sizes

    @property
    def ratio(self) -> float:
        return self.teacher / self.student


def student_loss_vs_teacher(N_S: float, D_S: float, N_T, sup: SupervisedParams, dist: DistillParams,
                            protocol: TeacherProtocol) -> np.ndarray:
    """L_S(N_T) = Eq. 8 at L_T = L(N_T, D_T(N_T))."""
    L_T = laws.supervised_loss(N_T, protocol.teacher_tokens(N_T), sup)
    return laws.distill_loss(N_S, D_S, L_T, sup, dist)


def implied_optimum(N_S: float, D_S: float, sup: SupervisedParams, dist: DistillParams,
                    protocol: TeacherProtocol, n_grid: int = 1201) -> ImpliedOptimum:
    """Eq. 8's optimal teacher: `optimum_over_teachers` of its L_S over N_T ∈ N_S·[1e-2, 1e4]."""
    if protocol.kind == "compute_optimal":
        raise ValueError("the compute-optimal teacher protocol needs the planner: use simgap.plan.link.implied_optimum")
    return optimum_over_teachers(lambda N_T, L_T: laws.distill_loss(N_S, D_S, L_T, sup, dist), N_S, D_S, sup,
                                 protocol, n_grid=n_grid)


def optimum_over_teachers(student_loss, N_S: float, D_S: float, sup: SupervisedParams, protocol: TeacherProtocol,
                          search: tuple[float, float] = RATIO_RANGE, n_grid: int = 1201) -> ImpliedOptimum:
    """argmin over N_T ∈ N_S·search of `student_loss(N_T, L_T)`, the teachers trained by `protocol` and
    L_T = L(N_T, D_T) from `sup`: a log grid (the break is sharp) refined by bounded Brent. The optimum
    is interior unless it lies within one grid step of an end of the search (then it is a bound)."""
    lo, hi = (math.log(N_S * r) for r in search)

    def f(x):
        N_T = np.exp(np.atleast_1d(np.asarray(x, float)))
        out = student_loss(N_T, laws.supervised_loss(N_T, protocol.teacher_tokens(N_T), sup))
        return out if np.ndim(x) else out[0]

    x, loss = laws.log_argmin(f, lo, hi, n_grid)
    step = (hi - lo) / (n_grid - 1)
    N_T = math.exp(x)
    D_T = float(protocol.teacher_tokens(N_T))
    return ImpliedOptimum(float(N_S), float(D_S), N_T, D_T, float(laws.supervised_loss(N_T, D_T, sup)), float(loss),
                          float(laws.supervised_loss(N_S, D_S, sup)), bool(lo + step < x < hi - step))


@dataclass(frozen=True)
class Agreement:
    """Do the fitted Eq. 8 (with the supervised law for the teacher) and the measured optima agree?"""

    students: tuple[float, ...]
    measured: tuple[float, ...]
    measured_ci: tuple[tuple[float, float], ...]
    implied: tuple[float, ...]  # Eq. 8's T*(S) at the measured students
    implied_interior: tuple[bool, ...]
    curve_students: tuple[float, ...]  # a dense T*(S) curve for plots
    curve_teachers: tuple[float, ...]
    implied_law: TeacherLawPair | None  # teacher laws fitted to the implied optima (None: < 3 students)
    measured_law: TeacherLawPair | None  # teacher laws fitted to the measured optima
    log_errors: tuple[float, ...]  # log(implied / measured) per student
    max_rel_error: float  # max |implied/measured − 1|
    n_inside_ci: int  # implied optima inside the measured CIs
    protocol: str
    verdict: str  # one sentence: agree or not, within which error
    # Eq. 8's T*(S) over its bootstrap replicates (each with its refitted supervised law), per student:
    # empty without replicates; what `agrees_checks` reads
    implied_samples: tuple[tuple[float, ...], ...] = ()
    law: str = "Eq. 8"  # the law whose implied optimum this is (simgap.fit.start_law's for a start)
    search: tuple[float, float] = RATIO_RANGE  # the searched teacher sizes, as multiples of the student's


def agreement(sup: SupervisedParams, dist: DistillParams, student_params, measured_T, measured_T_ci,
              student_budget, teacher_protocol: TeacherProtocol, *, tolerance: float = 0.25,
              n_curve: int = 40, implied=None, replicates=(), law: str = "Eq. 8",
              search: tuple[float, float] = RATIO_RANGE) -> Agreement:
    """Compare the optimal teacher Eq. 8 implies with the measured one, student by student.

    Sizes must be in the unit the laws were fitted in (simgap.fit's size column). `student_budget`
    is the students' D_S (one per student, or one for all). `measured_T_ci` holds (low, high)
    pairs (NaN when unknown). The laws agree when every implied optimum is interior and lies inside
    its measured CI or within `tolerance` (relative) of the measured value. `replicates`: the Eq. 8
    bootstrap's (distillation params, supervised params or None) pairs, whose implied optima
    (`implied_samples`) give the `agrees_with_optima` verdicts their CI. `implied`: another law's
    implied_optimum (same signature; `law` names it in the verdict, `search` is its range).
    """
    implied = implied or implied_optimum
    S = np.asarray(student_params, float).reshape(-1)
    T = np.asarray(measured_T, float).reshape(-1)
    ci = np.asarray(measured_T_ci, float).reshape(len(S), 2)
    D = np.broadcast_to(np.asarray(student_budget, float), S.shape)
    if len(T) != len(S) or len(S) == 0:
        raise ValueError(f"need one measured optimum per student: {len(S)} students, {len(T)} optima")
    opts = [implied(float(s), float(d), sup, dist, teacher_protocol) for s, d in zip(S, D)]
    imp = np.array([o.teacher for o in opts])
    interior = tuple(o.interior for o in opts)
    log_err = np.log(imp / T)
    rel = float(np.max(np.abs(imp / T - 1)))
    inside = (imp >= ci[:, 0]) & (imp <= ci[:, 1])
    grid = np.geomspace(S.min(), S.max(), n_curve) if S.max() > S.min() else S[:1]
    dense = [implied(float(s), float(np.interp(s, np.sort(S), D[np.argsort(S)])), sup, dist,
                             teacher_protocol).teacher for s in grid]
    n_unique = len(np.unique(S))
    imp_law = fit_both(S, imp) if n_unique >= 3 else None
    meas_law = fit_both(S, T) if n_unique >= 3 else None
    ok = all(interior) and bool(np.all(inside | (np.abs(imp / T - 1) <= tolerance)))
    slopes = (f"; linear-law slope implied {imp_law.linear.slope:.3g} vs measured {meas_law.linear.slope:.3g}"
              if imp_law else "")
    edge = "" if all(interior) else f" ({len(S) - sum(interior)} implied optima at the edge of the searched sizes)"
    verdict = (f"The two laws {'agree' if ok else 'disagree'} on this family: {law} with the supervised teacher law "
               f"({teacher_protocol.describe()}) implies optimal teachers within {rel:.0%} of the measured ones "
               f"({int(inside.sum())} of {len(S)} inside the measured CIs{edge}{slopes}).")
    samples = tuple(tuple(_implied_or_nan(implied, float(s), float(d), rs if rs is not None else sup, rd,
                                          teacher_protocol) for rd, rs in replicates) for s, d in zip(S, D))
    return Agreement(tuple(map(float, S)), tuple(map(float, T)), tuple(map(tuple, ci.tolist())), tuple(map(float, imp)),
                     interior, tuple(map(float, grid)), tuple(map(float, dense)), imp_law, meas_law,
                     tuple(map(float, log_err)), rel, int(inside.sum()), teacher_protocol.describe(), verdict,
                     samples, law, search)


def _implied_or_nan(implied, N_S, D_S, sup, dist, protocol) -> float:
    """One replicate's implied T* (NaN where its laws give none, e.g. a non-finite loss)."""
    try:
        return float(implied(N_S, D_S, sup, dist, protocol).teacher)
    except (ValueError, ArithmeticError):
        return math.nan


def agrees_checks(a: Agreement, opt, where: str, n_seeds: int, teacher_budget: float, budgets) -> list:
    """`agrees_with_optima`, one verdict per student with a measured interior optimum: is the T* that
    Eq. 8 implies the measured one? The effect is log(implied T* / measured T*); its CI combines the
    measured T*'s CI (seed bootstrap) with the implied T*'s (the Eq. 8 bootstrap's replicates, each with
    its refitted supervised law) by MOVER (Zou & Donner 2008: each end of a difference from the
    two estimates' own ends, in quadrature). Holds within ±tolerance (log units; 0.3 = a factor 1.35),
    fails when the CI excludes 0 (simgap.fit.verdicts.equivalence); the Monte Carlo-widened ends of
    the implied CI must agree. An implied optimum at the edge of the searched sizes is a bound: the
    law is at least that far off, so it can fail but not hold. Without replicates (no bootstrap)
    every student is undecided."""
    tol = opt.tolerance("agrees_with_optima")
    out = []
    for i, (S, T, (lo, hi), imp) in enumerate(zip(a.students, a.measured, a.measured_ci, a.implied)):
        kw = dict(effect=f"log(implied T* / measured T*) in parameters: {a.law} implies {imp:.3g}, measured {T:.3g} "
                         f"[{lo:.3g}, {hi:.3g}] ({a.protocol})",
                  where=where, student=S, budget=float(budgets[i]), teacher_budget=teacher_budget,
                  subject=", ".join([f"student {S:g}"] + [f"{k} {v:g}" for k, v in (
                      ("budget", float(budgets[i])), ("teacher budget", teacher_budget)) if math.isfinite(v)]))
        r = math.log(imp / T)
        lo, hi = min(lo, T), max(hi, T)  # a refined optimum may sit just outside its bootstrap CI
        samples = np.asarray(a.implied_samples[i] if a.implied_samples else (), float)
        samples = samples[np.isfinite(samples) & (samples > 0)]
        if not (0 < lo <= hi < math.inf):
            out.append(undecided("agrees_with_optima", "a finite CI of the measured T* (≥ 2 seeds)", r, tolerance=tol, **kw))
            continue
        if not a.implied_interior[i]:  # a bound: the effect is at least this far off, so it can fail, never hold
            kw["effect"] += (f"; {a.law}'s optimum is at the edge of the searched sizes ({a.search[0]:g}-"
                             f"{a.search[1]:g}x the student), so the implied T* is a bound")
        if len(samples) < 2:
            out.append(undecided("agrees_with_optima", f"a bootstrap of {a.law} (bootstrap > 0): the implied T*'s CI",
                                 r, tolerance=tol, **kw))
            continue

        def mover(ilo, ihi):  # (log implied − log measured) CI from the two CIs' ends
            return (r - math.hypot(math.log(imp / ilo), math.log(hi / T)),
                    r + math.hypot(math.log(ihi / imp), math.log(T / lo)))

        ilo, ihi = percentile_interval(np.log(samples), opt.ci)
        wlo, whi = mc_widened(np.log(samples), opt.ci)
        ilo, ihi = min(math.exp(ilo), imp), max(math.exp(ihi), imp)
        wlo, whi = min(math.exp(wlo), imp), max(math.exp(whi), imp)
        check = equivalence("agrees_with_optima", r, mover(ilo, ihi), 0.0, tol, n_seeds, decide_ci=mover(wlo, whi), **kw)
        if check.verdict == "holds" and not a.implied_interior[i]:
            check = undecided("agrees_with_optima", "an implied optimum inside the searched sizes (this one is a "
                              "bound)", r, check.ci, tol, **kw)
        out.append(check)
    return out


@dataclass(frozen=True)
class SeriesAgreement:
    """`agreement` for one teacher-length series of a fitted setting, or why it could not be computed
    (simgap.fit.sections.agreement_section fills it in; a field of the setting's fit)."""

    agreement: Agreement | None
    error: str  # "" when computed
    reduced: bool  # single-budget laws: D does not enter, so the teacher's D_T is immaterial
    teacher_budget: float = math.nan  # the series' teacher length (NaN: optima not split by it)
    budgets: tuple[float, ...] = ()  # each compared student's budget (its optimum's series)
