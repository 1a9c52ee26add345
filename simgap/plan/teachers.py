"""The teachers a user has, and a teacher shared by several students.

Your teacher: an existing checkpoint of N_T parameters trained on D_T tokens (its loss L_T then
comes from the supervised law), or known by its measured loss L_T alone. Its training is sunk; the
student pays its own training and, unless the logits are free, the teacher's forward passes:
C = 3F(N_S)·D_S + δ_logit·F(N_T)·D_S. With the teacher fixed, Eq. 8's L_S is minimised over D_S
alone (a log grid refined by Brent on [N_S, the D_S that spends C]); for Eq. 8 with positive
parameters L_S falls with D_S, so the answer spends all of C, but it is searched, not assumed.
Several checkpoints are ranked by that L_S: a better teacher (lower L_T) can rank lower — the
capacity gap.

Shared teachers: with K students per teacher, each student is charged 1/K of the teacher's
training (δ_pre → δ_pre/K). K = 1 is the "trained" scenario; as K → ∞ it becomes the scenario with
the teacher's training free ("inference" for trained, "free" for pretraining). The smallest K at
which distillation beats supervised training is found by doubling K, then bisection (the gain
never falls as K grows: every allocation stays affordable).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from simgap import laws
from simgap.fit.inputs import FitInputError
from simgap.fit.checks import LINE, where
from simgap.fit.reader import read_table
from simgap.laws import DistillParams, SupervisedParams
from simgap.plan import compute
from simgap.plan.compute import Allocation, PlanError, Scenario


@dataclass(frozen=True)
class Teacher:
    name: str
    size: float  # N_T (NaN: known by its loss only)
    tokens: float  # D_T (NaN: not given)
    loss: float  # L_T: measured, or L(N_T, D_T) from the supervised law
    loss_given: bool  # True: measured (kept fixed under the laws' replicates)


def make_teacher(sup: SupervisedParams, *, size: float = math.nan, tokens: float = math.nan,
                 loss: float = math.nan, name: str = "") -> Teacher:
    """A teacher from (size, tokens) or a measured loss (with an optional size, for inference cost)."""
    for what, v in (("size", size), ("tokens", tokens), ("loss", loss)):
        if not math.isnan(v) and not (math.isfinite(v) and v > 0):
            raise PlanError(f"teacher {name or ''} {what} must be finite and > 0, got {v:g}".replace("  ", " "))
    if not math.isnan(loss):
        if loss <= sup.E:
            raise PlanError(f"teacher {name} loss {loss:g} is at or below the supervised law's irreducible loss "
                            f"E = {sup.E:.4g}: no model reaches it under these laws".replace("  ", " "))
        return Teacher(name or f"L_T {loss:.4g}", size, tokens, loss, True)
    if math.isnan(size) or math.isnan(tokens):
        raise PlanError(f"teacher {name} needs its size and tokens (--teacher-size with --teacher-tokens), or its "
                        f"loss (--teacher-loss)".replace("  ", " "))
    return Teacher(name or f"{size:.3g} on {tokens:.3g}", size, tokens, float(laws.supervised_loss(size, tokens, sup)),
                   False)


def read_teachers(path, sup: SupervisedParams) -> tuple[Teacher, ...]:
    """A CSV with a header: size and tokens, or loss (size optional), per row; name optional. Read by
    simgap's one user-table reader (fit.reader.read_table: BOM, `;` or tab separators, padded cells)."""
    try:
        cols = read_table(path)
    except FitInputError as e:
        raise PlanError(f"cannot read teachers: {e}") from None
    if not ({"size", "tokens"} <= cols.keys() or "loss" in cols):
        raise PlanError(f"{path}: needs columns size and tokens, or loss; it has "
                        f"{', '.join(sorted(k for k in cols if k != LINE))}")
    out = []
    for i, line in enumerate(cols[LINE]):
        def num(k):
            v = cols[k][i] if k in cols else math.nan
            if isinstance(v, str):
                if not v:
                    return math.nan
                raise PlanError(f"{k} {v!r} is not a number")
            return float(v)
        name = str(cols["name"][i]).strip() if "name" in cols else ""
        try:
            out.append(make_teacher(sup, size=num("size"), tokens=num("tokens"), loss=num("loss"),
                                    name=name if name and name != "nan" else f"line {line}"))
        except PlanError as e:
            raise PlanError(f"{path} line {line}: {e}") from None
    _unique_names(path, cols, [t.name for t in out])
    return tuple(out)


def _unique_names(path, cols: dict, names: list[str]) -> None:
    """The ranking names each teacher by its name: one given to several rows is refused, naming them."""
    rows: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        rows.setdefault(name, []).append(i)
    for name, found in rows.items():
        if len(found) > 1:
            at = [where(cols, i) for i in found]
            times = "twice" if len(at) == 2 else f"{len(at)} times"
            raise PlanError(f"{path}: teacher name {name!r} is given {times}: {', '.join(at[:-1])} and {at[-1]}; "
                            "give each teacher its own name")


def plan_with_teacher(N_S: float, C: float, teacher: Teacher, sup: SupervisedParams, dist: DistillParams,
                      scenario: Scenario, F: Callable = compute.flops_per_token, n_grid: int = 201) -> Allocation:
    """argmin over D_S of L_S with this teacher and spend ≤ C (the teacher's training charged δ_pre)."""
    if math.isnan(teacher.size) and (scenario.delta_logit or scenario.delta_pre):
        raise PlanError(f"teacher {teacher.name} has no size: its inference or training cannot be costed "
                        f"(give its size, or --scenario free)")
    N_T = teacher.size
    fixed = 0.0 if math.isnan(N_T) else scenario.delta_pre * 3 * float(F(N_T)) * (0.0 if math.isnan(teacher.tokens)
                                                                                 else teacher.tokens)
    per_token = 3 * float(F(N_S)) + (0.0 if math.isnan(N_T) else scenario.delta_logit * float(F(N_T)))
    d_max = (C - fixed) / per_token
    floor = compute.MIN_STUDENT_TOKENS_PER_PARAM * N_S
    if not d_max >= floor:
        raise PlanError(f"compute {C:.3g} FLOPs is too small for a {N_S:.3g} student with teacher {teacher.name}: "
                        f"it leaves < {compute.MIN_STUDENT_TOKENS_PER_PARAM:g} token per student parameter")
    u, L_S = laws.log_argmin(lambda x: laws.distill_loss(N_S, np.exp(x), teacher.loss, sup, dist),
                        math.log(floor), math.log(d_max), n_grid)
    D_S = math.exp(u)
    spend = {"student_training": 3 * float(F(N_S)) * D_S,
             "teacher_inference": 0.0 if math.isnan(N_T) else scenario.delta_logit * float(F(N_T)) * D_S,
             "teacher_training": fixed}
    spend["total"] = sum(spend.values())
    flags = ("student_tokens_at_floor",) if D_S <= floor * (1 + 1e-6) else ()
    return Allocation(scenario.name, float(N_S), float(C), D_S, N_T, teacher.tokens, teacher.loss, float(L_S),
                      compute.supervised_at_compute(N_S, C, sup, F), True, "fixed teacher: 1-D search over D_S",
                      spend["total"] / C - 1, spend, 1, True, flags, scenario.students_per_teacher)


def rank_teachers(N_S: float, C: float, teachers, sup, dist, scenario: Scenario,
                  F: Callable = compute.flops_per_token) -> list[tuple[Teacher, Allocation]]:
    """Each teacher's plan, best student loss first."""
    plans = [(t, plan_with_teacher(N_S, C, t, sup, dist, scenario, F)) for t in teachers]
    return sorted(plans, key=lambda p: p[1].student_loss)


def shared(scenario: Scenario, k: float) -> Scenario:
    """The scenario with its teacher's training shared by k students (1/k charged to this one). A
    teacher that exists (δ_pre = 0) has no training to share: its description says so."""
    if not (k >= 1):
        raise PlanError(f"students per teacher must be ≥ 1, got {k:g}")
    if k == 1:
        return scenario
    words = (f", shared by {k:g} students (1/{k:g} of its training charged)" if scenario.delta_pre > 0 else
             f"; its training is not charged, so sharing it among {k:g} students changes nothing")
    return replace(scenario, delta_pre=scenario.delta_pre / k, students_per_teacher=float(k),
                   description=scenario.description + words)


@dataclass(frozen=True)
class Sharing:
    """The smallest number of students per teacher at which distillation beats supervised training."""

    student: float
    compute: float
    scenario: str
    smallest_k: int | None  # None: not even an unlimited number of students makes it pay (or > k_max)
    gain_at_k: float  # the gain at smallest_k (NaN when None)
    gain_unlimited: float  # the gain when the teacher's training is free (K → ∞)
    k_max: int


def smallest_k(N_S: float, C: float, sup, dist, scenario: Scenario, F: Callable = compute.flops_per_token,
               k_max: int = 2**20) -> Sharing:
    """The first K ∈ [1, k_max] with a positive optimised gain (the gain never falls as K grows):
    K doubled until the gain turns positive, then bisection between the last two."""
    gain = lambda k: compute.optimise(N_S, C, sup, dist, shared(scenario, k), F).gain  # noqa: E731
    g_inf = compute.optimise(N_S, C, sup, dist, replace(scenario, delta_pre=0.0), F).gain
    if g_inf <= 0:
        return Sharing(N_S, C, scenario.name, None, math.nan, g_inf, k_max)
    lo, hi, g_hi = 0, 1, gain(1)  # doubling until the gain turns positive, then bisection: gain(lo) ≤ 0 < gain(hi)
    while g_hi <= 0:
        if hi >= k_max:
            return Sharing(N_S, C, scenario.name, None, math.nan, g_inf, k_max)
        lo, hi = hi, min(2 * hi, k_max)
        g_hi = gain(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        g = gain(mid)
        lo, hi, g_hi = (lo, mid, g) if g > 0 else (mid, hi, g_hi)
    return Sharing(N_S, C, scenario.name, hi, g_hi, g_inf, k_max)
