"""The plan's figures. Each `*_figure` function draws one matplotlib `Figure` from computed results;
`figures(plan)` draws every figure a `Plan` has data for (what a notebook shows, e.g.
`figures(plan)["gain_map"]`) and `write_plots` saves them as PNGs (the CLI's --out)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from simgap.plots import new_figure, plot_agreement, save_figure  # noqa: F401  (plot_agreement: the planner's too)


def student_vs_teacher_figure(teachers, student_loss, supervised_loss: float, optimum: tuple[float, float], *,
                            title: str, interior: bool = True, fitted: tuple[float, float] | None = None) -> Figure:
    """L_S against teacher size for one student, the optimum starred, supervised training dashed."""
    fig, ax = new_figure(figsize=(6.4, 4.4))
    ax.plot(teachers, student_loss, "-", color="C0", label="distilled student L_S")
    ax.axhline(supervised_loss, ls="--", color="gray", label=f"supervised, same tokens: {supervised_loss:.4f}")
    edge = "" if interior else " (at the edge of the searched sizes: a bound)"
    ax.plot([optimum[0]], [optimum[1]], "*", ms=14, color="C3",
            label=f"optimum: N_T = {optimum[0]:.3g}, L_S = {optimum[1]:.4f}{edge}")
    if fitted is not None:
        ax.axvspan(*fitted, color="C2", alpha=0.12, lw=0, label="teacher sizes the laws were fitted on")
    ax.set_xscale("log")
    ax.set_xlabel("teacher size N_T (parameters)")
    ax.set_ylabel("student loss (nats/token)")
    lo, hi = min(np.min(student_loss), supervised_loss), np.quantile(student_loss, 0.8)
    ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7)
    return fig


def gain_map_figure(students, computes, gain_by_scenario: dict, *, flagged: dict | None = None,
                  ties: dict | None = None, requested: tuple[float, float] | None = None,
                  fitted: tuple[float, float] | None = None) -> Figure:
    """Gain = supervised − distilled L_S over (N_S, C), one panel per scenario (blue: distillation wins).

    Grey: C too small for that student (no plan). The colour scale is set by the 95th
    percentile of |gain| over feasible cells (larger values saturate), so a few extreme cells do not
    wash out the crossover band. Dots: ties (|gain| below the laws' stated error); x: flagged
    allocations (edge, floor or unconverged); black line: the crossover (gain = 0); dashed: the
    student sizes the laws were fitted on (outside them the map extrapolates)."""
    names = list(gain_by_scenario)
    fig, axes = new_figure(1, len(names), figsize=(4.4 * len(names), 4.0), squeeze=False)
    X, Y = np.meshgrid(np.asarray(computes), np.asarray(students))
    for ax, name in zip(axes[0], names):
        gain = np.asarray(gain_by_scenario[name], float)
        feasible = np.isfinite(gain)
        m = float(np.quantile(np.abs(gain[feasible]), 0.95)) if feasible.any() else 1.0
        m = m if m > 0 else 1.0
        ax.set_facecolor("0.8")  # masked (infeasible) cells show the background
        pc = ax.pcolormesh(X, Y, np.ma.masked_invalid(gain), cmap="RdBu", vmin=-m, vmax=m, shading="nearest")
        if feasible.any() and np.nanmin(gain) < 0 < np.nanmax(gain):
            ax.contour(X, Y, np.where(feasible, gain, np.nan), levels=[0.0], colors="k", linewidths=1.5)
        if ties is not None and np.any(ties[name]):
            ax.plot(X[ties[name]], Y[ties[name]], ".", color="k", ms=3, label="tie (within the laws' error)")
        if flagged is not None and np.any(flagged[name]):
            ax.plot(X[flagged[name]], Y[flagged[name]], "x", color="C1", ms=5, label="flagged: edge/floor/unconverged")
        if fitted is not None:
            for y in fitted:
                ax.axhline(y, color="C2", ls="--", lw=1)
            ax.plot([], [], "--", color="C2", label="fitted N_S range")
        if requested is not None:
            ax.plot([requested[1]], [requested[0]], "*", ms=12, mfc="none", mec="k", label="requested (N_S, C)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("compute C (FLOPs)")
        ax.set_ylabel("student size N_S")
        ax.set_title(f"{name}: gain = L_S(supervised) − L_S(distil)\nblue: distillation wins; grey: C too small",
                     fontsize=8)
        cb = fig.colorbar(pc, ax=ax, fraction=0.046, extend="both")
        cb.set_label("gain (nats/token)", fontsize=7)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    return fig


def allocation_figure(allocations_by_scenario: dict, *, requested_compute: float | None = None,
                    fitted_tokens: tuple[float, float] | None = None) -> Figure:
    """Per scenario against C: top, the shares of the spend (student training, teacher inference,
    teacher training) with N_T/N_S on the right axis; bottom, D_S, D_T and N_T. The requested C is
    the dotted line; flagged allocations (edge, floor, unconverged) are red x's; the green band is
    the token range the laws were fitted on (outside it the answer extrapolates)."""
    names = list(allocations_by_scenario)
    fig, axes = new_figure(2, len(names), figsize=(4.4 * len(names), 6.6), squeeze=False, sharex="col")
    parts = ("student_training", "teacher_inference", "teacher_training")
    for j, name in enumerate(names):
        al = allocations_by_scenario[name]
        ax, low = axes[0, j], axes[1, j]
        C = np.array([a.compute for a in al])
        shares = np.array([[a.spend[p] / a.spend["total"] for a in al] for p in parts])
        handles = ax.stackplot(C, shares, labels=[p.replace("_", " ") for p in parts], alpha=0.8)
        ax.set_xscale("log")
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of C")
        ax2 = ax.twinx()
        ratio, = ax2.plot(C, [a.teacher / a.student for a in al], "k-", lw=1.2, label="N_T / N_S (right axis)")
        ax2.set_yscale("log")
        ax2.set_ylabel("N_T / N_S")
        ax.set_title(f"{name} (N_S = {al[0].student:.3g})", fontsize=9)
        ax.legend(handles=[*handles, ratio], fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.04), ncol=2,
                  frameon=False)
        low.plot(C, [a.student_tokens for a in al], "-o", ms=3, label="D_S (student tokens)")
        low.plot(C, [a.teacher_tokens for a in al], "-s", ms=3, label="D_T (teacher tokens)")
        low.plot(C, [a.teacher for a in al], "-^", ms=3, label="N_T (teacher parameters)")
        if fitted_tokens is not None:
            low.axhspan(*fitted_tokens, color="C2", alpha=0.12, lw=0, label="fitted token range")
        bad = np.array([bool(a.flags) for a in al])
        if bad.any():
            low.plot(C[bad], np.array([a.student_tokens for a in al])[bad], "x", color="C3", ms=8,
                     label="flagged (edge/floor/unconverged)")
        low.set_xscale("log")
        low.set_yscale("log")
        low.set_xlabel("compute C (FLOPs)")
        low.set_ylabel("tokens or parameters")
        for a_ in (ax, low):
            if requested_compute is not None:
                a_.axvline(requested_compute, color="k", ls=":", lw=1)
        low.legend(fontsize=6, loc="best", frameon=False)
    if requested_compute is not None:
        fig.suptitle(f"dotted: the requested C = {requested_compute:.3g} FLOPs", fontsize=8)
    return fig


def design_figure(students, optima, interior, slopes, intercepts, target: float, ci: float, *,
                implied: float | None = None) -> Figure:
    """The pilot's optima, its linear teacher law, and the band of laws from the parametric
    bootstrap, extrapolated to the target student."""
    S = np.geomspace(min(students), max(target, max(students)), 60)
    lines = np.asarray(slopes)[:, None] * S[None, :] + np.asarray(intercepts)[:, None]
    lines = lines[np.all(np.isfinite(lines), axis=1)]
    a = (1 - ci) / 2
    lo, mid, hi = np.quantile(lines, [a, 0.5, 1 - a], axis=0)
    fig, ax = new_figure(figsize=(6.4, 4.4))
    ax.fill_between(S, lo, hi, color="C0", alpha=0.25, lw=0, label=f"{ci:.0%} band, simulated pilots")
    ax.plot(S, mid, "-", color="C0", label="linear teacher law (median)")
    inner = np.asarray(interior, bool)
    ax.plot(np.asarray(students)[inner], np.asarray(optima)[inner], "ko", label="pilot optima")
    ax.plot(np.asarray(students)[~inner], np.asarray(optima)[~inner], "ko", mfc="none", label="edge optima (bounds)")
    ax.axvline(target, color="gray", ls=":", label=f"target student {target:.3g}")
    if implied is not None:
        ax.plot([target], [implied], "*", ms=13, color="C3", label=f"Eq. 8 implies {implied:.3g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("student size")
    ax.set_ylabel("optimal teacher size")
    ax.set_title("How sure is the pilot's teacher law?", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def figures(plan) -> dict[str, Figure]:
    """Every figure a plan has data for, by name: `figures(simgap.plan("busbridge", student=1e9, compute=1e22))`.

    design, student_vs_teacher, gain_map, allocation: each drawn from the plan's fields, as `write_plots` saves them."""
    out = {}
    d = plan.design
    if d is not None and d.status == "ok":
        out["design"] = design_figure(d.students, d.optima, d.interior, d.draws.slope, d.draws.intercept,
                                      d.prediction.target, d.prediction.ci, implied=d.eq8_implied_target_teacher)
    if plan.laws is not None:
        lk, r = plan.link, plan.request
        o = lk.at_student
        out["student_vs_teacher"] = student_vs_teacher_figure(
            lk.curve_teachers, lk.curve_loss, o.supervised_loss, (o.teacher, o.student_loss),
            interior=o.interior, fitted=plan.laws.ranges.teacher_size,
            title=f"N_S = {r.student:.3g} on D_S = {o.student_tokens:.3g} tokens; teachers: {lk.protocol}\n"
                  f"(a fixed protocol, teacher's compute not charged: not the allocation's teacher)")
        sw = plan.sweep
        if sw is not None:
            out["gain_map"] = gain_map_figure(sw.map_students, sw.map_computes, sw.gains, flagged=sw.map_flags,
                                              ties=sw.map_ties, requested=(r.student, r.compute),
                                              fitted=plan.laws.ranges.student_size)
            out["allocation"] = allocation_figure(sw.allocations, requested_compute=r.compute,
                                                  fitted_tokens=plan.laws.ranges.student_tokens)
    return out


def write_plots(plan, out: Path) -> tuple[str, ...]:
    """`figures(plan)` saved as OUT/<name>.png."""
    return tuple(str(save_figure(fig, Path(out) / f"{name}.png")) for name, fig in figures(plan).items())
