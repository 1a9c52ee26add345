"""Fit whatever a table of runs allows: read it, split it into families, settings and budget
series, and run each analysis once (simgap.fit.sections). A new analysis of a table goes here.

Row kinds: `run_kind` ("supervised" / "distilled"; "teacher" rows are ignored) when present,
otherwise a row with a finite teacher_loss or teacher_size is distilled, others supervised.
Rows with diverged = true are dropped. Results are grouped by `family` (when present);
distilled rows further by the settings columns lam, tau, student_init.
- supervised rows with student_size, loss (or student_loss) [+ student_tokens or
  student_budget; absent or single-valued → reduced form] → supervised law;
- distilled rows with student_size, teacher_size, student_loss [+ seed, + budget] →
  per-student optimal teacher (simgap.optima) → linear and log-log teacher laws;
- distilled rows with teacher_loss (+ the supervised law above) → distillation law,
  property checks, extrapolation check;
- distilled rows of both starts (student_init random and pruned_from_teacher at one lam, tau) with
  teacher_size and teacher_loss → the start-aware law (simgap.fit.start_law), once over both settings.
Several CSVs are read as one table (simgap.fit.reader.read_tables).
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from simgap import laws
from simgap.config import FitOptions
from simgap.fit import checks, grouping, start_law
from simgap.fit.assumptions import (SeriesOptima, SettingRuns, break_checks, gap_checks, seed_optima,
                                    supervised_checks, teacher_law_checks)
from simgap.fit.eq8_assumptions import eq8_checks, start_checks
from simgap.fit.inputs import FitInputError
from simgap.fit.memo import Memo
from simgap.fit.reader import COST_COLUMNS, as_columns, read_tables
from simgap.fit.results import (FamilyFit, LeftOut, OptimaSection, SettingFit, Skipped, StartAgreement, StartLawSection,
                                TableFit, TableInput, StudentOptimum, ok)
from simgap.fit.resample import MAX_BOOT
from simgap.fit.agreement import agrees_checks
from simgap.fit.sections import (agreement_section, distillation_section, start_law_section, supervised_section,
                                 teacher_law_section, teacher_loss_optima)
from simgap.fit.solver import one_blas_thread
from simgap.fit.verdicts import same_key
from simgap.optima import teacher_optima_on_two_axes, too_few_teachers

TOKEN_COLUMNS = ("student_tokens", "student_budget")  # first present wins
TEACHER_BUDGET_COLUMNS = ("teacher_tokens", "teacher_budget")
SUPERVISED_LOSS_COLUMNS = ("loss", "student_loss")
SETTING_COLUMNS = ("lam", "tau", "student_init")  # distilled rows are grouped by these
KNOB_COLUMNS = {"student_params": "student_size", "teacher_params": "teacher_size"}


def _num(cols: dict, name: str) -> np.ndarray:
    a = cols[name]
    if a.dtype == object:
        raise FitInputError(f"column {name!r} is not numeric")
    return a.astype(float)


def _first(cols: dict, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in cols), None)


def _require_rows(cols: dict, name: str, mask: np.ndarray) -> np.ndarray:
    """The column on the selected rows; NaN / non-positive raises with the table row number."""
    a = _num(cols, name)
    bad = mask & (~np.isfinite(a) | (a <= 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FitInputError(f"column {name!r} {checks.where(cols, i)}: value {float(a[i])!r} must be finite and > 0")
    return a[mask]


def _row_kinds(cols: dict) -> tuple[np.ndarray, np.ndarray, str]:
    """(supervised mask, distilled mask, how). run_kind decides when present; otherwise a row
    with a finite teacher_loss or teacher_size is distilled and any other row supervised."""
    n = len(next(iter(cols.values())))
    keep = ~cols["diverged"].astype(bool) if "diverged" in cols and cols["diverged"].dtype == bool else np.ones(n, bool)
    if "run_kind" in cols:
        kind = cols["run_kind"].astype(str)
        return keep & (kind == "supervised"), keep & (kind == "distilled"), "run_kind"
    has_teacher = np.zeros(n, bool)
    for c in ("teacher_loss", "teacher_size", "teacher_params"):
        if c in cols and cols[c].dtype != object:
            has_teacher |= np.isfinite(cols[c].astype(float))
    return keep & ~has_teacher, keep & has_teacher, "teacher_loss/teacher_size present = distilled"


def _budget_varies_per_student(S: np.ndarray, budget: np.ndarray) -> bool:
    """Optima are split by budget only when one student size was trained on several budgets;
    a budget that is a function of the size (D = 20·N) is not a separate axis."""
    return any(len(np.unique(budget[S == s])) > 1 for s in np.unique(S))


def _budget_key(S: np.ndarray, budget: np.ndarray, tok_c: str, size_c: str) -> tuple[np.ndarray, str]:
    """What to split optima and teacher laws by: the budget itself when its values are shared
    across student sizes, else the budget per unit size (D = 20·N and 80·N are two series of
    'tokens per parameter', not eight one-student budgets). Returns (key per row, its name)."""
    ratio = np.round(budget / S, 9 - int(np.floor(np.log10(np.max(budget / S)))))
    if len(np.unique(ratio)) < len(np.unique(budget)):
        return ratio, f"{tok_c}/{size_c}"
    return budget, tok_c


def _group_keys(cols: dict, mask: np.ndarray, names: tuple[str, ...]) -> list[tuple[dict, np.ndarray]]:
    """Split the masked rows by every listed column that is present (NaN equals NaN)."""
    present = [c for c in names if c in cols]
    keys = [tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in
                  (cols[c][i].item() if hasattr(cols[c][i], "item") else cols[c][i] for c in present))
            for i in range(len(mask))]
    groups = []
    for key in sorted({keys[i] for i in np.flatnonzero(mask)}, key=str):
        m = mask & np.array([k == key for k in keys])
        groups.append((dict(zip(present, key)), m))
    return groups


def _optima(cols: dict, m: np.ndarray, sm: np.ndarray | None, runs: SettingRuns, size_c: str, tsize_c: str,
            opt: FitOptions, seeds: list[SeriesOptima]):
    """Per-student optima (and their teacher laws, CIs from `seeds`) of one setting's distilled rows
    `runs` (split into series by _setting_runs): on the teacher-size axis for each teacher budget
    (training length), and on the teacher-loss axis over all teachers."""
    budget = runs.budget if runs.budget_kind else None
    key = runs.teacher_budget
    series = sorted(set(key[np.isfinite(key)].tolist())) or [math.nan]

    def on(sizes, teacher_budget: float, knobs=(None, None)):
        """The optima of one teacher-budget series, on the size axis and (given) the knob axis at once."""
        sel = np.ones(len(key), bool) if math.isnan(teacher_budget) else key == teacher_budget
        return teacher_optima_on_two_axes(
            sizes[0][sel], sizes[1][sel], runs.loss[sel], runs.seed[sel], None if budget is None else budget[sel],
            *(None if k is None else k[sel] for k in knobs), n_boot=opt.optima_boot, ci=opt.ci, rng_seed=opt.seed)

    knob = (KNOB_COLUMNS.get(size_c), KNOB_COLUMNS.get(tsize_c))
    with_knob = None not in knob and all(c in cols for c in knob)
    knobs = tuple(_require_rows(cols, c, m) for c in knob) if with_knob else (None, None)
    ests, by_knob, tb_of, laws_, left = [], [], [], [], []
    try:
        for t in series:
            sel = np.ones(len(key), bool) if math.isnan(t) else key == t
            left += [LeftOut(s, b, t, n) for s, b, n in
                     too_few_teachers(runs.student[sel], runs.teacher[sel], None if budget is None else budget[sel])]
            e, ek = on((runs.student, runs.teacher), t, knobs)
            ests += e
            tb_of += [t] * len(e)
            if with_knob:  # a knob not one-to-one with the sizes is located on its own
                by_knob += ek if ek is not None else on(knobs, t)[0]
            budgets = sorted({x.budget for x in e}, key=lambda b: (math.isnan(b), b))
            laws_ += [teacher_law_section(b, [x for x in e if same_key(x.budget, b)], opt, teacher_budget=t,
                                          seeds=next((sr for sr in seeds if sr.is_series(b, t)), None))
                      for b in budgets]
    except FitInputError:
        raise
    except ValueError as e:  # fewer than 3 teachers for a student: no optimum to locate
        return Skipped(str(e)), ()
    by_loss = teacher_loss_optima(runs, budget, opt) if "teacher_loss" in cols else ()
    students = _students(cols, m, sm, ests, by_knob, tb_of, size_c, knob[0] if with_knob else size_c, budget)
    return OptimaSection(runs.budget_kind, tuple(ests), tuple(by_knob), tuple(tb_of), runs.series_kind, by_loss,
                         students, tuple(left)), tuple(laws_)


def _students(cols, m, sm, ests, by_knob, tb_of, size_c: str, knob_c: str, keys) -> tuple[StudentOptimum, ...]:
    """Each optimum with the student's knob, budget, teachers' length and supervised seed-mean loss,
    read from the student's own rows (its last distilled row of the optimum's budget series, `keys`
    on the rows of `m` or None; its supervised rows of that knob and budget). The budget is the
    student's own, not the series key, which is a tokens-per-parameter ratio when D ∝ N."""
    nan = np.full(len(m), math.nan)
    key = nan.copy()
    if keys is not None:
        key[m] = keys
    col = lambda names: _num(cols, c) if (c := _first(cols, names)) else nan  # noqa: E731
    size, knob, budget, tbudget = _num(cols, size_c), _num(cols, knob_c), col(TOKEN_COLUMNS), col(TEACHER_BUDGET_COLUMNS)
    loss_c = _first(cols, ("student_loss",) + SUPERVISED_LOSS_COLUMNS)
    sup_loss = _num(cols, loss_c) if loss_c and sm is not None else nan
    out = []
    for p, t in zip(ests, tb_of):
        last = np.flatnonzero(m & (size == p.student_size) & _equal(key, p.budget))[-1]
        k = next((o for o, ot in zip(by_knob, tb_of) if o.student_size == knob[last] and same_key(o.budget, p.budget)
                  and same_key(ot, t)), p)
        b = budget[last]
        sel = np.zeros(len(m), bool) if sm is None else sm & (knob == knob[last]) & _equal(budget, b)
        out.append(StudentOptimum(float(knob[last]), p.student_size, float(b), t,
                                  t if math.isfinite(t) else float(tbudget[last]),
                                  float(np.mean(sup_loss[sel])) if sel.any() else math.nan, p, k))
    return tuple(out)



def _equal(a: np.ndarray, b: float) -> np.ndarray:
    return np.isnan(a) if math.isnan(b) else a == b


@one_blas_thread
def fit_table(table, options: FitOptions | None = None, memo: Memo | None = None, eq8: bool = True) -> TableFit:
    """Fit every law the table's columns allow (module docstring); `table` is a CSV path, a list of them
    (read as one table, simgap.fit.reader.read_tables) or a dict of columns.
    `memo` (simgap.fit.memo): reuse the laws and checks whose rows and options did not change.
    eq8=False skips Eq. 8 and its checks (a --until-decided round whose targets need neither)."""
    opt = options or FitOptions()
    call = memo or (lambda name, fn, *args: fn(*args))
    if not 0 < opt.ci < 1:
        raise FitInputError(f"ci must be in (0, 1), got {opt.ci}")
    if not 0 <= opt.n_boot <= MAX_BOOT:
        raise FitInputError(f"bootstrap must be in 0..{MAX_BOOT} replicates, got {opt.n_boot}")
    option_warnings = checks.options(opt)
    several = isinstance(table, (list, tuple))
    raw, n_same = read_tables(table) if several else (as_columns(table), 0)
    cols = checks.clean_columns(raw)
    n = len(next(iter(cols.values())))
    sup_mask, dist_mask, how = _row_kinds(cols)
    size_c, tsize_c = opt.size_column, opt.teacher_size_column
    tok_c = _first(cols, TOKEN_COLUMNS)
    loss_c = _first(cols, SUPERVISED_LOSS_COLUMNS)
    if size_c not in cols:
        raise FitInputError(f"missing column {size_c!r} (needed by every law)")
    can_optima = dist_mask.any() and tsize_c in cols and "student_loss" in cols
    can_dist = dist_mask.any() and "teacher_loss" in cols and "student_loss" in cols
    can_sup = sup_mask.any() and loss_c is not None
    if not (sup_mask.any() or dist_mask.any()) and "diverged" in cols and cols["diverged"].dtype == bool \
            and cols["diverged"].all():
        raise FitInputError(f"nothing to fit: all {n} rows are flagged diverged")
    if not (can_optima or can_dist or can_sup):
        raise FitInputError(
            "nothing to fit: need supervised rows with (student_size, loss) or distilled rows with "
            f"(student_size, teacher_size, student_loss) or (…, teacher_loss, student_loss); got columns {sorted(c for c in cols if c != checks.LINE)}")
    checks.fitted_columns(cols, {"supervised": (loss_c, sup_mask), "distilled": ("student_loss", dist_mask),
                                 "budget": (tok_c, sup_mask | dist_mask)})
    opt = _resolve_irreducible(opt, cols, sup_mask | dist_mask)
    warnings = option_warnings + ([f"{n_same} rows of a later table repeat runs of an earlier one (the same values in "
                                   f"every column but {', '.join(COST_COLUMNS)}): each run is counted once"]
                                  if n_same else [])
    if tok_c and not np.isfinite(_num(cols, tok_c)[sup_mask | dist_mask]).any():
        warnings.append(f"{tok_c} is never finite (unlimited data, as in closed-form families): "
                        "the laws are fitted in their single-budget form")
        tok_c = None
    n_div = int(cols["diverged"].astype(bool).sum()) if "diverged" in cols and cols["diverged"].dtype == bool else 0
    n_dup = _duplicates(cols)
    if n_dup:
        warnings.append(f"{n_dup} rows repeat an earlier row exactly: kept, but duplicates narrow the CIs "
                        "as if they were independent runs")
    info = TableInput(n, int(sup_mask.sum()), int(dist_mask.sum()), n_div, how, size_c, tok_c,
                      str(table) if isinstance(table, (str, os.PathLike)) else None, n_dup,
                      tuple(map(str, table)) if several else ())
    families, assumptions = [], []
    for fam_key, fam_mask in _group_keys(cols, sup_mask | dist_mask, ("family",)):
        fam, found = _fit_family(cols, fam_key, fam_mask & sup_mask, fam_mask & dist_mask, tok_c, opt, call, eq8)
        families.append(fam)
        assumptions += found
    if len({a.where for a in assumptions if a.law != "supervised"}) <= 1 and len(families) <= 1:
        assumptions = [dataclasses.replace(a, where="") for a in assumptions]  # one family and setting: say nothing
    result = TableFit(info, opt, tuple(families), assumptions=tuple(assumptions))
    return dataclasses.replace(result, warnings=tuple(warnings + _bad_fit_warnings(result)))


def _fit_family(cols, fam_key: dict, sm, dm, tok_c: str | None, opt: FitOptions, call, eq8: bool):
    """One family's supervised law (rows `sm`) and every distilled setting (rows `dm`), with their
    assumptions (the supervised law's first), each keyed by its family and setting."""
    family, loss_c = fam_key.get("family", ""), _first(cols, SUPERVISED_LOSS_COLUMNS)
    if loss_c is not None and sm.any():
        N = _require_rows(cols, opt.size_column, sm)
        D = _require_rows(cols, tok_c, sm) if tok_c else np.ones(int(sm.sum()))
        sup = call("supervised", supervised_section, N, D, _require_rows(cols, loss_c, sm), opt)
    else:
        sup = Skipped("no supervised rows with a loss column")
    settings, found = [], [dataclasses.replace(a, family=family)
                           for a in supervised_checks(sup, _irreducible(cols, sm), opt, family)]
    for key, m in _group_keys(cols, dm, SETTING_COLUMNS):
        where = ", ".join(f"{k} = {v}" for k, v in {**fam_key, **key}.items())
        st, checks_ = _fit_setting(cols, key, m, sm if loss_c is not None else None, sup, tok_c, opt, call, eq8, where)
        settings.append(st)
        found += [dataclasses.replace(a, family=family, setting=tuple(key.items())) for a in checks_]
    starts, start_found = _start_laws(cols, fam_key, dm, sup, settings, tok_c, opt, call) if eq8 else ((), [])
    found += [dataclasses.replace(a, family=family) for a in start_found]
    return FamilyFit(family, sup, tuple(settings), starts), found


def _start_laws(cols, fam_key: dict, dm, sup, settings: list[SettingFit], tok_c, opt: FitOptions, call):
    """The start-aware law (simgap.fit.start_law) wherever a family has distilled rows of both starts,
    random and pruned_from_teacher, at one (lam, tau): fitted to them at once, its implied T* set against
    each of those settings' optima, and its verdicts under each start."""
    size_c, tsize_c = opt.size_column, opt.teacher_size_column
    if not {"student_init", "teacher_loss", "student_loss", tsize_c} <= cols.keys():
        return (), []
    init = np.array([str(v) for v in cols["student_init"]])
    usable = dm & np.isin(init, start_law.STARTS) & np.isfinite(_num(cols, "teacher_loss"))
    family_where = ", ".join(f"{k} = {v}" for k, v in fam_key.items())
    out, found = [], []
    for key, m in _group_keys(cols, usable, ("lam", "tau")):
        if len(set(init[m])) < len(start_law.STARTS):
            continue
        data = {"N": _require_rows(cols, size_c, m), "D": _require_rows(cols, tok_c, m) if tok_c else np.ones(int(m.sum())),
                "teacher_loss": _require_rows(cols, "teacher_loss", m), "teacher_size": _require_rows(cols, tsize_c, m),
                "start": start_law.start_code(init[m]), "loss": _require_rows(cols, "student_loss", m)}
        sec: StartLawSection = call("start_law", start_law_section, key, data, sup, opt)
        if ok(sec.law):
            agree = [StartAgreement(st.key, a) for st in settings
                     if st.key.get("student_init") in start_law.STARTS and all(st.key.get(k) == v for k, v in key.items())
                     for a in agreement_section(sup, sec.law, st.optima,
                                                start_law.implied_under(sec.law.fit.law, st.key["student_init"]),
                                                start_law.LAW, start_law.search_range(st.key["student_init"]))]
            sec = dataclasses.replace(sec, agreement=tuple(agree))
        out.append(sec)
        found += call("start_checks", start_checks, sec, sup, opt, family_where, _n_seeds(cols, m))
    return tuple(out), found


def _fit_setting(cols, key: dict, m, sm, sup, tok_c, opt: FitOptions, call, eq8: bool, where: str):
    """One setting's distilled rows: optima and teacher laws, Eq. 8, the two laws' agreement, and the
    assumptions tested on them."""
    size_c, tsize_c = opt.size_column, opt.teacher_size_column
    with_optima = tsize_c in cols and "student_loss" in cols
    with_eq8 = "teacher_loss" in cols and "student_loss" in cols
    runs = _setting_runs(cols, m, size_c, tsize_c, tok_c, opt.teacher_series_column) if tsize_c in cols else None
    seeds = seed_optima(runs, opt) if with_optima else []
    optima, teacher_laws = _optima(cols, m, sm, runs, size_c, tsize_c, opt, seeds) if with_optima else (None, ())
    dist = None
    if with_eq8 and not eq8:
        dist = Skipped("Eq. 8 is not fitted in this analysis (a --until-decided round whose targets "
                       "do not need it; the final analysis fits it)")
    elif with_eq8 and np.isfinite(_num(cols, "teacher_loss")[m]).any():
        N = _require_rows(cols, size_c, m)
        D = _require_rows(cols, tok_c, m) if tok_c else np.ones(int(m.sum()))
        dist = call("distillation", distillation_section, N, D, _require_rows(cols, "teacher_loss", m),
                    _require_rows(cols, "student_loss", m), sup, opt)
    found, n_seeds = [], _n_seeds(cols, m)
    if dist is not None and eq8:
        found += call("eq8_checks", eq8_checks, dist, sup, runs, opt, where, n_seeds)
    if ok(optima):
        sup_loss = (lambda N, D, p=sup.fit.raw_params: laws.supervised_loss(N, D, p)) if ok(sup) else None
        sup_reps = tuple(lambda N, D, p=p: laws.supervised_loss(N, D, p)
                         for p, _ in (sup.bootstrap.replicates if ok(sup) and sup.bootstrap else ()))
        found += gap_checks(optima, opt, where) + teacher_law_checks(seeds, teacher_laws, opt, where) + \
            break_checks(runs, sup_loss, opt, where, sup_reps)
    st = SettingFit(key, int(m.sum()), optima, teacher_laws, dist, agreement_section(sup, dist, optima))
    for s in st.agreement:
        if s.agreement is not None:
            found += agrees_checks(s.agreement, opt, where, n_seeds, s.teacher_budget, s.budgets)
    return st, found


def _n_seeds(cols: dict, m: np.ndarray) -> int:
    """The seeds among the rows `m` (1 without a seed column): what `needs` counts more of."""
    return len(np.unique(cols["seed"][m])) if "seed" in cols else 1


def _setting_runs(cols: dict, m: np.ndarray, size_c: str, tsize_c: str, tok_c: str | None,
                  series_column: str | None = None) -> SettingRuns:
    """One setting's distilled rows as columns, split into series (student budget × teachers' length):
    the one split the optima, teacher laws and assumption checks read."""
    S = _require_rows(cols, size_c, m)
    nan = np.full(len(S), math.nan)
    budget, budget_kind = nan, None
    if tok_c and _budget_varies_per_student(S, cols[tok_c][m]):
        budget, budget_kind = _budget_key(S, cols[tok_c][m].astype(float), tok_c, size_c)
    tb_c = _first(cols, TEACHER_BUDGET_COLUMNS)
    T = _require_rows(cols, tsize_c, m)
    tb, series_kind = grouping.teacher_series(T, _num(cols, tb_c)[m] if tb_c else nan, tb_c, tsize_c,
                                              *checks.series_column(cols, m, series_column))
    return SettingRuns(S, _num(cols, tok_c)[m] if tok_c else np.ones(len(S)), T, _require_rows(cols, "student_loss", m),
                       cols["seed"][m].astype(float) if "seed" in cols else np.zeros(len(S)), budget, tb,
                       _num(cols, "teacher_loss")[m] if "teacher_loss" in cols else nan, budget_kind, series_kind)


def _irreducible(cols: dict, mask: np.ndarray) -> float | None:
    """The table's known irreducible loss over these rows, when it has one value there."""
    if "irreducible_loss" not in cols or not mask.any():
        return None
    values = np.unique(_num(cols, "irreducible_loss")[mask])
    values = values[np.isfinite(values)]
    return float(values[0]) if len(values) == 1 else None


def _resolve_irreducible(opt: FitOptions, cols: dict, mask: np.ndarray) -> FitOptions:
    """E = "irreducible": the table's irreducible_loss (one value over the fitted rows)."""
    fixed = dict(opt.fixed_supervised)
    if fixed.get("E") != "irreducible":
        return opt
    values = np.unique(_num(cols, "irreducible_loss")[mask]) if "irreducible_loss" in cols else np.array([])
    values = values[np.isfinite(values)]
    if len(values) != 1:
        raise FitInputError("fixing E = irreducible needs an irreducible_loss column with one finite value "
                            f"over the fitted rows, got {values.tolist()}")
    fixed["E"] = float(values[0])
    return dataclasses.replace(opt, fixed_supervised=tuple(sorted(fixed.items())))


def _duplicates(cols: dict) -> int:
    """Rows identical to an earlier row in every column."""
    names = [c for c in cols if c != checks.LINE]
    keys = list(zip(*(cols[c].tolist() for c in names)))
    return len(keys) - len(set(map(str, keys)))


def _bad_fit_warnings(result: TableFit, limit: float = 0.5) -> list[str]:
    """A converged fit can still miss the data by orders of magnitude (e.g. a 1e308 typo)."""
    out = []
    for fam in result.families:
        for name, sec in [("supervised", fam.supervised)] + [("distillation", st.distillation) for st in fam.settings]:
            if ok(sec) and sec.fit.max_rel_error > limit:
                out.append(f"the {name} law{' of ' + fam.family if fam.family else ''} misses some runs by "
                           f"{sec.fit.max_rel_error:.3g}× their loss (max relative error): check the table for "
                           "absurd values before trusting it")
    return out
