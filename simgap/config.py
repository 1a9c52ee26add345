"""Every config type and its defaults (Grid, TrainSpec, FitOptions, SweepConfig), and sweep TOML
files loaded into them, validated before any training.

Pure data: this module imports nothing of simgap. What needs a family (its name and parameters,
and whether it can run the grid's student_init) is checked where the family is built from the
config, `simgap.families.from_config`, with errors of the same form. Every error names the
file, the key and what was expected, so a typo costs seconds, not a sweep.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.toml"


@dataclass(frozen=True)
class TrainSpec:
    learning_rate: float = 3e-4
    batch_size: int = 512
    warmup_frac: float = 0.05  # one-cycle: linear warm-up, then cosine decay to 0
    weight_decay: float = 0.0
    lam: float = 1.0  # weight of the teacher term in the distillation loss
    tau: float = 1.0


@dataclass(frozen=True)
class Grid:
    student_sizes: tuple[int, ...]
    teacher_sizes: tuple[int, ...]
    student_budgets: tuple[int, ...]  # 0 = the family's default rule for that size
    teacher_budgets: tuple[int, ...]
    seeds: tuple[int, ...]
    student_init: str = "random"  # one of STUDENT_INITS (below); pruning needs family.prune_to
    supervised: bool = True
    # (lo, hi): a (student, teacher) pair is trained only where lo <= N_T / N_S <= hi in parameters
    # (`runs_pair`, below). A per-student teacher ladder from one list of teacher sizes: Zhang
    # et al.'s protocol needs teachers from ~1.25x to ~6x each student, not every teacher for every
    # student. None: every pair (under pruned_from_teacher, every teacher larger than the student).
    teacher_params_ratio: tuple[float, float] | None = None

    def runs_pair(self, size: int, teacher_size: int, param_count: Callable[[int], float]) -> bool:
        """Whether the (student, teacher) pair is trained: under pruned_from_teacher only teachers
        larger than the student (STUDENT_INITS, below); with `teacher_params_ratio` only teachers
        whose parameter count (`param_count`: the family's) is within that window of the student's."""
        if self.student_init == "pruned_from_teacher" and teacher_size <= size:
            return False
        if self.teacher_params_ratio is None:
            return True
        lo, hi = self.teacher_params_ratio
        return lo <= param_count(teacher_size) / param_count(size) <= hi

    def unpaired(self, param_count: Callable[[int], float]) -> list[int]:
        """Students `teacher_params_ratio` leaves without any teacher."""
        return [n for n in self.student_sizes if not any(self.runs_pair(n, t, param_count) for t in self.teacher_sizes)]


# How a student's parameters start (see simgap.engine._prune_source):
# - "random": fresh init.
# - "pruned_from_teacher": Zhang et al.'s pilot protocol. Each distilled student starts as the
#   very teacher it is distilled from, pruned to its size, so a bigger teacher means a more
#   heavily pruned start. Pairs need teacher_size > student_size (a teacher cannot be pruned to
#   a larger student; an equal-size "pruned" student IS its trained teacher, i.e. continued
#   training, not distillation): other pairs are not run. Supervised baselines start random:
#   they are the law's L~_S, the student trained on its own. (For the pruned-init control
#   trained on labels only, run the same grid with lam = 0.)
# - "pruned_from_largest": every student of a seed, supervised ones included, starts as the
#   largest teacher of that seed (first teacher budget) pruned to its size, whatever teacher it
#   is distilled from: the start is shared, so across teachers only the distillation target
#   differs. A control for "pruned_from_teacher", separating the init from the target.
# The old name "pruned" (= "pruned_from_largest") is refused, naming both.
STUDENT_INITS = ("random", "pruned_from_teacher", "pruned_from_largest")


class ConfigError(ValueError):
    """A config file is invalid; the message names the file and the key."""


# Practical tolerances of the law-assumption checks (simgap.fit.assumptions): an effect whose CI
# lies within this of "the assumption holds exactly" is called "holds". Units: chinchilla_form,
# linear: the exponent; irreducible_loss: a fraction of the best run's reducible loss
# (L_min − E_true); gap_exists, teacher_only_through_loss: nats; break_at_fixed_ratio: the log-log
# slope; ratio_independent_of_budget, slope_pinned: relative; extrapolates: relative error;
# limit_properties: failed checks; agrees_with_optima: log(implied T* / measured T*). How each was
# chosen: docs/verdicts.md.
ASSUMPTION_TOLERANCES = {
    "chinchilla_form": 0.1, "irreducible_loss": 0.1, "teacher_only_through_loss": 0.005,
    "break_at_fixed_ratio": 0.2, "limit_properties": 0.0, "extrapolates": 0.01, "gap_exists": 0.005,
    "linear": 0.1, "ratio_independent_of_budget": 0.2, "slope_pinned": 0.3, "agrees_with_optima": 0.3,
}


MAX_BOOT = 10_000  # law bootstrap refits: Busbridge et al. used 4096, Epoch 4000; more costs hours, no precision


@dataclass(frozen=True)
class FitOptions:
    """How laws are fitted (simgap.fit); a sweep config's [fit] table sets the first three
    (`bootstrap` there is n_boot here). One default for every entry point: 100 refits."""

    huber_delta: float = 1e-4  # Busbridge et al.'s δ on log residuals (Hoffmann and Epoch use 1e-3)
    n_boot: int = 100  # law bootstrap replicates (refits); 0 = no CIs
    ci: float = 0.9
    seed: int = 0
    size_column: str = "student_size"  # or "student_params" for parameter counts
    teacher_size_column: str = "teacher_size"  # or "teacher_params"
    teacher_series_column: str | None = None  # group teachers by this column (default: simgap.fit.grouping)
    extrapolate_by: str = "loss"  # "loss" | "size"
    extrapolate_threshold: float | None = None  # default: hold out the strongest holdout_frac / largest size
    holdout_frac: float = 0.25
    n_top: int | None = None  # None: each fitter's default (supervised 10 + 6, distillation 5 + 3)
    n_random: int | None = None
    optima_boot: int = 1000  # seed-bootstrap replicates per student optimum
    exclude_edge: bool = True
    weighted_teacher_law: bool = False  # weights 1/σ² from the optima's CIs
    max_check_students: int = 3
    # parameters held fixed, as (name, value) pairs: supervised E, A, B, alpha, beta, gamma (E may be
    # "irreducible": the table's irreducible_loss, exact for simgap's families); distillation by
    # DistillParams names. Fixing E stabilises A and α; gamma = 1 is Hoffmann et al.'s form.
    fixed_supervised: tuple[tuple[str, float | str], ...] = ()
    fixed_distillation: tuple[tuple[str, float], ...] = ()
    tolerances: tuple[tuple[str, float], ...] = ()  # (assumption name, tolerance) overriding the defaults

    def tolerance(self, name: str) -> float:
        """The practical tolerance of one assumption check: the override, else the default."""
        return dict(self.tolerances).get(name, ASSUMPTION_TOLERANCES[name])


@dataclass(frozen=True)
class SweepConfig:
    name: str
    family: str
    family_params: dict[str, Any]
    grid: Grid
    train: TrainSpec
    fit: FitOptions
    description: str = ""
    source: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain TOML-able data (what `config.toml` in a run holds)."""
        grid = dataclasses.asdict(self.grid)
        grid["seeds"] = len(self.grid.seeds)
        if grid["teacher_params_ratio"] is None:  # TOML has no null: absent means every pair
            del grid["teacher_params_ratio"]
        train = dataclasses.asdict(self.train)
        distill = {k: train.pop(k) for k in ("lam", "tau")}
        out = {"name": self.name, "family": self.family}
        if self.description:
            out["description"] = self.description
        fit = {"huber_delta": self.fit.huber_delta, "bootstrap": self.fit.n_boot, "ci": self.fit.ci}
        fit.update({k: dict(getattr(self.fit, k)) for k in ("fixed_supervised", "fixed_distillation", "tolerances")
                    if getattr(self.fit, k)})
        out.update(family_params=dict(self.family_params), grid=_lists(grid), train=train, distill=distill, fit=fit)
        return out


def _lists(d: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


# key -> (type checker, description of what is expected)
def _pos_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _nonneg_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _number(v):
    """A finite number: TOML's nan and inf are refused (a fixed E = nan erased the analysis and,
    nan != nan, refused every resume; tau = inf made every distilled run diverge)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


TOLERANCE_RULE = "a finite number >= 0"


def _tolerance(v) -> bool:
    """The one rule for an assumption-check tolerance, in a config and on the command line."""
    return _number(v) and v >= 0


def parse_tolerances(text: str) -> tuple[tuple[str, float], ...]:
    """`--tolerance NAME=VALUE,...` (simgap.sweep, simgap.fit) as FitOptions.tolerances: each name an
    assumption, named once, each value by the rule of a config's [fit] tolerances."""
    out: dict[str, float] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, sep, value = (x.strip() for x in item.partition("="))
        if not sep or name not in ASSUMPTION_TOLERANCES:
            raise ConfigError(f"--tolerance: expected NAME=VALUE with NAME one of {sorted(ASSUMPTION_TOLERANCES)}, "
                              f"got {item!r}")
        if name in out:
            raise ConfigError(f"--tolerance: {name} is given twice ({out[name]:g} and {value}); name it once")
        try:
            out[name] = float(value)
        except ValueError:
            raise ConfigError(f"--tolerance {name}: {value!r} is not a number") from None
        if not _tolerance(out[name]):
            raise ConfigError(f"--tolerance {name}: expected {TOLERANCE_RULE}, got {value}")
    return tuple(sorted(out.items()))


def _fixed_table(v, allow_irreducible: bool) -> bool:
    names = ("E", "A", "B", "alpha", "beta", "gamma") if allow_irreducible else (
        "A", "B", "alpha", "beta", "gamma", "c0", "c1", "f1", "d1")
    return isinstance(v, dict) and all(k in names and (
        (_number(x) and x >= 0) or (allow_irreducible and k == "E" and x == "irreducible")) for k, x in v.items())


def _plain_name(v: str) -> bool:
    """A run directory's name, never a path: "../../escaped" would write outside runs/."""
    return v not in ("", ".", "..") and not any(c in "/\\" or ord(c) < 32 for c in v)


def _int_list(check):
    return lambda v: isinstance(v, list) and len(v) > 0 and all(check(x) for x in v)


_SCHEMA: dict[str, dict[str, tuple[Any, str]]] = {
    "grid": {
        "student_sizes": (_int_list(_pos_int), "a non-empty list of positive integers"),
        "teacher_sizes": (_int_list(_pos_int), "a non-empty list of positive integers"),
        "student_budgets": (_int_list(_nonneg_int), "a non-empty list of integers >= 0 (0 = family default)"),
        "teacher_budgets": (_int_list(_nonneg_int), "a non-empty list of integers >= 0 (0 = family default)"),
        "seeds": (_pos_int, "a positive integer (number of seeds)"),
        "student_init": (lambda v: v in STUDENT_INITS, f"one of {STUDENT_INITS} (\"pruned\" was split: "
                         "\"pruned_from_teacher\" is Zhang et al.'s protocol, \"pruned_from_largest\" the old "
                         "behaviour)"),
        "supervised": (lambda v: isinstance(v, bool), "true or false"),
        "teacher_params_ratio": (lambda v: isinstance(v, list) and len(v) == 2 and all(_number(x) for x in v)
                                 and 0 < v[0] < v[1], "[lo, hi] with 0 < lo < hi (teacher / student parameters)"),
    },
    "train": {
        "learning_rate": (lambda v: _number(v) and v > 0, "a positive number"),
        "batch_size": (_pos_int, "a positive integer"),
        "warmup_frac": (lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"),
        "weight_decay": (lambda v: _number(v) and v >= 0, "a number >= 0"),
    },
    "distill": {
        "lam": (lambda v: _number(v) and 0 <= v <= 1, "a number in [0, 1]"),
        "tau": (lambda v: _number(v) and v > 0, "a positive number"),
    },
    "fit": {
        "huber_delta": (lambda v: _number(v) and v > 0, "a positive number"),
        "bootstrap": (lambda v: _nonneg_int(v) and v <= MAX_BOOT, f"an integer in 0..{MAX_BOOT}"),
        "ci": (lambda v: _number(v) and 0 < v < 1, "a number in (0, 1)"),
        "fixed_supervised": (lambda v: _fixed_table(v, allow_irreducible=True),
                             'a table of E, A, B, alpha, beta, gamma = finite number >= 0 (E may be "irreducible"), e.g. {E = "irreducible"}'),
        "fixed_distillation": (lambda v: _fixed_table(v, allow_irreducible=False),
                               "a table of A, B, alpha, beta, gamma, c0, c1, f1, d1 = finite number >= 0, e.g. {gamma = 1.0}"),
        "tolerances": (lambda v: isinstance(v, dict) and all(k in ASSUMPTION_TOLERANCES and _tolerance(x)
                                                         for k, x in v.items()),
                       f"a table of assumption name = tolerance ({TOLERANCE_RULE}), names from "
                       f"{sorted(ASSUMPTION_TOLERANCES)}"),
    },
}
_REQUIRED = {"grid": ("student_sizes", "teacher_sizes", "seeds")}
_TOP = {"name": str, "family": str, "description": str, "family_params": dict,
        **{k: dict for k in _SCHEMA}}


def load_config(path: str | Path, seeds: int | None = None) -> SweepConfig:
    """Read and validate a sweep config; `seeds` overrides [grid].seeds (the CLI's --seeds)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file (give a .toml file)") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a text file (byte {e.start} is not UTF-8): a config is a TOML "
                          "text file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    return parse_config(raw, source=str(path), seeds=seeds)


def parse_config(raw: dict[str, Any], source: str = "<config>", seeds: int | None = None) -> SweepConfig:
    def fail(key: str, msg: str):
        raise ConfigError(f"{source}: {key}: {msg}")

    for key, value in raw.items():
        if key not in _TOP:
            fail(key, f"unknown key (expected one of {sorted(_TOP)})")
        if not isinstance(value, _TOP[key]):
            fail(key, f"expected {'a table' if _TOP[key] is dict else 'a string'}, got {value!r}")
    for key in ("family", "grid"):
        if key not in raw:
            fail(key, "missing (required)")
    sections: dict[str, dict[str, Any]] = {}
    for sec, schema in _SCHEMA.items():
        table = dict(raw.get(sec, {}))
        for key, value in table.items():
            if key not in schema:
                fail(f"[{sec}].{key}", f"unknown key (expected one of {sorted(schema)})")
            check, expected = schema[key]
            if not check(value):
                fail(f"[{sec}].{key}", f"expected {expected}, got {value!r}")
        for key in _REQUIRED.get(sec, ()):
            if key not in table:
                fail(f"[{sec}].{key}", "missing (required)")
        sections[sec] = table
    if seeds is not None:
        if not _pos_int(seeds):
            fail("--seeds", f"expected a positive integer, got {seeds!r}")
        sections["grid"]["seeds"] = seeds

    g = sections["grid"]
    grid = Grid(
        student_sizes=tuple(g["student_sizes"]), teacher_sizes=tuple(g["teacher_sizes"]),
        student_budgets=tuple(g.get("student_budgets", [0])),
        teacher_budgets=tuple(g.get("teacher_budgets", [0])),
        seeds=tuple(range(g["seeds"])), student_init=g.get("student_init", "random"),
        supervised=g.get("supervised", True),
        teacher_params_ratio=tuple(float(x) for x in g["teacher_params_ratio"]) if "teacher_params_ratio" in g else None)
    for key in ("student_sizes", "teacher_sizes", "student_budgets", "teacher_budgets"):
        values = getattr(grid, key)
        if len(set(values)) != len(values):
            fail(f"[grid].{key}", f"has duplicates: {list(values)}")

    family = raw["family"]
    family_params = dict(raw.get("family_params", {}))
    train = TrainSpec(**sections["train"], **sections["distill"])
    fit_raw = {("n_boot" if k == "bootstrap" else k): v for k, v in sections["fit"].items()}
    for key in ("fixed_supervised", "fixed_distillation", "tolerances"):
        fit_raw[key] = tuple(sorted(fit_raw.get(key, {}).items()))
    fit = FitOptions(**fit_raw)
    name = raw.get("name") or Path(source).stem
    if not _plain_name(name):
        fail("name", f"expected a plain name (it names the run directory under runs/): no '/', '\\', "
                     f"control characters, or '.'/'..', got {name!r}")
    return SweepConfig(name=name, family=family, family_params=family_params, grid=grid,
                       train=train, fit=fit, description=raw.get("description", ""), source=source)


def shipped_configs() -> list[Path]:
    return sorted(CONFIG_DIR.glob("*.toml"))
