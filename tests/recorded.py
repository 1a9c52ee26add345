"""The recorded runs the docs quote (docs/results/<name>.json, written by experiments/record_results.py),
as flat fields for the claims of tests/test_docs_results.py and tests/test_docs_presets.py.

A claim is a phrase with fields of a record; it must appear in its file as rendered (minus signs as
hyphens, whitespace runs as one space). The fields (`fields`) are flat names for what the docs quote:
- runs, seeds, distilled, buckets (one compile each), E (the family's irreducible loss), the verdict counts;
- per student n (its capacity knob): T{n} (optimal teacher, refined, with _lo/_hi), dip{n} (with _lo/_hi),
  ratio{n} (optimal teacher over the student, in parameters), params{n}, min{n}, sup{n} (best distilled
  and supervised loss), v_gap{n} (its gap_exists verdict) and gap{n}_seeds (the seeds `needs` asks for);
  gap_holds, gap_seeds_lo/_hi (over every gap check);
- slope, intercept, r2, p (the first teacher law: slope and exponent with CIs);
- each single assumption NAME: NAME, NAME_lo, NAME_hi (estimate and CI), v_NAME (verdict as the docs
  print it), NAME_seeds, NAME_refits_pct (numbers its `needs` gives);
- seed-mean curves where the run has one teacher length: L{s}_{t} (student s from teacher t), Lt{t}
  (teacher t), Lsup{s} (student s trained on labels).
"""

import json
import math
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
VERDICT = {"holds": "**holds**", "fails": "**fails**", "undecided": "undecided"}  # as the docs print them


def record(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def missing(path: str, claims, f: dict) -> list[str]:
    """The claims (rendered with f) that the file at path does not state, compared with minus signs as
    hyphens and every run of whitespace as one space (a reflowed paragraph states the same)."""
    flat = lambda s: " ".join(s.replace("−", "-").split())  # noqa: E731
    text = flat((ROOT / path).read_text())
    return [c.format(**f) for c in claims if flat(c.format(**f)) not in text]


def needs_fields(name: str, needs: str) -> dict:
    """The numbers the docs quote from an assumption's `needs` (what would decide it): {name}_seeds (≈ N
    seeds), {name}_refits_pct (N% of the bootstrap refits break a limit), {name}_points (N distinct
    (size, budget) points) and, for chinchilla_form, the range of γ its likelihood profile cannot tell
    apart (gamma_profile "lo–hi", gamma_profile_from "lo to hi")."""
    f = {}
    if m := re.search(r"≈ (\d+) seeds", needs):
        f[f"{name}_seeds"] = int(m[1])
    if m := re.search(r"(\d+)% of the bootstrap refits", needs):
        f[f"{name}_refits_pct"] = int(m[1])
    if m := re.search(r"(\d+) distinct \(size, budget\) points", needs):
        f[f"{name}_points"] = int(m[1])
    if m := re.search(r"γ from \(at least\) ([\d.]+) to ([\d.]+) fits", needs):
        f |= {"gamma_profile": f"{m[1]}–{m[2]}", "gamma_profile_from": f"{m[1]} to {m[2]}"}
    return f


def fields(r: dict) -> dict:
    f = {k: r[k] for k in ("runs", "seeds", "distilled", "buckets")} | r["verdicts"] | {"E": r["irreducible_loss"]}
    f |= _students(r) | _assumptions(r) | _curves(r)
    if r["teacher_laws"]:
        tl = r["teacher_laws"][0]
        f |= {"slope": tl["slope"], "intercept": tl["intercept"], "abs_intercept": abs(tl["intercept"]),
              "r2": tl["r2"], "n_points": tl["n_points"], "slope_lo": tl["slope_ci"][0], "slope_hi": tl["slope_ci"][1],
              "p": tl["exponent"], "p_lo": tl["exponent_ci"][0], "p_hi": tl["exponent_ci"][1]}
    if "distillation" in r:
        d = r["distillation"]
        f |= {"dist_n": d["n_points"], "dist_rmse_pct": 100 * d["rmse_log"],
              "extrap_max_pct": 100 * (d["extrapolation_max_rel_error"] or math.nan),
              "extrapolates_pct": 100 * f.get("extrapolates", math.nan),
              "extrapolates_lo_pct": 100 * f.get("extrapolates_lo", math.nan),
              "extrapolates_hi_pct": 100 * f.get("extrapolates_hi", math.nan)}
    return f


def _students(r: dict) -> dict:
    f = {}
    for s in r["students"]:
        n = f"{s['size']:g}"
        f |= {f"T{n}": s["optimal_teacher"], f"T{n}_lo": s["optimal_teacher_ci"][0],
              f"T{n}_hi": s["optimal_teacher_ci"][1], f"dip{n}": s["dip"], f"dip{n}_lo": s["dip_ci"][0],
              f"dip{n}_hi": s["dip_ci"][1], f"Tp{n}": s["optimal_teacher_params"],
              f"ratio{n}": s["optimal_teacher_params"] / s["params"], f"min{n}": s["min_loss"],
              f"sup{n}": s["supervised_loss"], f"params{n}": s["params"]}
        gap = [a for a in r["assumptions"] if a["name"] == "gap_exists" and a["student"] == s["params"]]
        if len(gap) == 1:  # one series: the student's own gap check
            f |= {f"v_gap{n}": VERDICT[gap[0]["verdict"]]} | needs_fields(f"gap{n}", gap[0]["needs"])
    inner = [s for s in r["students"] if s["interior"]]
    if inner:
        f |= {"knob_ratio_lo": min(s["optimal_teacher"] / s["size"] for s in inner),
              "knob_ratio_hi": max(s["optimal_teacher"] / s["size"] for s in inner),
              "param_ratio_lo": min(s["optimal_teacher_params"] / s["params"] for s in inner),
              "param_ratio_hi": max(s["optimal_teacher_params"] / s["params"] for s in inner)}
    return f | {"n_interior": len(inner), "n_students": len(r["students"]),
                "n_helped": sum(s["min_loss"] < s["supervised_loss"] for s in r["students"])}


def _assumptions(r: dict) -> dict:
    f = {}
    for a in r["assumptions"]:
        if sum(b["name"] == a["name"] for b in r["assumptions"]) == 1:
            f |= {f"v_{a['name']}": VERDICT[a["verdict"]]} | needs_fields(a["name"], a["needs"])
            if a["estimate"] is not None:
                f |= {a["name"]: a["estimate"], f"{a['name']}_lo": a["ci"][0], f"{a['name']}_hi": a["ci"][1]}
    gaps = [a for a in r["assumptions"] if a["name"] == "gap_exists"]
    held = [a["estimate"] for a in gaps if a["verdict"] == "holds"]
    f |= {"gap_holds": len(held), "gap_tested": len(gaps)}
    seeds = [s for a in gaps if (s := needs_fields("gap", a["needs"]).get("gap_seeds"))]
    f |= {"gap_seeds_lo": min(seeds), "gap_seeds_hi": max(seeds)} if seeds else {}
    return f | ({"gap_holds_lo": min(held), "gap_holds_hi": max(held)} if held else {})


def _curves(r: dict) -> dict:
    """Seed-mean losses, where the run trained its teachers at one length (else a preset's own fields)."""
    if len({c["teacher_budget"] for c in r["curves"] if c["curve"] == "teacher"}) != 1:
        return {}
    name = {"teacher": "Lt{t:g}", "supervised": "Lsup{s:g}", "distilled": "L{s:g}_{t:g}"}
    return {name[c["curve"]].format(s=c["student_size"] or 0, t=c["teacher_size"] or 0): c["mean_loss"]
            for c in r["curves"]}
