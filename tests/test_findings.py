"""The report's plain-word findings agree with the verdicts: a bigger teacher doing worse beyond
noise is a capacity gap whether the best teacher is inside the grid or its smallest (gap_exists
holds either way); only locating T* needs an interior optimum."""

import numpy as np

from simgap import findings
from simgap.config import FitOptions
from simgap.fit import simulate as sim
from simgap.fit.table import fit_table

FAST = FitOptions(n_boot=0, optima_boot=300)


def _setting(truth: sim.TeacherLawTruth):
    fit = fit_table(sim.teacher_law_table(truth, 8, np.random.default_rng(0)), FAST)
    [(fam, st)] = fit.settings()
    return fit, st, fit.checks(fam, st)


def test_gap_at_the_smallest_teacher_is_a_gap():
    # T* = 0.1·S lies below every teacher: each student is best with the smallest, worse with the rest
    fit, st, found = _setting(sim.TeacherLawTruth(k=0.1, seed_sd=0.003))
    holds = [a for a in fit.assumptions if a.name == "gap_exists"]
    assert holds and all(a.verdict == "holds" for a in holds)
    text = "\n".join(findings.gap(st, found) + findings.conclusions(st, found))
    assert "**Capacity gap: yes.**" in text and "0 have an interior optimal teacher" in text
    assert "Do not default to the largest teacher" in text and "upper bound" in text
    assert "No capacity gap" not in text


def test_no_gap_when_the_largest_teacher_is_best():
    fit, st, found = _setting(sim.TeacherLawTruth(k=60.0, seed_sd=0.003))
    text = "\n".join(findings.gap(st, found) + findings.conclusions(st, found))
    assert "**Capacity gap: not shown.**" in text and "No capacity gap in this grid" in text


def test_laws_agree_cites_each_students_agrees_with_optima_verdict():
    """"Do the two laws agree?" quotes the implied and measured T* per student and the
    `agrees_with_optima` verdicts of the fitting layer (one verdict system), counted over its students."""
    fit = fit_table(sim.optima_table(sim.OptimaTruth(), 3, np.random.default_rng(2)), FitOptions(n_boot=20, n_top=3,
                                                                                               n_random=1))
    [(fam, st)] = fit.settings()
    found = fit.checks(fam, st)
    [series] = st.agreement
    lines = findings.laws_agree(st, [None], found)
    verdicts = [a.verdict for a in found if a.name == "agrees_with_optima"]
    assert len(verdicts) == len(series.agreement.students) >= 3
    counts = ", ".join(f"{v} for {verdicts.count(v)}" for v in ("holds", "fails", "undecided") if v in verdicts)
    assert f"`agrees_with_optima`: {counts} of {len(verdicts)} students." in lines[1], lines
    assert "The two laws agree" not in lines[1] and "The two laws disagree" not in lines[1]
