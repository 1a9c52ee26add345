"""A law's assumption, tested: the typed verdict and the one decision rule every check uses.

Each check (simgap.fit.assumptions) measures an effect with a CI and calls it:
- **fails**: the CI excludes the values where the assumption holds exactly;
- **holds**: the CI lies inside the practical tolerance around them (an equivalence test, two
  one-sided tests at (1 − ci)/2 each: absence of evidence is not evidence of absence);
- **undecided**: neither; `needs` says what would decide it. When both apply (an effect detectably
  off the exact value but inside the tolerance) the verdict is holds: the tolerance is what matters.
Tolerances (simgap.config.ASSUMPTION_TOLERANCES, `[fit] tolerances`, `--tolerance`) and how they
were chosen: docs/verdicts.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NAN = math.nan


def same_key(a: float, b: float) -> bool:
    """Two series keys are the same: equal, or both NaN ("not split by it")."""
    return a == b or (math.isnan(a) and math.isnan(b))

VERDICTS = ("holds", "fails", "undecided")

# name -> (law, question). Scripts and tests rely on these names.
QUESTIONS = {
    "chinchilla_form": ("supervised", "is gamma = 1 (Hoffmann et al.'s additive form)?"),
    "irreducible_loss": ("supervised", "does the fitted E equal the table's known irreducible loss?"),
    "teacher_only_through_loss": ("distillation", "at a fixed L_T, does the teacher's size change the student's loss?"),
    "break_at_fixed_ratio": ("distillation", "is each student's optimal L_T* a fixed multiple of its L~_S?"),
    "limit_properties": ("distillation", "does the fitted law keep P1-P4 (+ App. E.6)?"),
    "extrapolates": ("distillation", "fitted on the weaker runs, does it predict the stronger ones?"),
    "agrees_with_optima": ("distillation", "is the optimal teacher Eq. 8 implies the measured one?"),
    "gap_exists": ("teacher", "is the largest teacher worse than the optimal one?"),
    "linear": ("teacher", "is T* proportional to S (power-law exponent 1)?"),
    "ratio_independent_of_budget": ("teacher", "is T*/S the same across student budgets and teacher lengths?"),
    "slope_pinned": ("teacher", "is the teacher law's slope known to within the tolerance (relative)?"),
}


@dataclass(frozen=True)
class Assumption:
    """One assumption of one law, tested on one table (one family, setting and series)."""

    law: str  # "supervised" | "distillation" | "teacher"
    name: str  # a key of QUESTIONS
    question: str
    estimate: float
    ci: tuple[float, float]
    tolerance: float
    verdict: str  # one of VERDICTS
    needs: str = ""  # what would decide an undecided verdict (or why a decided one says little)
    effect: str = ""  # what `estimate` measures, with its unit
    subject: str = ""  # label for people, made from the keys below: "student 16", "teacher budget 1.5e6 vs 3.8e5"
    where: str = ""  # label for people: family and setting, when the table has several
    # What it was tested on, as data (nothing parses the labels above; NaN: not split by it):
    family: str = ""
    setting: tuple[tuple[str, object], ...] = ()  # the distilled setting's (column, value) pairs
    student: float = NAN  # the student size (gap_exists)
    budget: float = NAN  # the student-budget series
    teacher_budget: float = NAN  # the teachers' training-length series
    reference: tuple[float, float] | None = None  # ratio_independent_of_budget: the compared-to (budget, teacher_budget)
    tested: bool = True  # False: named as a target, but the analysis could not test it at all (`needs` says why)

    def about(self, name: str, *, family: str | None = None, setting=None, **keys: float) -> bool:
        """Is this the `name` check of this family, setting and series/student (NaN matches NaN)?"""
        return (self.name == name and (family is None or self.family == family)
                and (setting is None or self.setting == tuple(setting))
                and all(same_key(getattr(self, k), float(v)) for k, v in keys.items()))

    def to_json(self) -> dict:
        return {"law": self.law, "name": self.name, "question": self.question, "estimate": self.estimate,
                "ci": list(self.ci), "tolerance": self.tolerance, "verdict": self.verdict, "needs": self.needs,
                "effect": self.effect, "subject": self.subject, "where": self.where, "family": self.family,
                "setting": dict(self.setting), "student": self.student, "budget": self.budget,
                "teacher_budget": self.teacher_budget,
                "reference": None if self.reference is None else dict(zip(("budget", "teacher_budget"), self.reference)),
                "tested": self.tested}

    def key(self) -> tuple:
        """Its identity across analyses, from its typed keys (NaN as None, so equal keys compare equal)."""
        n = lambda v: None if v is None or v != v else v  # noqa: E731
        return (self.name, self.family, self.setting, n(self.student), n(self.budget), n(self.teacher_budget),
                None if self.reference is None else tuple(map(n, self.reference)), self.law)

    @property
    def label(self) -> str:
        """For people only: nothing matches or ranks by it (see `key`)."""
        return self.name + (f" ({self.subject})" if self.subject else "")

    @property
    def half_width(self) -> float:
        lo, hi = self.ci
        return (hi - lo) / 2 if math.isfinite(lo) and math.isfinite(hi) else math.inf


def assumption(name: str, estimate: float, ci, tolerance: float, verdict: str, needs: str = "", **kw) -> Assumption:
    law, question = QUESTIONS[name]
    assert verdict in VERDICTS, verdict
    lo, hi = ci
    return Assumption(law, name, question, float(estimate), (float(lo), float(hi)), float(tolerance), verdict,
                      needs, **kw)


def undecided(name: str, needs: str, estimate: float = math.nan, ci=(math.nan, math.nan), tolerance=math.nan,
              **kw) -> Assumption:
    """The data cannot answer this question at all; `needs` says what would."""
    return assumption(name, estimate, ci, tolerance, "undecided", needs, **kw)


def more_data(half_width: float, target: float, n_units: int, unit: str = "seeds") -> str:
    """How much more data would bring a CI half-width to `target`, if it shrinks as 1/√n."""
    if not (target > 0 and math.isfinite(half_width)):
        return "more data (the CI cannot reach the tolerance by seeds alone)"
    factor = (half_width / target) ** 2
    if factor > 100:
        return f"> 100× the {unit}: more {unit} alone will not do it"
    return (f"≈ {factor:.1f}× the {unit}" + (f" (≈ {math.ceil(factor * n_units)} {unit})" if n_units else "")
            + " if the CI shrinks as 1/√" + unit)


def by_rule(ci, holds, fails) -> str:
    """The verdict a check's own tests give an interval: holds(ci), fails(ci) or neither."""
    return "holds" if holds(ci) else "fails" if fails(ci) else "undecided"


def _rule(ci, exact: float, tolerance: float) -> str:
    return by_rule(ci, lambda c: exact - tolerance <= c[0] and c[1] <= exact + tolerance,
                   lambda c: c[0] > exact or c[1] < exact)


def mc_undecided(name: str, estimate: float, ci, wide, tolerance: float, extra: str = "", **kw) -> Assumption:
    """A verdict the interval gives but its Monte Carlo-widened ends (`wide`) do not: it would flip
    with the bootstrap's draws (another --seed), so it is undecided."""
    return assumption(name, estimate, ci, tolerance, "undecided", "a CI end within its Monte Carlo error of the "
                      f"threshold (the ends could be {wide[0]:.3g} and {wide[1]:.3g} with other bootstrap draws): more "
                      "bootstrap replicates, or more data" + extra, **kw)


def equivalence(name: str, estimate: float, ci, exact: float, tolerance: float, n_units: int,
                unit: str = "seeds", decide_ci=None, **kw) -> Assumption:
    """The two-sided rule: the assumption holds exactly at `exact`; holds in practice within
    ±tolerance of it. Undecided says how many more units would decide it either way.
    `decide_ci` (simgap.intervals.mc_widened): the CI with its ends moved out by their Monte Carlo
    error; a verdict it does not give too would flip with the bootstrap's draws, so it is undecided."""
    lo, hi = ci
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return undecided(name, "a CI: ≥ 2 seeds (and a bootstrap)", estimate, ci, tolerance, **kw)
    verdict = _rule(ci, exact, tolerance)
    if verdict != "undecided" and decide_ci is not None and _rule(decide_ci, exact, tolerance) != verdict:
        return mc_undecided(name, estimate, ci, decide_ci, tolerance, **kw)
    if verdict != "undecided":
        return assumption(name, estimate, ci, tolerance, verdict, **kw)
    # the factor r the CI must shrink by about the estimate (its arms may differ: a bound, a skewed
    # bootstrap) to decide: fails needs the arm towards `exact` shorter than the offset, holds both ends
    # inside ±tolerance; whichever is nearer. With equal arms the target half-width is max(tol − off, off).
    off = estimate - exact
    up, down = max(hi - estimate, 1e-300), max(estimate - lo, 1e-300)
    r = abs(off) / (down if off > 0 else up)
    if abs(off) < tolerance:
        r = max(r, min((tolerance - off) / up, (tolerance + off) / down))
    half = (hi - lo) / 2
    target = half * min(r, 1.0)
    return assumption(name, estimate, ci, tolerance, "undecided",
                      f"a CI half-width ≤ {target:.3g} (now {half:.3g}): {more_data(half, target, n_units, unit)}", **kw)


def num(x: float) -> str:
    """A number as every verdict and interval is printed (report table, findings, fit summary)."""
    return "n/a" if not math.isfinite(x) else f"{x:.3g}"


def interval(x) -> str:
    """An Assumption's CI, or a (lo, hi) pair, as "[lo, hi]": one format, so that a quantity's
    interval reads the same in the report's prose and in its assumption table."""
    lo, hi = x.ci if isinstance(x, Assumption) else x
    return f"[{num(lo)}, {num(hi)}]"


def markdown_table(found: tuple[Assumption, ...] | list[Assumption]) -> list[str]:
    """report.md's "Law assumptions" table: one row per tested assumption."""
    if not found:
        return ["No law could be tested on this table."]
    where = any(a.where for a in found) and len({a.where for a in found}) > 1
    head = "| law | assumption | subject |" + (" where |" if where else "") + \
        " estimate | CI | tolerance | verdict | what would decide it |"
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for a in found:
        rows.append(f"| {a.law} | `{a.name}` | {a.subject or '–'} |" + (f" {a.where or '–'} |" if where else "")
                    + f" {num(a.estimate)} | {interval(a)} | {num(a.tolerance)} | "
                    f"**{a.verdict}** | {a.needs or '–'} |")
    return rows


def summary_lines(found) -> list[str]:
    """simgap.fit's summary: one line per tested assumption."""
    out = []
    for a in found:
        ci = f" {interval(a)}" if math.isfinite(a.ci[0]) else ""
        law = f" of the {a.law} law" if a.law != QUESTIONS.get(a.name, (a.law,))[0] else ""
        out.append(f"  {a.verdict.upper():9s} {a.name}{law}" + (f" ({a.subject})" if a.subject else "")
                   + (f" [{a.where}]" if a.where else "")
                   + f": {num(a.estimate)}{ci}, tolerance {num(a.tolerance)}" + (f"; needs {a.needs}" if a.needs else ""))
    return out
