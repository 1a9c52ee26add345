"""Read fitted laws from simgap's fit.json (`python -m simgap.fit`) or a sweep's laws.json (key "fits").

Everything the planner needs from the file is read here into typed fields (the laws, their
bootstrap replicates, the data ranges they were fitted on, Eq. 8's data and extrapolation check);
nothing downstream reads raw JSON. A file of the wrong shape gets one PlanError sentence naming
the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

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


def _obj(x, where: str) -> dict:
    if not isinstance(x, dict):
        raise PlanError(f"{where} must be a JSON object, got {type(x).__name__}")
    return x


def _list(x, where: str) -> list:
    if not isinstance(x, list):
        raise PlanError(f"{where} must be a JSON list, got {type(x).__name__}")
    return x


def _param_set(p, cls, where: str):
    p = _obj(p, where)
    try:
        values = {f.name: float(p[f.name]) for f in fields(cls)}
    except (KeyError, TypeError, ValueError) as e:
        raise PlanError(f"{where}: parameters are malformed ({type(e).__name__}: {e})") from None
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    if bad:
        raise PlanError(f"{where}: parameter {bad[0]} is not finite")
    return cls(**values)


def _params(section, what: str, where: str, cls):
    if not isinstance(section, dict):
        raise PlanError(f"{where}: no {what} law in the file")
    fit = section.get("fit")
    if not isinstance(fit, dict):
        reason = section.get("reason") or section.get("status") or "absent"
        raise PlanError(f"{where}: {what} law was not fitted ({reason})")
    converged = fit.get("converged")
    if converged is False:
        raise PlanError(f"{where}: {what} law fit did not converge ({fit.get('message', 'no message')}); not usable")
    lacking = [k for k in ("converged", "params") if fit.get(k) is None]
    if lacking:
        raise PlanError(f"{where}: the {what} law's 'fit' has no {' or '.join(map(repr, lacking))} (expected "
                        f"\"converged\": true and \"params\": {{{', '.join(f.name for f in fields(cls))}}})")
    if converged is not True:
        raise PlanError(f"{where}: the {what} law's fit.converged must be true or false, got {converged!r}")
    return _param_set(fit["params"], cls, f"{where}: {what} law")


def _column(data: dict, key: str, where: str) -> np.ndarray | None:
    if key not in data:
        return None
    try:
        v = np.asarray(data[key], float).reshape(-1)
    except (TypeError, ValueError):
        raise PlanError(f"{where}: data column {key!r} must be a list of numbers") from None
    if len(v) == 0 or not np.all(np.isfinite(v)) or not np.all(v > 0):
        raise PlanError(f"{where}: data column {key!r} must hold finite numbers > 0")
    return v


def _span(v: np.ndarray | None) -> tuple[float, float] | None:
    return None if v is None else (float(v.min()), float(v.max()))


def _data(section: dict, where: str) -> dict:
    d = section.get("data")
    return {} if d is None else _obj(d, f"{where}: 'data'")


def _replicates(section: dict, cls, where: str) -> list:
    """A law's bootstrap refits: a list of parameter sets (a distillation entry may carry the
    supervised parameters its replicate refitted, under "supervised"). Absent → []."""
    reps = section.get("replicates")
    if reps is None:
        return []
    out = []
    for i, r in enumerate(_list(reps, f"{where}: 'replicates'")):
        r = _obj(r, f"{where}: replicate {i}")
        body = r.get("distillation", r) if cls is DistillParams else r.get("supervised", r)
        own_sup = r.get("supervised") if cls is DistillParams else None
        out.append((_param_set(body, cls, f"{where}: replicate {i}"),
                    None if own_sup is None else _param_set(own_sup, SupervisedParams, f"{where}: replicate {i}")))
    return out


def _eq8(dist: dict, where: str) -> tuple[Eq8Data | None, Eq8Check | None, dict]:
    data = _data(dist, where)
    cols = {k: _column(data, k, where) for k in ("N", "D", "teacher_loss")}
    fit = _obj(dist.get("fit"), f"{where}: 'fit'")
    rmse = fit.get("rmse_log")
    eq8 = None
    if all(v is not None for v in cols.values()) and rmse is not None:
        if not (isinstance(rmse, (int, float)) and math.isfinite(rmse) and rmse > 0):
            raise PlanError(f"{where}: fit.rmse_log must be a number > 0, got {rmse!r}")
        if len({len(v) for v in cols.values()}) != 1:
            raise PlanError(f"{where}: data columns N, D, teacher_loss differ in length")
        eq8 = Eq8Data(*(tuple(map(float, cols[k])) for k in ("N", "D", "teacher_loss")), float(rmse))
    ext = dist.get("extrapolation")
    check = None
    if isinstance(ext, dict):
        num = lambda k: float(ext[k]) if isinstance(ext.get(k), (int, float)) else math.nan  # noqa: E731
        check = (Eq8Check("ok", num("max_rel_error"), num("mean_rel_error"), int(ext.get("n_train") or 0),
                          int(ext.get("n_test") or 0)) if ext.get("status") == "ok"
                 else Eq8Check(str(ext.get("reason") or ext.get("status") or "absent")))
    return eq8, check, cols


# each law's data columns, and the quantity whose fitted range each gives
_RANGE_COLUMNS = {"distillation": {"N": "N_S", "D": "D_S", "teacher_loss": "L_T"},
                  "supervised": {"N": "N_T", "D": "D_T"}}


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _missing(where: str, sections: dict) -> str:
    """The laws' 'data' (or columns of it) that the file lacks, and what is then never flagged
    '! extrapolated', in one sentence naming the file and keys ("" when nothing is missing)."""
    out = []
    for law, section in sections.items():
        data, columns = section.get("data"), _RANGE_COLUMNS[law]
        lacking = list(columns) if data is None else [k for k in columns if k not in data]
        if lacking:
            head = f"the {law} law has no 'data'" if data is None else \
                f"the {law} law's 'data' has no {_and([repr(k) for k in lacking])}"
            out.append(f"{head} ({_and([columns[k] for k in lacking])} "
                       f"{'is' if len(lacking) == 1 else 'are'} not checked for extrapolation)")
    return f"{where}: {'; '.join(out)}" if out else ""


def _laws_of(path, fam: dict, k: int, setting: dict, sup: SupervisedParams, sup_section: dict) -> Laws:
    where = f"{path} family {fam.get('family', '')!r} setting {k}"
    dsec = setting.get("distillation")
    dist = _params(dsec, "distillation", where, DistillParams)
    eq8, check, cols = _eq8(dsec, where)
    sdata = _data(sup_section, f"{where}: supervised")
    sN, sD = _column(sdata, "N", f"{where}: supervised"), _column(sdata, "D", f"{where}: supervised")
    ranges = Ranges(_span(cols["N"]), _span(cols["D"]), _span(sN), _span(sD), _span(cols["teacher_loss"]),
                    "the fitted data" if any(c is not None for c in (cols["N"], sN)) else "",
                    _missing(where, {"distillation": dsec, "supervised": sup_section}))
    sup_reps = _replicates(sup_section, SupervisedParams, f"{where}: supervised")
    reps = []
    for i, (d, own) in enumerate(_replicates(dsec, DistillParams, f"{where}: distillation")):
        s = own or (sup_reps[i][0] if len(sup_reps) > i else sup)
        reps.append((s, d))
    return Laws(sup, dist, where, ranges, tuple(reps), None, eq8, check)


def load_laws(path, family: str | None = None, setting: int | None = None) -> Laws:
    """The supervised and distillation laws of one family and settings group.

    Default: the first family holding a converged distillation law (and its first such setting).
    Any missing, unconverged or malformed law raises PlanError with one sentence.
    """
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PlanError(f"cannot read laws from {str(path)!r}: {e}") from None
    fits = doc.get("fits", doc) if isinstance(doc, dict) else None
    if isinstance(fits, dict) and "error" in fits:
        raise PlanError(f"{path}: the sweep's law fits failed ({fits['error']})")
    fams = fits.get("families") if isinstance(fits, dict) else None
    if not fams:
        raise PlanError(f"{path} is not a simgap fit.json or laws.json (no 'families')")
    fams = [_obj(f, f"{path}: each entry of 'families'") for f in _list(fams, f"{path}: 'families'")]
    names = [f.get("family", "") for f in fams]
    if family is not None:
        if family not in names:
            raise PlanError(f"{path}: no family {family!r}; families: {', '.join(map(repr, names))}")
        fams = [fams[names.index(family)]]
    last_error = None
    for fam in fams:
        where = f"{path} family {fam.get('family', '')!r}"
        settings = _list(fam.get("settings") or [], f"{where}: 'settings'")
        idx = range(len(settings)) if setting is None else [setting]
        if setting is not None and not 0 <= setting < len(settings):
            raise PlanError(f"{where}: no setting {setting} (it has {len(settings)})")
        try:
            sup = _params(fam.get("supervised"), "supervised", where, SupervisedParams)
        except PlanError as e:
            last_error = e
            continue
        if not settings:
            last_error = PlanError(f"{where}: no distillation law (no settings with distilled rows)")
        for k in idx:
            try:
                st = _obj(settings[k], f"{where}: setting {k}")
                return _laws_of(path, fam, k, st, sup, fam["supervised"])
            except PlanError as e:
                last_error = e
    raise last_error or PlanError(f"{path}: no family has a distillation law")
