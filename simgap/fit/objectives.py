"""The laws as objects the solver, the bootstrap and the results take (the shape of
apple/ml-scalefit's `ScalingLaw`): parameter names, start grid, bounds, log-space prediction and
its gradient, the natural-scale parameters and the fixed-parameter mapping, `predict`, and the
table columns the law reads. `SUPERVISED` (Eq. 1) and `DistillationLaw(supervised)` (Eq. 8, with
the supervised law held fixed) are the two; a new law is one more `Law` subclass here (see
simgap.fit's package docstring for the rest of the path).

Both laws are fitted in log space with log-sum-exp (Busbridge et al. App. F, after Hoffmann et al.):
    log L = LSE[log E, γ·LSE(log A − α log N, log B − β log D)]
and for Eq. 8, log L_S = LSE[log L_T, −c0·log L_T − c1·f1·softplus(z) + γ'·LSE(...)], with
z = (log L_T − log d1 − log L̃_S)/f1. The gradients are hand-derived (d log-pred / d θ) and
checked against finite differences in the tests.

Start grids (Busbridge et al. App. F): supervised log A, log B ∈ {0,5,10,15,20},
log E ∈ {−1,−0.5,0,0.5,1,1.5}, α, β, γ ∈ {0,0.5,1,1.5}; distillation log A', log B' ∈
{0,5,10,15,20}, α', β', γ' ∈ {0,0.5,1}, c0, c1, f1 ∈ {0,0.5,1,1.5}, log d1 ∈ {−1,…,1}. simgap adds
log E ∈ {−10, −5} (synthetic tasks can have E = 0 and losses ≪ 1, where every start with E above the
data sits on a plateau) and c1 ∈ {10, 100, 1000} (the paper's c1 ≈ 523 is far outside the grid).
c1 is fitted as log c1 (c1 = 0 becomes 1e-3): past the break the factor is ≈ 0 for any large c1, so
c1 lies in a long flat valley that a linear parameter crawls along for thousands of iterations.
log A and log B are fitted centred on the mean log N and log D (`centre`), which made L-BFGS-B
converge in hundreds instead of thousands of iterations.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import special

from simgap import laws
from simgap.fit.inputs import FitInputError
from simgap.laws import DistillParams, SupervisedParams

# Busbridge et al.'s App. F grids (module docstring), plus log E ∈ {−10, −5}: synthetic tasks can have E = 0 and losses ≪ 1, where
# every start with E above the data sits on a plateau (the power term's gradients vanish).
# log E goes down to −25 in the bounds, so E → 0 is allowed rather than forbidden.
SUP_GRID = {
    "log_E": [-10, -5, -1, -0.5, 0, 0.5, 1, 1.5], "log_A": [0, 5, 10, 15, 20], "log_B": [0, 5, 10, 15, 20],
    "alpha": [0, 0.5, 1, 1.5], "beta": [0, 0.5, 1, 1.5], "gamma": [0, 0.5, 1, 1.5],
    "log_C": [-8, -4, -2, 0, 2],  # reduced form only: the folded data term B/D^β
}
DIST_GRID = {
    "log_A": [0, 5, 10, 15, 20], "log_B": [0, 5, 10, 15, 20], "alpha": [0, 0.5, 1], "beta": [0, 0.5, 1],
    "gamma": [0, 0.5, 1], "c0": [0, 0.5, 1, 1.5], "log_c1": np.log([1e-3, 0.5, 1, 1.5, 10, 100, 1000]).tolist(),
    "f1": [0, 0.5, 1, 1.5], "log_d1": [-1, -0.5, 0, 0.5, 1], "log_C": [-8, -4, -2, 0, 2],
}
BOUNDS = {
    "log_E": (-25.0, 10.0), "log_A": (-30.0, 60.0), "log_B": (-30.0, 60.0), "log_C": (-30.0, 30.0),
    "alpha": (0.0, 5.0), "beta": (0.0, 5.0), "gamma": (0.01, 5.0),
    "c0": (0.0, 20.0), "log_c1": (math.log(1e-3), math.log(5000.0)), "f1": (0.005, 5.0), "log_d1": (-3.0, 3.0),
    "eta": (-5.0, 5.0),  # the teacher-size exponent of simgap.fit.nested (teacher_only_through_loss)
    # the pruned start's head start of simgap.fit.start_law: its size, fading with the pruned share and with D_S
    "log_H": (-20.0, 5.0), "kappa": (0.0, 10.0), "omega": (-5.0, 10.0),
}

# Centred fits (see centre) work on log A − α·mean(log N): wider bounds, same meaning.
CENTRED_BOUNDS = {"log_A": (-120.0, 120.0), "log_B": (-120.0, 120.0)}
SCALE_NAMES = ("log_A", "log_B", "log_C")  # bounds far outside any data: never reported "at a bound"
LOG_FLOOR = {"E": 1e-11, "c1": 1e-3}  # a natural value below its floor enters log coordinates at the floor
ZERO_AT_LOWER_BOUND = ("E",)  # may be fixed at 0: its log coordinate then sits at its lower bound (E ≈ 1e-11)


class Law:
    """A law as the solver, bootstrap, extrapolation check and results see it.

    A subclass sets `name` (messages and JSON), `params_type` (natural-scale parameters, whose
    field names are the names a user fixes), `full_names` (the solver's coordinates: `log_X` is
    log of X), `grid` (start values per coordinate), `columns` (fit data key → table column, for
    messages; always N, D and loss), the default start counts, and `logpred`/`logpred_and_grad`
    on centred log N, log D and `features(data)`. The reduced (single-budget) form — B/D^β folded into one
    constant C, β gone — is derived here for every law."""

    name: str
    params_type: type
    full_names: tuple[str, ...]
    grid: dict
    columns: dict
    n_top: int
    n_random: int
    prime = ""  # "'" for a law whose constants are primed (A', B', ...) in notes

    def names(self, reduced: bool) -> tuple[str, ...]:
        if not reduced:
            return self.full_names
        return tuple("log_C" if n == "log_B" else n for n in self.full_names if n != "beta")

    @staticmethod
    def natural_name(coordinate: str) -> str:
        return "B" if coordinate == "log_C" else coordinate[4:] if coordinate.startswith("log_") else coordinate

    def coordinate(self, natural: str, reduced: bool) -> str:
        """The solver coordinate a natural parameter is fitted as (E → log_E; B → log_C reduced)."""
        if reduced and natural == "B":
            return "log_C"
        return f"log_{natural}" if f"log_{natural}" in self.full_names else natural

    def to_params(self, theta, reduced: bool):
        values = {"beta": 0.0} if reduced else {}
        for n, v in zip(self.names(reduced), theta):
            values[self.natural_name(n)] = math.exp(v) if n.startswith("log_") else float(v)
        return self.params_type(**values)

    def from_params(self, p, reduced: bool) -> np.ndarray:
        out = []
        for n in self.names(reduced):
            v = getattr(p, self.natural_name(n))
            out.append(math.log(max(v, LOG_FLOOR[self.natural_name(n)]) if self.natural_name(n) in LOG_FLOOR
                                else v) if n.startswith("log_") else v)
        return np.array(out)

    def fixed_theta(self, fixed: dict[str, float], reduced: bool) -> dict[str, float]:
        """Natural-scale fixed values ({"E": 0, "gamma": 1}) → the solver's coordinates ({"log_E": …}).

        E = 0 becomes log E at its lower bound (E ≈ 1e-11). In the reduced (single-budget) form B is
        the folded constant C and β does not exist (fixing β = 0 there is accepted as a no-op)."""
        allowed = tuple(f.name for f in dataclasses.fields(self.params_type))
        out = {}
        for k, v in fixed.items():
            if k not in allowed:
                raise FitInputError(f"cannot fix {k!r} in the {self.name} law; its parameters are {', '.join(allowed)}")
            if reduced and k == "beta":
                if v != 0:
                    raise FitInputError(f"cannot fix beta = {v} in the single-budget ({self.name}) fit: "
                                        "beta is not identifiable")
                continue
            name = self.coordinate(k, reduced)
            value = math.log(v) if name.startswith("log_") and v > 0 else v
            if name.startswith("log_") and v <= 0:
                if k not in ZERO_AT_LOWER_BOUND:
                    raise FitInputError(f"{self.name} law: {k} must be > 0 to be fixed, got {v}")
                value = BOUNDS[name][0]
            lo, hi = BOUNDS[name] if name in BOUNDS and name not in CENTRED_BOUNDS else (-math.inf, math.inf)
            if not lo <= value <= hi:
                raise FitInputError(f"{self.name} law: {k} = {v} is outside the fit's range")
            assert name in self.names(reduced)
            out[name] = float(value)
        return out

    def check_form(self, reduced: bool) -> None:
        """Raise when the law cannot be fitted in this form (full or reduced)."""

    def given(self, supervised: SupervisedParams | None) -> "Law":
        """This law with the supervised law it holds fixed replaced (a bootstrap replicate's refit)."""
        return self

    def features(self, data: dict) -> dict:
        """What the log-prediction reads besides log N and log D, computed once per fit."""
        return {}

    def logpred(self, theta, x: dict, reduced: bool) -> np.ndarray:
        """log predicted loss; theta (P,) or (M, P) against data of length n: shape (n,) or (M, n)."""
        raise NotImplementedError

    def logpred_and_grad(self, theta, x: dict, reduced: bool) -> tuple[np.ndarray, np.ndarray]:
        """(logpred, d logpred / d theta of shape (P, n)) for one theta, sharing their terms."""
        raise NotImplementedError

    def predict(self, params, data: dict) -> np.ndarray:
        """The loss (natural scale) at data columns N, D (and the law's others)."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class SupervisedLaw(Law):
    """Busbridge et al.'s Eq. 1, L(N, D) = E + (A/N^α + B/D^β)^γ."""

    name = "supervised"
    params_type = SupervisedParams
    full_names = ("log_E", "log_A", "log_B", "alpha", "beta", "gamma")
    grid = SUP_GRID
    columns = {"N": "student_size", "D": "student_tokens", "loss": "loss"}
    n_top, n_random = 10, 6

    def logpred(self, theta, x, reduced):
        return _sup_terms(theta, x["logN"], x["logD"], reduced)[-1]

    def logpred_and_grad(self, theta, x, reduced):
        return _sup_grad(theta, x["logN"], x["logD"], reduced)

    def predict(self, params, data):
        return laws.supervised_loss(data["N"], data["D"], params)


@dataclasses.dataclass(frozen=True)
class DistillationLaw(Law):
    """Busbridge et al.'s Eq. 8 with the supervised law L̃_S = L(N_S, D_S) held fixed at `supervised`."""

    supervised: SupervisedParams
    name = "distillation"
    params_type = DistillParams
    full_names = ("log_A", "log_B", "alpha", "beta", "gamma", "c0", "log_c1", "f1", "log_d1")
    grid = DIST_GRID
    columns = {"N": "student_size", "D": "student_tokens", "teacher_loss": "teacher_loss", "loss": "student_loss"}
    n_top, n_random = 5, 3
    prime = "'"

    def check_form(self, reduced):
        # A reduced (single-budget) Eq. 8 needs a reduced supervised law (β = 0, B holding the folded
        # constant). A full-form fit takes any supervised law: a full fit (or a bootstrap replicate's
        # refit) may land on β = 0 at its bound and still predicts L̃_S at every D.
        if reduced and self.supervised.beta != 0:
            raise FitInputError("the distilled runs have one student budget but the supervised law was fitted "
                                "on several: fit both on the same budgets (reduced, single-budget form)")

    def given(self, supervised):
        return dataclasses.replace(self, supervised=supervised)

    def features(self, data):
        return {"logLT": np.log(data["teacher_loss"]),
                "logLsup": np.log(laws.supervised_loss(data["N"], data["D"], self.supervised))}

    def logpred(self, theta, x, reduced):
        return _dist_terms(theta, x["logN"], x["logD"], x["logLT"], x["logLsup"], reduced)[1]

    def logpred_and_grad(self, theta, x, reduced):
        return _dist_grad(theta, x["logN"], x["logD"], x["logLT"], x["logLsup"], reduced)

    def predict(self, params, data):
        return laws.distill_loss(data["N"], data["D"], data["teacher_loss"], self.supervised, params)


@dataclasses.dataclass(frozen=True)
class ShiftedDistillationLaw(DistillationLaw):
    """Eq. 8 (supervised law held fixed) with its log excess over L_T shifted per row by s(extra, row),
    extra the law's last `n_extra` coordinates: L_S = L_T + exp(log excess + s). The shape of the laws
    nested around Eq. 8 (simgap.fit.nested's teacher size, simgap.fit.start_law's start); s = 0 is Eq. 8.
    A subclass names its extra coordinates (full_names, grid, params_type), computes its features,
    and gives `shift`; fitting, gradient and prediction are here."""

    n_extra = 0

    def shift(self, extra: list, x: dict) -> tuple[np.ndarray, list[np.ndarray]]:
        """(s, [ds / d extra_i]) at the rows of `x`; `extra` holds the extra coordinates as `_cols` gives them."""
        raise NotImplementedError

    def _parts(self, theta, x, reduced):
        theta = np.asarray(theta, float)
        R, pred = _dist_terms(theta[..., :-self.n_extra], x["logN"], x["logD"], x["logLT"], x["logLsup"], reduced)
        s, ds = self.shift(_cols(theta[..., -self.n_extra:]), x)
        R2 = R[-1] + s
        return R[-1], pred, R2, np.logaddexp(x["logLT"], R2), ds

    def logpred(self, theta, x, reduced):
        return self._parts(theta, x, reduced)[3]

    def logpred_and_grad(self, theta, x, reduced):
        R, pred, R2, total, ds = self._parts(theta, x, reduced)
        _, base = _dist_grad(np.asarray(theta)[:-self.n_extra], x["logN"], x["logD"], x["logLT"], x["logLsup"], reduced)
        # Eq. 8's rows are exp(R − pred)·dR/dθ; here d total/d R2 = exp(R2 − total), and dR2/dθ = dR/dθ
        w = np.exp(R2 - total)
        return total, np.vstack([base * np.exp(R2 - total - R + pred), *(w * d for d in ds)])

    def predict(self, params, data):
        base = DistillParams(**{f.name: getattr(params, f.name) for f in dataclasses.fields(DistillParams)})
        excess = laws.log_distill_excess(data["N"], data["D"], data["teacher_loss"], self.supervised, base)
        with np.errstate(divide="ignore"):  # a log coordinate of 0 (H = 0: no shift) is −inf, and exp(−inf) = 0
            extra = [np.log(getattr(params, n[4:])) if n.startswith("log_") else getattr(params, n)
                     for n in self.full_names[-self.n_extra:]]
        return data["teacher_loss"] + np.exp(excess + self.shift(extra, self.features(data))[0])


SUPERVISED = SupervisedLaw()


def _cols(th: np.ndarray) -> list[np.ndarray]:
    """Parameter columns shaped to broadcast against data: (P,) -> scalars, (M, P) -> (M, 1)."""
    th = np.asarray(th, float)
    return [th[..., i, None] if th.ndim > 1 else th[i] for i in range(th.shape[-1])]


def _sup_terms(th, logN, logD, reduced):
    if reduced:
        lE, lA, lC, a, g = _cols(th)
        t_a, t_b = lA - a * logN, lC + 0.0 * logN
    else:
        lE, lA, lB, a, b, g = _cols(th)
        t_a, t_b = lA - a * logN, lB - b * logD
    S = np.logaddexp(t_a, t_b)
    return lE, g, t_a, t_b, S, np.logaddexp(lE, g * S)


def _sup_grad(th, logN, logD, reduced):
    """(log-pred, d log-pred / d theta of shape (P, n)), from one evaluation of the terms."""
    lE, g, t_a, t_b, S, pred = _sup_terms(th, logN, logD, reduced)
    wE = np.exp(lE - pred)
    wP = 1.0 - wE
    pa = special.expit(t_a - t_b)
    dS = wP * g
    if reduced:
        return pred, np.stack([wE, dS * pa, dS * (1 - pa), -dS * pa * logN, wP * S])
    return pred, np.stack([wE, dS * pa, dS * (1 - pa), -dS * pa * logN, -dS * (1 - pa) * logD, wP * S])


def _dist_terms(th, logN, logD, logLT, logLsup, reduced):
    if reduced:
        lA, lC, a, g, c0, lc1, f1, ld = _cols(th)
        t_a, t_b = lA - a * logN, lC + 0.0 * logN
    else:
        lA, lB, a, b, g, c0, lc1, f1, ld = _cols(th)
        t_a, t_b = lA - a * logN, lB - b * logD
    S = np.logaddexp(t_a, t_b)
    z = (logLT - ld - logLsup) / f1
    sp = np.logaddexp(0.0, z)
    c1 = np.exp(lc1)
    R = -c0 * logLT - c1 * f1 * sp + g * S
    return (g, c1, f1, t_a, t_b, S, z, sp, R), np.logaddexp(logLT, R)


def _dist_grad(th, logN, logD, logLT, logLsup, reduced):
    (g, c1, f1, t_a, t_b, S, z, sp, R), pred = _dist_terms(th, logN, logD, logLT, logLsup, reduced)
    q = np.exp(R - pred)  # d pred / d R
    pa = special.expit(t_a - t_b)
    sz = special.expit(z)
    dS = q * g
    common = [q * S, -q * logLT, -q * f1 * sp * c1, q * (-c1 * sp + c1 * sz * z), q * c1 * sz]
    if reduced:
        return pred, np.stack([dS * pa, dS * (1 - pa), -dS * pa * logN] + common)
    return pred, np.stack([dS * pa, dS * (1 - pa), -dS * pa * logN, -dS * (1 - pa) * logD] + common)


def huber_scaled(r: np.ndarray, delta: float) -> np.ndarray:
    """huber_δ(r)/δ²: the same minimiser as Σ huber_δ(r), but O(n·|r|/δ) instead of O(n·δ·|r|).
    L-BFGS-B's ftol test is relative to max(|f|, 1), so the unscaled objective (≈ 1e-6 with
    δ = 1e-4) stops after a few iterations: the "too-early stop" Besiroglu et al. found in
    Hoffmann et al.'s fit. Residuals are summed, not averaged, for the same reason."""
    return special.huber(delta, r) / delta**2


def huber_scaled_grad(r: np.ndarray, delta: float) -> np.ndarray:
    return np.clip(r, -delta, delta) / delta**2


def centre(theta: np.ndarray, names: tuple[str, ...], mN: float, mD: float, sign: float) -> np.ndarray:
    """log A − α·mean(log N) (and log B − β·mean(log D)): the fit runs on centred log sizes, which
    removes the strong log A–α correlation (|log N| ≈ 18) that slows L-BFGS-B by orders of
    magnitude. sign = −1 centres, +1 maps back."""
    th = np.array(theta, float)
    ix = {n: i for i, n in enumerate(names)}
    th[..., ix["log_A"]] += sign * th[..., ix["alpha"]] * mN
    if "log_B" in ix:
        th[..., ix["log_B"]] += sign * th[..., ix["beta"]] * mD
    return th


