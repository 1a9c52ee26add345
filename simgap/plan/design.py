"""Design the next pilot: how sure is the teacher law it gives, and which run to add.

A parametric bootstrap of the pilot *as planned*: the plug-in truth is each student's seed-mean
loss curve over teacher sizes, the noise is Gaussian with the seed noise measured in the pilot
(the residual of a seed × teacher two-way layout per student, pooled; a per-seed offset shared by
a seed's whole curve cancels in the argmin, so it is left out). Each simulated pilot goes through
simgap's own estimator — per-student optimum refined by the parabola in log teacher size
(`simgap.optima.refine_log_quadratic`), then an ordinary least-squares linear law T* = k·S + b on
the interior optima — giving the CI of the slope k and of T* at a target student size.

Candidate additions are the same bootstrap on a modified plan, with their cost in FLOPs
(6·N·D training + 2·N_T·D_S teacher inference, from the table's params and budget columns; in
relative units N = size, D = 1 when the table has none):
- "seeds": every run once more per added seed;
- "student": one student twice the largest, its curve the nearest student's shifted in log
  teacher size by the fitted law (the shape of the U is assumed to carry over); or one at a given
  size between two students, its curve interpolated between theirs on the teachers they share;
- "teacher": each student gets a teacher at the geometric midpoint on the better side of its
  argmin, its loss interpolated (PCHIP in log size) from the seed-mean curve.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy import interpolate

from simgap.fit import checks
from simgap.fit.teacher import wls  # the one weighted least squares (vectorised over replicates)
from simgap.intervals import percentile_interval
from simgap.optima import refine_log_quadratic
from simgap.plan import link
from simgap.plan.compute import PlanError

SIZE, TEACHER, LOSS = "student_size", "teacher_size", "student_loss"


@dataclass(frozen=True)
class Pilot:
    """A planned pilot: per student, a teacher grid and the (plug-in) seed-mean loss curve."""

    students: tuple[float, ...]
    teachers: tuple[tuple[float, ...], ...]
    curves: tuple[tuple[float, ...], ...]
    n_seeds: int
    noise_sd: float
    cost_student_run: tuple[tuple[float, ...], ...]  # per student and teacher: one distilled run
    cost_teacher_run: dict  # teacher size -> one teacher training run
    cost_unit: str  # "FLOPs" or "relative (size x budget)"
    scale: tuple = field(default=(), repr=False, compare=False)  # size -> (N_S, N_T, D_S, D_T) interpolants


def _loglog(x, y):
    """A power-law interpolant y(x) through the given points (constant when x does not vary)."""
    x, y = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    if len(np.unique(x)) < 2:
        return lambda q: np.full_like(np.asarray(q, float), math.exp(y.mean()))
    p, c = np.polyfit(x, y, 1)
    return lambda q: np.exp(c + p * np.log(np.asarray(q, float)))


def pilot_from_columns(cols: dict, noise_sd: float | None = None) -> Pilot:
    """Distilled rows (student_size, teacher_size, student_loss, seed) of one family and setting."""
    for c in (SIZE, TEACHER, LOSS):
        if c not in cols:
            raise PlanError(f"design table needs column {c!r}; it has {sorted(cols)}")
    n = len(cols[SIZE])
    keep = np.ones(n, bool)
    if "run_kind" in cols:
        keep &= np.asarray(cols["run_kind"]).astype(str) == "distilled"
    keep &= np.isfinite(np.asarray(cols[TEACHER], float))
    if "diverged" in cols:
        keep &= ~checks.diverged_flags(cols)  # an empty cell is "not flagged", not a diverged run
    for c in ("family", "lam", "tau", "student_init"):
        if c in cols and keep.any():
            vals = {str(v) for v in np.asarray(cols[c])[keep]}
            if len(vals) > 1:
                raise PlanError(f"design table mixes several {c} values ({', '.join(sorted(vals))}): give one group")
    if not keep.any():
        raise PlanError("design table has no distilled rows with a teacher_size")
    S, T, L = (np.asarray(cols[c], float)[keep] for c in (SIZE, TEACHER, LOSS))
    seed = np.asarray(cols["seed"], float)[keep] if "seed" in cols else np.zeros(len(S))
    seeds = np.unique(seed)
    if len(seeds) < 2 and noise_sd is None:
        raise PlanError("design needs ≥ 2 seeds to measure the seed noise (or give noise_sd)")
    students, teachers, curves, ss, dof = [], [], [], 0.0, 0
    for s in np.unique(S):
        m = S == s
        ts = np.unique(T[m])
        if len(ts) < 3:
            raise PlanError(f"student {s:g} has {len(ts)} teacher sizes; an optimum needs ≥ 3")
        cell = np.searchsorted(seeds, seed[m]) * len(ts) + np.searchsorted(ts, T[m])
        if len(np.unique(cell)) < len(cell):
            raise PlanError(f"student {s:g} has several runs for one (seed, teacher) pair (several budgets or "
                            f"settings?): give the rows of one budget and setting")
        grid = np.full((len(seeds), len(ts)), np.nan)
        grid.flat[cell] = L[m]
        mean = np.nanmean(grid, axis=0)
        resid = grid - np.nanmean(grid, axis=1, keepdims=True) - mean + np.nanmean(grid)
        ss += float(np.nansum(resid**2))
        dof += int(np.isfinite(grid).sum()) - len(seeds) - len(ts) + 1
        students.append(float(s)), teachers.append(tuple(map(float, ts))), curves.append(tuple(map(float, mean)))
    sd = float(noise_sd) if noise_sd is not None else math.sqrt(ss / max(dof, 1))
    if not sd > 0:
        raise PlanError("seed noise is zero in the design table: nothing to bootstrap")
    # Cost of one run: 6·N·D (+ 2·N_T·D_S inference for a distilled student), N/D from params/budget columns.
    has = lambda c: c in cols and np.isfinite(np.asarray(cols[c], float)[keep]).all()  # noqa: E731
    NS = np.asarray(cols["student_params"], float)[keep] if has("student_params") else S
    NT = np.asarray(cols["teacher_params"], float)[keep] if has("teacher_params") else T
    tok = next((c for c in ("student_tokens", "student_budget") if has(c)), None)
    DS = np.asarray(cols[tok], float)[keep] if tok else np.ones(len(S))
    DT = np.asarray(cols["teacher_budget"], float)[keep] if has("teacher_budget") else DS
    unit = "FLOPs" if has("student_params") and tok else "relative (size x budget)"
    f_ns, f_nt, f_ds, f_dt = _loglog(S, NS), _loglog(T, NT), _loglog(S, DS), _loglog(T, DT)
    c_student = tuple(tuple(float(6 * f_ns(s) * f_ds(s) + 2 * f_nt(t) * f_ds(s)) for t in ts)
                      for s, ts in zip(students, teachers))
    c_teacher = {float(t): float(6 * f_nt(t) * f_dt(t)) for t in np.unique(T)}
    return Pilot(tuple(students), tuple(teachers), tuple(curves), len(seeds), sd, c_student, c_teacher, unit,
                 (f_ns, f_nt, f_ds, f_dt))


@dataclass(frozen=True)
class Estimates:
    """simgap's estimator on R replicated pilots: each replicate's optima and its linear teacher law."""

    optima: np.ndarray  # (R, n_students) refined optimal teachers
    interior: np.ndarray  # (R, n_students) bool
    slope: np.ndarray  # (R,) OLS slope on the interior optima (NaN with < 2 of them)
    intercept: np.ndarray  # (R,)
    target: np.ndarray  # (R,) T*(target) from that law


def estimate(students, teachers, mean_curves, target: float) -> Estimates:
    """simgap's estimator on replicated seed-mean curves: mean_curves[i] has shape (R, n_teachers_i)."""
    opt, inner = [], []
    for ts, c in zip(teachers, mean_curves):
        log_t = np.log(np.asarray(ts, float))
        ref, i = refine_log_quadratic(log_t, c)
        opt.append(np.exp(ref)), inner.append((i > 0) & (i < len(ts) - 1))
    T, w = np.stack(opt, 1), np.stack(inner, 1).astype(float)
    x = np.asarray(students, float)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        slope, intercept = wls(x, T, w)  # OLS on the interior optima (weights 0/1), one per replicate
    slope = np.where(w.sum(1) >= 2, slope, np.nan)
    return Estimates(T, w.astype(bool), slope, intercept, slope * target + intercept)


def edge_advice(pilot: Pilot, interior) -> str:
    """Why a pilot gives no teacher law (< 2 interior optima) and which teachers to add."""
    big, small = [], []
    for s, ts, c, ok in zip(pilot.students, pilot.teachers, pilot.curves, interior):
        if not ok:
            (big if int(np.argmin(c)) == len(ts) - 1 else small).append((s, ts))
    n_in = int(np.sum(interior))
    head = ("the pilot cannot locate any optimum" if n_in == 0 else
            "the pilot locates only one optimum, and a teacher law needs two")
    add = []
    if big:
        add.append(f"teachers larger than the largest tried for student(s) {', '.join(f'{s:.3g}' for s, _ in big)} "
                   f"(best at the largest, e.g. {', '.join(f'{2 * ts[-1]:.3g}' for _, ts in big)})")
    if small:
        add.append(f"teachers smaller than the smallest tried for student(s) {', '.join(f'{s:.3g}' for s, _ in small)} "
                   f"(best at the smallest, e.g. {', '.join(f'{ts[0] / 2:.3g}' for _, ts in small)})")
    return (f"{head}: {len(big) + len(small)} of {len(pilot.students)} students have their best teacher at the edge "
            f"of their teacher grid (only a bound). Add {' and '.join(add)}, until each best teacher has a worse one "
            f"on both sides; no CI or ranked additions until then")


def simulate(pilot: Pilot, target: float, n_rep: int, rng: np.random.Generator) -> Estimates:
    """Estimates from n_rep pilots drawn around the plug-in curves (seed means: noise sd/√n_seeds)."""
    sem = pilot.noise_sd / math.sqrt(pilot.n_seeds)
    draws = [np.asarray(c)[None, :] + rng.normal(0.0, sem, (n_rep, len(c))) for c in pilot.curves]
    return estimate(pilot.students, pilot.teachers, draws, target)


def _interval(v: np.ndarray, ci: float) -> tuple[float, float]:
    """The percentile interval, NaN when fewer than 10 simulated pilots gave an estimate."""
    return percentile_interval(v, ci) if np.isfinite(v).sum() >= 10 else (math.nan, math.nan)


@dataclass(frozen=True)
class Prediction:
    slope: float  # the pilot's own estimate
    intercept: float
    target: float  # student size the extrapolation is asked for
    target_teacher: float  # T*(target) from the pilot's linear law
    slope_ci: tuple[float, float]
    target_teacher_ci: tuple[float, float]
    ci: float
    frac_usable: float  # share of simulated pilots with ≥ 2 interior optima
    n_boot: int

    @property
    def slope_width(self) -> float:
        return self.slope_ci[1] - self.slope_ci[0]

    @property
    def target_width(self) -> float:
        return self.target_teacher_ci[1] - self.target_teacher_ci[0]


def predict(pilot: Pilot, target: float, *, n_boot: int = 1000, ci: float = 0.9, seed: int = 0,
            with_draws: bool = False):
    """The pilot's estimate and the parametric-bootstrap CIs of the slope and of T*(target)
    (with_draws: also the simulated pilots' Estimates, for a plot's band)."""
    if not (math.isfinite(target) and target > 0):
        raise PlanError(f"target student size must be finite and > 0, got {target!r}")
    own = estimate(pilot.students, pilot.teachers, [np.asarray(c)[None, :] for c in pilot.curves], target)
    sim = simulate(pilot, target, n_boot, np.random.default_rng(seed))
    p = Prediction(float(own.slope[0]), float(own.intercept[0]), float(target), float(own.target[0]),
                   _interval(sim.slope, ci), _interval(sim.target, ci), ci, float(np.isfinite(sim.slope).mean()), n_boot)
    return (p, sim) if with_draws else p


def _add_seeds(p: Pilot, k: int) -> tuple[Pilot, float]:
    runs = sum(map(sum, p.cost_student_run)) + sum(p.cost_teacher_run.values())
    return replace(p, n_seeds=p.n_seeds + k), k * runs


def _add_student(p: Pilot, factor: float = 2.0) -> tuple[Pilot, float]:
    """A student `factor` × the largest, its U the largest student's shifted by the fitted law."""
    own = estimate(p.students, p.teachers, [np.asarray(c)[None, :] for c in p.curves], 1.0)
    s_new = p.students[-1] * factor
    t_old = own.optima[0, -1]
    t_new = own.slope[0] * s_new + own.intercept[0]
    shift = t_new / t_old if np.isfinite(t_new) and t_new > 0 else factor
    ts = tuple(t * shift for t in p.teachers[-1])
    f_ns, f_nt, f_ds, f_dt = p.scale
    runs = [float(6 * f_ns(s_new) * f_ds(s_new) + 2 * f_nt(t) * f_ds(s_new)) for t in ts]
    new_teachers = [float(6 * f_nt(t) * f_dt(t)) for t in ts if not any(math.isclose(t, u, rel_tol=1e-6)
                                                                           for u in p.cost_teacher_run)]
    q = replace(p, students=p.students + (s_new,), teachers=p.teachers + (ts,), curves=p.curves + (p.curves[-1],),
                cost_student_run=p.cost_student_run + (tuple(runs),))
    return q, p.n_seeds * (sum(runs) + sum(new_teachers))


def _add_student_at(p: Pilot, size: float) -> tuple[Pilot, float]:
    """A student at `size` between two pilot students, on the teachers both have (all trained
    already: no teacher cost); its seed-mean curve interpolated between theirs, linearly in log
    student size (the U moves smoothly with the student)."""
    i = int(np.searchsorted(p.students, size))
    if not 0 < i < len(p.students) or size in p.students:
        raise PlanError(f"student {size:g} is not strictly between two pilot students {list(p.students)}")
    a, b = i - 1, i
    w = math.log(size / p.students[a]) / math.log(p.students[b] / p.students[a])
    ca, cb = dict(zip(p.teachers[a], p.curves[a])), dict(zip(p.teachers[b], p.curves[b]))
    ts = tuple(t for t in p.teachers[a] if t in cb)
    if len(ts) < 3:
        raise PlanError(f"students {p.students[a]:g} and {p.students[b]:g} share {len(ts)} teachers; an optimum needs 3")
    curve = tuple((1 - w) * ca[t] + w * cb[t] for t in ts)
    f_ns, f_nt, f_ds, _ = p.scale
    runs = tuple(float(6 * f_ns(size) * f_ds(size) + 2 * f_nt(t) * f_ds(size)) for t in ts)
    q = replace(p, students=p.students[:i] + (float(size),) + p.students[i:], teachers=p.teachers[:i] + (ts,) + p.teachers[i:],
                curves=p.curves[:i] + (curve,) + p.curves[i:], cost_student_run=p.cost_student_run[:i] + (runs,) + p.cost_student_run[i:])
    return q, p.n_seeds * sum(runs)


def _add_teacher(p: Pilot) -> tuple[Pilot, float]:
    """Per student, a teacher at the geometric midpoint on the better side of its argmin."""
    teachers, curves, costs, cost = [], [], [], 0.0
    f_ns, f_nt, f_ds, f_dt = p.scale
    new_sizes = set()
    for s, ts, c, cr in zip(p.students, p.teachers, p.curves, p.cost_student_run):
        lt, cv = np.log(ts), np.asarray(c)
        i = int(np.argmin(cv))
        j = i - 1 if i == len(ts) - 1 or (i > 0 and cv[i - 1] < cv[i + 1]) else i + 1
        t_new = float(math.exp(0.5 * (lt[i] + lt[j])))
        c_new = float(interpolate.PchipInterpolator(lt, cv)(math.log(t_new)))
        order = np.argsort(np.append(ts, t_new))
        teachers.append(tuple(np.append(ts, t_new)[order].tolist()))
        curves.append(tuple(np.append(cv, c_new)[order].tolist()))
        run = float(6 * f_ns(s) * f_ds(s) + 2 * f_nt(t_new) * f_ds(s))
        costs.append(tuple(np.append(cr, run)[order].tolist()))
        cost += run
        new_sizes.add(round(math.log(t_new), 9))
    cost += sum(float(6 * f_nt(math.exp(u)) * f_dt(math.exp(u))) for u in new_sizes)
    q = replace(p, teachers=tuple(teachers), curves=tuple(curves), cost_student_run=tuple(costs))
    return q, p.n_seeds * cost


def rank_additions(pilot: Pilot, target: float, *, n_boot: int = 1000, ci: float = 0.9, seed: int = 0,
                   base: Prediction | None = None, student_at: float | None = None) -> list[dict]:
    """Each candidate's CI widths, shrinkage of the T*(target) CI and shrinkage per unit cost, best first.
    `student_at`: the student candidate is one at this size between two pilot students, on the
    teachers they share (simgap.decide's "student" round), instead of one twice the largest."""
    base = base or predict(pilot, target, n_boot=n_boot, ci=ci, seed=seed)
    student = _add_student(pilot) if student_at is None else _add_student_at(pilot, student_at)
    cands = {  # kind (data) -> (label for people, (pilot with it, its cost))
        "seeds": (f"seeds: +{pilot.n_seeds} seeds (double)", _add_seeds(pilot, pilot.n_seeds)),
        "student": (f"student: one more student at {2 * pilot.students[-1] if student_at is None else student_at:.4g}",
                    student),
        "teacher": ("teacher: one more teacher next to each student's optimum", _add_teacher(pilot)),
    }
    out = []
    for kind, (name, (p, c)) in cands.items():
        pr = predict(p, target, n_boot=n_boot, ci=ci, seed=seed)
        shrink = base.target_width - pr.target_width
        out.append({"kind": kind, "addition": name, "cost": c, "cost_unit": pilot.cost_unit,
                    "target_ci": pr.target_teacher_ci, "target_ci_width": pr.target_width,
                    "slope_ci": pr.slope_ci, "slope_ci_width": pr.slope_width,
                    "target_ci_shrinkage": shrink, "shrinkage_per_cost": shrink / c if c > 0 else math.nan})
    return sorted(out, key=lambda d: -d["shrinkage_per_cost"] if np.isfinite(d["shrinkage_per_cost"]) else math.inf)


def prediction_dict(p: Prediction) -> dict:
    return asdict(p) | {"slope_ci_width": p.slope_width, "target_ci_width": p.target_width}



def pilot_from_law(sup, dist, students, teacher_ratios, n_seeds: int, noise_sd: float, protocol=None,
                   tokens_per_param: float = 20.0) -> Pilot:
    """A planned pilot with no runs yet: fitted laws give the curves (Eq. 8, teachers' loss from the
    supervised law under `protocol`, students on tokens_per_param·N_S), noise_sd the seed noise."""
    protocol = protocol or link.TeacherProtocol()
    S = np.sort(np.asarray(students, float))
    ratios = np.sort(np.asarray(teacher_ratios, float))
    if len(ratios) < 3 or n_seeds < 1 or not noise_sd > 0 or len(S) < 2:
        raise PlanError("a planned pilot needs ≥ 2 students, ≥ 3 teacher ratios, ≥ 1 seed and noise_sd > 0")
    teachers = [tuple(map(float, s * ratios)) for s in S]
    curves = [tuple(map(float, link.student_loss_vs_teacher(s, tokens_per_param * s, np.asarray(t), sup, dist,
                                                            protocol))) for s, t in zip(S, teachers)]
    f_n = lambda n: np.asarray(n, float)  # noqa: E731
    f_ds = lambda n: tokens_per_param * np.asarray(n, float)  # noqa: E731
    f_dt = lambda n: protocol.teacher_tokens(n)  # noqa: E731
    c_student = tuple(tuple(float(6 * s * f_ds(s) + 2 * t * f_ds(s)) for t in ts) for s, ts in zip(S, teachers))
    c_teacher = {t: float(6 * t * f_dt(t)) for ts in teachers for t in ts}
    return Pilot(tuple(map(float, S)), tuple(teachers), tuple(curves), int(n_seeds), float(noise_sd), c_student,
                 c_teacher, "FLOPs", (f_n, f_n, f_ds, f_dt))
