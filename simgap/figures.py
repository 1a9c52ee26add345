"""The papers' figures from simgap's own runs (experiments/fig*.py, experiments/zhang_teacher_law.py).

Each figure has a table builder (tidy rows: the CSV written beside the PNG) and a plot function
that draws only what is in that table and in the library's optimum estimates, so the CSV is
exactly what the figure shows. Losses are averaged over seeds; bands are ±z·SEM over seeds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from simgap import rows as rows_lib  # noqa: E402
from simgap.fit.results import StudentOptimum  # noqa: E402
from simgap.fit.teacher import TeacherLawFit  # noqa: E402
from simgap.intervals import z_of  # noqa: E402
from simgap.laws import ZHANG_LINEAR  # noqa: E402
from simgap.plots import save_figure  # noqa: E402

DPI = 90  # the README embeds these PNGs: keep them small
CURVE_COLUMNS = ("curve", "student_size", "teacher_size", "teacher_budget", "mean_loss", "sem_loss",
                 "mean_teacher_loss", "n_seeds")


def _mean_sem(values: list[float]) -> tuple[float, float]:
    v = np.asarray(values, float)
    sem = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan
    return float(v.mean()), sem


def curve_table(rows: list[dict]) -> list[dict]:
    """Seed-mean curves of a sweep's rows: one row per teacher (curve "teacher"), per supervised
    student ("supervised") and per distilled (student, teacher size, teacher budget) ("distilled")."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r["diverged"]:
            continue
        kind = r["run_kind"]
        student = math.nan if kind == "teacher" else r["student_size"]
        teacher = (math.nan, math.nan) if kind == "supervised" else (r["teacher_size"], r["teacher_budget"])
        groups[(kind, student, *teacher)].append(r)
    out = []
    for (kind, s, t, tb), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], *np.nan_to_num(kv[0][1:], nan=-1.0))):
        loss = [r["teacher_loss" if kind == "teacher" else "student_loss"] for r in rs]
        m, sem = _mean_sem(loss)
        mt = float(np.mean([r["teacher_loss"] for r in rs])) if kind != "supervised" else math.nan
        out.append({"curve": kind, "student_size": s, "teacher_size": t, "teacher_budget": tb, "mean_loss": m,
                    "sem_loss": sem, "mean_teacher_loss": mt, "n_seeds": len(rs)})
    return out


def optima_table(optima, axis: str = "teacher_size") -> list[dict]:
    """Per-student optimum estimates (simgap.optima.TeacherOptimumEstimate) as CSV rows; `axis` names
    what the estimator's teacher axis was (teacher size, or teacher training length for Fig. 12)."""
    return [{"student_size": o.student_size, f"optimal_{axis}": o.optimal_teacher,
             f"optimal_{axis}_lo": o.optimal_teacher_ci[0], f"optimal_{axis}_hi": o.optimal_teacher_ci[1],
             f"grid_argmin_{axis}": o.optimal_teacher_grid, "interior": o.interior, "edge": o.edge,
             "min_loss": o.min_loss, "dip_depth": o.dip_depth, "dip_lo": o.dip_ci[0], "dip_hi": o.dip_ci[1],
             "dip_beyond_noise": o.dip_beyond_noise, "n_seeds": o.n_seeds} for o in optima]


def write_csv(rows: list[dict], path, columns=None) -> Path:
    """A figure's tidy CSV (rows.to_csv: NaN as an empty cell); columns default to the first row's keys."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(rows_lib.to_csv(rows, columns=list(columns or (rows[0].keys() if rows else ()))))
    return path


def _plain_ticks(ax, values):
    """Ticks at the grid's own values, written plainly (a log axis otherwise writes 3×10²)."""
    values = sorted(set(values))
    ax.set_xticks(values, [f"{v:g}" for v in values], fontsize=7)
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def _select(table, curve, **eq):
    return [r for r in table if r["curve"] == curve and all(r[k] == v for k, v in eq.items())]


def _band(ax, x, rows, z, color, **kw):
    m = np.array([r["mean_loss"] for r in rows])
    s = np.array([r["sem_loss"] for r in rows])
    (line,) = ax.plot(x, m, color=color, **kw)
    if np.isfinite(s).any():
        ax.fill_between(x, m - z * s, m + z * s, color=line.get_color(), alpha=0.2, lw=0)
    return line


def plot_kernel_fig10(table, path, *, ci: float = 0.9) -> Path:
    """Busbridge et al. Fig. 10: teacher error and each student's error against teacher capacity m;
    a dotted line at m = n marks where each student's flat minimum should begin."""
    z = z_of(ci)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    teacher = sorted(_select(table, "teacher"), key=lambda r: r["teacher_size"])
    _band(ax, [r["teacher_size"] for r in teacher], teacher, z, "k", lw=2, label="teacher")
    students = sorted({r["student_size"] for r in table if r["curve"] == "distilled"})
    for j, s in enumerate(students):
        rs = sorted(_select(table, "distilled", student_size=s), key=lambda r: r["teacher_size"])
        _band(ax, [r["teacher_size"] for r in rs], rs, z, f"C{j}", lw=1.2, label=f"student n = {s:g}")
        ax.axvline(s, color=f"C{j}", ls=":", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("teacher capacity m (basis functions)")
    ax.set_ylabel("error vs the target f*")
    n_seeds = max(r["n_seeds"] for r in table)
    ax.set_title(f"Kernel regression (closed form), {n_seeds} draws of α; dotted: m = n", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, path, dpi=DPI)


def _dip_panel(ax, optima, labels, colors):
    """Each student's dip (loss at the last teacher − loss at the best), with its paired CI,
    simultaneous over teachers: above 0 and clear of it = beyond seed noise."""
    for k, (o, lab, c) in enumerate(zip(optima, labels, colors)):
        lo, hi = o.dip_ci
        if math.isfinite(lo):
            ax.errorbar([k], [o.dip_depth], yerr=[[o.dip_depth - lo], [hi - o.dip_depth]], fmt="o", color=c,
                        capsize=4, mfc=c if o.dip_beyond_noise else "none")
        else:
            ax.plot([k], [o.dip_depth], "o", color=c)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylabel("dip (nats)", fontsize=8)


def _student_panels(table, optima, ci: float, axis: str, scale: float = 1.0):
    """Figs. 11 and 12's shared layout: left, each student's loss against the teacher's `axis`
    column times `scale` (seed mean, CI band; dashed: supervised; star: refined optimum, hollow
    at the grid edge); right, each student's dip with its paired CI. Returns (fig, ax, ax2)."""
    z = z_of(ci)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9.6, 4.2), gridspec_kw={"width_ratios": [2.2, 1]})
    students = sorted({r["student_size"] for r in table if r["curve"] == "distilled"})
    by_student = {o.student_size: o for o in optima}
    for j, s in enumerate(students):
        c = f"C{j}"
        rs = sorted(_select(table, "distilled", student_size=s), key=lambda r: r[axis])
        _band(ax, [r[axis] * scale for r in rs], rs, z, c, marker="o", ms=3, label=f"student w{s:g}")
        for r in _select(table, "supervised", student_size=s):
            ax.axhline(r["mean_loss"], color=c, ls="--", lw=0.8)
        o = by_student.get(s)
        if o is not None:
            ax.plot([o.optimal_teacher * scale], [o.min_loss], "*", ms=12, color=c, mfc=c if o.interior else "none")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylabel("student cross-entropy (nats)")
    ordered = [by_student[s] for s in students if s in by_student]
    _dip_panel(ax2, ordered, [f"w{o.student_size:g}" for o in ordered],
               [f"C{students.index(o.student_size)}" for o in ordered])
    return fig, ax, ax2


def plot_width_fig11(table, optima, path, *, ci: float = 0.9) -> Path:
    """Busbridge et al. Fig. 11 in the CPU setting: each student's loss against teacher width
    (seed mean, CI band; dashed: the student trained on labels; star: refined optimum, hollow at
    the grid edge), and beside it each student's dip below the widest teacher with its paired CI."""
    fig, ax, ax2 = _student_panels(table, optima, ci, "teacher_size")
    _plain_ticks(ax, [r["teacher_size"] for r in table if r["curve"] == "distilled"])
    ax.set_xlabel("teacher width d_ffn")
    n_seeds = max(r["n_seeds"] for r in table)
    ax.set_title(f"Student loss vs teacher width, {n_seeds} seeds (dashed: supervised)", fontsize=9)
    ax.legend(fontsize=7)
    ax2.set_title(f"widest teacher − best teacher\n{ci:.0%} CI, paired, simultaneous (filled: > 0)", fontsize=8)
    return save_figure(fig, path, dpi=DPI)


def plot_length_fig12(table, optima, path, *, steps_per_sample: float, ci: float = 0.9) -> Path:
    """Busbridge et al. Fig. 12 in the CPU setting: teacher width fixed, its training length varied.
    Left: each student's loss against the teacher's training steps (dashed: supervised; star: refined
    optimum); the teacher's own loss in grey on the right axis. Right: each student's dip below
    the longest-trained teacher with its paired, simultaneous CI."""
    fig, ax, ax2 = _student_panels(table, optima, ci, "teacher_budget", steps_per_sample)
    teachers = sorted(_select(table, "teacher"), key=lambda r: r["teacher_budget"])
    tw = sorted({r["teacher_size"] for r in teachers})
    axt = ax.twinx()
    axt.plot([r["teacher_budget"] * steps_per_sample for r in teachers], [r["mean_loss"] for r in teachers],
             "s-", color="0.5", ms=3, lw=1)
    axt.set_yscale("log")
    axt.set_ylabel("teacher cross-entropy (grey)", color="0.4", fontsize=8)
    _plain_ticks(ax, [r["teacher_budget"] * steps_per_sample for r in teachers])
    ax.set_xlabel("teacher training steps")
    n_seeds = max(r["n_seeds"] for r in table)
    ax.set_title(f"Teacher width {', '.join(f'w{t:g}' for t in tw)} trained longer, {n_seeds} seeds "
                 "(dashed: supervised)", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    ax2.set_title(f"longest-trained teacher − best length\n{ci:.0%} CI, paired, simultaneous (filled: > 0)",
                  fontsize=8)
    return save_figure(fig, path, dpi=DPI)


@dataclass(frozen=True)
class TeacherLawPanel:
    """One panel of Zhang et al.'s plot: a series' optima (in parameters) and its fitted linear law."""

    title: str
    students: tuple[StudentOptimum, ...]
    linear: TeacherLawFit | None


def plot_teacher_laws(panels: list[TeacherLawPanel], path) -> Path:
    """Zhang et al.'s plot, one panel per family (or budget series): each student's optimal teacher
    in parameters with its CI (hollow: an optimum at an edge or whose CI reaches one, only a bound,
    kept out of the fit), the
    fitted linear law, and their T* = 2.5·S and the line T* = S for scale."""
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 4.2), squeeze=False)
    for ax, p in zip(axes[0], panels):
        S = np.array([o.student_params for o in p.students], float)
        T = np.array([o.params.optimal_teacher for o in p.students], float)
        lo, hi = np.array([o.params.optimal_teacher_ci for o in p.students], float).reshape(-1, 2).T
        inner = np.array([o.params.located for o in p.students], bool)
        ok = np.isfinite(lo) & np.isfinite(hi)
        ax.errorbar(S[ok], T[ok], yerr=[T[ok] - lo[ok], hi[ok] - T[ok]], fmt="none", ecolor="gray", capsize=3)
        ax.plot(S[inner], T[inner], "o", color="C0", label="located optimum")
        if (~inner).any():
            ax.plot(S[~inner], T[~inner], "^", mfc="none", color="C3", label="at or with its CI at an edge (bound)")
        xs = np.linspace(0, S.max() * 1.1, 50)
        lin = p.linear
        if lin is not None:
            lo_k, hi_k = lin.slope_ci
            ax.plot(xs, lin(xs), "-", color="C1",
                    label=f"fit {lin.describe()}\nslope {lin.ci:.0%} CI [{lo_k:.3g}, {hi_k:.3g}], R² {lin.r2:.3f}")
        ax.plot(xs, ZHANG_LINEAR.slope * xs, "--", color="C2", lw=1, label=f"Zhang et al.: T* = {ZHANG_LINEAR.slope:.3g}·S")
        ax.plot(xs, xs, ":", color="k", lw=0.8, label="T* = S")
        ax.set_xlim(0, S.max() * 1.1)
        ax.set_ylim(0, max(np.nanmax(np.where(ok, hi, T)), T.max()) * 1.1)
        ax.set_xlabel("student parameters S")
        ax.set_ylabel("optimal teacher parameters T*")
        ax.set_title(p.title, fontsize=9)
        ax.legend(fontsize=6.5)
    return save_figure(fig, path, dpi=DPI)


# --- the data behind the figures ------------------------------------------------------------------

def flat_minimum_table(table, rtol: float = 1e-6) -> list[dict]:
    """Fig. 10's claim, per student n: the range of teacher capacities m where the seed-mean error is
    at its minimum (within rtol), and how far it rises by the largest m."""
    out = []
    for s in sorted({r["student_size"] for r in table if r["curve"] == "distilled"}):
        rs = sorted(_select(table, "distilled", student_size=s), key=lambda r: r["teacher_size"])
        m = np.array([r["teacher_size"] for r in rs])
        loss = np.array([r["mean_loss"] for r in rs])
        at_min = m[loss <= loss.min() * (1 + rtol)]
        out.append({"student_size": s, "first_m_at_min": float(at_min.min()), "last_m_at_min": float(at_min.max()),
                    "min_error": float(loss.min()), "error_at_m_below_n": float(loss[m < s][-1]) if (m < s).any()
                    else math.nan, "largest_m": float(m[-1]), "error_at_largest_m": float(loss[-1]),
                    "rise_to_largest_m": float(loss[-1] - loss.min())})
    return out
