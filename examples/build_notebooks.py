"""Builds the two example notebooks from the cells below, and (with --execute) runs them so the
committed .ipynb files carry the outputs the API gives (never pasted by hand).

    python examples/build_notebooks.py --execute     # after editing a cell below

tests/test_notebooks.py runs both notebooks top to bottom and checks that their cells are these.
"""

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
SMALL = ("Kept small so that CI runs it in seconds: **`bootstrap=20`** replicates per law and "
         "**`design_boot=200`** simulated pilots. For decisions you act on, use the defaults (100 and 1000) or more.")

PILOT = [
    ("md", """# Validate your pilot before the expensive runs

Distillation plans rest on two laws: Busbridge et al.'s distillation scaling law (Eq. 8) and Zhang et al.'s
linear teacher law (the optimal teacher grows linearly with the student). Each rests on assumptions that a
pilot — a few dozen cheap runs of your own — can test. This notebook is that session: load the pilot, see
each assumption's verdict with its interval, see the curves, ask what would decide the undecided ones, plan.

**Copy it and point `PILOT` at your own table** (one row per run; the columns are in
[docs/laws-and-fitting.md](../docs/laws-and-fitting.md)). The pilot shipped here,
`docs/examples/pilot_runs.csv`, was drawn by `examples/make_pilot_table.py` from Busbridge et al.'s fitted
laws with 0.3 % seed noise and **one planted violation**: the teacher's size matters beyond its loss.

""" + SMALL),
    ("code", """%matplotlib inline
import tempfile
from pathlib import Path

import pandas as pd

import simgap

PILOT = Path("../docs/examples/pilot_runs.csv")  # <- your own pilot table
pilot = pd.read_csv(PILOT)
pilot.groupby("run_kind").size()"""),
    ("md", """## 1. Fit the laws, test their assumptions

`simgap.fit` takes a CSV path, a DataFrame or a dict of columns, through the same reader and checks as
`python -m simgap.fit`. Its result shows the "Law assumptions" table of a sweep's report.md: **holds** when
the CI lies inside the tolerance, **fails** when it excludes "holds", else **undecided**, with what would
decide it."""),
    ("code", """fit = simgap.fit(pilot, bootstrap=20)
fit"""),
    ("md", """The planted violation shows as `teacher_only_through_loss` **fails**: at a fixed teacher loss, the
students still depend on the teacher's size, which Eq. 8 rules out. The other failures are not planted: they are
true of the laws the pilot was drawn from. Busbridge et al.'s supervised law has γ = 0.45, not Chinchilla's 1
(`chinchilla_form`), and the optimal teacher shifts with the teachers' training length
(`ratio_independent_of_budget`). The optimal teacher their Eq. 8 implies grows about as S^0.8, not in proportion
to the student, but 3 seeds cannot tell that from S^1 (`linear` is undecided: below 5 seeds its interval is a
t-interval, wide on purpose). The undecided ones, with what each needs:"""),
    ("code", """for a in fit.assumptions:
    if a.verdict == "undecided":
        print(f"{a.name} ({a.subject or 'the law'}): needs {a.needs}")"""),
    ("md", "## 2. The curves: a U per student, the optimal teachers, Eq. 8 against the runs"),
    ("code", "simgap.plots.u_curves(fit)"),
    ("code", "simgap.plots.teacher_law(fit)"),
    ("code", "simgap.plots.distill_parity(fit)"),
    ("md", """## 3. What would decide the undecided ones

The teacher law's slope is not pinned: its CI is too wide to plan with. The planner's pilot design
(`python -m simgap.plan --design`) bootstraps the pilot and ranks what to add — more seeds, another student,
teachers next to each optimum — by how much each shrinks the CI of the optimal teacher at a 10× larger student,
per FLOP. It reads one series of teachers, so give it the teachers trained at 20 tokens per parameter:"""),
    ("code", """series = pilot[(pilot.run_kind == "distilled") & (pilot.teacher_budget == 20 * pilot.teacher_size)]
design_csv = Path(tempfile.mkdtemp()) / "pilot_20_tokens_per_param.csv"
series.to_csv(design_csv, index=False)
simgap.plan(design=design_csv, design_boot=200)"""),
    ("md", """## 4. Plan with the fitted laws and your own checkpoints

Which of three existing checkpoints should a 1e9-parameter student learn from at 1e22 FLOPs, and does it beat
training the student alone? Each decision carries the interval of the laws' bootstrap replicates, and every
answer outside the pilot's range is flagged. (`sweep=False` skips the compute sweep and gain map, which take a
minute; leave it out for them.)"""),
    ("code", """plan = simgap.plan(fit, student=1e9, compute=1e22, teachers="../docs/examples/three_checkpoints.csv",
                   sweep=False)
plan"""),
    ("code", """from simgap.plan.plots import figures

figures(plan)["student_vs_teacher"]"""),
    ("md", """Everything above is one call each: `simgap.fit`, `simgap.plots.*`, `simgap.plan`
([docs/api.md](../docs/api.md)). The same numbers come from `python -m simgap.fit` and `python -m simgap.plan`."""),
]

SWEEP = [
    ("md", """# A tiny sweep, run until its assumptions are decided

`simgap.sweep` trains a config's grid of teachers and students, analyses it and returns a `Run`. With
`until_decided=True` it then adds runs round by round — the addition that shrinks the targeted CIs most per
FLOP — until each target is decided or the budget is spent (docs/verdicts.md).

Kept small so that CI runs it in seconds: the `default` preset shrunk to 2 students, 3 teachers, 2 seeds and
20 steps, **`bootstrap=20`**, one target (`gap_exists`) and a 2-minute budget. The run directory goes to a
temporary folder."""),
    ("code", """%matplotlib inline
import tempfile
import tomllib
from pathlib import Path

import pandas as pd

import simgap

config = tomllib.loads(Path("../configs/default.toml").read_text())
config["grid"].update(student_sizes=[13, 16], teacher_sizes=[25, 28, 32], seeds=2,
                      student_budgets=[20 * 512], teacher_budgets=[20 * 512])
config["fit"]["bootstrap"] = 20
run = simgap.sweep(config, out=Path(tempfile.mkdtemp()) / "tiny", until_decided=True, decide=["gap_exists"],
                   max_minutes=2, progress=False, echo=lambda line: line.startswith("until-decided") and print(line))"""),
    ("md", "Each round, what it added, and the targeted CIs before and after it (from the run's decide.json):"),
    ("code", """from simgap.plan.additions import describe


def after(r, t):  # the target as the analysis after round r found it
    return next(a for a in r["after"] if (a["name"], a["subject"]) == (t["name"], t["subject"]))


def ci(a):
    return "[" + ", ".join("n/a" if x is None else f"{x:.3g}" for x in a["ci"]) + "]"


pd.DataFrame([{"round": r["round"], "added": describe(r["addition"]), "target": f"{t['name']} ({t['subject']})",
               "CI before": ci(t), "CI after": ci(after(r, t)), "verdict after": after(r, t)["verdict"]}
              for r in run.rounds for t in r["targets"]])"""),
    ("md", "The run's verdicts (its report.md has the same table), its curves and its rows:"),
    ("code", "run"),
    ("code", "simgap.plots.u_curves(run.fit)"),
    ("code", "pd.DataFrame(run.results).groupby(\"run_kind\").size()"),
]


def notebook(cells) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


NOTEBOOKS = {"validate_your_pilot.ipynb": PILOT, "until_decided_sweep.ipynb": SWEEP}


def execute(nb: nbformat.NotebookNode, timeout: int = 300) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in examples/ (as Jupyter would), raising on the first failing cell."""
    from jupyter_client import KernelManager  # only to execute; building needs nbformat alone
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    # this Python's own ipykernel (the one simgap is installed in), whatever kernels are installed elsewhere
    km = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    NotebookClient(nb, km=km, timeout=timeout, resources={"metadata": {"path": str(HERE)}}).execute()
    return nb


if __name__ == "__main__":
    for name, cells in NOTEBOOKS.items():
        nb = notebook(cells)
        if "--execute" in sys.argv:
            execute(nb)
        nbformat.write(nb, HERE / name)
        print(f"wrote {HERE / name}", file=sys.stderr)
