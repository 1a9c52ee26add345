"""The planner's laws: Busbridge et al.'s reference, or the fitted laws of simgap's fit.json
(`python -m simgap.fit`) or a sweep's laws.json, as `simgap.fit.results_laws` reads them back.

Everything the planner needs is gathered here into typed fields (the laws, their bootstrap
replicates, the data ranges they were fitted on, Eq. 8's data and extrapolation check); no
planner module reads JSON. A file of the wrong shape gets one PlanError sentence naming the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simgap.fit.results import Skipped
from simgap.fit.results_laws import FittedLaw, LawsFileError, Unreadable, read_laws
from simgap.laws import BUSBRIDGE_DISTILL, BUSBRIDGE_SUPERVISED, DistillParams, SupervisedParams
from simgap.plan.compute import PlanError

REFERENCES = {"busbridge": (BUSBRIDGE_SUPERVISED, BUSBRIDGE_DISTILL)}


@dataclass(frozen=True)
class Ranges:
    """What the laws were fitted on: (low, high) per quantity, None when not known."""

    student_size: tuple[float, float] | None = None
    student_tokens: tuple[float, float] | None = None
    teacher_size: tuple[float, float] | None = None  # the supervised law's runs (teachers' loss comes from it)
    teacher_tokens: tuple[float, float] | None = None
    teacher_loss: tuple[float, float] | None = None
    source: str = ""  # where the ranges come from, in words
    missing: str = ""  # a laws file's 'data' that is absent, and what therefore goes unchecked ("" when none)


# Busbridge et al. (2025), abstract and §3: "students and teachers ranging from 143M to 12.6B
# parameters, trained on data of a few billion to 512B tokens" (a few billion read as 2e9).
BUSBRIDGE_RANGES = Ranges((1.43e8, 1.26e10), (2e9, 5.12e11), (1.43e8, 1.26e10), (2e9, 5.12e11), None,
                          "the paper's runs: 143M–12.6B parameters, a few billion (taken as 2e9) to 512B tokens")
# Busbridge et al. report their fits' error as about 1 % relative or better, extrapolation included.
BUSBRIDGE_FIT_ERROR = 0.01


@dataclass(frozen=True)
class Eq8Data:
    """The distilled rows Eq. 8 was fitted on, and the fit's rmse in log loss (for --eq8-boot)."""

    N: tuple[float, ...]
    D: tuple[float, ...]
    teacher_loss: tuple[float, ...]
    rmse_log: float


@dataclass(frozen=True)
class Eq8Check:
    """The fit's own extrapolation check (weaker runs → held-out stronger ones)."""

    status: str  # "ok" or why it did not run
    max_rel_error: float = math.nan
    mean_rel_error: float = math.nan
    n_train: int = 0
    n_test: int = 0


@dataclass(frozen=True)
class Laws:
    supervised: SupervisedParams
    distill: DistillParams
    source: str  # "reference busbridge" or "PATH family F setting K"
    ranges: Ranges = Ranges()
    replicates: tuple[tuple[SupervisedParams, DistillParams], ...] = ()  # bootstrap refits (may be empty)
    fit_error: float | None = None  # a relative error stated by the source (reference laws), for ties
    eq8_data: Eq8Data | None = None
    eq8_check: Eq8Check | None = None

    @property
    def is_reference(self) -> bool:
        return self.source.startswith("reference")


def reference(name: str) -> Laws:
    if name not in REFERENCES:
        raise PlanError(f"unknown reference laws {name!r}; known: {', '.join(REFERENCES)}")
    sup, dist = REFERENCES[name]
    return Laws(sup, dist, f"reference {name}", BUSBRIDGE_RANGES, (), BUSBRIDGE_FIT_ERROR)


def _span(v: tuple[float, ...] | None) -> tuple[float, float] | None:
    return None if v is None else (min(v), max(v))


def _eq8(dist: FittedLaw) -> Eq8Data | None:
    """Eq. 8's rows and rmse when the file holds them all (--eq8-boot refits them)."""
    cols = (dist.N, dist.D, dist.teacher_loss)
    if any(c is None for c in cols) or not math.isfinite(dist.rmse_log):
        return None
    return Eq8Data(*cols, dist.rmse_log)


def _check(ext) -> Eq8Check | None:
    if ext is None:
        return None
    if isinstance(ext, Skipped):
        return Eq8Check(ext.reason)
    return Eq8Check("ok", ext.max_rel_error, ext.mean_rel_error, ext.n_train, ext.n_test)


# each law's data columns, and the quantity whose fitted range each gives
_RANGE_COLUMNS = {"distillation": {"N": "N_S", "D": "D_S", "teacher_loss": "L_T"},
                  "supervised": {"N": "N_T", "D": "D_T"}}


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _missing(where: str, laws: dict[str, FittedLaw]) -> str:
    """The laws' 'data' (or columns of it) that the file lacks, and what is then never flagged
    '! extrapolated', in one sentence naming the file and keys ("" when nothing is missing)."""
    out = []
    for law, fitted in laws.items():
        columns = _RANGE_COLUMNS[law]
        lacking = list(columns) if not fitted.has_data else [k for k in columns if getattr(fitted, k) is None]
        if lacking:
            head = f"the {law} law has no 'data'" if not fitted.has_data else \
                f"the {law} law's 'data' has no {_and([repr(k) for k in lacking])}"
            out.append(f"{head} ({_and([columns[k] for k in lacking])} "
                       f"{'is' if len(lacking) == 1 else 'are'} not checked for extrapolation)")
    return f"{where}: {'; '.join(out)}" if out else ""


def _laws_of(dist: FittedLaw, sup: FittedLaw) -> Laws:
    """One setting's laws; a distillation replicate without its own supervised refit takes the
    supervised law's replicate of the same index (else its fit)."""
    ranges = Ranges(_span(dist.N), _span(dist.D), _span(sup.N), _span(sup.D), _span(dist.teacher_loss),
                    "the fitted data" if any(c is not None for c in (dist.N, sup.N)) else "",
                    _missing(dist.where, {"distillation": dist, "supervised": sup}))
    reps = tuple((own or (sup.replicates[i][0] if len(sup.replicates) > i else sup.params), d)
                 for i, (d, own) in enumerate(dist.replicates))
    return Laws(sup.params, dist.params, dist.where, ranges, reps, None, _eq8(dist), _check(dist.extrapolation))


def load_laws(path, family: str | None = None, setting: int | None = None) -> Laws:
    """The supervised and distillation laws of one family and settings group.

    Default: the first family holding a converged distillation law (and its first such setting).
    Any missing, unconverged or malformed law raises PlanError with one sentence.
    """
    try:
        fams = read_laws(path)
    except LawsFileError as e:
        raise PlanError(str(e)) from None
    names = [f.family for f in fams]
    if family is not None:
        if family not in names:
            raise PlanError(f"{path}: no family {family!r}; families: {', '.join(map(repr, names))}")
        fams = (fams[names.index(family)],)
    last_error = None
    for fam in fams:
        if setting is not None and not 0 <= setting < len(fam.settings):
            raise PlanError(f"{fam.where}: no setting {setting} (it has {len(fam.settings)})")
        if isinstance(fam.supervised, Unreadable):
            last_error = PlanError(fam.supervised.reason)
            continue
        if not fam.settings:
            last_error = PlanError(f"{fam.where}: no distillation law (no settings with distilled rows)")
        for k in range(len(fam.settings)) if setting is None else [setting]:
            dist = fam.settings[k]
            if not isinstance(dist, Unreadable):
                return _laws_of(dist, fam.supervised)
            last_error = PlanError(dist.reason)
    raise last_error or PlanError(f"{path}: no family has a distillation law")
