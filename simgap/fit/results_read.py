"""fit.json and a sweep's laws.json read back typed: every setting's optima and teacher laws and the
tested assumptions (`load`, `read_optima`, `from_json`), what `decide`, `plan` and the figure scripts
read. The law sections are the other half (simgap.fit.results_laws), so no module outside the
fitting layer indexes the JSON.
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path

from simgap.fit.results import OptimaSection, Skipped, StudentOptimum, TeacherLawSection, ok
from simgap.fit.verdicts import QUESTIONS, Assumption


def from_json(cls, doc):
    """The inverse of `to_json` for the results above whose fields are numbers, strings, tuples
    and other such results (optima, teacher laws): None → NaN, lists → tuples, a section whose
    status is not "ok" → `Skipped`. Law fits are not read back (fit.json and laws.json hold
    their parameters, not the solver's state)."""
    return _decode(cls, doc)


@dataclass(frozen=True)
class SettingOptima:
    """One setting's optima and teacher laws as read back from fit.json or a sweep's laws.json."""

    family: str
    key: dict
    optima: OptimaSection | Skipped | None
    teacher_law: tuple[TeacherLawSection, ...]


def read_optima(path) -> list[SettingOptima]:
    """Every setting's optima and teacher laws in a fit.json or a sweep's laws.json (its "fits"), typed,
    so figure scripts and the planner read the analysis instead of re-parsing CSVs or refitting."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable fit.json or laws.json ({e})") from None
    fits = doc.get("fits", doc) if isinstance(doc, dict) else None
    if not isinstance(fits, dict) or not isinstance(fits.get("families"), list):
        reason = fits.get("error", "not a fit.json or laws.json") if isinstance(fits, dict) else "not a JSON object"
        raise ValueError(f"{path}: no fitted families ({reason})")
    out = []
    for i, fam in enumerate(fits["families"]):
        for j, st in enumerate(fam.get("settings", ()) if isinstance(fam, dict) else [None]):
            where = f"{path}: families[{i}].settings[{j}]"
            try:
                out.append(SettingOptima(fam.get("family", ""), st.get("key", {}),
                                         None if st.get("optima") is None else from_json(OptimaSection | Skipped, st["optima"]),
                                         tuple(from_json(TeacherLawSection, t) for t in st.get("teacher_law", ()))))
            except (TypeError, KeyError, ValueError, AttributeError) as e:
                raise ValueError(f"{where}: damaged optima or teacher laws ({type(e).__name__}: {e})") from None
    return out


@dataclass(frozen=True)
class LoadedFit:
    """A fit.json or a sweep's laws.json read back typed: its assumptions and every setting's optima
    and teacher laws (law fits are not read back)."""

    path: str
    assumptions: tuple[Assumption, ...]
    settings: tuple[SettingOptima, ...]

    @property
    def students(self) -> tuple[StudentOptimum, ...]:
        """Every setting's optima (students with their knob, budgets and optimal teacher)."""
        return tuple(o for s in self.settings if ok(s.optima) for o in s.optima.students)


def assumption_from_json(d: dict) -> Assumption:
    """An `Assumption` from its to_json (laws.json, fit.json, decide.json): null → NaN; a field the
    record lacks takes its default."""
    f = lambda v: math.nan if v is None else float(v)  # noqa: E731
    law, question = QUESTIONS.get(d["name"], ("", ""))
    ref = d.get("reference")
    return Assumption(d.get("law", law), d["name"], d.get("question", question), f(d.get("estimate")),
                      tuple(map(f, d.get("ci") or (None, None))), f(d.get("tolerance")), d.get("verdict", "undecided"),
                      d.get("needs", ""), d.get("effect", ""), d.get("subject", ""), d.get("where", ""),
                      d.get("family", ""), tuple((d.get("setting") or {}).items()), f(d.get("student")),
                      f(d.get("budget")), f(d.get("teacher_budget")),
                      None if ref is None else (f(ref["budget"]), f(ref["teacher_budget"])), d.get("tested", True))


def load(path) -> LoadedFit:
    """The one reader of fit.json and laws.json: what `decide`, `plan` and the figure scripts read."""
    doc = json.loads(Path(path).read_text())
    failed = isinstance(doc, dict) and isinstance(doc.get("fits"), dict) and "error" in doc["fits"]
    settings = () if failed else read_optima(path)  # an analysis that could not fit: no optima
    try:
        found = tuple(assumption_from_json(a) for a in doc.get("assumptions", ()))
    except (TypeError, KeyError, ValueError, AttributeError) as e:
        raise ValueError(f"{path}: damaged assumptions ({type(e).__name__}: {e})") from None
    return LoadedFit(str(path), found, tuple(settings))


def _decode(tp, v):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if isinstance(v, dict) and v.get("status", "ok") != "ok" and Skipped in args:
            return Skipped(v.get("reason", ""), v["status"])
        if v is None and type(None) in args:
            return None
        return _decode(next(a for a in args if a not in (Skipped, type(None))), v)
    if origin is tuple:
        return tuple(_decode(args[0] if args[-1] is Ellipsis else a, x) for a, x in
                     zip(args if args[-1] is not Ellipsis else [args[0]] * len(v), v))
    if is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: _decode(hints[f.name], v[f.name]) for f in fields(tp) if f.name in v})
    if tp is float:
        return math.nan if v is None else float(v)
    return v
