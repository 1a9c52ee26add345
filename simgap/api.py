"""simgap from Python: the calls the command lines make, with results that show themselves.

`simgap.sweep`, `simgap.fit`, `simgap.plan` and `simgap.load` (re-exported by simgap/__init__.py)
are the code paths of `python -m simgap.sweep`, `python -m simgap.fit` and `python -m simgap.plan`:
each CLI parses its arguments, calls the function here, and saves or prints what it returns.
The results are the typed ones of simgap.fit.results and simgap.plan.results, subclassed only to
render: in a notebook (`_repr_markdown_`) or with print() a fit shows report.md's "Law assumptions"
table and optimal teachers (simgap.report.fit_markdown), a plan the CLI's text (simgap.plan.summary).

`Run.results` is always a dict of numpy columns, never a DataFrame: pandas is optional, and one
return type means code written against it runs the same with or without pandas installed
(`pandas.DataFrame(run.results)` is one call away).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from simgap import report
from simgap import rows as rows_lib
from simgap.config import CONFIG_DIR, ConfigError, FitOptions, SweepConfig, load_config, parse_config, parse_tolerances
from simgap.cpu import tune_cpu
from simgap.fit import results as fit_results
from simgap.fit.memo import Memo
from simgap.fit.results import StudentOptimum, ok
from simgap.fit.table import fit_table
from simgap.plan import results as plan_results
from simgap.plan.compute import PlanError
from simgap.plan.load import REFERENCES, Laws, load_laws, reference
from simgap.plan.run import PlanRequest, make_plan
from simgap.plan.summary import summarize

__all__ = ["Plan", "Run", "TableFit", "fit", "load", "plan", "sweep"]
ALL_SCENARIOS = ("free", "inference", "trained")  # scenario="all" (pretraining on request)
DESIGN_RATIOS = (16.0, 32.0, 64.0, 128.0, 256.0, 512.0)  # a planned pilot's teachers, as multiples of each student


class TableFit(fit_results.TableFit):
    """A fit that shows its verdicts: `print(simgap.fit("pilot.csv"))` prints the "Law assumptions" table.

    What `simgap.fit` returns: a simgap.fit.results.TableFit (every field, `to_json`) whose print() and
    notebook display are report.md's "Law assumptions" table and optimal teachers (report.fit_markdown)."""

    def __str__(self) -> str:
        return report.fit_markdown(self)

    def _repr_markdown_(self) -> str:
        return report.fit_markdown(self)

    def __repr__(self) -> str:
        i, verdicts = self.input, [a.verdict for a in self.assumptions]
        return (f"<simgap TableFit: {i.n_rows} rows ({i.n_supervised} supervised, {i.n_distilled} distilled); "
                f"{verdicts.count('holds')} hold, {verdicts.count('fails')} fail, "
                f"{verdicts.count('undecided')} undecided; print() it for the table>")


class Plan(plan_results.Plan):
    """A plan that shows its decisions: `print(simgap.plan("busbridge", student=1e9, compute=1e22))`.

    What `simgap.plan` returns: a simgap.plan.results.Plan whose print() and notebook display are the text
    `python -m simgap.plan` prints (simgap.plan.summary): each decision with its interval."""

    def __str__(self) -> str:
        return summarize(self)

    def _repr_markdown_(self) -> str:
        return f"```text\n{summarize(self)}\n```\n"

    def __repr__(self) -> str:
        src = self.laws.source if self.laws is not None else "a pilot design"
        return f"<simgap Plan from {src}; print() it for the decisions>"


def _typed(cls, x):
    """`x` (a TableFit or Plan) as the subclass above that renders it: the same fields."""
    return cls(**{f.name: getattr(x, f.name) for f in dataclasses.fields(x)})


@dataclasses.dataclass(frozen=True)
class Run:
    """A sweep's run directory, read back on demand: `run = simgap.load("runs/default-20250101-120000")`.

    `.results` results.csv as numpy columns, `.fit` the analysis' TableFit (from the directory's
    cache of fits, simgap.fit.memo: refitted only if simgap's code changed since), `.optima` each
    student's optimal teacher with its CIs (optima.csv), `.report_path` its report.md."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))  # a str is welcome; frozen, so set once here

    @functools.cached_property
    def config(self) -> SweepConfig:
        return load_config(self.path / "config.toml")

    @functools.cached_property
    def rows(self) -> list[dict]:
        return rows_lib.read_csv(self.path / "results.csv")

    @functools.cached_property
    def results(self) -> dict[str, np.ndarray]:
        return report.fit_columns(self.rows)

    @functools.cached_property
    def fit(self) -> TableFit:
        return _typed(TableFit, report.fit_rows(self.config, self.rows, Memo(self.path / report.CACHE)))

    @property
    def optima(self) -> tuple[StudentOptimum, ...]:
        return tuple(o for _, st in self.fit.settings() if ok(st.optima) for o in st.optima.students)

    @property
    def report_path(self) -> Path:
        return self.path / "report.md"

    @property
    def laws_path(self) -> Path:
        return self.path / "laws.json"

    @property
    def rounds(self) -> list[dict]:
        """The --until-decided rounds (decide.json): what each added, and each target's CI after it."""
        path = self.path / "decide.json"
        return json.loads(path.read_text())["rounds"] if path.exists() else []

    def _repr_markdown_(self) -> str:
        head = (f"**simgap run** `{self.path}`: {len(self.rows)} runs ({self.config.family} family, "
                f"{len(self.rounds)} --until-decided rounds); report: `{self.report_path}`")
        return head + "\n\n" + report.fit_markdown(self.fit)

    __str__ = _repr_markdown_

    def __repr__(self) -> str:
        return f"<simgap Run {str(self.path)!r}; print() it for its verdicts>"


def resolve_config(config, seeds: int | None = None) -> SweepConfig:
    """A sweep config from a preset name ("default": configs/default.toml), a TOML path, a parsed
    TOML dict or a SweepConfig; `seeds` overrides its number of seeds (validated as in the file)."""
    if isinstance(config, SweepConfig):
        return config if seeds is None else parse_config(config.to_dict(), source=config.source, seeds=seeds)
    if isinstance(config, Mapping):
        return parse_config(dict(config), source="<dict>", seeds=seeds)
    path = Path(config)
    if path.suffix != ".toml" and len(path.parts) == 1 and not path.exists():
        presets = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
        if str(config) not in presets:
            raise ConfigError(f"{config!r}: no such preset (presets: {', '.join(presets)}) nor config file")
        path = CONFIG_DIR / f"{config}.toml"
    return load_config(path, seeds=seeds)


def default_out(cfg: SweepConfig) -> Path:
    """Where a sweep writes when told nothing: runs/<config name>-<time>."""
    return Path("runs") / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def with_tolerances(cfg: SweepConfig, tolerances) -> SweepConfig:
    """`cfg` with assumption tolerances {name: value} over its [fit] tolerances (checked as --tolerance is)."""
    extra = dict(_tolerances(tolerances))
    if not extra:
        return cfg
    merged = tuple(sorted({**dict(cfg.fit.tolerances), **extra}.items()))
    return dataclasses.replace(cfg, fit=dataclasses.replace(cfg.fit, tolerances=merged))


def _tolerances(tolerances) -> tuple[tuple[str, float], ...]:
    """{name: value} checked by the one rule of --tolerance and [fit] tolerances (simgap.config)."""
    items = (tolerances or {}).items()
    return parse_tolerances(",".join(f"{k}={float(v)!r}" for k, v in items))


def sweep(config="default", *, out=None, seeds: int | None = None, until_decided: bool = False,
          decide: tuple[str, ...] = (), max_minutes: float = 30.0, max_flops: float = math.inf,
          tolerances: Mapping[str, float] | None = None, progress: bool = True, echo=print) -> Run:
    """Train a config's grid, analyse it and return the run: `run = simgap.sweep("default", seeds=2)`.

    `config`: a preset name, a TOML path, a parsed TOML dict or a SweepConfig (`resolve_config`);
    `out`: the run directory (default runs/<name>-<time>; an existing one is resumed); `until_decided`:
    then add runs round by round until the undecided assumptions (or those named in `decide`) are
    decided, within `max_minutes` and `max_flops` (docs/verdicts.md); `echo`: where progress lines go."""
    if decide and not until_decided:
        raise ConfigError("decide=… only applies with until_decided=True")
    tune_cpu()  # before JAX starts: one XLA device per core, Eigen dots (simgap.cpu); later it changes nothing
    # lazy: the sweep's modules start JAX (≈ 2 s and its thread pools); simgap.fit and simgap.plan never need it
    from simgap import cache, distributed, runner
    from simgap import decide as decide_lib  # lazy: imports the engine, as above

    cache.enable_compile_cache()
    distributed.initialize()  # joins a multi-process JAX runtime when launched as one (no-op otherwise)
    decide_lib.check_names(tuple(decide))
    cfg = with_tolerances(resolve_config(config, seeds), tolerances)
    out = Path(out) if out is not None else default_out(cfg)
    echo(f"sweep {cfg.name} -> {out}")

    def run(c, o, extra=(), eq8=True):
        return runner.run_sweep(c, o, progress=progress, echo=echo, extra_units=extra, eq8=eq8)

    if until_decided:
        decide_lib.until_decided(cfg, out, tuple(decide), max_minutes, max_flops, run=run, echo=echo)
    elif rounds := decide_lib.load_rounds(out):  # a plain resume keeps (and finishes) the rounds' runs
        echo(f"{out} holds {len(rounds)} --until-decided round(s) (decide.json): finishing them with the grid; "
             "resume with --until-decided to add more")
        decide_lib.until_decided(cfg, out, run=run, echo=echo, more=False)
    else:
        run(cfg, out)
    echo(f"done: {out / 'report.md'}")
    return Run(out)


def fit_options(*, fix=None, tolerances=None, bootstrap: int = FitOptions.n_boot, ci: float = FitOptions.ci,
                seed: int = FitOptions.seed, size_column: str = "student_size", extrapolate_by: str = "loss",
                extrapolate_threshold: float | None = None, teacher_series: str | None = None,
                huber_delta: float = FitOptions.huber_delta) -> FitOptions:
    """`simgap.fit`'s keywords (and `python -m simgap.fit`'s flags) as FitOptions: `fit_options(bootstrap=0)`.

    `fix` holds law parameters fixed, {"supervised": {"E": 0, "gamma": 1}, "distillation": {"gamma": 1}}
    (or (name, value) pairs per law); `tolerances`: {assumption: tolerance} (docs/verdicts.md)."""
    fix = dict(fix or {})
    unknown = set(fix) - {"supervised", "distillation"}
    if unknown:
        raise ValueError(f"fix: laws are 'supervised' and 'distillation', got {sorted(unknown)}")
    items = lambda v: v.items() if isinstance(v, Mapping) else v  # noqa: E731  (pairs: a name given twice is refused)
    pairs = lambda law: tuple(sorted(items(fix.get(law) or ()), key=lambda kv: kv[0]))  # noqa: E731
    return FitOptions(huber_delta=huber_delta, n_boot=bootstrap, ci=ci, seed=seed, size_column=size_column,
                      teacher_size_column=size_column.replace("student", "teacher"), extrapolate_by=extrapolate_by,
                      extrapolate_threshold=extrapolate_threshold, teacher_series_column=teacher_series,
                      fixed_supervised=pairs("supervised"), fixed_distillation=pairs("distillation"),
                      tolerances=_tolerances(tolerances))


def table_columns(table):
    """A table as simgap's one reader takes it (simgap.fit.reader.as_columns): a CSV path as it is,
    a pandas DataFrame as its columns (numbers as floats, missing as NaN), a mapping as a dict."""
    if isinstance(table, (str, Path)):
        return table
    if isinstance(table, (list, tuple)) and table and all(isinstance(t, (str, Path)) for t in table):
        return list(table)  # several CSVs read as one (simgap.fit.reader.read_tables)
    if hasattr(table, "columns") and hasattr(table, "to_numpy"):  # a DataFrame, without importing pandas
        return {str(c): _column(table[c]) for c in table.columns}
    if isinstance(table, Mapping):
        return dict(table)
    raise TypeError(f"table: expected a CSV path, a pandas DataFrame or a mapping of columns, "
                    f"got {type(table).__name__}")


def _column(series) -> np.ndarray:
    kind = series.dtype.kind
    if kind in "iuf":  # nullable integers and floats included: <NA> becomes NaN, as an empty CSV cell
        return series.to_numpy(dtype=float, na_value=np.nan)
    return series.to_numpy(dtype=bool if kind == "b" else object)


def fit(table, *, options: FitOptions | None = None, **keywords) -> TableFit:
    """Fit every law a table allows and test its assumptions: `f = simgap.fit("pilot.csv", bootstrap=50)`.

    `table`: a CSV path (or a list of them, read as one table: runs of two sweeps, e.g. random and
    pruned students for the start-aware law), a pandas DataFrame or a mapping column -> sequence, read
    and checked as `python -m simgap.fit` reads its CSVs; `keywords`: those of `fit_options` (fix, tolerances,
    bootstrap, ci, seed, size_column, …), e.g. `simgap.fit(df, tolerances={"linear": 0.05})`."""
    return _typed(TableFit, fit_table(table_columns(table), options or fit_options(**keywords)))


def _laws_from_fit(result: fit_results.TableFit, family, setting) -> Laws:
    """The laws of a fit in memory, read as the planner reads a fit.json (simgap.plan.load)."""
    name = f"the fit of {result.input.path}" if result.input.path else "the fit"
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fit.json"
        path.write_text(json.dumps(fit_results.to_json(result), allow_nan=False))
        L = load_laws(path, family, setting)
    named = lambda text: text.replace(str(path), name)  # noqa: E731
    return dataclasses.replace(L, source=named(L.source), ranges=dataclasses.replace(
        L.ranges, source=named(L.ranges.source), missing=named(L.ranges.missing)))


def plan_laws(laws, family: str | None = None, setting: int | None = None) -> Laws | None:
    """The laws to plan with: None (a pilot design only), "busbridge" (the paper's), a TableFit,
    a Run, or a path to a fit.json, a laws.json or a run directory."""
    if laws is None or isinstance(laws, Laws):
        return laws
    if isinstance(laws, str) and laws in REFERENCES:
        return reference(laws)
    if isinstance(laws, fit_results.TableFit):
        return _laws_from_fit(laws, family, setting)
    path = laws.laws_path if isinstance(laws, Run) else Path(laws)
    return load_laws(path / "laws.json" if path.is_dir() else path, family, setting)


def plan(laws=None, *, student: float | None = None, compute: float | None = None, scenario: str = "all",
         teachers=None, design=None, sweep: bool = True, family: str | None = None, setting: int | None = None,
         size_unit: float | None = None, **request) -> Plan:
    """Which teacher, how to spend the compute, distil or not: `simgap.plan(fit, student=1e9, compute=1e22)`.

    Each decision comes with its interval. `laws`: see `plan_laws`; `teachers`: a CSV of your
    checkpoints to rank; `design`: a pilot CSV whose teacher law's CI and ranked additions to report
    (with laws=None: that alone); `sweep=False` skips the compute sweep and gain map; `request`:
    any other field of simgap.plan.run.PlanRequest (students_per_teacher, teacher_size, seed, …)."""
    L = plan_laws(laws, family, setting)
    if L is not None and (student is None or compute is None):
        raise PlanError("student= and compute= are required with laws")
    if L is None and design is None and not request.get("design_students"):
        raise PlanError("give laws (a fit, a run, a laws file or 'busbridge') or a pilot table (design=)")
    request.setdefault("design_ratios", DESIGN_RATIOS)  # the CLI's default, so both ask the same question
    req = PlanRequest(student=math.nan if student is None else float(student),
                      compute=math.nan if compute is None else float(compute),
                      scenarios=ALL_SCENARIOS if scenario == "all" else (scenario,),
                      size_unit=size_unit or (1e6 if L is not None and L.is_reference else 1.0),
                      teachers_csv=None if teachers is None else str(teachers),
                      design_table=None if design is None else str(design), **request)
    return _typed(Plan, make_plan(L, req, sweeps=sweep))


def load(path) -> Run | TableFit:
    """A finished analysis read back: `run = simgap.load("runs/default-20250101-120000")`.

    A run directory (or its laws.json) as a `Run`; a fit.json as the `TableFit` it records, refitted
    from the table it names with the options it records (the same numbers: every fit is seeded;
    fit.json holds the laws' parameters, not the solver's state a TableFit keeps)."""
    path = Path(path)
    if path.is_dir() or (path.name == "laws.json" and (path.parent / "config.toml").exists()):
        run = Run(path if path.is_dir() else path.parent)
        if not (run.path / "config.toml").exists():
            raise ValueError(f"{path}: not a sweep's run directory (no config.toml)")
        return run
    try:
        doc = json.loads(path.read_text())
        table, options = doc["input"].get("paths") or doc["input"]["path"], _fit_options_from_json(doc["options"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a run directory nor a readable fit.json ({type(e).__name__}: {e})") from None
    if table is None:
        raise ValueError(f"{path}: fitted from columns in memory, not a file: fit them again with simgap.fit(table)")
    return fit(table, options=options)


def _fit_options_from_json(d: dict) -> FitOptions:
    """fit.json's "options" back as FitOptions: lists become tuples, as they were."""
    tup = lambda v: tuple(tup(x) for x in v) if isinstance(v, list) else v  # noqa: E731
    return FitOptions(**{k: tup(v) for k, v in d.items()})
