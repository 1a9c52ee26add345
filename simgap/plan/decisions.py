"""Distil or train supervised: a decision with its uncertainty, and whether it extrapolates.

A plan's gain is supervised − distilled student loss at the same compute (nats per token; > 0:
distillation wins); every gain in the planner has this sign. The decision holds the plan fixed
(its D_S, N_T, D_T) and asks how sure the laws are about its gain:
- fitted laws with bootstrap replicates (parameter sets refitted on resampled rows): the gain is
  recomputed under every replicate; the percentile interval at `level` decides — "distil" when it
  lies above 0, "supervised" when below, otherwise "tie within the laws' uncertainty";
- the reference laws (no replicates): Busbridge et al. report about 1 % relative error for their
  fits, so a margin below 1 % of the supervised loss is a tie;
- fitted laws without replicates: the sign of the point estimate, said to have no CI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simgap import laws
from simgap.intervals import percentile_interval
from simgap.plan.load import Laws, Ranges

CALLS = {"distil": "distil", "supervised": "train supervised", "tie": "tie within the laws' uncertainty"}


@dataclass(frozen=True)
class Decision:
    call: str  # "distil" | "supervised" | "tie"
    gain: float  # supervised − distilled L_S (nats/token); > 0: distillation wins
    ci: tuple[float, float] | None  # interval of the gain over the replicates (None: no replicates)
    level: float  # the interval's level, or the tie margin's relative size for reference laws
    n_replicates: int
    basis: str  # how the call was made, in words
    margin: float | None = None  # reference laws: |gain| below this is a tie

    @property
    def words(self) -> str:
        return CALLS[self.call]


def _call(lo: float, hi: float) -> str:
    return "distil" if lo > 0 else "supervised" if hi < 0 else "tie"


def decide(N_S: float, C: float, D_S: float, teacher_size: float, teacher_tokens: float, teacher_loss: float,
           L: Laws, F, *, level: float = 0.9, fixed_teacher_loss: bool = False) -> Decision:
    """The decision for one plan. `fixed_teacher_loss`: the teacher is known by its measured loss
    (kept under every replicate); otherwise its loss is each replicate's L(N_T, D_T)."""
    D_sup = C / (3 * float(F(N_S)))
    gain = float(laws.supervised_loss(N_S, D_sup, L.supervised)
                 - laws.distill_loss(N_S, D_S, teacher_loss, L.supervised, L.distill))
    if L.replicates:
        g = []
        for sup, dist in L.replicates:
            lt = teacher_loss if fixed_teacher_loss else laws.supervised_loss(teacher_size, teacher_tokens, sup)
            g.append(float(laws.supervised_loss(N_S, D_sup, sup) - laws.distill_loss(N_S, D_S, lt, sup, dist)))
        lo, hi = percentile_interval(g, level)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return Decision("distil" if gain > 0 else "supervised", gain, None, level, 0,
                            "no replicate gave a finite gain: point estimate only")
        return Decision(_call(lo, hi), gain, (lo, hi), level, int(np.isfinite(g).sum()),
                        f"{level:.0%} interval over {int(np.isfinite(g).sum())} bootstrap replicates of the laws")
    if L.fit_error is not None:
        margin = L.fit_error * float(laws.supervised_loss(N_S, D_sup, L.supervised))
        return Decision(_call(gain - margin, gain + margin), gain, None, L.fit_error, 0,
                        f"the reference laws' paper reports about {L.fit_error:.0%} relative error for its fits, so a "
                        f"gain below {L.fit_error:.0%} of the supervised loss is called a tie", margin)
    return Decision("distil" if gain > 0 else "supervised", gain, None, level, 0,
                    "the laws file has no bootstrap replicates: point estimate, no CI")


@dataclass(frozen=True)
class Outside:
    """One value outside the range the laws were fitted on."""

    quantity: str  # N_S, D_S, N_T, D_T or L_T
    value: float
    low: float
    high: float


def extrapolation(ranges: Ranges, **values: float) -> tuple[Outside, ...]:
    """The values outside the laws' fitted range. Keys: student_size, student_tokens, teacher_size,
    teacher_tokens, teacher_loss (NaN: unknown, not checked)."""
    names = {"student_size": "N_S", "student_tokens": "D_S", "teacher_size": "N_T", "teacher_tokens": "D_T",
             "teacher_loss": "L_T"}
    out = []
    for key, v in values.items():
        span = getattr(ranges, key)
        if span is not None and math.isfinite(v) and not span[0] * (1 - 1e-9) <= v <= span[1] * (1 + 1e-9):
            out.append(Outside(names[key], float(v), *span))
    return tuple(out)
