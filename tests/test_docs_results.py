"""Docs that cannot drift: every number README.md, docs/ and configs/ state about the default,
kernel and laws presets' results is checked against the recorded run (docs/results/<preset>.json, written
by experiments/record_results.py), and that record is checked against the current code by
re-analysing its rows (docs/results/<preset>.csv). Re-training reproduces the rows (slow).

A claim is a phrase with fields of the record; it must appear in its file as rendered. The fields
(`fields`) are flat names for what the docs quote: T{n}, dip{n} (student n's optimum and dip, in the
knob), slope, p (the teacher laws), the verdict counts, each single assumption's estimate and CI.
"""

import json
import math
import re
from pathlib import Path

import experiment_scripts
import pytest

from simgap import report
from simgap import rows as rows_lib
from simgap.config import load_config
from simgap.sweep import main as sweep_main

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
PRESETS = ("default", "kernel", "laws")
LONG = 1.536e6  # the laws preset's long teacher length (3,000 steps of 512)


def record(preset: str) -> dict:
    return json.loads((RESULTS / f"{preset}.json").read_text())


VERDICT = {"holds": "**holds**", "fails": "**fails**", "undecided": "undecided"}  # as the docs print them


def needs_fields(name: str, needs: str) -> dict:
    """The numbers the docs quote from an assumption's `needs` (what would decide it): {name}_seeds (≈ N
    seeds), {name}_refits_pct (N% of the bootstrap refits break a limit) and, for chinchilla_form, the
    range of γ its likelihood profile cannot tell apart (gamma_profile "lo–hi", gamma_profile_from "lo to hi")."""
    f = {}
    if m := re.search(r"≈ (\d+) seeds", needs):
        f[f"{name}_seeds"] = int(m[1])
    if m := re.search(r"(\d+)% of the bootstrap refits", needs):
        f[f"{name}_refits_pct"] = int(m[1])
    if m := re.search(r"γ from \(at least\) ([\d.]+) to ([\d.]+) fits", needs):
        f |= {"gamma_profile": f"{m[1]}–{m[2]}", "gamma_profile_from": f"{m[1]} to {m[2]}"}
    return f


def fields(r: dict) -> dict:
    f = {k: r[k] for k in ("runs", "seeds", "distilled")} | r["verdicts"]
    inner = [s for s in r["students"] if s["interior"]]
    for s in r["students"]:
        n = f"{s['size']:g}"
        f |= {f"T{n}": s["optimal_teacher"], f"T{n}_lo": s["optimal_teacher_ci"][0],
              f"T{n}_hi": s["optimal_teacher_ci"][1], f"dip{n}": s["dip"], f"dip{n}_lo": s["dip_ci"][0],
              f"dip{n}_hi": s["dip_ci"][1]}
        gap = [a for a in r["assumptions"] if a["name"] == "gap_exists" and a["student"] == s["params"]]
        if len(gap) == 1:  # one series: the student's own gap check
            f |= {f"v_gap{n}": VERDICT[gap[0]["verdict"]]} | needs_fields(f"gap{n}", gap[0]["needs"])
    f |= {"knob_ratio_lo": min(s["optimal_teacher"] / s["size"] for s in inner),
          "knob_ratio_hi": max(s["optimal_teacher"] / s["size"] for s in inner),
          "param_ratio_lo": min(s["optimal_teacher_params"] / s["params"] for s in inner),
          "param_ratio_hi": max(s["optimal_teacher_params"] / s["params"] for s in inner),
          "n_interior": len(inner), "n_helped": sum(s["min_loss"] < s["supervised_loss"] for s in r["students"]),
          "n_students": len(r["students"])}
    tl = r["teacher_laws"][0]
    f |= {"slope": tl["slope"], "intercept": tl["intercept"], "abs_intercept": abs(tl["intercept"]), "r2": tl["r2"],
          "n_points": tl["n_points"], "slope_lo": tl["slope_ci"][0], "slope_hi": tl["slope_ci"][1],
          "p": tl["exponent"], "p_lo": tl["exponent_ci"][0], "p_hi": tl["exponent_ci"][1]}
    for a in r["assumptions"]:
        if sum(b["name"] == a["name"] for b in r["assumptions"]) == 1:
            f |= {f"v_{a['name']}": VERDICT[a["verdict"]]} | needs_fields(a["name"], a["needs"])
            if a["estimate"] is not None:
                f |= {a["name"]: a["estimate"], f"{a['name']}_lo": a["ci"][0], f"{a['name']}_hi": a["ci"][1]}
    gaps = [a for a in r["assumptions"] if a["name"] == "gap_exists"]
    f["gap_holds"] = sum(a["verdict"] == "holds" for a in gaps)
    held = [a["estimate"] for a in gaps if a["verdict"] == "holds"]
    f |= {"gap_holds_lo": min(held), "gap_holds_hi": max(held)} if held else {}
    if "distillation" in r:
        d = r["distillation"]
        f |= {"dist_n": d["n_points"], "dist_rmse_pct": 100 * d["rmse_log"],
              "extrap_max_pct": 100 * d["extrapolation_max_rel_error"],
              "extrapolates_pct": 100 * f.get("extrapolates", math.nan),
              "extrapolates_lo_pct": 100 * f.get("extrapolates_lo", math.nan),
              "extrapolates_hi_pct": 100 * f.get("extrapolates_hi", math.nan)}
    return f


DEFAULT_README = (
    "({runs} runs, 15 compiles;",
    "Students of\nwidth 8, 12, 16 and 24 have an interior optimal teacher (w{T8:.0f}, w{T12:.0f}, w{T16:.0f}, "
    "w{T24:.0f} after refinement;\nT*/S ≈ {knob_ratio_lo:.1f}–{knob_ratio_hi:.1f} in width)",
    "the w32 student's best teacher is the widest (w{T32:.0f}), an edge\noptimum",
    "worse than the best by {dip12:.3f} nats, 90 % CI\n[{dip12_lo:.3f}, {dip12_hi:.3f}], paired over {seeds} seeds",
    "the dips ({dip16:.3f}, {dip24:.3f})",
    "beat supervised training for all five students",  # n_helped == n_students, asserted below
    "T* = {slope:.1f}·S + {intercept:.0f} (R² {r2:.2f} on {n_points} points, slope CI\n[{slope_lo:.1f}, {slope_hi:.1f}] over seeds)",
    "T*/S ≈ {param_ratio_lo:.0f}–{param_ratio_hi:.0f} in parameters",
    "fits the {dist_n} distilled runs to {dist_rmse_pct:.1f} % RMSE",
    "misses the stronger ones by up to {extrap_max_pct:.0f} %",
    "{holds} assumption\nholds (the w12 student's gap), {fails} fail (`linear`: exponent {p:.2f} [{p_lo:.2f}, {p_hi:.2f}];",
    "{undecided} are undecided",
    "fit breaks {limit_properties:.0f} limit checks, but the CI is [{limit_properties_lo:.0f}, {limit_properties_hi:.0f}] "
    "({limit_properties_refits_pct} % of the refits break one)",
)
DEFAULT_FIGURES = (
    "(w{T8:.0f}, w{T12:.0f}, w{T16:.0f}, w{T24:.0f}, refined; CIs [{T8_lo:.0f}, {T8_hi:.0f}], [{T12_lo:.0f}, "
    "{T12_hi:.0f}], [{T16_lo:.0f}, {T16_hi:.0f}],\n[{T24_lo:.0f}, {T24_hi:.0f}])",
    "worse by {dip12:.3f} nats, CI [{dip12_lo:.3f}, {dip12_hi:.3f}]; w8 {dip8:.3f}, w16 {dip16:.3f}, w24 {dip24:.3f} nats",
    "T* = {slope:.2f}·S + {intercept:.0f} on its {n_points} interior optima (R² {r2:.3f}, slope CI [{slope_lo:.2f}, "
    "{slope_hi:.2f}] over seeds: T*/S ≈ {param_ratio_lo:.0f}–{param_ratio_hi:.0f},",
)
DEFAULT_VERDICTS = (
    "| `default` | {runs} ({seeds}) | {holds} | {fails} | {undecided} | `linear` {v_linear} ({p:.3f} [{p_lo:.3f}, "
    "{p_hi:.3f}]); Eq. 8 does not extrapolate (+{extrapolates_pct:.0f} %); its limits are {v_limit_properties} "
    "({limit_properties:.0f} checks [{limit_properties_lo:.0f}, {limit_properties_hi:.0f}]) |",
    "(dip {dip12:.3f} [{dip12_lo:.3f},\n{dip12_hi:.3f}] nats)",
    "`linear` {v_linear} (exponent {p:.3f} [{p_lo:.3f}, {p_hi:.3f}]); `slope_pinned` is {v_slope_pinned}\n"
    "(k = {slope:.1f} [{slope_lo:.1f}, {slope_hi:.1f}]); Eq. 8 over-predicts the stronger runs by "
    "{extrapolates_pct:.0f} % [{extrapolates_lo_pct:.1f}, {extrapolates_hi_pct:.1f}] ({v_extrapolates}) and\n"
    "breaks {limit_properties:.0f} limit checks [{limit_properties_lo:.0f}, {limit_properties_hi:.0f}], "
    "{v_limit_properties} ({limit_properties_refits_pct} % of the bootstrap refits break one",
)
DEFAULT_CONFIG = (
    "Students w8, w12, w16, w24 have interior optimal teachers (w{T8:.0f}, w{T12:.0f}, w{T16:.0f}, w{T24:.0f}); \\\n"
    "only w12's gap is beyond paired seed noise ({dip12:.3f} nats)",
)
KERNEL_VERDICTS = (
    "| `kernel` | {runs} ({seeds}) | {holds} | {fails} | {undecided} | `linear` {v_linear} (exponent {p:.2f} "
    "[{p_lo:.3f}, {p_hi:.2f}]; the known truth T* ∝ S); gap beyond noise for {gap_holds} of {n_students} students |",
    "| `linear` | exponent {p:.2f} [{p_lo:.3f}, {p_hi:.2f}] | {v_linear} |",
    "| `slope_pinned` | k = {slope:.2f} [{slope_lo:.2f}, {slope_hi:.2f}] (in parameters) | {v_slope_pinned} |",
    "| `gap_exists` | students 300–700: dips {gap_holds_lo:.2f}–{gap_holds_hi:.1f} (squared-error units), CIs > 0 | "
    "**holds** ×{gap_holds} |",
    "| `gap_exists` | student 800: {dip800:.2f} [{dip800_lo:.2f}, {dip800_hi:.2f}] | undecided |",
    "(1000); ≈ {gap800_seeds} seeds |",
    "| `chinchilla_form` | γ = {chinchilla_form:.3f} [{chinchilla_form_lo:.3f}, {chinchilla_form_hi:.3f}] | "
    "{v_chinchilla_form} | one (infinite) budget: γ is not identified; its profile fits {gamma_profile}, γ = 1 included",
    "γ = {chinchilla_form:.3f} [{chinchilla_form_lo:.3f}, {chinchilla_form_hi:.3f}]\n  by the bootstrap, but its "
    "likelihood profile fits γ from {gamma_profile_from}",
    "| `limit_properties` | {limit_properties:.0f} failed checks [{limit_properties_lo:.0f}, {limit_properties_hi:.0f}] | "
    "{v_limit_properties} |",
    "| `extrapolates` | bias +{extrapolates_pct:.1f} % [{extrapolates_lo_pct:.1f}, {extrapolates_hi_pct:.1f}] | "
    "{v_extrapolates} |",
    "| `break_at_fixed_ratio` | slope {break_at_fixed_ratio:.2f} [{break_at_fixed_ratio_lo:.2f}, "
    "{break_at_fixed_ratio_hi:.2f}] | {v_break_at_fixed_ratio} | ≈ {break_at_fixed_ratio_seeds} seeds;",
)
KERNEL_FIGURES = (
    "T* = {slope:.2f}·S − {abs_intercept:.1f} (R² {r2:.3f}, slope CI\n[{slope_lo:.2f}, {slope_hi:.2f}]",
)


def laws_fields(r: dict) -> dict:
    """The laws preset's numbers per teacher length (its paragraph in docs/laws-and-fitting.md)."""
    f = fields(r)
    for name, tb in (("long", LONG), ("short", 384000.0)):
        st = [s for s in r["students"] if s["teacher_budget"] == tb]
        gaps = [a for a in r["assumptions"] if a["name"] == "gap_exists" and a["teacher_budget"] == tb]
        held = [a["estimate"] for a in gaps if a["verdict"] == "holds"]
        f |= {f"{name}_n": len(st), f"{name}_interior": sum(s["interior"] for s in st), f"{name}_gaps": len(held),
              f"{name}_gap_lo": min(held, default=math.nan), f"{name}_gap_hi": max(held, default=math.nan)}
    long = [s for s in r["students"] if s["teacher_budget"] == LONG and s["interior"]]
    f["long_median_ratio"] = sorted(s["optimal_teacher_params"] / s["params"] for s in long)[len(long) // 2 - 1:
                                                                                         len(long) // 2 + 1]
    f["long_median_ratio"] = sum(f["long_median_ratio"]) / 2
    laws_ = sorted((t for t in r["teacher_laws"] if t["teacher_budget"] == LONG), key=lambda t: t["budget"])
    rel = []
    for i, t in enumerate(laws_):
        f |= {f"k{i}": t["slope"], f"b{i}": t["intercept"], f"k{i}_lo": t["slope_ci"][0], f"k{i}_hi": t["slope_ci"][1],
              f"r2_{i}": t["r2"], f"p{i}": t["exponent"], f"p{i}_lo": t["exponent_ci"][0], f"p{i}_hi": t["exponent_ci"][1]}
        rel.append(max(abs(t["slope_ci"][1] - t["slope"]), abs(t["slope"] - t["slope_ci"][0])) / abs(t["slope"]))
    f |= {"best_rel_pct": 100 * min(rel), "best_rel": min(rel), "seeds_factor": (min(rel) / 0.3) ** 2,
          "seeds_needed": math.ceil((min(rel) / 0.3) ** 2 * r["seeds"])}
    f |= {"tla_n": r["teacher_loss_axis"]["students"], "tla_interior": r["teacher_loss_axis"]["interior"],
          "tla_beyond": r["teacher_loss_axis"]["beyond_noise"], "dist_max_pct": 100 * r["distillation"]["max_rel_error"],
          "dist_rmse": r["distillation"]["rmse_log"], "sup_rmse": r["supervised"]["rmse_log"],
          "sup_max_pct": 100 * r["supervised"]["max_rel_error"],
          "misfit_pct": 100 * (math.exp(r["distillation"]["misfit"]["mean_log_residual"]) - 1)}
    return f


LAWS_DOC = (
    "all {long_n}\n  (student, budget) curves have an interior optimal teacher and {long_gaps} dips are beyond seed noise\n"
    "  ({long_gap_lo:.3f}–{long_gap_hi:.3f} nats); with teachers trained 750 steps only {short_interior} of {short_n} are "
    "interior and none is\n  beyond noise",
    "every one of the {tla_interior} students has an\n  interior optimal L_T, {tla_beyond} beyond noise",
    "training for {n_helped} of {n_students} (student, budget, teacher length) cases",
    "T* = {k0:.2f}·S + {b0:.0f}\n  (slope CI [{k0_lo:.2f}, {k0_hi:.2f}] over seeds, R² {r2_0:.2f}), {k1:.2f}·S + {b1:.0f} "
    "([{k1_lo:.2f}, {k1_hi:.2f}], R² {r2_1:.2f}), {k2:.2f}·S + {b2:.0f}\n  ([{k2_lo:.2f}, {k2_hi:.2f}], R² {r2_2:.2f})",
    "median T*/S = {long_median_ratio:.1f} against",
    "half-width is {best_rel_pct:.0f} % of its slope",
    "exponent {p1:.2f} [{p1_lo:.2f}, {p1_hi:.2f}]",
    "(1.21/0.30)² ≈ {seeds_factor:.0f}× the seeds (≈ {seeds_needed})",
    "it has RMSE {dist_rmse:.3f}\n  in log loss but a max error of {dist_max_pct:.0f} %",
    "runs by up to {extrap_max_pct:.0f} %",
    "(predictions {misfit_pct:.1f} % above the runs",
    "misses by up to {sup_max_pct:.0f} % (RMSE {sup_rmse:.3f})",
)


def test_the_laws_preset_paragraph_is_the_recorded_run():
    r = record("laws")
    f = laws_fields(r)
    text = (ROOT / "docs" / "laws-and-fitting.md").read_text().replace("−", "-")
    missing = [c.format(**f) for c in LAWS_DOC if c.format(**f).replace("−", "-") not in text]
    assert not missing, "docs/laws-and-fitting.md does not state the recorded laws run's numbers:\n" + "\n".join(missing)
    assert f["best_rel"] == pytest.approx(1.21, abs=0.005)  # the (1.21/0.30)² the paragraph works with
    kept = r["distillation"]["properties_kept"]  # "keeps P1–P4 and breaks App. E.6"
    assert [k[:3] for k, v in kept.items() if not v] == ["E.6"] and sum(kept.values()) == 4
    assert r["distillation"]["misfit"]["axis"] == "N_S" and r["distillation"]["misfit"]["third"] == "highest"


CLAIMS = [("default", "README.md", DEFAULT_README), ("default", "docs/papers-figures.md", DEFAULT_FIGURES),
          ("default", "docs/verdicts.md", DEFAULT_VERDICTS), ("default", "configs/default.toml", DEFAULT_CONFIG),
          ("kernel", "docs/verdicts.md", KERNEL_VERDICTS), ("kernel", "docs/papers-figures.md", KERNEL_FIGURES)]


@pytest.mark.parametrize("preset,path,claims", CLAIMS, ids=[f"{p}:{f}" for p, f, _ in CLAIMS])
def test_stated_numbers_are_the_recorded_runs(preset, path, claims):
    f = fields(record(preset))
    text = (ROOT / path).read_text().replace("−", "-")  # docs print minus signs
    missing = [c.format(**f).replace("−", "-") for c in claims if c.format(**f).replace("−", "-") not in text]
    assert not missing, f"{path} does not state the recorded {preset} run's numbers:\n" + "\n".join(missing)


def test_the_default_readme_claims_hold_as_booleans():
    r, f = record("default"), fields(record("default"))
    assert f["n_helped"] == f["n_students"] == 5  # "beat supervised training for all five students"
    kept = r["distillation"]["properties_kept"]
    assert [k[:2] for k, v in kept.items() if not v] == ["P1"]  # "breaks P1 ... while keeping P2–P4"
    assert [v for k, v in kept.items() if k.startswith(("P2", "P3", "P4"))] == [True] * 3


@pytest.mark.parametrize("preset", [p if p != "laws" else pytest.param(p, marks=pytest.mark.slow) for p in PRESETS])
def test_the_record_is_what_the_current_code_gives(preset):  # laws: 1,476 rows, ~30 s of analysis, slow
    """Re-analyse the recorded rows with today's code (the sweep's own analysis): the same summary."""
    rr = experiment_scripts.load("record_results")
    cfg = load_config(ROOT / "configs" / f"{preset}.toml")
    rows = rows_lib.read_csv(RESULTS / f"{preset}.csv")
    now = rr.summary(preset, rows, report.fit_rows(cfg, rows))
    assert _close(now, record(preset)), "docs/results is stale: re-record with experiments/record_results.py"


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_training_reproduces_the_recorded_rows(preset, tmp_path):
    assert sweep_main(["--config", str(ROOT / "configs" / f"{preset}.toml"), "--out", str(tmp_path), "--no-progress"]) == 0
    got, want = rows_lib.read_csv(tmp_path / "results.csv"), rows_lib.read_csv(RESULTS / f"{preset}.csv")
    key = lambda r: (r["run_kind"], r["seed"], r["student_size"], r["teacher_size"])  # noqa: E731
    got, want = sorted(got, key=key), sorted(want, key=key)
    assert [key(r) for r in got] == [key(r) for r in want]
    assert all(_close(a["student_loss"], b["student_loss"]) and _close(a["teacher_loss"], b["teacher_loss"])
               for a, b in zip(got, want))


def _close(a, b, rel: float = 1e-6) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k], rel) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_close(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, (int, float)):
        return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=rel, abs=1e-12)
    return a == b
