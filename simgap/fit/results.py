"""What `fit_table` returns: frozen dataclasses from the fitting code to the report and the CLI.

They become JSON in one place, `to_json`, at the edge (fit.json, laws.json), and are read back typed
by simgap.fit.results_read (optima, teacher laws, assumptions) and simgap.fit.results_laws (the
laws). A new report section reads these fields; a new analysis adds a field here and fills it in
`simgap.fit.table`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

import numpy as np

from simgap.config import FitOptions
from simgap.fit.agreement import SeriesAgreement
from simgap.fit.resample import Bootstrap, Extrapolation
from simgap.fit.solver import LawFit
from simgap.fit.teacher import TeacherLawFit
from simgap.fit.verdicts import Assumption
from simgap.laws import PropertyCheck, TeacherOptimum
from simgap.optima import TeacherOptimumEstimate


@dataclass(frozen=True)
class Skipped:
    """A section that did not run: "skipped" (the data cannot support it) or "failed" (no convergence)."""

    reason: str
    status: str = "skipped"


def ok(section) -> bool:
    """A section that ran (not None, not Skipped)."""
    return section is not None and not isinstance(section, Skipped)


@dataclass(frozen=True)
class StudentCheck:
    """The fitted distillation law at one student (N, D): its optimal teacher loss and P1–P4 (+E.6)."""

    N: float
    D: float
    optimum: TeacherOptimum
    checks: tuple[PropertyCheck, ...]
    observed_teacher_loss: tuple[float, float]  # the range of L_T the law was fitted on

    @property
    def extrapolated(self) -> bool:
        """The predicted optimal teacher loss lies outside the teacher losses the law has seen."""
        lo, hi = self.observed_teacher_loss
        return not lo <= self.optimum.teacher_loss <= hi


@dataclass(frozen=True)
class Misfit:
    """Where a law misses its runs most systematically: the third (lowest/middle/highest) of one
    axis (N_S, D_S or L_T/L~_S) whose mean log residual log(predicted/observed) is largest."""

    axis: str
    third: str
    mean_log_residual: float


@dataclass(frozen=True)
class LawSection:
    """A converged law fit with everything computed from it."""

    fit: LawFit
    bootstrap: Bootstrap | None  # None when no bootstrap was asked for
    extrapolation: Extrapolation | Skipped
    query: tuple[float, float] | None = None  # supervised: (N, D) of the largest run
    predicted_loss_at_query: float = math.nan
    students: tuple[StudentCheck, ...] = ()  # distillation: the students checked
    predicted: np.ndarray | None = field(default=None, repr=False, compare=False)  # the law at its data
    misfit: Misfit | None = None  # the residuals' largest systematic shift (distillation)
    identification: object = None  # supervised: profiles of its exponents (simgap.fit.identify.Identification)

    @property
    def ci(self) -> dict[str, tuple[float, float]]:
        return self.bootstrap.intervals() if self.bootstrap else {}

    @property
    def identification_note(self) -> str:
        """Which parameters the runs do not identify, and what would (empty when all are)."""
        return "" if self.identification is None else self.identification.describe()

    @property
    def property_checks(self) -> list[tuple[StudentCheck, PropertyCheck]]:
        return [(s, c) for s in self.students for c in s.checks]

    @property
    def all_properties_pass(self) -> bool:
        return all(c.passed for _, c in self.property_checks)

    def to_json(self) -> dict:
        out = {"status": "ok", "fit": self.fit, "extrapolation": self.extrapolation,
               "data": {(self.fit.law.columns[k] if k == "loss" else k): v for k, v in self.fit.data.items()}}
        if self.bootstrap:
            b = self.bootstrap
            out["ci"] = self.ci
            out["bootstrap"] = {"n_boot": b.n_boot, "n_failed": b.n_failed, "ci": b.ci,
                                "supervised_refit_each_replicate": b.supervised_refit,
                                "n_derived_failed": b.n_derived_failed}
            # every fitted replicate's parameters (the planner's decisions carry their spread); a
            # distillation replicate also holds the supervised law refitted with it
            out["replicates"] = [asdict(p) if sup is None else {"distillation": asdict(p), "supervised": asdict(sup)}
                                 for p, sup in b.replicates]
        if self.query is not None:
            out["query_point"] = {"N": self.query[0], "D": self.query[1]}
            out["predicted_loss_at_query"] = self.predicted_loss_at_query
        if self.students:
            out["optimal_teacher_loss"] = [{"N": s.N, "D": s.D, **_fields(s.optimum), "extrapolated": s.extrapolated,
                                            "observed_teacher_loss": s.observed_teacher_loss} for s in self.students]
            out["property_checks"] = [{**_fields(c), "N": s.N, "D": s.D} for s, c in self.property_checks]
            out["all_properties_pass"] = self.all_properties_pass
        if self.misfit is not None:
            out["largest_misfit"] = self.misfit
        if self.identification is not None:
            out["identification"] = self.identification.to_json()
        return out


@dataclass(frozen=True)
class TeacherLossOptimum:
    """A student's optimum on the teacher-loss axis (teachers of every size and length, by seed-mean L_T)."""

    student_size: float
    budget: float
    teacher_loss: float  # refined optimum (parabola in log L_T)
    teacher_loss_ci: tuple[float, float]
    interior: bool
    edge: str  # "" | "worst" | "best" teacher of the grid
    min_loss: float
    dip_depth: float  # loss(best teacher) − loss(optimum), seed-mean
    dip_ci: tuple[float, float]  # paired, simultaneous over teachers
    dip_beyond_noise: bool
    teacher_losses: tuple[float, ...]  # the axis: mean L_T per teacher, worst to best
    mean_loss: tuple[float, ...]
    n_seeds: int


@dataclass(frozen=True)
class StudentOptimum:
    """One student's optimal teacher with what it is reported with (one row of optima.csv), found
    once in fit_table from the table's own rows, so no reader re-joins rows."""

    student_size: float  # the capacity knob (width, d_model, basis functions); = params without a knob column
    student_params: float  # the fitted size axis (parameters in a sweep)
    budget: float  # the student's training budget (NaN: none)
    teacher_budget: float  # the series' teacher training length (NaN: optima not split by it)
    teacher_tokens: float  # the teachers' training length: the series', else that of the student's teachers
    supervised_loss: float  # seed-mean loss of the same student and budget trained on labels (NaN: none)
    params: TeacherOptimumEstimate  # the optimum on the fitted size axis
    knob: TeacherOptimumEstimate  # the optimum on the knob axis (= params without a knob column)

    def row(self) -> dict:
        """optima.csv's row (laws.json's "optima" entry): the optimum in the knob and in parameters."""
        p, k = self.params, self.knob
        return {
            "student_size": self.student_size, "student_params": self.student_params, "student_budget": self.budget,
            "teacher_budget": self.teacher_budget, "optimal_teacher_size": k.optimal_teacher,
            "optimal_teacher_size_lo": k.optimal_teacher_ci[0], "optimal_teacher_size_hi": k.optimal_teacher_ci[1],
            "optimal_teacher_params": p.optimal_teacher, "optimal_teacher_params_lo": p.optimal_teacher_ci[0],
            "optimal_teacher_params_hi": p.optimal_teacher_ci[1], "grid_argmin_size": k.optimal_teacher_grid,
            "interior": p.interior, "located": p.located, "edge": p.edge, "frac_interior": p.frac_interior, "min_loss": p.min_loss,
            "dip_depth": p.dip_depth, "dip_lo": p.dip_ci[0], "dip_hi": p.dip_ci[1],
            "dip_beyond_noise": p.dip_beyond_noise, "supervised_loss": self.supervised_loss, "n_seeds": p.n_seeds,
            "teacher_tokens": self.teacher_tokens,
        }


@dataclass(frozen=True)
class LeftOut:
    """A student the optimum analysis left out: too few teacher sizes to tell an interior optimum from an edge."""

    student_size: float  # on the fitted size axis
    budget: float  # its budget series (NaN: not split)
    teacher_budget: float  # the teachers' length series (NaN: not split)
    n_teachers: int  # its distinct teacher sizes (simgap.optima.MIN_TEACHERS needed)


@dataclass(frozen=True)
class OptimaSection:
    """Per-student optimal teacher on the table's size axis; `by_knob` on the capacity knob
    (student_size/teacher_size) when the sizes are parameter counts and the knob is in the table."""

    budget_kind: str | None  # what the optima are split by, when one student saw several budgets
    per_student: tuple[TeacherOptimumEstimate, ...]
    by_knob: tuple[TeacherOptimumEstimate, ...] = ()
    teacher_budgets: tuple[float, ...] = ()  # per_student[i]'s teacher training length (NaN: not split)
    teacher_budget_kind: str | None = None  # the column teachers' lengths came from, when they vary
    by_teacher_loss: tuple[TeacherLossOptimum, ...] = ()  # the same students on the teacher-loss axis
    students: tuple[StudentOptimum, ...] = ()  # per_student[i] with its knob, budgets and supervised loss
    left_out: tuple[LeftOut, ...] = ()  # students with too few teachers for an optimum

    def to_json(self) -> dict:
        return {"status": "ok", **_fields(self)}


@dataclass(frozen=True)
class TeacherLawSection:
    """The teacher laws over one series of optima (a student budget, a teachers' training length)."""

    budget: float  # the budget series these optima belong to; NaN when optima are not split
    linear: TeacherLawFit | Skipped
    loglog: TeacherLawFit | Skipped
    teacher_budget: float = math.nan  # the teachers' training length; NaN when it does not vary


@dataclass(frozen=True)
class SettingFit:
    """Distilled rows of one setting (lam, tau, student_init)."""

    key: dict
    n_rows: int
    optima: OptimaSection | Skipped | None = None  # None: the table has no teacher sizes
    teacher_law: tuple[TeacherLawSection, ...] = ()
    distillation: LawSection | Skipped | None = None  # None: the table has no teacher losses
    agreement: tuple[SeriesAgreement, ...] = ()  # Eq. 8's implied T* against the optima, per teacher length


@dataclass(frozen=True)
class StartRows:
    """The start-aware law on the rows of one student start: in-sample error, and the held-out
    strongest part of this start's runs predicted by a refit on every other row."""

    start: str  # "random" | "pruned_from_teacher"
    n_rows: int
    rmse_log: float  # in-sample RMSE of log loss on this start's rows
    extrapolation: Extrapolation | Skipped


@dataclass(frozen=True)
class StartAgreement:
    """The start-aware law's implied T* against one setting's measured optima (one teacher-length series)."""

    setting: dict  # the setting's key (lam, tau, student_init)
    series: SeriesAgreement


@dataclass(frozen=True)
class StartLawSection:
    """The start-aware law (simgap.fit.start_law) fitted to the settings of one (lam, tau) that differ
    only in the student's start: one law for random-init and pruned students."""

    key: dict  # the (lam, tau) the settings share
    law: LawSection | Skipped  # its extrapolation: Skipped (held out per start, `starts`)
    starts: tuple[StartRows, ...] = ()
    agreement: tuple[StartAgreement, ...] = ()


@dataclass(frozen=True)
class FamilyFit:
    family: str
    supervised: LawSection | Skipped
    settings: tuple[SettingFit, ...]
    start_law: tuple[StartLawSection, ...] = ()  # per (lam, tau) with random and pruned students


@dataclass(frozen=True)
class TableInput:
    n_rows: int
    n_supervised: int
    n_distilled: int
    n_diverged_dropped: int
    row_kinds_from: str
    size_column: str
    tokens_column: str | None
    path: str | None  # the CSV it was read from (None: columns in memory, or several CSVs)
    n_duplicates: int = 0
    paths: tuple[str, ...] = ()  # the CSVs read as one table, when several


@dataclass(frozen=True)
class TableFit:
    input: TableInput
    options: FitOptions
    families: tuple[FamilyFit, ...]
    warnings: tuple[str, ...] = ()  # things a user must know before trusting the numbers
    assumptions: tuple[Assumption, ...] = ()  # each law's assumptions tested (simgap.fit.assumptions)

    @property
    def fitted_anything(self) -> bool:
        """Some law, optimum or teacher law could be fitted (a CLI run that fitted nothing fails)."""
        return any(ok(f.supervised) for f in self.families) or any(
            ok(st.optima) or ok(st.distillation) for _, st in self.settings())

    def settings(self):
        """(family, setting) for every setting of every family: nothing is reported only for the first."""
        return [(fam, st) for fam in self.families for st in fam.settings]

    def checks(self, fam: FamilyFit, st: SettingFit) -> tuple[Assumption, ...]:
        """The assumptions tested on one setting's rows (matched by their keys, not their labels)."""
        key = tuple(st.key.items())
        return tuple(a for a in self.assumptions if a.family == fam.family and a.setting == key and a.law != "supervised")


def _fields(x) -> dict:
    return {f.name: getattr(x, f.name) for f in fields(x)}


def to_json(x):
    """Results → strict-JSON-ready data: NaN/inf → None, numpy → Python, tuples → lists."""
    if hasattr(x, "to_json"):
        return to_json(x.to_json())
    if is_dataclass(x):
        return to_json(_fields(x))
    if isinstance(x, dict):
        return {str(k): to_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_json(v) for v in x]
    if isinstance(x, np.ndarray):
        return [to_json(v) for v in x.tolist()]
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, Path):
        return str(x)
    return x
