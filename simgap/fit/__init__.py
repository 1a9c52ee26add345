"""Fitting the laws to tables of runs. One concern per module, imports pointing down the list:

- `inputs`: the errors and the validation of input columns;
- `objectives`: a law is an object (`Law`: names, start grid, bounds, log-prediction and
  gradient, fixed-parameter mapping, `predict`, the columns it reads); `SUPERVISED`,
  `DistillationLaw(supervised)`;
- `solver`: `LawFit` and the one multistart L-BFGS-B solver `fit_law(law, data)`;
  `fit_supervised`, `fit_distillation` are its shorthands;
- `resample`: bootstrap intervals and the extrapolation check;
- `teacher`: the linear and power teacher laws over per-student optima;
- `nested`, `start_law`: Eq. 8 with one more factor (the teacher's size; the student's start), both
  `objectives.ShiftedDistillationLaw`s;
- `results`: the typed results and `to_json` (the one place they become JSON); `results_read`
  (`load`, `from_json`, `read_optima`) and `results_laws` read fit.json or a sweep's laws.json back typed;
- `sections`: one analysis each (a law with CIs and checks, a teacher law), run guarded;
- `table`: reading a table and running every analysis it allows, once (`fit_table`);
- `cli`: `python -m simgap.fit` (summary, plots, fit.json).

Adding a law (e.g. Eq. 8 with an extra teacher-size factor): one `Law` subclass in `objectives`
(its names, grid, columns — say a `teacher_size` column — `features`, `logpred`, `grad`,
`predict`; the solver, bootstrap, extrapolation check and JSON take it as it is), and one
section function in `sections` that fits it and returns a `LawSection` (plus, to read it from a
table, the call in `table`).
"""

from simgap.config import FitOptions
from simgap.fit.inputs import FitInputError, FitNotConverged, TooFewPoints
from simgap.fit.resample import Bootstrap, Extrapolation, bootstrap, extrapolation_check, split_weak_strong
from simgap.fit.results import LawSection, Skipped, StudentOptimum, TableFit, ok, to_json
from simgap.fit.results_read import from_json, read_optima
from simgap.fit.objectives import SUPERVISED, DistillationLaw, Law, SupervisedLaw
from simgap.fit.solver import LawFit, fit_distillation, fit_law, fit_supervised
from simgap.fit.reader import read_table
from simgap.fit.table import fit_table
from simgap.fit.teacher import TeacherLawFit, fit_teacher_law

__all__ = [
    "Bootstrap", "DistillationLaw", "Extrapolation", "FitInputError", "FitNotConverged", "FitOptions", "Law",
    "LawFit", "LawSection", "SUPERVISED", "SupervisedLaw", "fit_law",
    "Skipped", "TableFit", "TeacherLawFit", "TooFewPoints", "bootstrap", "extrapolation_check", "fit_distillation",
    "fit_supervised", "fit_table", "fit_teacher_law", "ok", "read_table", "split_weak_strong", "to_json",
    "StudentOptimum", "from_json", "read_optima",
]
