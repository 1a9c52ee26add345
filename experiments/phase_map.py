"""Where the capacity gap comes from: `gap_exists` and T*/S on a student start × distillation length grid.

    python experiments/phase_map.py [CONFIG] [--lengths 0.25,0.5,1] [--seeds N] [--out DIR]
    python experiments/phase_map.py --results DIR          # a finished map, without training

For one preset (default mlp_zhang) it runs one sweep per student start (random,
pruned_from_teacher, pruned_from_largest: experiments/gap_runs.py, run directories DIR/<start>,
resumed if there) in which every student is distilled for each length, a fraction of the teachers'
budget (the grid's student_budgets). Teachers and seeds are the same in every cell: a teacher
depends only on its size, budget and seed, and every student of a seed sees the same data, so
the cells are paired. From each sweep's laws.json it reads, per (start, length, student), the dip
(loss with the largest teacher − loss with the optimal one) with its simultaneous CI, the
`gap_exists` verdict and T*/S in parameters, and writes DIR/phase_map.md (the table) and
DIR/phase_map.png (one panel per cell: each student's dip with its CI, T*/S written in the cell).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import gap_runs  # experiments/ is on sys.path: this file runs as a script
from simgap.config import CONFIG_DIR, STUDENT_INITS, ConfigError, load_config
from simgap.fit.results import ok
from simgap.fit.results_read import load
from simgap.sweep import SweepError


@dataclasses.dataclass(frozen=True)
class Cell:
    start: str
    length: float  # the students' budget over the teachers'
    student: float  # the capacity knob
    student_params: float
    dip: float
    dip_ci: tuple[float, float]
    verdict: str  # gap_exists: holds / fails / undecided / not tested
    t_over_s: float  # T*/S in parameters
    t_over_s_ci: tuple[float, float]
    interior: bool


def grid_config(cfg, lengths: tuple[float, ...]):
    """The preset with one student budget per length (fractions of its first teacher budget)."""
    teacher = cfg.grid.teacher_budgets[0]
    if not teacher:
        raise ConfigError(f"{cfg.name}: the phase map needs an explicit teacher budget (the grid's is 0)")
    budgets = tuple(int(round(f * teacher)) for f in lengths)
    return dataclasses.replace(cfg, grid=dataclasses.replace(cfg.grid, student_budgets=budgets,
                                                             teacher_budgets=(teacher,)))


def cells(run: Path, start: str) -> list[Cell]:
    """Every (length, student) of one finished sweep, from its laws.json."""
    fit = load(run / "laws.json")
    out = []
    for s in fit.settings:
        if not ok(s.optima):
            continue
        for o in s.optima.students:
            gap = gap_runs._gap_exists(fit.assumptions, s, o)
            p = o.params
            length = o.budget / o.teacher_tokens if math.isfinite(o.teacher_tokens) and o.teacher_tokens else math.nan
            out.append(Cell(start, length, o.student_size, o.student_params, p.dip_depth, tuple(p.dip_ci),
                            gap.verdict if gap else "not tested", p.optimal_teacher / o.student_params,
                            tuple(c / o.student_params for c in p.optimal_teacher_ci), bool(p.interior)))
    return out


def table(found: list[Cell]) -> str:
    """docs' table: one row per (start, length), one column per student: dip [CI] verdict; T*/S."""
    students = sorted({(c.student, c.student_params) for c in found})
    head = "| start | students' length / teachers' | " + " | ".join(
        f"student {k:g} ({p:.3g} params)" for k, p in students) + " |"
    rows = [head, "|---" * (2 + len(students)) + "|"]
    for start in STUDENT_INITS:
        for length in sorted({c.length for c in found if c.start == start}):
            line = f"| {start} | {length:.3g} |"
            for k, _ in students:
                c = next((c for c in found if (c.start, c.length, c.student) == (start, length, k)), None)
                line += " – |" if c is None else (
                    f" {c.dip:+.4f} [{c.dip_ci[0]:+.4f}, {c.dip_ci[1]:+.4f}] **{c.verdict}**; "
                    f"T*/S {c.t_over_s:.2f}{'' if c.interior else ' (edge)'} |")
            rows.append(line)
    return "\n".join(rows)


def figure(found: list[Cell], title: str):
    """One panel per (start, length): each student's dip with its CI; T*/S written above it."""
    import matplotlib  # lazy: only the figure needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: after the backend is chosen, and only for the figure

    starts = [s for s in STUDENT_INITS if any(c.start == s for c in found)]
    lengths = sorted({c.length for c in found})
    fig, axes = plt.subplots(len(starts), len(lengths), figsize=(3.2 * len(lengths), 2.6 * len(starts)),
                             squeeze=False, sharey=True)
    colour = dict(holds="tab:green", fails="tab:red", undecided="tab:gray")
    for i, start in enumerate(starts):
        for j, length in enumerate(lengths):
            ax = axes[i][j]
            mine = sorted((c for c in found if (c.start, c.length) == (start, length)), key=lambda c: c.student)
            for x, c in enumerate(mine):
                ax.errorbar([x], [c.dip], yerr=[[c.dip - c.dip_ci[0]], [c.dip_ci[1] - c.dip]], fmt="o",
                            color=colour.get(c.verdict, "k"), capsize=3)
                ax.annotate(f"T*/S {c.t_over_s:.1f}{'' if c.interior else ' (edge)'}", (x, c.dip_ci[1]), textcoords="offset points", xytext=(0, 4),
                            ha="center", fontsize=7)
            ax.axhline(0, color="k", lw=0.6)
            ax.set_xticks(range(len(mine)), [f"{c.student:g}" for c in mine])
            ax.set_xlim(-0.6, len(mine) - 0.4)
            if i == 0:
                ax.set_title(f"length {length:.3g}× the teachers'", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{start}\ndip (nats)", fontsize=8)
            if i == len(starts) - 1:
                ax.set_xlabel("student", fontsize=8)
    fig.suptitle(f"{title}: dip with 90 % CI (green holds, grey undecided, red fails); "
                 "T*/S in parameters, (edge): the optimum is a grid end", fontsize=9)
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", nargs="?", default="mlp_zhang", help="path or name in configs/ (default mlp_zhang)")
    ap.add_argument("--lengths", default="0.25,0.5,1", help="students' budgets as fractions of the teachers'")
    ap.add_argument("--starts", default=",".join(STUDENT_INITS), help="student starts, one sweep each")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None, help="default runs/phase_map/<config name>")
    ap.add_argument("--results", type=Path, default=None, metavar="DIR", help="a finished map's directory")
    a = ap.parse_args(argv)
    try:
        starts = tuple(s for s in a.starts.split(",") if s)
        bad = sorted(set(starts) - set(STUDENT_INITS))
        if bad:
            raise ConfigError(f"--starts: unknown {bad}; known: {list(STUDENT_INITS)}")
        lengths = tuple(float(x) for x in a.lengths.split(",") if x)
        if not lengths or min(lengths) <= 0:
            raise ConfigError(f"--lengths must be positive fractions, got {a.lengths!r}")
        if a.results:
            root, name = a.results, a.results.name
            runs = [(s, root / s) for s in starts if (root / s / "laws.json").exists()]
        else:
            path = Path(a.config) if a.config.endswith(".toml") else CONFIG_DIR / f"{a.config}.toml"
            cfg = grid_config(load_config(path, seeds=a.seeds), lengths)
            name = cfg.name
            root = a.out or Path("runs/phase_map") / name
            runs = list(zip(starts, gap_runs.train(cfg, starts, root)))
        found = [c for start, run in runs for c in cells(run, start)]
        if not found:
            raise ValueError(f"no optima found in {root}")
        text = table(found)
        (root / "phase_map.md").write_text(f"# Phase map: {name}\n\n{text}\n")
        figure(found, name).savefig(root / "phase_map.png", dpi=120)
        print(text + f"\n\nwrote {root / 'phase_map.md'} and {root / 'phase_map.png'}")
    except (ConfigError, SweepError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
