"""What `make_plan` returns: frozen types read by the summary and the plots, and turned into
plan.json by simgap's one `to_json` (NaN/inf → null). Arrays a plot needs but the JSON does not
(curves, simulated laws) are fields too, left out of `to_json`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from simgap.laws import ZHANG_LINEAR, ZHANG_R2
from simgap.plan.compute import Allocation
from simgap.plan.decisions import Decision, Outside
from simgap.plan.design import Estimates, Pilot, Prediction, prediction_dict
from simgap.plan.eq8 import Eq8Extrapolation
from simgap.plan.link import ImpliedOptimum, TeacherLawPair
from simgap.plan.load import Laws
from simgap.plan.teachers import Sharing, Teacher

# Zhang et al. (ACL 2025): T* = 2.498·S − 11.498 (millions of parameters), R² = 0.9957.

FLAG_WORDS = {
    "teacher_size_at_edge": "teacher size at the edge of the searched box (only a bound)",
    "teacher_tokens_at_edge": "teacher tokens at the edge of the searched box (1 or 1e5 per parameter)",
    "student_tokens_at_floor": "D_S at its floor of 1 token per parameter",
    "not_converged": "the optimiser did not converge",
}


@dataclass(frozen=True)
class Choice:
    """One allocation with its decision and what it extrapolates."""

    allocation: Allocation
    description: str
    decision: Decision
    extrapolated: tuple[Outside, ...]  # values outside the laws' fitted range
    teacher: Teacher | None = None  # a user's own teacher

    def to_json(self) -> dict:
        d = self.allocation.to_json() | {"description": self.description, "decision": asdict(self.decision),
                                         "extrapolated": [asdict(o) for o in self.extrapolated]}
        return d | ({"teacher_name": self.teacher.name, "teacher_loss_given": self.teacher.loss_given}
                    if self.teacher else {})


@dataclass(frozen=True)
class AllocationSection:
    student: float
    compute: float
    supervised_loss: float
    scenarios: dict  # name → Choice


@dataclass(frozen=True)
class TeacherSection:
    """The user's teachers, best student loss first, under one scenario."""

    scenario: str
    ranked: tuple[Choice, ...]


@dataclass(frozen=True)
class SharingSection:
    students_per_teacher: float
    per_student: tuple[Sharing, ...]  # smallest K per student size, at the requested C


@dataclass(frozen=True)
class LinkSection:
    protocol: str
    size_unit: float
    optima: tuple[ImpliedOptimum, ...]
    fit: TeacherLawPair | None
    note: str  # how its tokens relate to the allocation's, in one sentence
    at_student: ImpliedOptimum = field(repr=False)
    curve_teachers: np.ndarray = field(repr=False)  # L_S against N_T at the requested student, for the plot
    curve_loss: np.ndarray = field(repr=False)

    @property
    def n_edge_excluded(self) -> int:
        return sum(not o.interior for o in self.optima)

    def to_json(self) -> dict:
        return {"protocol": self.protocol, "size_unit": self.size_unit, "n_edge_excluded": self.n_edge_excluded,
                "optima": [asdict(o) | {"ratio": o.ratio} for o in self.optima],
                "fit": asdict(self.fit) if self.fit else None, "zhang": asdict(ZHANG_LINEAR) | {"r2": ZHANG_R2,
                "size_unit": 1e6}, "note": self.note}


@dataclass(frozen=True)
class SweepSection:
    computes: tuple[float, ...]
    allocations: dict  # scenario → tuple[Allocation, ...] over computes
    crossovers: dict  # scenario → list of {"compute", "direction"}
    map_students: tuple[float, ...]
    map_computes: tuple[float, ...]
    gains: dict  # scenario → (students × computes) gain, NaN where C is too small
    map_flags: dict  # scenario → (students × computes) bool, True where the allocation is flagged
    map_ties: dict | None = None  # scenario → bool, |gain| below the laws' stated error (reference laws)

    def n_flagged(self, name: str) -> int:
        return sum(bool(a.flags) for a in self.allocations[name])

    def to_json(self) -> dict:
        return {"computes": list(self.computes),
                "allocations": {k: [a.to_json() for a in v] for k, v in self.allocations.items()},
                "crossovers": self.crossovers,
                "gain_map": {"students": list(self.map_students), "computes": list(self.map_computes),
                             "supervised_minus_distilled": {k: v.tolist() for k, v in self.gains.items()},
                             "flagged": {k: v.tolist() for k, v in self.map_flags.items()},
                             "ties": None if self.map_ties is None else {k: v.tolist() for k, v in self.map_ties.items()}}}


@dataclass(frozen=True)
class DesignSection:
    table: str
    students: tuple[float, ...]
    n_seeds: int
    noise_sd: float
    status: str  # "ok" | "no_teacher_law"
    reason: str = ""
    power_law_target_teacher: float | None = None
    prediction: Prediction | None = None
    additions: tuple[dict, ...] = ()
    eq8_extrapolation: dict | None = None
    eq8_implied_target_teacher: float | None = None
    pilot: Pilot | None = field(default=None, repr=False)
    optima: np.ndarray | None = field(default=None, repr=False)  # the pilot's own optima and interior flags
    interior: np.ndarray | None = field(default=None, repr=False)
    draws: Estimates | None = field(default=None, repr=False)  # the simulated pilots (the plot's band)

    def to_json(self) -> dict:
        d = {"table": self.table, "students": list(self.students), "n_seeds": self.n_seeds, "noise_sd": self.noise_sd,
             "status": self.status}
        if self.status != "ok":
            return d | {"reason": self.reason}
        d |= {"power_law_target_teacher": self.power_law_target_teacher,
              "prediction": prediction_dict(self.prediction), "additions": list(self.additions)}
        if self.eq8_extrapolation is not None:
            d["eq8_extrapolation"] = self.eq8_extrapolation
        if self.eq8_implied_target_teacher is not None:
            d["eq8_implied_target_teacher"] = self.eq8_implied_target_teacher
        return d


@dataclass(frozen=True)
class Plan:
    laws: Laws | None
    request: object  # PlanRequest
    units: dict
    allocation: AllocationSection | None = None
    teachers: TeacherSection | None = None
    sharing: SharingSection | None = None
    link: LinkSection | None = None
    sweep: SweepSection | None = None
    design: DesignSection | None = None
    eq8: Eq8Extrapolation | None = None
    plots: tuple[str, ...] = ()

    def to_json(self) -> dict:
        out = {}
        if self.laws is not None:
            L = self.laws
            out["laws"] = {"source": L.source, "supervised": asdict(L.supervised), "distillation": asdict(L.distill),
                           "fitted_range": asdict(L.ranges), "n_replicates": len(L.replicates),
                           "stated_fit_error": L.fit_error}
            r = self.request
            out["request"] = {k: v for k, v in asdict(r).items() if k != "protocol"} | {"protocol": asdict(r.protocol)}
            out["units"] = self.units
        for key, section in (("allocation", self.allocation), ("teachers", self.teachers),
                             ("sharing", self.sharing), ("link", self.link), ("sweep", self.sweep),
                             ("design", self.design), ("eq8_extrapolation", self.eq8)):
            if section is not None:
                out[key] = section
        if self.plots:
            out["plots"] = list(self.plots)
        return out
