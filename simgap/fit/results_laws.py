"""The law sections of fit.json and a sweep's laws.json read back typed: the half of the one loader
(beside `simgap.fit.results_read.load`, which reads optima, teacher laws and assumptions) that the
planner reads, so no module outside the fitting layer indexes the JSON.

A file that is not a fit.json or laws.json raises `LawsFileError`; a damaged law in it is an
`Unreadable` value, so it stops only a reader that needs that law. Every message is one sentence
naming the file, family, setting and field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from simgap.fit.resample import Extrapolation
from simgap.fit.results import Skipped
from simgap.laws import DistillParams, SupervisedParams


# each law's data columns that a reader checks its range by
_COLUMNS = {SupervisedParams: ("N", "D"), DistillParams: ("N", "D", "teacher_loss")}


class LawsFileError(ValueError):
    """fit.json or laws.json cannot be read back; the message names the file and field."""


@dataclass(frozen=True)
class Unreadable:
    """A law that is absent, unfitted, unconverged or damaged: why, in one sentence."""

    reason: str


@dataclass(frozen=True)
class FittedLaw:
    """A converged law read back (its parameters, not the solver's state), with its bootstrap
    refits and the data it was fitted on: what a plan extrapolates with and checks its range by."""

    where: str  # the file, family (and setting) it was read from
    params: SupervisedParams | DistillParams
    replicates: tuple[tuple[SupervisedParams | DistillParams, SupervisedParams | None], ...]  # (refit, the
    # supervised law a distillation replicate refitted with it, or None)
    has_data: bool  # the section holds a 'data' object
    N: tuple[float, ...] | None  # the runs' sizes (None: the column is not in the file)
    D: tuple[float, ...] | None  # their training lengths
    teacher_loss: tuple[float, ...] | None  # distillation only: the teachers' losses
    rmse_log: float  # NaN when not given (checked > 0 when N, D and teacher_loss are all given)
    extrapolation: Extrapolation | Skipped | None  # the fit's extrapolation check (None: not in the file)


@dataclass(frozen=True)
class FamilyLaws:
    """One family: its supervised law and each setting's distillation law, each possibly Unreadable."""

    family: str
    where: str  # "PATH family 'NAME'"
    supervised: FittedLaw | Unreadable
    settings: tuple[FittedLaw | Unreadable, ...]  # the distillation law of settings[k]


def read_laws(path) -> tuple[FamilyLaws, ...]:
    """Every family's laws in a fit.json or a sweep's laws.json (under "fits")."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LawsFileError(f"cannot read laws from {str(path)!r}: {e}") from None
    fits = doc.get("fits", doc) if isinstance(doc, dict) else None
    if isinstance(fits, dict) and "error" in fits:
        raise LawsFileError(f"{path}: the sweep's law fits failed ({fits['error']})")
    fams = fits.get("families") if isinstance(fits, dict) else None
    if not fams:
        raise LawsFileError(f"{path} is not a simgap fit.json or laws.json (no 'families')")
    fams = [_obj(f, f"{path}: each entry of 'families'") for f in _list(fams, f"{path}: 'families'")]
    return tuple(_family(path, f) for f in fams)


def _family(path, fam: dict) -> FamilyLaws:
    name = fam.get("family", "")
    where = f"{path} family {name!r}"
    settings = _list(fam.get("settings") or [], f"{where}: 'settings'")
    return FamilyLaws(name, where, _or_unreadable(_law, fam.get("supervised"), SupervisedParams, where),
                      tuple(_or_unreadable(_setting, s, f"{where} setting {k}", f"{where}: setting {k}")
                            for k, s in enumerate(settings)))


def _or_unreadable(decode, *args):
    """A law a reader may do without: its damage becomes a value, raised only by one that needs it."""
    try:
        return decode(*args)
    except LawsFileError as e:
        return Unreadable(str(e))


def _setting(setting, where: str, entry: str) -> FittedLaw:
    return _law(_obj(setting, entry).get("distillation"), DistillParams, where)


def _law(section, cls, where: str) -> FittedLaw:
    """A converged law section: refused unless its fit converged with finite parameters."""
    what = "distillation" if cls is DistillParams else "supervised"
    params = _fitted_params(section, cls, what, where)
    at = where if cls is DistillParams else f"{where}: {what}"  # where its data's damage is said
    d = section.get("data")
    data = None if d is None else _obj(d, f"{at}: 'data'")
    cols = {k: _column(data or {}, k, at) for k in _COLUMNS[cls]}
    rmse = section["fit"].get("rmse_log")
    if cls is DistillParams:
        _check_eq8_data(rmse, cols, where)
    return FittedLaw(where, params, _replicates(section, cls, f"{where}: {what}"), data is not None, cols["N"],
                     cols["D"], cols.get("teacher_loss"), float(rmse) if isinstance(rmse, (int, float)) else math.nan,
                     _extrapolation(section.get("extrapolation")))


def _fitted_params(section, cls, what: str, where: str):
    if not isinstance(section, dict):
        raise LawsFileError(f"{where}: no {what} law in the file")
    fit = section.get("fit")
    if not isinstance(fit, dict):
        reason = section.get("reason") or section.get("status") or "absent"
        raise LawsFileError(f"{where}: {what} law was not fitted ({reason})")
    converged = fit.get("converged")
    if converged is False:
        raise LawsFileError(f"{where}: {what} law fit did not converge ({fit.get('message', 'no message')}); not usable")
    lacking = [k for k in ("converged", "params") if fit.get(k) is None]
    if lacking:
        raise LawsFileError(f"{where}: the {what} law's 'fit' has no {' or '.join(map(repr, lacking))} (expected "
                            f"\"converged\": true and \"params\": {{{', '.join(f.name for f in fields(cls))}}})")
    if converged is not True:
        raise LawsFileError(f"{where}: the {what} law's fit.converged must be true or false, got {converged!r}")
    return _param_set(fit["params"], cls, f"{where}: {what} law")


def _param_set(p, cls, where: str):
    p = _obj(p, where)
    try:
        values = {f.name: float(p[f.name]) for f in fields(cls)}
    except (KeyError, TypeError, ValueError) as e:
        raise LawsFileError(f"{where}: parameters are malformed ({type(e).__name__}: {e})") from None
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    if bad:
        raise LawsFileError(f"{where}: parameter {bad[0]} is not finite")
    return cls(**values)


def _column(data: dict, key: str, where: str) -> tuple[float, ...] | None:
    if key not in data:
        return None
    try:
        v = np.asarray(data[key], float).reshape(-1)
    except (TypeError, ValueError):
        raise LawsFileError(f"{where}: data column {key!r} must be a list of numbers") from None
    if len(v) == 0 or not np.all(np.isfinite(v)) or not np.all(v > 0):
        raise LawsFileError(f"{where}: data column {key!r} must hold finite numbers > 0")
    return tuple(map(float, v))


def _check_eq8_data(rmse, cols: dict, where: str) -> None:
    """Eq. 8's rows and rmse, where all are given: a refit of them draws its noise with the rmse."""
    if all(v is not None for v in cols.values()) and rmse is not None:
        if not (isinstance(rmse, (int, float)) and math.isfinite(rmse) and rmse > 0):
            raise LawsFileError(f"{where}: fit.rmse_log must be a number > 0, got {rmse!r}")
        if len({len(v) for v in cols.values()}) != 1:
            raise LawsFileError(f"{where}: data columns N, D, teacher_loss differ in length")


def _replicates(section: dict, cls, where: str) -> tuple:
    """A law's bootstrap refits (a distillation entry may carry the supervised parameters its
    replicate refitted, under "supervised"). Absent → ()."""
    reps = section.get("replicates")
    out = []
    for i, r in enumerate(() if reps is None else _list(reps, f"{where}: 'replicates'")):
        r = _obj(r, f"{where}: replicate {i}")
        body = r.get("distillation", r) if cls is DistillParams else r.get("supervised", r)
        own_sup = r.get("supervised") if cls is DistillParams else None
        out.append((_param_set(body, cls, f"{where}: replicate {i}"),
                    None if own_sup is None else _param_set(own_sup, SupervisedParams, f"{where}: replicate {i}")))
    return tuple(out)


def _extrapolation(ext) -> Extrapolation | Skipped | None:
    """The extrapolation check as written (a number it lacks is NaN; its refit is not kept)."""
    if not isinstance(ext, dict):
        return None
    if ext.get("status") != "ok":
        return Skipped(str(ext.get("reason") or ext.get("status") or "absent"), str(ext.get("status") or "skipped"))
    num = lambda k: float(ext[k]) if isinstance(ext.get(k), (int, float)) else math.nan  # noqa: E731
    return Extrapolation(bool(ext.get("converged", True)), int(ext.get("n_train") or 0), int(ext.get("n_test") or 0),
                         num("train_min_loss"), num("test_max_loss"), num("max_rel_error"), num("mean_rel_error"))


def _obj(x, where: str) -> dict:
    if not isinstance(x, dict):
        raise LawsFileError(f"{where} must be a JSON object, got {type(x).__name__}")
    return x


def _list(x, where: str) -> list:
    if not isinstance(x, list):
        raise LawsFileError(f"{where} must be a JSON list, got {type(x).__name__}")
    return x
