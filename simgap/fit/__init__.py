"""Fitting the laws to tables of runs. One concern per module, imports pointing down the list:

- `inputs`: the errors and the validation of input columns;
- `objectives`: each law's log-space prediction, gradient, names, start grid and bounds
  (a new law goes here);
- `solver`: `LawFit` and the one multistart L-BFGS-B solver; `fit_supervised`, `fit_distillation`;
- `resample`: bootstrap intervals and the extrapolation check;
- `teacher`: the linear and power teacher laws over per-student optima;
- `results`: the typed results and `to_json`, the one place they become JSON;
- `sections`: one analysis each (a law with CIs and checks, a teacher law), run guarded;
- `table`: reading a table and running every analysis it allows, once (`fit_table`);
- `cli`: `python -m simgap.fit` (summary, plots, fit.json).
"""

from simgap.config import FitOptions
from simgap.fit.inputs import FitInputError, FitNotConverged, TooFewPoints
from simgap.fit.resample import Bootstrap, Extrapolation, bootstrap, extrapolation_check, split_weak_strong
from simgap.fit.results import LawSection, Skipped, TableFit, ok, to_json
from simgap.fit.solver import LawFit, fit_distillation, fit_supervised
from simgap.fit.table import fit_table, read_table
from simgap.fit.teacher import TeacherLawFit, fit_teacher_law

__all__ = [
    "Bootstrap", "Extrapolation", "FitInputError", "FitNotConverged", "FitOptions", "LawFit", "LawSection",
    "Skipped", "TableFit", "TeacherLawFit", "TooFewPoints", "bootstrap", "extrapolation_check", "fit_distillation",
    "fit_supervised", "fit_table", "fit_teacher_law", "ok", "read_table", "split_weak_strong", "to_json",
]
