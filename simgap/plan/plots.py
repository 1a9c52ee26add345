"""The plan's figures: each function takes computed results and a path and writes one PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from simgap.plan.link import Agreement  # noqa: E402
from simgap.plots import save_figure  # noqa: E402


def plot_agreement(agreement: Agreement, path, *, title: str = "Do the two laws agree?") -> Path:
    """Measured optima with their CIs, the T*(S) curve the fitted Eq. 8 implies, and the linear law
    fitted to the measured optima."""
    a = agreement
    S, T = np.asarray(a.students), np.asarray(a.measured)
    ci = np.asarray(a.measured_ci, float).reshape(len(S), 2)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    has_ci = np.all(np.isfinite(ci), axis=1)
    yerr = np.abs(np.stack([T - ci[:, 0], ci[:, 1] - T]))
    ax.errorbar(S[has_ci], T[has_ci], yerr=yerr[:, has_ci], fmt="o", color="k", capsize=3, label="measured T* (CI)")
    ax.plot(S[~has_ci], T[~has_ci], "o", color="k", mfc="none")
    ax.plot(a.curve_students, a.curve_teachers, "-", color="C0", label=f"implied by Eq. 8 ({a.protocol})")
    ax.plot(S, a.implied, "s", color="C0", ms=5)
    if a.measured_law is not None:
        s = np.geomspace(S.min(), S.max(), 50)
        ax.plot(s, a.measured_law.linear(s), "--", color="C3",
                label=f"linear law on measured: T* = {a.measured_law.linear_slope:.3g}·S {a.measured_law.linear_intercept:+.3g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("student size")
    ax.set_ylabel("optimal teacher size")
    ax.set_title(f"{title}\nmax |implied/measured − 1| = {a.max_rel_error:.0%}; "
                 f"{a.n_inside_ci}/{len(S)} implied inside measured CIs", fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_student_vs_teacher(teachers, student_loss, supervised_loss: float, optimum: tuple[float, float], path, *,
                            title: str) -> Path:
    """L_S against teacher size for one student, the optimum starred, supervised training dashed."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot(teachers, student_loss, "-", color="C0", label="distilled student L_S")
    ax.axhline(supervised_loss, ls="--", color="gray", label=f"supervised, same tokens: {supervised_loss:.4f}")
    ax.plot([optimum[0]], [optimum[1]], "*", ms=14, color="C3", label=f"optimum: N_T = {optimum[0]:.3g}, L_S = {optimum[1]:.4f}")
    ax.set_xscale("log")
    ax.set_xlabel("teacher size N_T")
    ax.set_ylabel("student loss")
    lo, hi = min(np.min(student_loss), supervised_loss), np.quantile(student_loss, 0.8)
    ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_gain_map(students, computes, gain_by_scenario: dict, path) -> Path:
    """Distilled minus supervised L_S over (N_S, C), one panel per scenario; the 0 contour (crossover) drawn."""
    names = list(gain_by_scenario)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.8), squeeze=False)
    X, Y = np.meshgrid(np.asarray(computes), np.asarray(students))
    for ax, name in zip(axes[0], names):
        diff = -np.asarray(gain_by_scenario[name], float)  # distilled − supervised
        m = np.nanmax(np.abs(diff)) or 1.0
        pc = ax.pcolormesh(X, Y, diff, cmap="RdBu_r", vmin=-m, vmax=m, shading="nearest")
        if np.nanmin(diff) < 0 < np.nanmax(diff):
            ax.contour(X, Y, diff, levels=[0.0], colors="k", linewidths=1.5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("compute C (FLOPs)")
        ax.set_ylabel("student size N_S")
        ax.set_title(f"{name}: L_S(distil) − L_S(supervised)\nblue: distillation wins; black: crossover", fontsize=8)
        fig.colorbar(pc, ax=ax, fraction=0.046)
    return save_figure(fig, path)


def plot_allocation(allocations_by_scenario: dict, path) -> Path:
    """Shares of the spend (student training, teacher inference, teacher training) against C, per scenario."""
    names = list(allocations_by_scenario)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False)
    parts = ("student_training", "teacher_inference", "teacher_training")
    for ax, name in zip(axes[0], names):
        al = allocations_by_scenario[name]
        C = np.array([a.compute for a in al])
        shares = np.array([[a.spend[p] / a.spend["total"] for a in al] for p in parts])
        ax.stackplot(C, shares, labels=[p.replace("_", " ") for p in parts], alpha=0.8)
        ax.set_xscale("log")
        ax.set_ylim(0, 1)
        ax.set_xlabel("compute C (FLOPs)")
        ax.set_ylabel("share of C")
        ax2 = ax.twinx()
        ax2.plot(C, [a.teacher / a.student for a in al], "k-", lw=1.2, label="N_T / N_S")
        ax2.set_yscale("log")
        ax2.set_ylabel("N_T / N_S")
        ax.set_title(f"{name} (N_S = {al[0].student:.3g})", fontsize=9)
        ax.legend(fontsize=6, loc="lower left")
    return save_figure(fig, path)


def plot_design(students, optima, interior, slopes, intercepts, target: float, ci: float, path, *,
                implied: float | None = None) -> Path:
    """The pilot's optima, its linear teacher law, and the band of laws from the parametric
    bootstrap, extrapolated to the target student."""
    S = np.geomspace(min(students), max(target, max(students)), 60)
    lines = np.asarray(slopes)[:, None] * S[None, :] + np.asarray(intercepts)[:, None]
    lines = lines[np.all(np.isfinite(lines), axis=1)]
    a = (1 - ci) / 2
    lo, mid, hi = np.quantile(lines, [a, 0.5, 1 - a], axis=0)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
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
    return save_figure(fig, path)
