"""Figures for the fit CLI, the sweep and a notebook. Each `*_figure` function draws one
matplotlib `Figure` from data; `plot_*` saves it to a PNG (the worker jobs, the CLIs and the report);
`u_curves(fit)`, `teacher_law(fit)` and `distill_parity(fit)` draw the same figures from a `TableFit`
for a notebook; `write_plots` writes every figure a `TableFit` has data for.

Figures are made without pyplot: nothing is registered in a global figure list, so a notebook
shows each figure once (as the value it returned) and a long sweep never leaks figures."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from simgap import laws, workers
from simgap.fit.agreement import Agreement, SeriesAgreement
from simgap.fit.resample import split_weak_strong
from simgap.fit.results import TableFit, ok
from simgap.intervals import z_of
from simgap.laws import DistillParams, SupervisedParams


def job(plot, *args, **kwargs) -> tuple:
    """A figure to draw later, maybe in another process: (a plot function of this module, args, kwargs)."""
    return plot, args, kwargs


def run_job(job: tuple) -> Path:
    """Draw one `job` (module-level, so simgap.workers can send it to a worker process)."""
    plot, args, kwargs = job
    return plot(*args, **kwargs)


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize, **kw):
    """(figure, axes) outside pyplot's figure list (module docstring): what every simgap plot draws on."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kw)


def save_figure(fig, path, dpi: int = 110) -> Path:
    """Lay out and write one figure (the one way every simgap PNG is saved)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # a figure drawn through pyplot (simgap.figures) is released
        pyplot.close(fig)
    return path


def u_curves_figure(optima, *, ci: float = 0.9, title: str = "Student loss vs teacher size") -> Figure:
    """(a) One line per student size: seed-mean loss with a ±z·SEM band; the refined optimum is
    marked (filled: interior, open: edge of the teacher grid)."""
    z = z_of(ci)
    fig, ax = new_figure(figsize=(6.4, 4.4))
    for o in optima:
        t, m, sem = (np.asarray(v, float) for v in (o.teacher_sizes, o.mean_loss, o.sem_loss))
        label = f"student {o.student_size:g}" + (f", budget {o.budget:g}" if math.isfinite(o.budget) else "")
        (line,) = ax.plot(t, m, "-o", ms=3, label=label)
        if np.isfinite(sem).any():
            ax.fill_between(t, m - z * sem, m + z * sem, color=line.get_color(), alpha=0.2, lw=0)
        mark = dict(marker="*", ms=12, color=line.get_color())
        if not o.interior:
            mark.update(mfc="none")
        ax.plot([o.optimal_teacher], [o.min_loss], ls="none", **mark)
    ax.set_xscale("log")
    ax.set_xlabel("teacher size")
    ax.set_ylabel("student loss")
    ax.set_title(f"{title}\nband: {ci:.0%} CI of the seed mean; star: refined optimum (hollow: grid edge)",
                 fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_u_curves(*args, **kwargs) -> Path:
    """`u_curves_figure(*data, **kwargs)` saved to the path given last (a worker job's call)."""
    *data, path = args
    return save_figure(u_curves_figure(*data, **kwargs), path)


def teacher_law_figure(
    optima, *, linear=None, power=None, title: str = "Optimal teacher vs student size",
) -> Figure:
    """(b) Optimal teacher per student (TeacherOptimumEstimate) with CIs; edge-of-grid optima as
    open triangles; the fitted linear law T* = k·S + b and power law T* = c·S^p (TeacherLawFit)."""
    S = np.array([o.student_size for o in optima], float)
    T = np.array([o.optimal_teacher for o in optima], float)
    edge = np.array([not o.interior for o in optima], bool)
    lo, hi = np.array([o.optimal_teacher_ci for o in optima], float).reshape(-1, 2).T
    fig, ax = new_figure(figsize=(5.6, 4.4))
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        ax.errorbar(S[ok], T[ok], yerr=[T[ok] - lo[ok], hi[ok] - T[ok]], fmt="none", ecolor="gray", capsize=3)
    ax.plot(S[~edge], T[~edge], "o", color="C0", label="interior optimum")
    if edge.any():
        ax.plot(S[edge], T[edge], "^", mfc="none", color="C3", label="edge of teacher grid (bound)")
    xs = np.geomspace(S.min() * 0.8, S.max() * 1.25, 100)
    if linear is not None:
        k, b = linear.slope, linear.intercept
        ax.plot(xs, k * xs + b, "-", color="C1", label=f"T* = {k:.3g}·S {'+' if b >= 0 else '−'} {abs(b):.3g}")
    if power is not None:
        c, p = math.exp(power.intercept), power.slope
        ax.plot(xs, c * xs**p, "--", color="C2", label=f"T* = {c:.3g}·S^{p:.3g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("student size")
    ax.set_ylabel("optimal teacher size")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_teacher_law(*args, **kwargs) -> Path:
    """`teacher_law_figure(*data, **kwargs)` saved to the path given last (a worker job's call)."""
    *data, path = args
    return save_figure(teacher_law_figure(*data, **kwargs), path)


def parity_figure(observed, predicted, *, title: str = "Distillation law: fitted vs observed") -> Figure:
    """(c) Predicted vs observed loss with the identity line and ±1 % lines."""
    o, p = np.asarray(observed, float), np.asarray(predicted, float)
    fig, ax = new_figure(figsize=(4.8, 4.6))
    lo, hi = min(o.min(), p.min()), max(o.max(), p.max())
    xs = np.array([lo, hi])
    ax.plot(xs, xs, "k-", lw=1)
    ax.plot(xs, xs * 1.01, "k:", lw=0.8, label="±1 %")
    ax.plot(xs, xs * 0.99, "k:", lw=0.8)
    ax.plot(o, p, "o", ms=3, alpha=0.7)
    rel = np.abs(p / o - 1)
    ax.set_xlabel("observed loss")
    ax.set_ylabel("predicted loss")
    ax.set_title(f"{title}\nmax rel. err {rel.max():.2%}, mean {rel.mean():.2%}", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_parity(*args, **kwargs) -> Path:
    """`parity_figure(*data, **kwargs)` saved to the path given last (a worker job's call)."""
    *data, path = args
    return save_figure(parity_figure(*data, **kwargs), path)


def distill_curves_figure(
    N, D, teacher_loss, student_loss, *, supervised: SupervisedParams,
    distill: DistillParams, title: str = "Student loss vs teacher loss",
) -> Figure:
    """(d) Observed student loss vs teacher loss per student (N, D), the fitted broken power law
    through them, the supervised baseline L̃_S (dashed) and the break d1·L̃_S (dotted)."""
    sup, dist = supervised, distill
    N, D = np.asarray(N, float), np.asarray(D, float)
    LT, LS = np.asarray(teacher_loss, float), np.asarray(student_loss, float)
    fig, ax = new_figure(figsize=(6.4, 4.6))
    students = sorted(set(zip(N.tolist(), D.tolist())))
    lt_grid = np.geomspace(LT.min() * 0.9, LT.max() * 1.1, 300)
    for j, (n, d) in enumerate(students):
        color = f"C{j % 10}"
        m = (N == n) & (D == d)
        ax.plot(LT[m], LS[m], "o", ms=3, color=color)
        ax.plot(lt_grid, laws.distill_loss(n, d, lt_grid, sup, dist), "-", color=color, lw=1,
                label=f"N={n:.3g}" + (f", D={d:.3g}" if len(set(D.tolist())) > 1 else ""))
        l_sup = float(laws.supervised_loss(n, d, sup))
        ax.axhline(l_sup, color=color, ls="--", lw=0.8)
        ax.axvline(dist.d1 * l_sup, color=color, ls=":", lw=0.6)
    ax.plot(lt_grid, lt_grid, "k-", lw=0.6, label="L_S = L_T")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("teacher loss L_T")
    ax.set_ylabel("student loss L_S")
    ax.set_title(f"{title} (dashed: supervised L~_S; dotted: d1·L~_S)", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    return fig


def plot_distill_curves(*args, **kwargs) -> Path:
    """`distill_curves_figure(*data, **kwargs)` saved to the path given last (a worker job's call)."""
    *data, path = args
    return save_figure(distill_curves_figure(*data, **kwargs), path)


def supervised_figure(N, D, loss, *, params: SupervisedParams, title: str = "Supervised law") -> Figure:
    """(e) Loss vs student size, one colour per data budget, with the fitted law."""
    p = params
    N, D, L = np.asarray(N, float), np.asarray(D, float), np.asarray(loss, float)
    fig, ax = new_figure(figsize=(5.6, 4.4))
    xs = np.geomspace(N.min() * 0.8, N.max() * 1.25, 200)
    for j, d in enumerate(sorted(set(D.tolist()))):
        m = D == d
        color = f"C{j % 10}"
        ax.plot(N[m], L[m], "o", ms=3, color=color)
        ax.plot(xs, laws.supervised_loss(xs, d, p), "-", color=color, lw=1, label=f"D={d:.3g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("student size N")
    ax.set_ylabel("loss")
    e = "≈0" if p.E < 1e-6 else f"{p.E:.3g}"
    ax.set_title(f"{title}: E={e}, α={p.alpha:.3g}, γ={p.gamma:.3g}", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_supervised(*args, **kwargs) -> Path:
    """`supervised_figure(*data, **kwargs)` saved to the path given last (a worker job's call)."""
    *data, path = args
    return save_figure(supervised_figure(*data, **kwargs), path)


def residuals_figure(N, D, teacher_loss, observed, predicted, *, supervised: SupervisedParams,
                   held_out=None, title: str = "Distillation law residuals") -> Figure:
    """(f) log(predicted/observed) against N_S, D_S and L_T/L~_S: a law that describes the data
    leaves residuals without structure in any of them; held-out (stronger) runs in red."""
    N, D, LT = (np.asarray(v, float) for v in (N, D, teacher_loss))
    r = np.log(np.asarray(predicted, float) / np.asarray(observed, float))
    ratio = LT / laws.supervised_loss(N, D, supervised)
    held = np.zeros(len(r), bool) if held_out is None else np.asarray(held_out, bool)
    fig, axes = new_figure(1, 3, figsize=(11, 3.6), sharey=True)
    for ax, x, name in zip(axes, (N, D, ratio), ("student size N_S", "student data D_S", "L_T / L~_S")):
        ax.plot(x[~held], r[~held], "o", ms=3, alpha=0.6, label="fitted on")
        if held.any():
            ax.plot(x[held], r[held], "o", ms=3, alpha=0.8, color="C3", label="held out (stronger)")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(name)
    axes[0].set_ylabel("log(predicted / observed)")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{title}: RMSE {np.sqrt(np.mean(r**2)):.3g}, max |r| {np.abs(r).max():.3g}", fontsize=9)
    return fig


def plot_residuals(*args, **kwargs) -> Path:
    """`residuals_figure(*data, **kwargs)` saved to the path given last (a worker job's call)."""
    *data, path = args
    return save_figure(residuals_figure(*data, **kwargs), path)


def _teacher_law_args(st, tl) -> tuple[list, dict]:
    """One teacher-law series' optima and teacher_law_figure's keywords (its title, its fitted laws)."""
    title = "Optimal teacher vs student size" + (
        f" ({st.optima.budget_kind} = {tl.budget:g})" if math.isfinite(tl.budget) else "")
    ests = [o for o in st.optima.per_student if o.budget == tl.budget
            or not (math.isfinite(o.budget) or math.isfinite(tl.budget))]
    return ests, dict(title=title, linear=tl.linear if ok(tl.linear) else None,
                      power=tl.loglog if ok(tl.loglog) else None)


def _setting(fit: TableFit, setting: int, what: str, section: str):
    """The `setting`-th setting of distilled rows (as `fit.settings()` lists them) and its `section`,
    which must have run: a figure of a section that did not says why."""
    found = fit.settings()
    if not 0 <= setting < len(found):
        raise ValueError(f"setting {setting}: this fit has {len(found)} setting(s) of distilled rows")
    st = found[setting][1]
    sec = getattr(st, section)
    if not ok(sec):
        why = sec.reason if sec is not None else "the table has no columns for it"
        raise ValueError(f"no {what} to draw: {why}")
    return st


def _laid_out(fig: Figure) -> Figure:
    fig.tight_layout()
    return fig


def u_curves(fit: TableFit, setting: int = 0) -> Figure:
    """The U-curves a report draws, for a notebook: `simgap.plots.u_curves(simgap.fit("pilot.csv"))`."""
    st = _setting(fit, setting, "optima", "optima")
    return _laid_out(u_curves_figure(st.optima.per_student, ci=fit.options.ci))


def teacher_law(fit: TableFit, setting: int = 0, series: int = 0) -> Figure:
    """Optimal teacher vs student with the fitted laws (one teacher-length series): `teacher_law(fit)`."""
    st = _setting(fit, setting, "optima", "optima")
    if not 0 <= series < len(st.teacher_law):
        raise ValueError(f"series {series}: this setting has {len(st.teacher_law)} teacher-law series")
    ests, kw = _teacher_law_args(st, st.teacher_law[series])
    return _laid_out(teacher_law_figure(ests, **kw))


def distill_parity(fit: TableFit, setting: int = 0) -> Figure:
    """Eq. 8's predictions against the runs it was fitted on: `simgap.plots.distill_parity(fit)`."""
    ds = _setting(fit, setting, "distillation law", "distillation").distillation
    return _laid_out(parity_figure(ds.fit.data["loss"], ds.predicted))


def write_plots(result: TableFit, out_dir) -> list[str]:
    """The PNGs for fit_table's result, wherever the data for them exist, drawn in worker
    processes (simgap.workers; each figure is an independent job)."""
    out_dir = Path(out_dir)
    jobs = []
    for fi, fam in enumerate(result.families):
        tag = fam.family or f"f{fi}"
        sup = fam.supervised
        if ok(sup):
            d = sup.fit.data
            jobs.append(job(plot_supervised, d["N"], d["D"], d["loss"], out_dir / f"{tag}_supervised.png",
                                  params=sup.fit.raw_params))
        for si, st in enumerate(fam.settings):
            stag = f"{tag}_s{si}"
            if ok(st.optima):
                jobs.append(job(plot_u_curves, st.optima.per_student, out_dir / f"{stag}_u_curves.png",
                                      ci=result.options.ci))
                for bi, tl in enumerate(st.teacher_law):
                    ests, kw = _teacher_law_args(st, tl)
                    jobs.append(job(plot_teacher_law, ests, out_dir / f"{stag}_b{bi}_teacher_law.png", **kw))
            ds = st.distillation
            if ok(ds):
                d, s, p = ds.fit.data, sup.fit.raw_params, ds.fit.raw_params
                pred = ds.predicted
                jobs.append(job(plot_parity, d["loss"], pred, out_dir / f"{stag}_distill_parity.png"))
                jobs.append(job(plot_distill_curves, d["N"], d["D"], d["teacher_loss"], d["loss"],
                                      out_dir / f"{stag}_distill_curves.png", supervised=s, distill=p))
                held = ~split_weak_strong(d["loss"], d["N"], by=result.options.extrapolate_by,
                                          threshold=result.options.extrapolate_threshold,
                                          holdout_frac=result.options.holdout_frac)
                jobs.append(job(plot_residuals, d["N"], d["D"], d["teacher_loss"], d["loss"], pred,
                                      out_dir / f"{stag}_distill_residuals.png", supervised=s, held_out=held))
    return [str(p) for p in workers.map(run_job, jobs)]


def ci_history_figure(history: dict, *, title: str = "--until-decided: CI half-width per round") -> Figure:
    """Each targeted assumption's CI half-width (relative to its width before round 1) against the
    FLOPs the rounds added; `history` maps a target to [(cumulative FLOPs, half-width), ...]."""
    fig, ax = new_figure(figsize=(6.5, 4))
    for name, pts in history.items():
        pts = [(f, h) for f, h in pts if h is not None and math.isfinite(h) and h > 0]
        if pts:  # relative to its first finite CI (a target with no CI before round 1 starts later)
            x, y = zip(*pts)
            ax.plot(x, np.asarray(y) / pts[0][1], "o-", label=name)
    ax.axhline(1.0, color="0.7", lw=0.8)
    ax.set_xlabel("FLOPs added by the rounds (cumulative)")
    ax.set_ylabel("CI half-width / its first")
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no targeted assumption had a CI to compare", ha="center", transform=ax.transAxes)
    return fig


def plot_ci_history(*args, **kwargs) -> Path:
    """`ci_history_figure(*data, **kwargs)` saved to the path given last (a worker job's call)."""
    *data, path = args
    return save_figure(ci_history_figure(*data, **kwargs), path)


def agreement_figure(agreement: Agreement, *, title: str = "Do the two laws agree?") -> Figure:
    """Measured optima with their CIs, the T*(S) curve the fitted Eq. 8 implies, and the linear law
    fitted to the measured optima."""
    a = agreement
    S, T = np.asarray(a.students), np.asarray(a.measured)
    ci = np.asarray(a.measured_ci, float).reshape(len(S), 2)
    fig, ax = new_figure(figsize=(6.4, 4.4))
    has_ci = np.all(np.isfinite(ci), axis=1)
    yerr = np.abs(np.stack([T - ci[:, 0], ci[:, 1] - T]))
    ax.errorbar(S[has_ci], T[has_ci], yerr=yerr[:, has_ci], fmt="o", color="k", capsize=3, label="measured T* (CI)")
    ax.plot(S[~has_ci], T[~has_ci], "o", color="k", mfc="none")
    ax.plot(a.curve_students, a.curve_teachers, "-", color="C0", label=f"implied by Eq. 8 ({a.protocol})")
    ax.plot(S, a.implied, "s", color="C0", ms=5)
    if a.measured_law is not None:
        s = np.geomspace(S.min(), S.max(), 50)
        ax.plot(s, a.measured_law.linear(s), "--", color="C3",
                label=f"linear law on measured: {a.measured_law.linear.describe()}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("student size")
    ax.set_ylabel("optimal teacher size")
    ax.set_title(f"{title}\nmax |implied/measured − 1| = {a.max_rel_error:.0%}; "
                 f"{a.n_inside_ci}/{len(S)} implied inside measured CIs", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot_agreement(*args, **kwargs) -> Path:
    """`agreement_figure(*data, **kwargs)` saved to the path given last (a worker job's call)."""
    *data, path = args
    return save_figure(agreement_figure(*data, **kwargs), path)


def plot_agreements(series: tuple[SeriesAgreement, ...], out: Path) -> list[Path | None]:
    """`plot_agreement` for each computed series: laws_agree.png, laws_agree_1.png, ..."""
    return [plot_agreement(s.agreement, Path(out) / f"laws_agree{'' if i == 0 else f'_{i}'}.png")
            if s.agreement is not None else None for i, s in enumerate(series)]
