"""Read fitted laws from simgap's fit.json (`python -m simgap.fit`) or a sweep's laws.json (key "fits")."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from simgap.laws import BUSBRIDGE_DISTILL, BUSBRIDGE_SUPERVISED, DistillParams, SupervisedParams
from simgap.plan.compute import PlanError

REFERENCES = {"busbridge": (BUSBRIDGE_SUPERVISED, BUSBRIDGE_DISTILL)}


@dataclass(frozen=True)
class Laws:
    supervised: SupervisedParams
    distill: DistillParams
    source: str  # "reference busbridge" or "PATH family F setting K"
    family: dict | None = None  # the fit's family entry (for measured optima), when read from a file
    setting: dict | None = None


def reference(name: str) -> Laws:
    if name not in REFERENCES:
        raise PlanError(f"unknown reference laws {name!r}; known: {', '.join(REFERENCES)}")
    sup, dist = REFERENCES[name]
    return Laws(sup, dist, f"reference {name}")


def _params(section, what: str, where: str, cls):
    if not isinstance(section, dict):
        raise PlanError(f"{where}: no {what} law in the file")
    fit = section.get("fit")
    if not isinstance(fit, dict):
        reason = section.get("reason") or section.get("status") or "absent"
        raise PlanError(f"{where}: {what} law was not fitted ({reason})")
    if not fit.get("converged") or fit.get("params") is None:
        raise PlanError(f"{where}: {what} law fit did not converge ({fit.get('message', 'no message')}); not usable")
    p = fit["params"]
    try:
        values = {k: float(p[k]) for k in cls.__dataclass_fields__}
    except (KeyError, TypeError, ValueError) as e:
        raise PlanError(f"{where}: {what} law parameters are malformed ({e})") from None
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    if bad:
        raise PlanError(f"{where}: {what} law parameter {bad[0]} is not finite")
    return cls(**values)


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
    names = [f.get("family", "") for f in fams]
    if family is not None:
        if family not in names:
            raise PlanError(f"{path}: no family {family!r}; families: {', '.join(map(repr, names))}")
        fams = [fams[names.index(family)]]
    last_error = None
    for fam in fams:
        where = f"{path} family {fam.get('family', '')!r}"
        settings = fam.get("settings") or []
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
                dist = _params(settings[k].get("distillation"), "distillation", f"{where} setting {k}", DistillParams)
                return Laws(sup, dist, f"{path} family {fam.get('family', '')!r} setting {k}", fam, settings[k])
            except PlanError as e:
                last_error = e
    raise last_error or PlanError(f"{path}: no family has a distillation law")
