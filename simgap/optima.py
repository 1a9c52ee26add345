"""Per-student optimal teacher size from a sweep's rows, with seed-paired uncertainty.

The teacher grid is coarse (often ×2 steps), so the optimum is refined by the vertex of the
parabola through the argmin and its two neighbours in log teacher size, clipped to that bracket.
Uncertainty comes from a bootstrap over seeds: a seed's whole curve is resampled together,
because a teacher and its students share the seed and comparisons are paired: a capacity-gap dip
(0.005–0.05 nats in a plain-JAX pilot of the mapping problem) is small next to the seed-to-seed
spread (sd 0.01–0.05), but consistent seed by seed.

With few seeds a plain percentile bootstrap is too narrow: a resample of k seeds varies by
√((k−1)/k) of the truth's spread, and the normal quantile stands in for Student's t. On the
sampled kernel family, whose optimum is known (experiments/optimum_coverage.py), nominal 90 %
intervals from 8 seeds covered 81 % of the truth (600 intervals), from 5 seeds 73–82 %. The
optimum's CI is therefore Hesterberg's *expanded* percentile interval (Hesterberg 2015, "What
teachers should know about the bootstrap", Am. Stat. 69:371): the percentile interval at the
wider level 2Φ(√(k/(k−1))·t_{k−1, 1/2+ci/2}) − 1; it covered 87 % (8 seeds) and 87–89 % (5 seeds).
What the CI covers is the refined vertex of the *expected* curve on the same grid: at a kinked
optimum (the kernel's m = n) that vertex lies a little off the true optimum, towards the
flatter side (by 0.3–2 % of n on a ×2^(1/8) grid there).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from simgap.intervals import seed_interval


@dataclass(frozen=True)
class TeacherOptimumEstimate:
    student_size: float
    budget: float  # NaN when the rows carry no budget column
    optimal_teacher: float  # refined (parabolic vertex in log size); the grid value at an edge
    optimal_teacher_grid: float  # argmin of the seed-mean curve
    optimal_teacher_ci: tuple[float, float]  # expanded percentile bootstrap over seeds (NaN with one seed)
    interior: bool  # False: the mean curve is lowest at the smallest or largest teacher
    edge: str  # "" | "smallest" | "largest"
    min_loss: float  # seed-mean loss at the grid argmin
    dip_depth: float  # mean over seeds of loss(largest teacher) − loss(grid argmin)
    dip_ci: tuple[float, float]  # paired over seeds, simultaneous over teachers (selection-aware)
    dip_beyond_noise: bool  # the dip's CI excludes 0
    frac_interior: float  # share of bootstrap replicates whose optimum is interior
    n_seeds: int
    teacher_sizes: tuple[float, ...]
    mean_loss: tuple[float, ...]  # seed-mean loss per teacher size
    sem_loss: tuple[float, ...]  # standard error over seeds (NaN with one seed)

    @property
    def located(self) -> bool:
        """Interior, and its CI (where there is one) inside the teacher sizes searched: an optimum
        whose CI reaches the smallest or largest teacher could sit at that end, so, like an edge
        optimum, it only bounds T*. On a curve that flattens beyond some teacher size the noisiest
        minimum tends to lie near the ladder's top, which scales with S when each student's ladder
        does: a teacher law over such optima would be the ladders'. Measured on transformer_zhang_long
        (docs/families.md): doubling the ladders moved those optima outward."""
        lo, hi = self.optimal_teacher_ci
        if not self.teacher_sizes:  # an estimate built without its curve: nothing to compare with
            return self.interior
        ends = min(self.teacher_sizes), max(self.teacher_sizes)
        return self.interior and not (lo <= ends[0] * (1 + 1e-9) or hi >= ends[1] * (1 - 1e-9))


def refine_log_quadratic(log_t: np.ndarray, curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertex of the parabola through argmin and neighbours, in log size; vectorised over rows.

    Returns (refined log size, argmin index). At an edge, or when the three points are not convex,
    the grid argmin itself."""
    curve = np.atleast_2d(curve)
    i = np.nanargmin(curve, axis=1)
    n = len(log_t)
    j = np.clip(i, 1, n - 2)
    x0, x1, x2 = log_t[j - 1], log_t[j], log_t[j + 1]
    rows = np.arange(len(curve))
    y0, y1, y2 = curve[rows, j - 1], curve[rows, j], curve[rows, j + 1]
    # Divided differences: y = y1 + b (x − x1) + a (x − x0)(x − x1) … the standard 3-point vertex.
    with np.errstate(invalid="ignore", divide="ignore"):
        d01 = (y1 - y0) / (x1 - x0)
        d12 = (y2 - y1) / (x2 - x1)
        a = (d12 - d01) / (x2 - x0)
        vertex = 0.5 * (x0 + x1) - d01 / (2 * a)
    ok = (i > 0) & (i < n - 1) & (a > 0) & np.isfinite(vertex)
    refined = np.where(ok, np.clip(vertex, x0, x2), log_t[i])
    return refined, i


def resample_seeds(L: np.ndarray, n_boot: int, seed: int):
    """Seed-resampled mean curves and dips (n_boot × teachers), or None without ≥ 2 seeds. The
    expensive part of an optimum, independent of the axis the teachers are placed on. The one seed
    bootstrap of optima: the draws depend only on (seed, n_boot, number of seeds), so every student
    of a setting gets the same resamples (simgap.fit.assumptions relocates them all on each)."""
    n_seeds = L.shape[0]
    if not (n_seeds > 1 and n_boot > 0):
        return None
    idx = np.random.default_rng(seed).integers(0, n_seeds, (n_boot, n_seeds))
    with warnings.catch_warnings():  # a resample may hold only NaN for a missing run
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(L[idx], axis=1), np.nanmean((L[:, -1:] - L)[idx], axis=1)


def _estimate(log_t: np.ndarray, L: np.ndarray, boot, ci: float, student_size: float,
              budget: float) -> TeacherOptimumEstimate:
    """The optimum on one teacher axis (log sizes `log_t`) from the curves and their bootstrap."""
    n_seeds, n_t = L.shape
    mean = np.nanmean(L, axis=0)
    sem = np.nanstd(L, axis=0, ddof=1) / np.sqrt(np.sum(np.isfinite(L), 0)) if n_seeds > 1 else np.full(n_t, np.nan)
    refined, i = refine_log_quadratic(log_t, mean[None])
    i = int(i[0])
    edge = "smallest" if i == 0 else "largest" if i == n_t - 1 else ""
    diff_SxT = L[:, -1:] - L  # per seed: loss at the largest teacher minus loss at each teacher
    mean_diff = np.nanmean(diff_SxT, axis=0)
    dip = float(mean_diff[i])
    opt_ci = dip_ci = (math.nan, math.nan)
    frac_interior = math.nan
    if boot is not None:
        boot_curves, boot_diff = boot
        valid = np.all(np.isfinite(boot_curves), axis=1)
        b_ref, b_i = refine_log_quadratic(log_t, boot_curves[valid])
        opt_ci = tuple(float(np.exp(q)) for q in seed_interval(b_ref, ci, n_seeds, float(refined[0])))
        # The argmin was chosen on the same data, so a plain CI at that teacher is biased upwards
        # (the minimum of noisy means). Use a simultaneous band over all teachers instead: the
        # ci-quantile q of max_j |boot_diff_j − mean_diff_j| bounds every teacher's error at
        # once, so it also covers the selected one: dip ± q.
        sup_err = np.nanmax(np.abs(boot_diff - mean_diff), axis=1)
        q = float(np.quantile(sup_err[np.isfinite(sup_err)], ci))
        dip_ci = (dip - q, dip + q)
        frac_interior = float(np.mean((b_i > 0) & (b_i < n_t - 1)))
    return TeacherOptimumEstimate(
        student_size=float(student_size), budget=float(budget),
        optimal_teacher=float(np.exp(refined[0])), optimal_teacher_grid=float(np.exp(log_t[i])),
        optimal_teacher_ci=opt_ci, interior=edge == "", edge=edge, min_loss=float(mean[i]),
        dip_depth=dip, dip_ci=dip_ci, dip_beyond_noise=bool(dip_ci[0] > 0),
        frac_interior=frac_interior, n_seeds=n_seeds,
        teacher_sizes=tuple(map(float, np.exp(log_t))), mean_loss=tuple(map(float, mean)),
        sem_loss=tuple(map(float, sem)),
    )


def seed_curves(teacher_size, student_loss, seed, seeds=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One student's rows as (teachers ascending, seeds, seeds × teachers loss): repeats averaged,
    NaN where a run is missing. `seeds` fixes the rows (e.g. every seed of a table, so that one
    resample of seed indices applies to every student alike)."""
    teachers = np.unique(teacher_size)
    seeds = np.unique(seed) if seeds is None else np.asarray(seeds, float)
    count = np.zeros((len(seeds), len(teachers)))
    si, ti = np.searchsorted(seeds, seed), np.searchsorted(teachers, teacher_size)
    np.add.at(count, (si, ti), 1)
    sums = np.zeros_like(count)
    np.add.at(sums, (si, ti), student_loss)
    return teachers, seeds, np.where(count > 0, sums / np.maximum(count, 1), np.nan)


MIN_TEACHERS = 3  # teacher sizes a student needs for its optimum to be told interior or at an edge


def too_few_teachers(student_size, teacher_size, budget=None) -> list[tuple[float, float, int]]:
    """The students `teacher_optima` leaves out: (student size, budget or NaN, its number of distinct
    teacher sizes) for each student and budget with fewer than MIN_TEACHERS."""
    S, T = np.asarray(student_size, float), np.asarray(teacher_size, float)
    bd = np.full(len(S), np.nan) if budget is None else np.asarray(budget, float)
    out = []
    for b in [math.nan] if budget is None else sorted(set(bd[np.isfinite(bd)].tolist())):
        in_b = np.ones(len(S), bool) if budget is None else bd == b
        for s in np.unique(S[in_b]):
            n = len(np.unique(T[in_b & (S == s)]))
            if n < MIN_TEACHERS:
                out.append((float(s), b, n))
    return out


def teacher_optima(
    student_size, teacher_size, student_loss, seed=None, budget=None, *,
    n_boot: int = 1000, ci: float = 0.9, rng_seed: int = 0,
) -> list[TeacherOptimumEstimate]:
    """Optimal teacher per student size (and per budget when `budget` is given), from tidy rows.

    Rows without a seed count as one seed (repeats are averaged; no CI). Needs ≥ 3 teacher sizes
    per student to tell an interior optimum from an edge one: a student with fewer is left out (e.g.
    under Zhang et al.'s protocol the largest student has fewer teachers larger than itself), and
    ValueError is raised only when no student has 3.
    """
    return teacher_optima_on_two_axes(student_size, teacher_size, student_loss, seed, budget, n_boot=n_boot, ci=ci,
                                      rng_seed=rng_seed)[0]


def teacher_optima_on_two_axes(
    student_size, teacher_size, student_loss, seed=None, budget=None, student_knob=None, teacher_knob=None, *,
    n_boot: int = 1000, ci: float = 0.9, rng_seed: int = 0,
) -> tuple[list[TeacherOptimumEstimate], list[TeacherOptimumEstimate] | None]:
    """`teacher_optima`, and the same optima on a second size axis (e.g. width beside parameter
    count) from the same seed bootstrap, computed once: the second list is None when no knob is
    given or it is not one-to-one and increasing with the sizes (then locate it on its own)."""
    S = np.asarray(student_size, float)
    T = np.asarray(teacher_size, float)
    L = np.asarray(student_loss, float)
    n = len(S)
    sd = np.zeros(n) if seed is None else np.asarray(seed, float)
    bd = np.full(n, np.nan) if budget is None else np.asarray(budget, float)
    if not (len(T) == len(L) == len(sd) == len(bd) == n):
        raise ValueError("student_size, teacher_size, student_loss, seed and budget must have equal lengths")
    for name, a in (("student_size", S), ("teacher_size", T), ("student_loss", L)):
        bad = ~np.isfinite(a) | (a <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"column {name!r} row {i + 1}: value {float(a[i])!r} must be finite and > 0")
    Sk = None if student_knob is None else np.asarray(student_knob, float)
    Tk = None if teacher_knob is None else np.asarray(teacher_knob, float)
    out, on_knob = [], [] if Sk is not None and Tk is not None else None
    budget_keys = [math.nan] if budget is None else sorted(set(bd[np.isfinite(bd)].tolist()))
    few = ""
    for b in budget_keys:
        in_b = np.ones(n, bool) if budget is None else bd == b
        if on_knob is not None and _knob_of(S[in_b], Sk[in_b]) is None:
            on_knob = None
        for s in np.unique(S[in_b]):
            m = in_b & (S == s)
            teachers, _, grid = seed_curves(T[m], L[m], sd[m])
            if len(teachers) < MIN_TEACHERS:  # this student's optimum cannot be located; the others' still can
                few = few or f"student_size {s:g}: need ≥ 3 teacher sizes to locate an optimum, got {len(teachers)}"
                continue
            boot = resample_seeds(grid, n_boot, rng_seed)
            out.append(_estimate(np.log(teachers), grid, boot, ci, s, b))
            tk = None if on_knob is None else _knob_of(T[m], Tk[m])
            if tk is None:
                on_knob = None
            else:
                on_knob.append(_estimate(np.log(tk), grid, boot, ci, float(Sk[m][0]), b))
    if not out and few:
        raise ValueError(few)
    return out, on_knob


def _knob_of(sizes: np.ndarray, knob: np.ndarray) -> np.ndarray | None:
    """The knob of each distinct size (ascending), when one knob value belongs to each size and
    the knob increases with the size; else None."""
    values = np.unique(sizes)
    per = [np.unique(knob[sizes == v]) for v in values]
    if any(len(k) != 1 for k in per):
        return None
    k = np.array([k[0] for k in per])
    return k if np.all(np.diff(k) > 0) else None
