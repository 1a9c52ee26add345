"""Do the assumption checks call things right? Verdict counts over tables drawn from a known law
(simgap.fit.simulate) where an assumption holds or is violated by a stated amount, and the
binomial band a true assumption's "fails" share must stay in.

The law-fit checks (supervised and Eq. 8) are calibrated here as data: each `Simulation` is a
table source, each `Calibration` names a check and the simulations where it holds and where it
is violated. tests/test_assumptions.py runs them (slow: 50 tables) and
experiments/verdict_calibration.py prints the measured shares (docs/verdicts.md's table). One
fit of a simulated table gives every check's verdict, so simulations are shared between checks.
"""

from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats

from simgap import laws
from simgap.config import FitOptions
from simgap.fit import simulate as sim
from simgap.fit.start_law import LAW as START
from simgap.fit.table import fit_table
from simgap.fit.verdicts import QUESTIONS

LAW_FIT = FitOptions(n_boot=40)  # 40 refits per CI: a table's supervised fit ≈ 2 s, its Eq. 8 analysis ≈ 15 s


def false_fail_limit(trials: int, ci: float = 0.9) -> float:
    """Upper end of the 99 % binomial band of the share of "fails" at the nominal rate 1 − ci."""
    return stats.binom.ppf(0.995, trials, 1 - ci) / trials


@dataclass(frozen=True)
class Simulation:
    """A source of tables: `make(rng)` draws one; `about` says what law it follows."""

    name: str
    about: str
    make: Callable[[np.random.Generator], dict]
    opt: FitOptions = LAW_FIT


@dataclass(frozen=True)
class Calibration:
    """Check `check` holds on the tables of `holds` and is violated by `violation` on those of `violated`."""

    check: str
    holds: str  # a Simulation name
    violated: str | None  # None: a table shape where the check is calibrated only for false "fails"
    violation: str
    power_required: bool = True  # False: the violation's "fails" share is measured and reported, not required


def _with_irreducible(table: dict, value: float) -> dict:
    return {**table, "irreducible_loss": np.full(len(table["seed"]), value)}


def _scaled_A(k: float) -> laws.DistillParams:
    return dataclasses.replace(laws.BUSBRIDGE_DISTILL, A=k * laws.BUSBRIDGE_DISTILL.A)


_D20_SIZES = (4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0, 96.0)
_USER = sim.Eq8Truth(student_ratios=(20.0, 80.0), noise=3e-3, supervised_on_ratios=11)

SIMULATIONS = {s.name: s for s in (
    Simulation("eq1", "Eq. 1 with γ = 1 (E = 0.2), 6 sizes × 3 budgets × 3 seeds, 1 % noise per run",
               lambda r: sim.supervised_table(sim.SupervisedTruth(), 3, r)),
    Simulation("eq1_gamma_0.7", "the same with γ = 0.7",
               lambda r: sim.supervised_table(sim.SupervisedTruth(gamma=0.7), 3, r)),
    Simulation("eq1_stated_E_0.5", "Eq. 1 with E = 0.2; the table states E = 0.5",
               lambda r: _with_irreducible(sim.supervised_table(sim.SupervisedTruth(), 3, r), 0.5)),
    Simulation("eq8", "Busbridge et al.'s Table 6 laws: 4 students × 7 teachers × 2 teacher lengths, 2 seeds, "
               "0.1 % noise",
               lambda r: sim.eq8_table(sim.Eq8Truth(), 2, r)),
    Simulation("eq8_eta_0.01", "the same with the excess × (N_T/N̄_T)^0.01",
               lambda r: sim.eq8_table(sim.Eq8Truth(eta=0.01), 2, r)),
    Simulation("eq8_size_break", "the same with the excess × (N_S/5e8)^−0.1 beyond N_S = 5e8",
               lambda r: sim.eq8_table(sim.Eq8Truth(extra_exponent=0.1), 2, r)),
    Simulation("eq8_two_ratios", "Busbridge et al.'s laws with students at 20 and 80 tokens per parameter "
               "(E.6 testable), 1 seed",
               lambda r: sim.eq8_table(sim.Eq8Truth(student_ratios=(20.0, 80.0)), 1, r)),
    Simulation("eq8_two_ratios_A'x0.5", "the same with Eq. 8's A' × 0.5 (App. E.6 broken by −0.13 to −0.25 nats)",
               lambda r: sim.eq8_table(sim.Eq8Truth(student_ratios=(20.0, 80.0), distill=_scaled_A(0.5)), 1, r)),
    Simulation("eq1_d20", "Eq. 1 with γ = 1 on a Chinchilla-style grid: D = 20·N at 10 sizes (4-96), 3 seeds, 1 % "
               "noise (γ not identified: only αγ is)",
               lambda r: sim.supervised_table(sim.SupervisedTruth(ratio=20.0, sizes=_D20_SIZES), 3, r)),
    Simulation("eq8_user", "a user's pilot from Busbridge et al.'s laws: supervised runs at 11 sizes and the "
               "students' 20 and 80 tokens per parameter only, 4 students × 2 ratios × 7 teachers × 2 teacher "
               "lengths, 2 seeds, 0.3 % noise (268 rows)",
               lambda r: sim.eq8_table(_USER, 2, r)),
    Simulation("eq8_user_0.1%", "the same at 0.1 % noise",
               lambda r: sim.eq8_table(dataclasses.replace(_USER, noise=1e-3), 2, r)),
    Simulation("eq8_user_eta_0.01", "the same (0.3 %) with the excess × (N_T/N̄_T)^0.01",
               lambda r: sim.eq8_table(dataclasses.replace(_USER, eta=0.01), 2, r)),
    Simulation("optima", "Busbridge et al.'s laws on a sweep's shape: 4 students (1e7-3e8, 20 tokens per parameter) × 13 "
               "teachers (1e8-1e12) all trained on D_T = 1e12, supervised runs over size and data, 3 seeds, 0.3 % "
               "noise: interior optima at T*/S ≈ 33-72",
               lambda r: sim.optima_table(sim.OptimaTruth(), 3, r)),
    Simulation("optima_D_T_x0.01", "the same, but the teachers really trained on 1e10 tokens while the table states 1e12",
               lambda r: sim.optima_table(sim.OptimaTruth(teacher_tokens_true=1e10), 3, r)),
    Simulation("start", "`optima`'s runs plus every student pruned from each teacher larger than itself, its excess "
               "× exp(−1.36·(N_S/N_T)^0.46·(D_S/D̄_S)^−0.32) (the start-aware law at the transformer family's fit)",
               lambda r: sim.start_table(sim.OptimaTruth(), 3, r)),
    Simulation("start_D_T_x0.01", "`start`'s runs, but the teachers really trained on 1e10 tokens while the table "
               "states 1e12 (as `optima_D_T_x0.01`): the implied T* under each start follows the stated length",
               lambda r: sim.start_table(sim.OptimaTruth(teacher_tokens_true=1e10), 3, r)),
    Simulation("start_size_break", "the same with, under both starts, every distilled run's excess × (N_S/1e8)^−0.1 "
               "beyond N_S = 1e8 (as `eq8_size_break`): the start-aware law over-predicts the held-out strongest "
               "runs of each start",
               lambda r: sim.start_table(sim.OptimaTruth(), 3, r, size_break=(1e8, 0.1))),
    Simulation("eq8_two_ratios_A'x2", "the same with Eq. 8's A' × 2 (App. E.6 broken by ≈ +0.065 nats)",
               lambda r: sim.eq8_table(sim.Eq8Truth(student_ratios=(20.0, 80.0), distill=_scaled_A(2.0)), 1, r)),
)}

CALIBRATIONS = (
    Calibration("chinchilla_form", "eq1", "eq1_gamma_0.7", "γ = 0.7"),
    Calibration("irreducible_loss", "eq1", "eq1_stated_E_0.5", "the stated E 0.3 nats above the truth"),
    Calibration("teacher_only_through_loss", "eq8", "eq8_eta_0.01",
                "η = 0.01 (≈ 0.047 nats from the smallest to the largest teacher)"),
    Calibration("limit_properties", "eq8_two_ratios", "eq8_two_ratios_A'x0.5",
                "App. E.6 broken by −0.13 to −0.25 nats (A' × 0.5)"),
    Calibration("chinchilla_form", "eq1_d20", None, "— (γ is not identified: never fails)"),
    Calibration("limit_properties", "eq8_user", None, "— (E.6 cannot be tested on these runs)"),
    Calibration("limit_properties", "eq8_user_0.1%", None, "— (E.6 cannot be tested on these runs)"),
    # power on the user shape is measured (eq8_user_eta_0.01: fails 6/10), not required: 2 seeds leave
    # η's CI near the tolerance; the 80 % requirement is on Eq. 8's own 8-seed grid (above)
    Calibration("teacher_only_through_loss", "eq8_user", None,
                "— (η = 0.01 on these pilots, `eq8_user_eta_0.01`: fails 6/10, measured, not required)"),
    Calibration("extrapolates", "eq8_user", None, "—"),
    # counted per student (one verdict each): true 14/196 fails; stated 100x off: 115/139 fails
    Calibration("agrees_with_optima", "optima", "optima_D_T_x0.01",
                "the teachers trained on 1e10 tokens while the table states 1e12: the implied T* is off by "
                "−2 to −6 in log"),
    # the start-aware law's verdicts (law "distillation + start"), counted per start and per student
    Calibration(f"extrapolates ({START})", "start", "start_size_break",
                "excess × (N_S/1e8)^−0.1 beyond 1e8 under both starts (−10 % at 3e8)"),
    # measured, not required: fails 192/307 (62.5 %), holds 0, on 50 tables. The undecided are students whose
    # measured T* has a CI of ±1-3 in log at 3 seeds (the violated teachers' U-curves are flat; `needs`: 5-10
    # seeds); the head start, which favours small teachers in both the runs and the law, shrinks the pruned
    # start's offset to −0.7 to −2.6 in log (random −2.5 to −5). Eq. 8 per start on these tables: 282/331.
    Calibration(f"agrees_with_optima ({START})", "start", "start_D_T_x0.01",
                "the teachers trained on 1e10 tokens while the table states 1e12 (both starts)", power_required=False),
    Calibration("extrapolates", "eq8", "eq8_size_break",
                "excess × (N_S/5e8)^−0.1 beyond 5e8 (−7 % at 1e9): Eq. 8 over-predicts the held-out runs "
                "by 1.3 %"),
)


def check_name(a) -> str:
    """What a verdict is counted under: its name, with its law when that is not the name's own (the
    start-aware law's `extrapolates` is counted apart from Eq. 8's)."""
    return a.name if a.law == QUESTIONS[a.name][0] else f"{a.name} ({a.law})"


def verdict_counts(simulation: Simulation, n_tables: int, first_seed: int = 0,
                   fit_seeds: tuple[int, ...] = (0,)) -> dict[str, collections.Counter]:
    """check name -> Counter of its verdicts over `n_tables` tables (rng seeds first_seed, first_seed + 1, …),
    fitted with the first of `fit_seeds` (the solver's and bootstrap's --seed). Each further fit seed
    refits the same table and counts, under "<check> --seed <s>", "same" or "<a>-><b>" for every verdict."""
    out: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for i in range(first_seed, first_seed + n_tables):
        table = simulation.make(np.random.default_rng(i))
        base = fit_table(table, dataclasses.replace(simulation.opt, seed=fit_seeds[0])).assumptions
        for a in base:
            out[check_name(a)][a.verdict] += 1
        for s in fit_seeds[1:]:
            again = fit_table(table, dataclasses.replace(simulation.opt, seed=s)).assumptions
            for a, b in zip(base, again):
                assert a.key() == b.key(), (a.key(), b.key())
                out[f"{check_name(a)} --seed {s}"]["same" if a.verdict == b.verdict else f"{a.verdict}->{b.verdict}"] += 1
    return dict(out)


def share(c: collections.Counter | dict, verdict: str) -> float:
    return c.get(verdict, 0) / max(sum(c.values()), 1)
