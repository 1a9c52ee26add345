"""Docs that cannot drift: every number README.md, docs/ and configs/ state about the default,
kernel and laws presets' results is checked against the recorded run (docs/results/<preset>.json, written
by experiments/record_results.py), and that record is checked against the current code by
re-analysing its rows (docs/results/<preset>.csv). Re-training reproduces the rows (slow).

A claim is a phrase with fields of the record; it must appear in its file as rendered. The fields
(`fields`) are flat names for what the docs quote: T{n}, dip{n} (student n's optimum and dip, in the
knob), slope, p (the teacher laws), the verdict counts, each single assumption's estimate and CI.
"""

import math

import experiment_scripts
import pytest
from recorded import RESULTS, ROOT, fields, missing, record

from simgap import report
from simgap import rows as rows_lib
from simgap.config import load_config
from simgap.sweep import main as sweep_main

PRESETS = ("default", "kernel", "laws", "mlp", "mlp_zhang", "fig12_teacher_length", "transformer",
           "transformer_busbridge")  # as shipped
VARIANTS = ("transformer_until_decided", "laws_until_decided", "mlp_zhang_random_init", "transformer_random_init",
            "transformer_zhang_until_decided", "transformer_busbridge_pruned",
            "transformer_zhang_long_until_decided", "transformer_zhang_long_wide_ladder",
            "transformer_zhang_600_until_decided", "transformer_zhang_v64_pilot", "transformer_zhang_v64_pilot_400",
            "transformer_zhang_v64_pilot_500")  # own config.toml
# re-analyses of minutes on 2 cores, or of tens of seconds each (CI keeps default, kernel and mlp: the
# analysis code's drift guard; the others run under the slow marker)
SLOW = {"laws": "1,476 rows", "laws_until_decided": "4,758 rows", "mlp_zhang": "", "fig12_teacher_length": "",
        "transformer": "", "transformer_until_decided": "", "mlp_zhang_random_init": "", "transformer_random_init": "",
        "transformer_zhang_until_decided": "", "transformer_busbridge": "",
        "transformer_busbridge_pruned": "", "transformer_zhang_long_until_decided": "",
        "transformer_zhang_long_wide_ladder": "", "transformer_zhang_600_until_decided": "",
        "transformer_zhang_v64_pilot": "", "transformer_zhang_v64_pilot_400": "", "transformer_zhang_v64_pilot_500": ""}
LONG = 1.536e6  # the laws preset's long teacher length (3,000 steps of 512)

DEFAULT_README = (
    "({runs} runs, {buckets} compiles;",
    "Students of\nwidth 8, 12, 16 and 24 have an interior optimal teacher (w{T8:.0f}, w{T12:.0f}, w{T16:.0f}, "
    "w{T24:.0f} after refinement;\nT*/S ≈ {knob_ratio_lo:.1f}–{knob_ratio_hi:.1f} in width)",
    "the w32 student's best teacher is the widest (w{T32:.0f}), an edge\noptimum",
    "worse than the best by {dip12:.3f} nats, 90 % CI\n[{dip12_lo:.3f}, {dip12_hi:.3f}], paired over {seeds} seeds",
    "the dips ({dip16:.3f}, {dip24:.3f})",
    "beat supervised training for all five students",  # n_helped == n_students, asserted below
    "T* = {slope:.1f}·S − {abs_intercept:.0f} (R² {r2:.2f} on {n_points} points, slope CI\n[{slope_lo:.1f}, {slope_hi:.1f}] over seeds)",
    "T*/S ≈ {param_ratio_lo:.0f}–{param_ratio_hi:.0f} in parameters",
    "fits the {dist_n} distilled runs to {dist_rmse_pct:.1f} % RMSE",
    "misses the stronger ones by up to {extrap_max_pct:.0f} %",
    "{holds} assumption\nholds (the w12 student's gap), {fails} fail (Eq. 8's",
    "`linear` among them (exponent {p:.2f} [{p_lo:.2f}, {p_hi:.2f}]",
    "{undecided} are undecided",
    "fit breaks {limit_properties:.0f} limit checks, but the CI is [{limit_properties_lo:.0f}, {limit_properties_hi:.0f}] "
    "({limit_properties_refits_pct} % of the refits break one)",
)
DEFAULT_FIGURES = (
    "(w{T8:.0f}, w{T12:.0f}, w{T16:.0f}, w{T24:.0f}, refined; CIs [{T8_lo:.0f}, {T8_hi:.0f}], [{T12_lo:.0f}, "
    "{T12_hi:.0f}], [{T16_lo:.0f}, {T16_hi:.0f}],\n[{T24_lo:.0f}, {T24_hi:.0f}])",
    "worse by {dip12:.3f} nats, CI [{dip12_lo:.3f}, {dip12_hi:.3f}]; w8 {dip8:.3f}, w16 {dip16:.3f}, w24 {dip24:.3f} nats",
    "T* = {slope:.2f}·S − {abs_intercept:.0f} on its {n_points} located optima (R² {r2:.3f}, slope CI [{slope_lo:.2f}, "
    "{slope_hi:.2f}] over seeds: T*/S ≈ {param_ratio_lo:.0f}–{param_ratio_hi:.0f},",
)
DEFAULT_CONFIG = (
    "Students w8, w12, w16, w24 have interior optimal teachers (w{T8:.0f}, w{T12:.0f}, w{T16:.0f}, w{T24:.0f}); \\\n"
    "only w12's gap is beyond paired seed noise ({dip12:.3f} nats)",
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
    "6 seeds: {runs:,} runs, {buckets} compiles.",
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
    "(1.94/0.30)² ≈ {seeds_factor:.0f}× the seeds (≈ {seeds_needed})",
    "it has RMSE {dist_rmse:.3f}\n  in log loss but a max error of {dist_max_pct:.0f} %",
    "runs by up to {extrap_max_pct:.0f} %",
    "(predictions {misfit_pct:.1f} % above the runs",
    "misses by up to {sup_max_pct:.0f} % (RMSE {sup_rmse:.3f})",
)


def test_the_laws_preset_paragraph_is_the_recorded_run():
    r = record("laws")
    f = laws_fields(r)
    gone = missing("docs/laws-and-fitting.md", LAWS_DOC, f)
    assert not gone, "docs/laws-and-fitting.md does not state the recorded laws run's numbers:\n" + "\n".join(gone)
    assert f["best_rel"] == pytest.approx(1.94, abs=0.005)  # the (1.94/0.30)² the paragraph works with
    kept = r["distillation"]["properties_kept"]  # "keeps P1–P4 and breaks App. E.6"
    assert [k[:3] for k, v in kept.items() if not v] == ["E.6"] and sum(kept.values()) == 4
    assert r["distillation"]["misfit"]["axis"] == "N_S" and r["distillation"]["misfit"]["third"] == "highest"


FIG10 = (  # Busbridge et al. Fig. 10 from the kernel preset (figures.flat_minimum_table)
    "the teacher's error falls steadily ({Lt1:.1f} → {Lt1000:.1f})",
    "n = 300: {flat300_min:.1f} for m = {flat300_first:g}–{flat300_last:g}, {flat300_below:.1f}\nat m = 275) and then rises, "
    "by {flat300_rise:.1f} (n = 300) down to {flat800_rise:.1f} (n = 800) at m = 1000",
)
FIG12 = (  # Fig. 12 from the fig12_teacher_length preset (its optima along the teacher's training length)
    "the teacher's loss falls from\n{Lt_first:.2f} to {Lt_last:.3f} nats",
    "(refined {steps8:.0f}, {steps12:.0f},\n{steps16:.0f}, {steps24:.0f} steps for w8, w12, w16, w24)",
    "worse than the best length by\n{ldip8:.3f}, {ldip12:.3f}, {ldip16:.3f}, {ldip24:.3f} nats",
    "e.g. w12 [{ldip12_lo:.3f}, {ldip12_hi:.3f}])",
)
FIG12_CONFIG = ("each student's best length is \\\nintermediate ({steps_lo:.0f}-{steps_hi:.0f} steps)",)
LAWS_CONFIG = ("# dense where the default sweep found the optima (w{T12:.0f}-w{T24:.0f})",)  # the default run's
MLP_CONFIG = ("interior optimal teachers \\\n({w12}, {w16}, {w24}) for students w12, w16, w24, paired over {seeds} seeds; "
              "only w12's gap is beyond seed noise \\\n({dip12:.3f} nats)",)


def fig_fields(name: str) -> dict:
    """Fields of the figure scripts' tables in a record: flat{n}_* (Fig. 10's flat minimum of student n),
    steps{n}, ldip{n} (Fig. 12: student n's optimal teacher length in steps of 512, and its dip)."""
    r = record(name)
    f = fields(r)
    for m in r.get("flat_minima", []):
        n = f"{m['student_size']:g}"
        f |= {f"flat{n}_min": m["min_error"], f"flat{n}_first": m["first_m_at_min"], f"flat{n}_last": m["last_m_at_min"],
              f"flat{n}_below": m["error_at_m_below_n"], f"flat{n}_rise": m["rise_to_largest_m"]}
    opt = r.get("length_optima", [])
    for o in opt:
        n = f"{o['student_size']:g}"
        f |= {f"steps{n}": o["optimal_teacher_budget"] / 512, f"ldip{n}": o["dip_depth"], f"ldip{n}_lo": o["dip_lo"],
              f"ldip{n}_hi": o["dip_hi"]}
    if opt:
        f |= {"steps_lo": min(o["optimal_teacher_budget"] for o in opt) / 512,
              "steps_hi": max(o["optimal_teacher_budget"] for o in opt) / 512}
    teachers = sorted((c for c in r["curves"] if c["curve"] == "teacher"), key=lambda c: c["teacher_budget"] or 0)
    return f | {"Lt_first": teachers[0]["mean_loss"], "Lt_last": teachers[-1]["mean_loss"]}


def test_the_papers_figures_are_the_recorded_runs():
    """Fig. 10 (kernel) and Fig. 12 (fig12_teacher_length) in docs/papers-figures.md, and the claims
    behind their words: every kernel student's error is lowest from exactly m = n, flat up to ≈ 1.2 n;
    every Fig. 12 optimum is an intermediate length and no dip is beyond noise."""
    kernel, fig12 = fig_fields("kernel"), fig_fields("fig12_teacher_length")
    assert not (gone := missing("docs/papers-figures.md", FIG10, kernel) + missing("docs/papers-figures.md", FIG12, fig12)), gone
    flat = record("kernel")["flat_minima"]
    assert all(m["first_m_at_min"] == m["student_size"] and round(m["last_m_at_min"] / m["student_size"], 1) == 1.2
               for m in flat)
    opt = record("fig12_teacher_length")["length_optima"]
    assert all(o["interior"] and not o["dip_beyond_noise"] and o["dip_lo"] < 0 for o in opt)
    assert not (gone := missing("configs/fig12_teacher_length.toml", FIG12_CONFIG, fig12)), gone


def test_the_preset_comments_are_the_recorded_runs():
    default, mlp = fields(record("default")), fields(record("mlp"))
    mlp |= {f"w{s['size']:g}": f"w{s['optimal_teacher']:.0f}" for s in record("mlp")["students"]}
    assert not (gone := missing("configs/laws.toml", LAWS_CONFIG, default)), gone
    assert not (gone := missing("configs/mlp.toml", MLP_CONFIG, mlp)), gone
    assert mlp["n_interior"] == 3 and mlp["gap_holds"] == 1  # docs/configs.md: "the three clearest interior optima"
    # configs/fig12_teacher_length.toml: w128 "is past the optimum of these students in the default sweep"
    assert all(default[f"T{n}"] < 128 and default[f"T{n}_hi"] <= 128 for n in (8, 12, 16, 24))


CLAIMS = [("default", "README.md", DEFAULT_README), ("default", "docs/papers-figures.md", DEFAULT_FIGURES),
          ("default", "configs/default.toml", DEFAULT_CONFIG), ("kernel", "docs/papers-figures.md", KERNEL_FIGURES)]


@pytest.mark.parametrize("preset,path,claims", CLAIMS, ids=[f"{p}:{f}" for p, f, _ in CLAIMS])
def test_stated_numbers_are_the_recorded_runs(preset, path, claims):
    assert not (gone := missing(path, claims, fields(record(preset)))), \
        f"{path} does not state the recorded {preset} run's numbers:\n" + "\n".join(gone)


def test_the_default_readme_claims_hold_as_booleans():
    r, f = record("default"), fields(record("default"))
    assert f["n_helped"] == f["n_students"] == 5  # "beat supervised training for all five students"
    kept = r["distillation"]["properties_kept"]
    assert [k[:2] for k, v in kept.items() if not v] == ["P1"]  # "breaks P1 ... while keeping P2–P4"
    assert [v for k, v in kept.items() if k.startswith(("P2", "P3", "P4"))] == [True] * 3


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in PRESETS + VARIANTS])
def test_the_record_is_what_the_current_code_gives(name):
    """Re-analyse the recorded rows with today's code (the sweep's own analysis): the same summary. A
    preset is analysed with its config as shipped (so a changed preset shows here too)."""
    rr = experiment_scripts.load("record_results")
    cfg = load_config(rr.recorded_config(name, RESULTS))
    rows = rows_lib.read_csv(RESULTS / f"{name}.csv")
    now = rr.summary(cfg.name, rows, report.fit_rows(cfg, rows), cfg, rr.rounds(RESULTS / f"{name}.decide.json"))
    assert _close(now, record(name)), f"docs/results/{name}.json is stale: experiments/record_results.py --again {name}"


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_training_reproduces_the_recorded_rows(preset, tmp_path):
    assert sweep_main(["--config", str(ROOT / "configs" / f"{preset}.toml"), "--out", str(tmp_path), "--no-progress"]) == 0
    got, want = rows_lib.read_csv(tmp_path / "results.csv"), rows_lib.read_csv(RESULTS / f"{preset}.csv")
    key = lambda r: (r["run_kind"], r["seed"], r["student_size"], r["teacher_size"], r["student_budget"],  # noqa: E731
                     r["teacher_budget"])
    got, want = sorted(got, key=lambda r: str(key(r))), sorted(want, key=lambda r: str(key(r)))
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
