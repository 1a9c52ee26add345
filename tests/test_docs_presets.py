"""Docs that cannot drift, the shipped presets: every number docs/verdicts.md ("Verdicts of the shipped
presets"), docs/families.md ("What the protocol found"), docs/configs.md and the presets' comments state
about a preset's result is checked against its recorded run (docs/results/<name>.json; tests/recorded.py
says what the fields are). tests/test_docs_results.py checks that each record is what today's code gives.
"""

import dataclasses
import math
import re

import pytest
from recorded import VERDICT, fields, missing, needs_fields, record

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
    "`gap_exists` {v_gap12} for student {params12:.0f} (dip {dip12:.3f} [{dip12_lo:.3f}, {dip12_hi:.3f}] nats) and is "
    "undecided for the other four (≈ {gap_seeds_lo}–{gap_seeds_hi} seeds,",
    "`default` {chinchilla_form_points}) are",
    "the supervised checks are undecided ({chinchilla_form_points} sizes, one budget).",
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
    "| `irreducible_loss` | E − E_true ≈ {E_err} | {v_irreducible_loss} |",
    "| `extrapolates` | bias +{extrapolates_pct:.1f} % [{extrapolates_lo_pct:.1f}, {extrapolates_hi_pct:.1f}] | "
    "{v_extrapolates} |",
    "| `break_at_fixed_ratio` | slope {break_at_fixed_ratio:.2f} [{break_at_fixed_ratio_lo:.2f}, "
    "{break_at_fixed_ratio_hi:.2f}] | {v_break_at_fixed_ratio} | ≈ {break_at_fixed_ratio_seeds} seeds;",
)
MLP_VERDICTS = (
    "| `mlp` | {runs} ({seeds}) | {holds} | {fails} | {undecided} | gap beyond noise for the w12 student ({dip12:.3f} "
    "[{dip12_lo:.3f}, {dip12_hi:.3f}] nats); `break_at_fixed_ratio` {v_break_at_fixed_ratio} ({break_at_fixed_ratio:.2f} "
    "[{break_at_fixed_ratio_lo:.2f}, {break_at_fixed_ratio_hi:.2f}]) |",
    "`mlp` shows a gap beyond noise for its w12 student ({dip12:.3f} [{dip12_lo:.3f}, {dip12_hi:.3f}] nats; w16 and w24 "
    "undecided at {dip16:.3f} and {dip24:.3f} nats, ≈ {gap16_seeds} and {gap24_seeds} seeds), `linear` {v_linear} "
    "(exponent {p:.2f} [{p_lo:.2f}, {p_hi:.2f}], ≈ {linear_seeds} seeds) and `break_at_fixed_ratio` "
    "{v_break_at_fixed_ratio} (slope {break_at_fixed_ratio:.2f} [{break_at_fixed_ratio_lo:.2f}, "
    "{break_at_fixed_ratio_hi:.2f}]); `limit_properties` is {v_limit_properties} ({limit_properties_refits_pct} % of "
    "its bootstrap refits break a limit).",
    "(`transformer` 2, `mlp` {chinchilla_form_points},",
)
MLP_ZHANG_VERDICTS = (
    "| `mlp_zhang` | {runs} ({seeds}) | {holds} | {fails} | {undecided} | pruned students: no gap beyond noise, one "
    "interior optimum of three; Eq. 8 does not extrapolate (+{extrapolates_pct:.0f} % [{extrapolates_lo_pct:.0f}, "
    "{extrapolates_hi_pct:.0f}]) |",
    "has one interior optimum of three and no dip beyond noise; Eq. 8 does not extrapolate (+{extrapolates_pct:.0f} % "
    "[{extrapolates_lo_pct:.0f}, {extrapolates_hi_pct:.0f}], {v_extrapolates}), and its limits are {v_limit_properties} "
    "({limit_properties:.0f} failed checks [{limit_properties_lo:.0f}, {limit_properties_hi:.0f}]: "
    "{limit_properties_refits_pct} % of the refits break one;",
)
FIG12_VERDICTS = (
    "| `fig12_teacher_length` | {runs} ({seeds}) | {holds} | {fails} | {undecided} | one teacher size at several "
    "lengths: the teacher-law checks do not apply; Eq. 8 keeps its limits |",
    "`fig12_teacher_length` has one teacher size: Eq. 8 keeps its limits ({v_limit_properties}); its extrapolation "
    "(+{extrapolates_pct:.1f} % [{extrapolates_lo_pct:.1f}, {extrapolates_hi_pct:.1f}]) is {v_extrapolates} at ±1 %: "
    "the CI's lower end is within two Monte Carlo errors of the tolerance",
    "`fig12_teacher_length` {chinchilla_form_points}, `default` 5) are",
)
TRANSFORMER_VERDICTS = (
    "| `transformer` | {runs} ({seeds}) | {holds} | {fails} | {undecided} | gap beyond noise for the d24 student "
    "({dip24:.4f} [{dip24_lo:.4f}, {dip24_hi:.4f}] nats), d16 undecided ({dip16:.3f} [{dip16_lo:.3f}, {dip16_hi:.3f}]); "
    "Eq. 8 keeps its limits but does not extrapolate (+{extrapolates_pct:.1f} %) |",
    "| the grid ({runs} runs, {buckets} compiles) | {seeds} | {dip16:.3f} [{dip16_lo:.3f}, {dip16_hi:.3f}]: {v_gap16} | "
    "{dip24:.4f} [{dip24_lo:.4f}, {dip24_hi:.4f}]: {v_gap24} |",
    "recorded with its 5 seeds, d16's optimum is interior (d{T16:.1f} [{T16_lo:.1f}, {T16_hi:.1f}]: {L16_24:.3f} from d24, "
    "{L16_32:.3f} from d32)",
    "(`transformer` {chinchilla_form_points}, `mlp`",
    "students d16 ({params16:.0f} parameters) and d24 ({params24:.0f}), each pruned",
    "d8 cannot learn the chain (≈ 0.93 nats against E = {E:.3f})",
)
TRANSFORMER_UD_VERDICTS = (
    "| `transformer` + `--until-decided` | {runs} ({seeds}) | {holds} | {fails} | {undecided} | `gap_exists` "
    "{v_gap16} for both students after one round: d16 dip {dip16:.3f} [{dip16_lo:.3f}, {dip16_hi:.3f}] nats, d24 "
    "{dip24:.4f} [{dip24_lo:.4f}, {dip24_hi:.4f}]; both best with the smallest teacher; Eq. 8 keeps its limits but does "
    "not extrapolate (+{extrapolates_pct:.1f} %) |",
    "| round 1: 5 more seeds, {round1_flops} FLOPs | {seeds} | {dip16:.3f} [{dip16_lo:.3f}, {dip16_hi:.3f}]: {v_gap16} | "
    "{dip24:.4f} [{dip24_lo:.4f}, {dip24_hi:.4f}]: {v_gap24} |",
    "(d16: d24 {L16_24:.3f}, d32 {L16_32:.3f}, d48 {L16_48:.3f}, d64 {L16_64:.3f}; d24: d32 {L24_32:.3f}, d48 "
    "{L24_48:.3f}, d64 {L24_64:.3f} nats, seed means), so T* is bounded above (T*/S ≤ {ratio16:.1f} and ≤ {ratio24:.1f} "
    "in parameters, Zhang et al.: 2.5)",
    "Distillation beats the supervised baseline for both ({min16:.3f} vs {sup16:.3f}; {min24:.3f} vs {sup24:.3f}). Eq. 8 "
    "fitted to the {dist_n} distilled runs keeps P1–P4 (`limit_properties` {v_limit_properties};",
    "but misses the stronger runs by +{extrapolates_pct:.1f} % [{extrapolates_lo_pct:.1f}, {extrapolates_hi_pct:.1f}] "
    "(`extrapolates` {v_extrapolates}).",
    "and with 10 it sits at d24 ({L16_24:.3f} vs {L16_32:.3f} at d32, within noise).",
)
LAWS_VERDICTS = (  # the grid, recorded as `laws`
    "| `laws` | {runs} ({seeds}) | {holds} | {fails} | {undecided} | `linear` {v_lin_768000} for all {lin_fails} "
    "long-teacher student budgets (the middle one's exponent {lin_768000:.2f} [{lin_768000_lo:.2f}, {lin_768000_hi:.2f}]); T*/S depends on the teachers' length "
    "({v_ratio} ×{ratio_fails}); Eq. 8 does not extrapolate (+{extrapolates_pct:.0f} %) but keeps its limits |",
    "only `laws` has both (its grid: η's effect {teacher_only_through_loss:+.4f} nats [{teacher_only_through_loss_lo:+.3f}, "
    "{teacher_only_through_loss_hi:+.3f}], {v_teacher_only_through_loss}; T*/S of the long-teacher series × {r0:.2f} "
    "[{r0_lo:.2f}, {r0_hi:.2f}] and × {r1:.2f} [{r1_lo:.2f}, {r1_hi:.2f}] the short-teacher series', {v_r0}, and × "
    "{r2:.2f} [{r2_lo:.2f}, {r2_hi:.2f}], {v_r2}).",
    "The grid alone (recorded `laws`: {runs} runs, {seeds} seeds) fails `linear` in {lin_fails} of its 3 long-teacher "
    "series;",
    "| the grid ({runs} runs, {seeds} seeds) | — | {lin_384000:.3f} [{lin_384000_lo:.3f}, {lin_384000_hi:.3f}] "
    "{v_lin_384000} / {lin_768000:.3f} [{lin_768000_lo:.3f}, {lin_768000_hi:.3f}] {v_lin_768000} / {lin_1536000:.3f} "
    "[{lin_1536000_lo:.3f}, {lin_1536000_hi:.3f}] {v_lin_1536000} |",
)
LAWS_UD_VERDICTS = (  # the grid and its rounds, recorded as `laws_until_decided`
    "| `laws` + `--until-decided` | {runs} ({seeds}) | {holds} | {fails} | {undecided} | {n_rounds} rounds, each one more "
    "student ({flops_total} FLOPs); `linear` {v_lin_768000} in {lin_fails} of 3 long-teacher series (exponents "
    "{lin_384000:.2f}, {lin_768000:.2f}, {lin_1536000:.2f}); no slope pinned; T*/S "
    "depends on the teachers' length |",
    "| rounds 1–{n_rounds} ({runs} runs) | one student each ({round_students}), {flops_lo}–{flops_hi} FLOPs a round, "
    "{flops_total} in all | {lin_384000:.3f} [{lin_384000_lo:.3f}, {lin_384000_hi:.3f}] {v_lin_384000} / {lin_768000:.3f} "
    "[{lin_768000_lo:.3f}, {lin_768000_hi:.3f}] {v_lin_768000} / {lin_1536000:.3f} [{lin_1536000_lo:.3f}, "
    "{lin_1536000_hi:.3f}] {v_lin_1536000} |",
    "(× {discount_first} after round 1, × {discount_last} by round {n_rounds}), and no round added seeds. The run stopped "
    "by itself after round {n_rounds},",
    "Verdicts at the end ({seeds} seeds, {n_sizes} student sizes)",
    "| `linear` | 384000, 1.536e6 | exponent {lin_384000:.3f} [{lin_384000_lo:.3f}, {lin_384000_hi:.3f}] | "
    "{v_lin_384000} |",
    "| `linear` | 768000, 1.536e6 | {lin_768000:.3f} [{lin_768000_lo:.3f}, {lin_768000_hi:.3f}] | {v_lin_768000} |",
    "| `linear` | 1.536e6, 1.536e6 | {lin_1536000:.3f} [{lin_1536000_lo:.3f}, {lin_1536000_hi:.3f}] | {v_lin_1536000} |",
    "| `slope_pinned` | 384000, 1.536e6 | k = {sp_384000:.2f} [{sp_384000_lo:.2f}, {sp_384000_hi:.2f}] | {v_sp_384000} "
    "(more seeds alone will not do it) |",
    "| `slope_pinned` | 1.536e6, 1.536e6 | k = {sp_1536000:.2f} [{sp_1536000_lo:.2f}, {sp_1536000_hi:.2f}] | "
    "{v_sp_1536000} (≈ {sp_1536000_seeds} seeds) |",
    "| `slope_pinned` | 768000, 1.536e6 | k = {sp_768000:.2f} [{sp_768000_lo:.2f}, {sp_768000_hi:.2f}] | {v_sp_768000} "
    "(more seeds alone will not do it) |",
    "| short teachers (384000) | 384000: two located optima; 768000, 1.536e6: none | {v_lin_short} |",
    "| T*/S × {r0:.2f} [{r0_lo:.2f}, {r0_hi:.2f}], × {r1:.2f} [{r1_lo:.2f}, {r1_hi:.2f}], × {r2:.2f} [{r2_lo:.2f}, "
    "{r2_hi:.2f}] | {v_ratio} ×{ratio_fails} (undecided ×{ratio_undecided}):",
    "| `gap_exists` | long teachers: {gap_long_n} (student, budget) pairs | dips {gap_long_lo:.3f}–{gap_long_hi:.3f} nats, "
    "CIs > 0 for {gap_long_holds} | **holds** ({gap_long_undecided} undecided) |",
    "| `gap_exists` | short teachers: {gap_short_n} pairs | the optimum is the largest teacher for {short_largest} | "
    "undecided |",
    "| slopes {brk_384000:.2f} [{brk_384000_lo:.2f}, {brk_384000_hi:.2f}] / {brk_768000:.2f} [{brk_768000_lo:.2f}, "
    "{brk_768000_hi:.2f}] / {brk_1536000:.2f} [{brk_1536000_lo:.2f}, {brk_1536000_hi:.2f}] | {v_brk_1536000} for "
    "1.536e6, undecided ×2 |",
    "| `extrapolates` | — | +{extrapolates_pct:.1f} % [{extrapolates_lo_pct:.1f}, {extrapolates_hi_pct:.1f}] | "
    "{v_extrapolates}:",
    "| `limit_properties` | — | {limit_properties:.0f} failed checks [{limit_properties_lo:.0f}, {limit_properties_hi:.0f}] "
    "| {v_limit_properties} |",
    "| `teacher_only_through_loss` | — | {teacher_only_through_loss:+.4f} nats [{teacher_only_through_loss_lo:+.4f}, "
    "{teacher_only_through_loss_hi:+.4f}] | {v_teacher_only_through_loss} |",
    "| `chinchilla_form` | — | γ = {chinchilla_form:.2f} [{chinchilla_form_lo:.2f}, {chinchilla_form_hi:.2f}] | "
    "{v_chinchilla_form} |",
    "| `irreducible_loss` | — | E held fixed at 0 | {v_irreducible_loss} (E is not fitted) |",
    "the other two exponents ({lin_384000:.2f}, {lin_1536000:.2f}) are below 1 and now told apart from it.",
    "in the recorded `laws_until_decided` run (above) the discount after round 1 is × {discount_first} and a student wins "
    "every round.",
)
FAMILIES_TRANSFORMER = (  # transformer_until_decided
    "teachers d24/32/48/64 trained 800 steps reach {Lt24:.3f}/{Lt32:.3f}/{Lt48:.3f}/{Lt64:.3f} nats, E = {E:.3f};",
    "d16: {L16_24:.3f}/{L16_32:.3f}/{L16_48:.3f}/{L16_64:.3f} from d24/32/48/64 (dip {dip16:.3f} [{dip16_lo:.3f}, "
    "{dip16_hi:.3f}]); d24: {L24_32:.3f}/{L24_48:.3f}/{L24_64:.3f} from d32/48/64 (dip {dip24:.4f} [{dip24_lo:.4f}, "
    "{dip24_hi:.4f}]); supervised {sup16:.3f} and {sup24:.3f}. So T* is only bounded (T*/S ≤ {ratio16:.1f} and ≤ "
    "{ratio24:.1f} in parameters;",
)
FAMILIES_TRANSFORMER_GRID = (
    "only d24's dip is beyond noise ({dip24:.4f} [{dip24_lo:.4f}, {dip24_hi:.4f}]; d16 {dip16:.3f} [{dip16_lo:.3f}, "
    "{dip16_hi:.3f}], ≈ {gap16_seeds} seeds).",
)
FAMILIES_TRANSFORMER_RANDOM = (
    "no gap, the largest teacher is best for both (d16 {L16_24:.3f}/{L16_32:.3f}/{L16_48:.3f}/{L16_64:.3f}, dip "
    "{dip16:.4f} [{dip16_lo:.4f}, {dip16_hi:.4f}]; d24 {L24_24:.3f}/{L24_32:.3f}/{L24_48:.3f}/{L24_64:.3f}).",
    "with random init the largest teacher is worth only {gain16:.3f} (d16) and {gain24:.3f} nats (d24) over the smallest.",
)
FAMILIES_MLP_ZHANG = (
    "8 seeds, 3000 steps; {runs} runs, {buckets} compiles,",
    "w16's best teacher is interior (w{T16:.0f} [{T16_lo:.0f}, {T16_hi:.0f}]: {L16_96:.3f} from w96, {L16_128:.3f} from "
    "w128; dip {dip16:.3f} [{dip16_lo:.3f}, {dip16_hi:.3f}]); w24 is best with the widest teacher (w128: {L24_128:.3f}, "
    "vs supervised {sup24:.3f}); w12 with the narrowest (w16: {L12_16:.3f}, vs supervised {sup12:.3f}), its curve "
    "non-monotone (worst w32, {L12_32:.3f}; w128 {L12_128:.3f}; dip {dip12:.3f} [{dip12_lo:.3f}, {dip12_hi:.3f}], "
    "≈ {gap12_seeds} seeds).",
)
FAMILIES_MLP_ZHANG_RANDOM = (
    "all three students have interior optima (w{T12:.1f}, w{T16:.1f}, w{T24:.1f}; T*/S = {ratio12:.1f}, {ratio16:.1f}, "
    "{ratio24:.1f} in parameters), beyond noise for w12 (dip {dip12:.3f} [{dip12_lo:.3f}, {dip12_hi:.3f}]) and w24 "
    "({dip24:.3f} [{dip24_lo:.3f}, {dip24_hi:.3f}]).",
)
FAMILIES_TRANSFORMER_ZHANG = (  # transformer_zhang_until_decided
    "teachers trained 800 steps reach\n{Lt24:.3f} (d24), {Lt48:.3f} (d48), {Lt96:.3f} (d96) and {Lt144:.3f} nats (d144).",
    "T*/S = {ratio20:.2f}, {ratio28:.2f}, {ratio36:.2f} and\n{ratio56:.2f} in parameters",
    "interior at\nT*/S = {ratio44:.2f}, lies in a flat stretch (d52 {L44_52:.4f}, d64 {L44_64:.4f} nats; dip {dip44:.4f}\n"
    "[{dip44_lo:.4f}, {dip44_hi:.4f}], within noise)",
    "d28 {L28_32:.3f} from d32 to {L28_80:.3f} from d80, d56 {L56_64:.4f} from d64 to {L56_144:.4f} from d144,\n"
    "although those teachers are {gain28:.2f} and {gain56:.3f} nats better.",
    "(dips {dip20:.3f}, {dip28:.3f} and {dip56:.4f} nats)",
    "(`agrees_with_optima` {v_agrees_with_optima}: log(implied / measured T*) =\n{agrees_with_optima:.1f} "
    "[{agrees_with_optima_lo:.1f}, {agrees_with_optima_hi:.1f}])",
)
FAMILIES_TRANSFORMER_ZHANG_LONG = (  # transformer_zhang_long_until_decided
    "4 seeds, {runs} runs",
    "students, at d{T20:.0f} [{T20_lo:.0f}, {T20_hi:.0f}], d{T28:.0f} [{T28_lo:.0f}, {T28_hi:.0f}],\n"
    "d{T44:.0f} [{T44_lo:.0f}, {T44_hi:.0f}] and d{T56:.0f} [{T56_lo:.0f}, {T56_hi:.0f}], T*/S = {ratio20:.2f}, "
    "{ratio28:.2f}, {ratio44:.2f} and {ratio56:.2f} in parameters;",
    "dips are {dip20:.3f}, {dip28:.4f}, {dip44:.4f} and {dip56:.4f} nats, none beyond noise (`gap_exists` {v_gap56}\n"
    "for d56,",
    "`linear` and `slope_pinned` are **undecided**",
)
FAMILIES_TRANSFORMER_ZHANG_LONG_WIDE = (  # transformer_zhang_long_wide_ladder
    "4 seeds, {runs} runs,",
    "d20 keeps its minimum, d{T20:.0f} [{T20_lo:.0f}, {T20_hi:.0f}]",
    "d28's moves from d57 to d{T28:.0f} [{T28_lo:.0f}, {T28_hi:.0f}] ({ratio28:.1f}× its parameters)",
    "is now d{T36:.0f} [{T36_lo:.0f}, {T36_hi:.0f}] ({ratio36:.1f}×)",
    "largest teacher, d{T44:.0f} ({ratio44:.0f}×, an edge)",
)
FAMILIES_TRANSFORMER_ZHANG_600 = (  # transformer_zhang_600_until_decided
    "4 seeds, {runs} runs,",
    "d24, the student its one round added, at d{T24:.0f} [{T24_lo:.0f}, {T24_hi:.0f}] (T*/S = {ratio24:.2f}), with the "
    "only\ngap beyond noise ({dip24:.3f} [{dip24_lo:.3f}, {dip24_hi:.3f}] nats), and d28 at d{T28:.0f} [{T28_lo:.0f}, "
    "{T28_hi:.0f}] ({ratio28:.2f}×)",
)
FAMILIES_TRANSFORMER_ZHANG_V64 = (  # transformer_zhang_v64_pilot
    "improving up to d176 at 800 steps (d24 {Lt24:.3f}, d48 {Lt48:.3f}, d96 {Lt96:.3f}, d176 {Lt176:.3f} nats; E = {E:.3f})",
    "4 seeds ({runs} runs;",
    "d{T20:.0f} [{T20_lo:.0f}, {T20_hi:.0f}] and d{T44:.0f} [{T44_lo:.0f}, {T44_hi:.0f}] (T*/S {ratio20:.2f} and "
    "{ratio44:.2f}), dips {dip20:.4f} and {dip44:.4f} nats",
    "losses fall from {Lt56:.3f} to {Lt128:.3f} nats, d44 stays between {L44_80:.3f} and {L44_56:.3f} (supervised: "
    "{sup44:.3f})",
)
FAMILIES_TRANSFORMER_ZHANG_V64_400 = ("by {dip32:.3f} and {dip44:.3f} nats beyond noise, as on the V = 32 chain",)
FAMILIES_TRANSFORMER_ZHANG_V64_500 = ("d28 is best with its smallest teacher ({dip28:.3f} nats beyond noise)",
                                      "d44's flat minimum sits at {ratio44:.2f}×, not located")
FAMILIES_TRANSFORMER_BUSBRIDGE = (  # transformer_busbridge
    "steps (d24 {Lt24a:.3f} → {Lt24b:.3f} nats, d96 {Lt96a:.3f} → {Lt96b:.3f}), with supervised baselines at\n"
    "both student lengths; 3 seeds, {runs} runs,",
    "interior optimal teacher, d{T16a:.0f}, d{T24a:.0f}, d{T32a:.0f} and d{T48a:.0f} for d16/24/32/48, and the\n"
    "linear teacher law fits the three located ones (in parameters T* = {slope:.2f}·S − {abs_intercept:.0f}, R² {r2:.3f}) but is not\n"
    "pinned (slope CI [{slope_lo:.1f}, {slope_hi:.1f}]; exponent {p:.2f} [{p_lo:.2f}, {p_hi:.2f}], so `linear` is\n"
    "undecided, ≈ {linear_seeds} seeds); only d16's gap is beyond noise ({dip16a:.4f} nats).",
    "beyond noise for d16 and d24 ({dip16c:.4f}\nand {dip24c:.4f} nats)",
    "(`ratio_independent_of_budget` **fails**: × {ratio_b:.1f} [{ratio_b_lo:.1f}, {ratio_b_hi:.1f}] at 600\n"
    "steps) and with the teachers' (× {ratio_c:.2f} [{ratio_c_lo:.2f}, {ratio_c_hi:.2f}]).",
    "It fits the {dist_n} distilled runs to {dist_rmse_pct:.1f} % RMSE in log loss",
    "- `extrapolates` {v_extrapolates}: fitted on the weaker runs it over-predicts the stronger quarter by\n"
    "{extrapolates_pct:.0f} % [{extrapolates_lo_pct:.1f}, {extrapolates_hi_pct:.1f}] on average (tolerance 1 %);",
    "- `break_at_fixed_ratio` {v_break_long} at the 600-step students: the best teacher's loss does\n"
    "not move with the student's supervised loss (log–log slope {break_long:.3f} [{break_long_lo:.3f},\n"
    "{break_long_hi:.3f}], where the law says 1 ± 0.2)",
    "{limit_properties_refits_pct} % of the bootstrap refits break one, CI [{limit_properties_lo:.0f},\n"
    "{limit_properties_hi:.0f}] checks), `teacher_only_through_loss` ({teacher_only_through_loss:.3f} nats\n"
    "[{teacher_only_through_loss_lo:.3f}, {teacher_only_through_loss_hi:.3f}], tolerance 0.005).",
    "`agrees_with_optima` is undecided for all\n{agree_n} (student, series) pairs",
)
TRANSFORMER_CONFIG = (
    "# a d8 student cannot learn the chain (0.93 nats vs E = {E:.3f};",
    "with 5 seeds d24's gap is beyond noise ({dip24:.4f} nats) and d16's is not ({dip16:.3f});",
)
TRANSFORMER_UD_CONFIG = ("with 10 seeds (one # --until-decided round) both are ({dip16:.3f} and {dip24:.4f} nats),",)


LONG, BUDGETS = 1.536e6, (384000, 768000, 1536000)  # the laws preset's long teacher length and student budgets


def series_fields(r: dict) -> dict:
    """The laws preset's checks by series (student budget b; teachers trained LONG unless "short"): lin_b,
    sp_b (linear's exponent, slope_pinned's k), brk_b (break_at_fixed_ratio), with _lo/_hi, v_ and _seeds;
    r0-r2 (T*/S of the long-teacher series over the short-teacher reference, by student budget); the gap
    checks per teacher length; with rounds, what they added."""
    f, checks = fields(r), r["assumptions"]

    def put(key: str, a: dict) -> dict:
        g = {f"v_{key}": VERDICT[a["verdict"]]} | needs_fields(key, a["needs"])
        return g | ({key: a["estimate"], f"{key}_lo": a["ci"][0], f"{key}_hi": a["ci"][1]} if a["estimate"] is not None else {})

    for a in checks:
        b = f"{a['budget']:.0f}" if a["budget"] is not None else ""
        if a["name"] in ("linear", "slope_pinned") and a["teacher_budget"] == LONG:
            f |= put(f"{a['name'][:3].replace('slo', 'sp')}_{b}", a)
        elif a["name"] == "linear" and a["budget"] == BUDGETS[0]:
            f |= put("lin_short", a)
        elif a["name"] == "break_at_fixed_ratio":
            f |= put(f"brk_{b}", a)
    ratios = sorted((a for a in checks if a["name"] == "ratio_independent_of_budget" and a["estimate"] is not None),
                    key=lambda a: a["budget"])
    for i, a in enumerate(ratios):
        f |= put(f"r{i}", a)
    lin = [a["verdict"] for a in checks if a["name"] == "linear" and a["teacher_budget"] == LONG]
    f |= {"ratio_fails": sum(a["verdict"] == "fails" for a in ratios), "v_ratio": VERDICT["fails"],
          "ratio_undecided": sum(a["verdict"] == "undecided" for a in ratios),
          "lin_fails": lin.count("fails"), "lin_undecided": lin.count("undecided"),
          "n_sizes": len({s["size"] for s in r["students"]})}
    for name, tb in (("long", LONG), ("short", 384000)):
        gaps = [a for a in checks if a["name"] == "gap_exists" and a["teacher_budget"] == tb]
        held = [a["estimate"] for a in gaps if a["verdict"] == "holds"]
        f |= {f"gap_{name}_n": len(gaps), f"gap_{name}_holds": len(held), f"gap_{name}_lo": min(held, default=0),
              f"gap_{name}_hi": max(held, default=0), f"gap_{name}_undecided": sum(a["verdict"] == "undecided" for a in gaps)}
    f["short_largest"] = sum(s["edge"] == "largest" for s in r["students"] if s["teacher_budget"] == 384000)
    if rounds := r.get("rounds"):
        flops = [x["flops"] for x in rounds]
        disc = [float(m[1]) for x in rounds if (m := re.search(r"× ([\d.]+): what earlier", x["why"]))]
        f |= {"n_rounds": len(rounds), "flops_lo": _e(min(flops)), "flops_hi": _e(max(flops)), "flops_total": _e(sum(flops)),
              "round_students": ", ".join(f"w{s:g}" for x in rounds for s in x["addition"].get("student_sizes", ())),
              "discount_first": f"{disc[0]:.2f}", "discount_last": f"{disc[-1]:.2f}"}
    return f


def _e(x: float) -> str:
    return f"{x:.1e}".replace("e+", "e")  # 3.9e13, as the docs print FLOPs


def ud_fields(r: dict) -> dict:
    return fields(r) | {f"round{x['round']}_flops": _e(x["flops"]) for x in r["rounds"]}


def gain_fields(r: dict) -> dict:
    """How much the largest teacher beats the smallest by, per student (the random-init control)."""
    f = fields(r)
    return f | {f"gain{s:g}": f[f"L{s:g}_24"] - f[f"L{s:g}_64"] for s in (16, 24)}


def zhang_fields(r: dict) -> dict:
    """What the teachers gain over a student's ladder (d28's d32 → d80, d56's d64 → d144)."""
    f = fields(r)
    return f | {"gain28": f["Lt32"] - f["Lt80"], "gain56": f["Lt64"] - f["Lt144"]}


def v64_fields(r: dict) -> dict:
    """The V = 64 pilot: how far Eq. 8's implied teacher is from d44's measured one (to 2 significant figures)."""
    [a] = [a for a in r["assumptions"] if a["name"] == "agrees_with_optima" and a["student"] == 30052.0]
    return fields(r) | {"agree_x": float(f"{math.exp(a['estimate']):.2g}")}


BUSBRIDGE_SERIES = {(230400.0, 614400.0): "a", (921600.0, 614400.0): "b", (230400.0, 1843200.0): "c",
                    (921600.0, 1843200.0): "d"}  # (student budget, teacher budget): short/long × short/long


def busbridge_fields(r: dict) -> dict:
    """transformer_busbridge's numbers per series (a: both short; b: long students; c: long teachers)."""
    f = fields(r)
    for s in r["students"]:
        tag = BUSBRIDGE_SERIES[(s["budget"], s["teacher_budget"])]
        f |= {f"T{s['size']:g}{tag}": s["optimal_teacher"], f"dip{s['size']:g}{tag}": s["dip"]}
    for c in r["curves"]:
        if c["curve"] == "teacher":
            f[f"Lt{c['teacher_size']:g}{'a' if c['teacher_budget'] == 614400.0 else 'b'}"] = c["mean_loss"]
    [lin] = [a for a in r["assumptions"] if a["name"] == "linear" and a["estimate"] is not None]
    f |= needs_fields("linear", lin["needs"])
    [brk] = [a for a in r["assumptions"] if a["name"] == "break_at_fixed_ratio" and a["budget"] == 921600.0]
    f |= {"v_break_long": VERDICT[brk["verdict"]], "break_long": brk["estimate"], "break_long_lo": brk["ci"][0],
          "break_long_hi": brk["ci"][1]}
    for tag, key in (("b", (921600.0, 614400.0)), ("c", (230400.0, 1843200.0))):
        [a] = [a for a in r["assumptions"] if a["name"] == "ratio_independent_of_budget"
               and (a["budget"], a["teacher_budget"]) == key]
        f |= {f"ratio_{tag}": a["estimate"], f"ratio_{tag}_lo": a["ci"][0], f"ratio_{tag}_hi": a["ci"][1]}
    f["agree_n"] = sum(a["name"] == "agrees_with_optima" for a in r["assumptions"])
    return f


def kernel_fields(r: dict) -> dict:
    e = next(a["estimate"] for a in r["assumptions"] if a["name"] == "irreducible_loss")  # E − E_true
    return fields(r) | {"E_err": f"{e:.0e}".replace("e-0", "e-")}


CLAIMS = [
    ("default", "docs/verdicts.md", DEFAULT_VERDICTS, fields), ("kernel", "docs/verdicts.md", KERNEL_VERDICTS, kernel_fields),
    ("mlp", "docs/verdicts.md", MLP_VERDICTS, fields), ("mlp_zhang", "docs/verdicts.md", MLP_ZHANG_VERDICTS, fields),
    ("fig12_teacher_length", "docs/verdicts.md", FIG12_VERDICTS, fields),
    ("transformer", "docs/verdicts.md", TRANSFORMER_VERDICTS, fields),
    ("transformer_until_decided", "docs/verdicts.md", TRANSFORMER_UD_VERDICTS, ud_fields),
    ("laws", "docs/verdicts.md", LAWS_VERDICTS, series_fields),
    ("laws_until_decided", "docs/verdicts.md", LAWS_UD_VERDICTS, series_fields),
    ("transformer_until_decided", "docs/families.md", FAMILIES_TRANSFORMER, fields),
    ("transformer", "docs/families.md", FAMILIES_TRANSFORMER_GRID, fields),
    ("transformer_random_init", "docs/families.md", FAMILIES_TRANSFORMER_RANDOM, gain_fields),
    ("mlp_zhang", "docs/families.md", FAMILIES_MLP_ZHANG, fields),
    ("transformer_zhang_until_decided", "docs/families.md", FAMILIES_TRANSFORMER_ZHANG, zhang_fields),
    ("transformer_busbridge", "docs/families.md", FAMILIES_TRANSFORMER_BUSBRIDGE, busbridge_fields),
    ("transformer_zhang_long_until_decided", "docs/families.md", FAMILIES_TRANSFORMER_ZHANG_LONG, fields),
    ("transformer_zhang_long_wide_ladder", "docs/families.md", FAMILIES_TRANSFORMER_ZHANG_LONG_WIDE, fields),
    ("transformer_zhang_600_until_decided", "docs/families.md", FAMILIES_TRANSFORMER_ZHANG_600, fields),
    ("transformer_zhang_v64_pilot", "docs/families.md", FAMILIES_TRANSFORMER_ZHANG_V64, fields),
    ("transformer_zhang_v64_pilot_400", "docs/families.md", FAMILIES_TRANSFORMER_ZHANG_V64_400, fields),
    ("transformer_zhang_v64_pilot_500", "docs/families.md", FAMILIES_TRANSFORMER_ZHANG_V64_500, fields),
    ("transformer_zhang_long_until_decided", "docs/verdicts.md",
     ("| `transformer_zhang_long` + `--until-decided` | {runs} ({seeds}) | {holds} | {fails} | {undecided} |",), fields),
    ("transformer_zhang_until_decided", "docs/verdicts.md",
     ("| `transformer_zhang` + `--until-decided` | {runs} ({seeds}) | {holds} | {fails} | {undecided} |",), fields),
    ("transformer_zhang_long_wide_ladder", "docs/verdicts.md",
     ("`transformer_zhang_long_wide_ladder`) | {runs} ({seeds}) | {holds} | {fails} | {undecided} |",), fields),
    ("transformer_zhang_600_until_decided", "docs/verdicts.md",
     ("`transformer_zhang_600_until_decided`) | {runs} ({seeds}) | {holds} | {fails} | {undecided} |",), fields),
    ("transformer_zhang_v64_pilot", "docs/verdicts.md",
     ("`transformer_zhang_v64_pilot`) | {runs} ({seeds}) | {holds} | {fails} | {undecided} |",
      "Eq. 8 implies a teacher ≈ {agree_x:,.0f}× the measured one for d44"), v64_fields),
    ("transformer_busbridge", "docs/verdicts.md",
     ("| `transformer_busbridge` | {runs} ({seeds}) | {holds} | {fails} | {undecided} | random-init students, pure "
      "distillation: interior optima for all four where students and teachers are short (T* = {slope:.2f}·S − "
      "{abs_intercept:.0f} over three of them, `linear` undecided); Eq. 8 does not extrapolate (+{extrapolates_pct:.0f} %)",), busbridge_fields),
    ("mlp_zhang_random_init", "docs/families.md", FAMILIES_MLP_ZHANG_RANDOM, fields),
    ("transformer", "configs/transformer.toml", TRANSFORMER_CONFIG, fields),
    ("transformer_until_decided", "configs/transformer.toml", TRANSFORMER_UD_CONFIG, fields),
]


@pytest.mark.parametrize("name,path,claims,how", CLAIMS, ids=[f"{n}:{p}" for n, p, *_ in CLAIMS])
def test_stated_numbers_are_the_recorded_runs(name, path, claims, how):
    assert not (gone := missing(path, claims, how(record(name)))), \
        f"{path} does not state the recorded {name} run's numbers:\n" + "\n".join(gone)


def test_the_stated_findings_hold_as_booleans():
    """The words around the numbers: who has a gap, who is best with which teacher, what is interior."""
    tr, ud, rnd = record("transformer"), record("transformer_until_decided"), record("transformer_random_init")
    # "a gap beyond noise for d24 with its 5 seeds, for both students with 10" (configs.md, families.md, verdicts.md)
    assert fields(tr)["gap_holds"] == 1 and fields(ud)["gap_holds"] == fields(ud)["gap_tested"] == 2
    # "each best with the smallest teacher larger than itself"; random init: "the largest teacher is best", no gap
    assert [s["edge"] for s in ud["students"]] == ["smallest", "smallest"]
    assert [s["edge"] for s in rnd["students"]] == ["largest", "largest"] and fields(rnd)["gap_holds"] == 0
    assert fields(ud)["n_helped"] == 2 and ud["rounds"][0]["addition"]["kind"] == "seeds" and len(ud["rounds"]) == 1
    zh, zr = fields(record("mlp_zhang")), fields(record("mlp_zhang_random_init"))
    # pruned: "no gap beyond noise, one interior optimum of three"; random init: three interior, two beyond noise
    assert (zh["gap_holds"], zh["n_interior"], zh["n_students"]) == (0, 1, 3)
    assert [s["edge"] for s in record("mlp_zhang")["students"]] == ["smallest", "", "largest"]
    assert (zr["gap_holds"], zr["n_interior"]) == (2, 3)
    fig12 = record("fig12_teacher_length")
    assert fig12["distillation"]["properties_kept"] and all(fig12["distillation"]["properties_kept"].values())
    # "chinchilla_form and irreducible_loss are undecided on every single-budget preset"
    for name in ("default", "mlp", "mlp_zhang", "fig12_teacher_length", "transformer", "kernel"):
        assert {a["verdict"] for a in record(name)["assumptions"] if a["name"] == "chinchilla_form"} == {"undecided"}


def test_the_zhang_presets_findings_hold_as_booleans():
    """docs/families.md on transformer_zhang: four students best with the smallest teacher of their
    window, one interior optimum within noise, gaps beyond noise for d20/d28/d56, the teacher law
    not fitted (linear undecided), and the ladder the preset promises (1.2-1.4x; steps <= 1.3x
    inside 2-3x and <= 1.35x across its ends; >= 6x)."""
    from simgap.config import CONFIG_DIR, load_config
    from simgap.families import from_config

    r = record("transformer_zhang_until_decided")
    assert [s["edge"] for s in r["students"]] == ["smallest", "smallest", "smallest", "", "smallest"]
    assert [a["verdict"] for a in r["assumptions"] if a["name"] == "gap_exists"] == \
        ["holds", "holds", "undecided", "undecided", "holds"]
    assert not r["teacher_laws"] or all(t["n_points"] < 3 for t in r["teacher_laws"])
    assert {a["verdict"] for a in r["assumptions"] if a["name"] in ("linear", "slope_pinned")} == {"undecided"}
    cfg = load_config(CONFIG_DIR / "transformer_zhang.toml")
    fam = from_config(cfg)
    g = cfg.grid
    sizes = [fam.param_count(n) for n in g.student_sizes]
    assert len(sizes) >= 5 and max(sizes) / min(sizes) >= 6
    for n in g.student_sizes:
        ratios = sorted(fam.param_count(t) / fam.param_count(n) for t in g.teacher_sizes if g.runs_pair(n, t, fam.param_count))
        assert ratios[0] <= 1.4 and ratios[-1] >= 6, (n, ratios)
        inside = [b / a for a, b in zip(ratios, ratios[1:]) if a >= 2 and b <= 3]
        across = [b / a for a, b in zip(ratios, ratios[1:]) if a < 3 and b > 2]
        assert inside and max(inside) <= 1.3 and max(across) <= 1.35, (n, ratios)


def test_the_long_zhang_presets_findings_hold_as_booleans():
    """docs/families.md on transformer_zhang_long: four interior minima of five (d36 at the largest
    teacher), two of them located (d28, d44), so no teacher law; every T*/S above Zhang et al.'s 2.5,
    no dip beyond noise; with the ladders doubled the optima of d28, d36 and d44 move outward (d44's to
    the new largest teacher) and no dip is beyond noise; and the preset is transformer_zhang with only
    the students' length changed (to the teachers')."""
    from simgap.config import CONFIG_DIR, load_config

    r = record("transformer_zhang_long_until_decided")
    assert [s["edge"] for s in r["students"]] == ["", "", "largest", "", ""]
    assert [s["located"] for s in r["students"]] == [False, True, False, True, False]
    assert not r["teacher_laws"]
    assert {a["verdict"] for a in r["assumptions"] if a["name"] in ("linear", "slope_pinned")} == {"undecided"}
    w = record("transformer_zhang_long_wide_ladder")
    before = {s["size"]: s["optimal_teacher"] for s in r["students"]}
    assert all(s["optimal_teacher"] > before[s["size"]] for s in w["students"] if s["size"] in (28, 36, 44))
    assert [s["edge"] for s in w["students"]] == ["", "", "", "largest"]
    assert "holds" not in {a["verdict"] for a in w["assumptions"] if a["name"] == "gap_exists"}
    assert all(s["optimal_teacher_params"] / s["params"] > 2.5 for s in r["students"] if s["interior"])
    assert {a["verdict"] for a in r["assumptions"] if a["name"] == "gap_exists"} == {"undecided", "fails"}
    long, short = (load_config(CONFIG_DIR / f"{n}.toml") for n in ("transformer_zhang_long", "transformer_zhang"))
    assert long.grid.student_budgets == long.grid.teacher_budgets == short.grid.teacher_budgets
    assert dataclasses.replace(long.grid, student_budgets=short.grid.student_budgets) == short.grid
    assert (long.family_params, long.train) == (short.family_params, short.train)


def test_the_v64_pilots_findings_hold_as_booleans():
    """docs/families.md on the V = 64 pilots: the teachers keep improving to the largest; at 600 steps both
    minima are interior, neither located, no dip beyond noise; at 400 steps d32 and d44 are best with their
    smallest teacher beyond noise; at 500 d28 too, d44 interior and not located."""
    r, r4, r5 = (record(n) for n in ("transformer_zhang_v64_pilot", "transformer_zhang_v64_pilot_400",
                                     "transformer_zhang_v64_pilot_500"))
    lt = [c["mean_loss"] for c in sorted(r["curves"], key=lambda c: c["teacher_size"] or 0) if c["curve"] == "teacher"]
    assert all(a > b for a, b in zip(lt, lt[1:])), lt
    assert [(s["interior"], s["located"]) for s in r["students"]] == [(True, False)] * 2
    assert {a["verdict"] for a in r["assumptions"] if a["name"] == "gap_exists"} == {"undecided"}
    gap4 = {a["student"]: a["verdict"] for a in r4["assumptions"] if a["name"] == "gap_exists"}
    assert [(s["edge"], gap4[s["params"]]) for s in r4["students"] if s["size"] in (32, 44)] == [("smallest", "holds")] * 2
    assert [(s["edge"], s["located"]) for s in r5["students"]] == [("smallest", False), ("", False)]
    assert all(s["min_loss"] < s["supervised_loss"] for s in r["students"])


def test_the_busbridge_presets_findings_hold_as_booleans():
    """docs/families.md on transformer_busbridge: every student interior where both are short, the
    long students' d24-d48 at the largest teacher, the long teachers' d16-d32 at the smallest, Eq. 8's
    verdicts, and the implied T* far above every measured one."""
    r = record("transformer_busbridge")
    series = {}
    for s in r["students"]:
        series.setdefault(BUSBRIDGE_SERIES[(s["budget"], s["teacher_budget"])], []).append(s)
    assert all(s["interior"] for s in series["a"])
    assert [s["edge"] for s in series["b"]][1:] == ["largest"] * 3
    assert [s["edge"] for s in series["c"]][:3] == ["smallest"] * 3
    v = {a["name"]: a["verdict"] for a in r["assumptions"] if a["name"] in ("extrapolates", "limit_properties",
                                                                           "teacher_only_through_loss")}
    assert v == {"extrapolates": "fails", "limit_properties": "undecided", "teacher_only_through_loss": "undecided"}
    agree = [a for a in r["assumptions"] if a["name"] == "agrees_with_optima"]
    assert agree and all(a["verdict"] == "undecided" and 6.3 <= a["estimate"] <= 9.6 for a in agree)
    assert r["distillation"]["properties_kept"]["P3 capacity gap: dL_S/dL_T < 0 below d1*L~_S"] is False
    # docs/phase-map.md on its pruned twin: short students best with the smallest teacher by 0.22-0.56 nats,
    # beyond noise; long ones within noise (≤ 0.011); d48 (two teachers larger than itself) left out
    pr = record("transformer_busbridge_pruned")
    short = [s for s in pr["students"] if s["budget"] == 230400.0]
    assert {s["size"] for s in pr["students"]} == {16.0, 24.0, 32.0} and {s["edge"] for s in short} == {"smallest"}
    assert (round(min(s["dip"] for s in short), 2), round(max(s["dip"] for s in short), 2)) == (0.22, 0.56)
    assert all(s["dip_ci"][0] > 0 for s in short)
    assert round(max(s["dip"] for s in pr["students"] if s["budget"] == 921600.0), 3) == 0.011


def test_the_laws_rounds_findings_hold_as_booleans():
    """docs/verdicts.md on laws_until_decided: every round one student, no seeds; no slope pinned; the
    short-teacher series of the two larger budgets have no interior optimum; the middle series' slope
    cannot be pinned by seeds alone; break_at_fixed_ratio fails at the largest budget only."""
    r = record("laws_until_decided")
    f = series_fields(r)
    assert all(x["addition"]["kind"] == "student" and len(x["addition"]["student_sizes"]) == 1 for x in r["rounds"])
    assert {a["verdict"] for a in r["assumptions"] if a["name"] == "slope_pinned"} == {"undecided"}
    short = [a for a in r["assumptions"] if a["name"] == "linear" and a["teacher_budget"] == 384000 and a["budget"] != 384000]
    assert len(short) == 2 and all(a["estimate"] is None for a in short)
    assert "more seeds alone will not do it" in next(a["needs"] for a in r["assumptions"] if a["name"] == "slope_pinned"
                                                     and a["budget"] == 768000 and a["teacher_budget"] == LONG)
    assert [f[f"v_brk_{b}"] for b in BUDGETS] == ["undecided", "undecided", "**fails**"]
    assert f["gap_short_holds"] == 0 and f["v_irreducible_loss"] == "undecided"
