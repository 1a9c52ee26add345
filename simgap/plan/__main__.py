"""`python -m simgap.plan`: which teacher, how to spend the compute, and is the pilot big enough.

The command line of `simgap.plan(laws, ...)` (simgap.api): it checks its flags, calls the API, and
writes plan.json and the plots (simgap.plan.plots) and prints the plan (simgap.plan.summary)."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import replace
from pathlib import Path

from simgap import api
from simgap.fit.results import to_json
from simgap.plan import link
from simgap.plan.compute import SCENARIOS, PlanError
from simgap.plan.load import REFERENCES
from simgap.plan.plots import write_plots
from simgap.plan.summary import summarize

PROTOCOLS = {"tokens-per-param": "tokens_per_param", "fixed-tokens": "fixed_tokens", "compute-optimal": "compute_optimal"}


def _number(text: str, *, low: float = 0.0, strict: bool = True) -> float:
    """A finite float > low (>= low when not strict): an argparse type that names what is wrong."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(x) and (x > low if strict else x >= low)):
        raise argparse.ArgumentTypeError(f"must be a finite number {'>' if strict else '≥'} {low:g}, got {text}")
    return x


def positive(text: str) -> float:
    return _number(text)


def nonnegative(text: str) -> float:
    return _number(text, strict=False)


def _count(low: int):
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if n < low:
            raise argparse.ArgumentTypeError(f"must be ≥ {low}, got {n}")
        return n
    return parse


def _at_least_one(text: str) -> float:
    return _number(text, low=1.0, strict=False)


def _floats(text: str) -> tuple[float, ...]:
    """Comma-separated sizes, each finite and > 0."""
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    bad = [x for x in values if not (math.isfinite(x) and x > 0)]
    if bad:
        raise argparse.ArgumentTypeError(f"every value must be finite and > 0, got {bad[0]:g} in {text!r}")
    return values


# argparse reads "-1e9" as an option (its negative-number pattern has no exponent): accept it as a
# value, so `--student -1e9` is refused for being negative rather than for a missing argument.
_NEGATIVE = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._negative_number_matcher = _NEGATIVE

    def error(self, message):  # one line, exit code 2 (argparse's default also prints the usage)
        print(f"simgap.plan: error: {message}", file=sys.stderr)
        sys.exit(2)


SCENARIO_HELP = ("compute-optimal scenarios (Busbridge et al. §5), cost C = 3F(N_S)·D_S + F(N_T)·(δ_logit·D_S + "
                 "δ_pre·3·D_T): free (δ_pre 0, δ_logit 0) a teacher exists and its logits cost nothing; inference "
                 "(0, 1) a teacher exists and its forward passes on D_S are paid; trained (1, 1) the teacher is "
                 "trained for this student; pretraining (1, 0) it is trained here but its logits are free (e.g. "
                 "stored). 'all' = free, inference, trained. Each is compared with supervised training on all of C")


def parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m simgap.plan", description=(
        "Plan a distillation run from fitted laws: the compute-optimal allocation per scenario against supervised "
        "training, crossovers, the optimal teacher Eq. 8 implies, and (with --design) how sure a pilot is. "
        "Sizes are parameters (or the fit's size unit), tokens are tokens, compute is FLOPs, losses are nats per "
        "token on the data the laws were fitted on."))
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--laws", metavar="JSON", help="fit.json from python -m simgap.fit, or a sweep's laws.json")
    src.add_argument("--reference", choices=sorted(REFERENCES), help="the paper's fitted laws (Busbridge et al. "
                     "Table 6)")
    ap.add_argument("--family", help="family in the laws file (default: the first with a distillation law)")
    ap.add_argument("--setting", type=_count(0), help="settings group index in that family")
    ap.add_argument("--student", type=positive, help="student size N_S (parameters, or the fit's size unit)")
    ap.add_argument("--compute", type=positive, help="compute C in FLOPs charged to this student")
    ap.add_argument("--student-tokens", type=positive, help="D_S for the teacher-law link (default 20·N_S)")
    ap.add_argument("--scenario", choices=["all", *SCENARIOS], default="all", help=SCENARIO_HELP)
    ap.add_argument("--teacher-protocol", choices=list(PROTOCOLS), default="tokens-per-param",
                    help="how the link section trains a teacher of N_T parameters: tokens-per-param D_T = k·N_T; "
                         "fixed-tokens D_T = --teacher-tokens; compute-optimal: the 'trained' allocation at "
                         "C = --compute-multiple·6·N_S·D_S")
    ap.add_argument("--teacher-tokens-per-param", type=positive, default=20.0, help="k for tokens-per-param (20)")
    ap.add_argument("--teacher-tokens", type=positive, help="D_T of your teacher (with --teacher-size), or of "
                    "every teacher under --teacher-protocol fixed-tokens")
    mine = ap.add_argument_group("your teachers", "plan D_S and distil-vs-supervised for teachers you already have "
                                 "(their training is sunk; the student pays its training and, unless --scenario free, "
                                 "the teacher's inference on D_S)")
    mine.add_argument("--teacher-size", type=positive, help="your teacher's N_T (with --teacher-tokens D_T, or "
                      "--teacher-loss)")
    mine.add_argument("--teacher-loss", type=positive, help="your teacher's measured loss L_T, in the laws' unit "
                      "(nats/token on their data)")
    mine.add_argument("--teachers", metavar="FILE.csv", help="several teachers to rank: a CSV with a header and "
                      "columns name (optional; each its own), size, tokens, or loss (size optional then)")
    _add_costs_and_outputs(ap)
    _add_design(ap)
    return ap


def _add_costs_and_outputs(ap: argparse.ArgumentParser) -> None:
    """Shared teachers, the FLOPs model, the sweep and map, and where the plan goes."""
    ap.add_argument("--students-per-teacher", type=_at_least_one, default=1.0, metavar="K",
                    help="K students share one trained teacher: 1/K of its training is charged to this student "
                         "(scenarios trained and pretraining), and the smallest K at which distillation pays is "
                         "reported per student size. C is what this student is charged: its training, its teacher's "
                         "inference on its tokens, and 1/K of the teacher's training")
    ap.add_argument("--compute-multiple", type=positive, default=10.0,
                    help="compute-optimal protocol: C = multiple · 6·N_S·D_S per student (> 1)")
    ap.add_argument("--flops-c1", type=nonnegative, default=0.0, help="F(N) = 2N(1 + c1·N^(-1/3) + c2·N^(-2/3)), "
                    "c1 ≥ 0 (0: F = 2N)")
    ap.add_argument("--flops-c2", type=nonnegative, default=0.0, help="c2 ≥ 0 of F(N) (0 by default)")
    ap.add_argument("--size-unit", type=positive, help="teacher-law fits in sizes / this (default 1e6 with "
                    "--reference, Zhang et al.'s millions)")
    ap.add_argument("--sweep-points", type=_count(3), default=13, help="computes per scenario for crossovers and "
                    "plots (≥ 3)")
    ap.add_argument("--map-students", type=_count(2), default=5, help="student sizes (N_S/10..10·N_S) in the gain "
                    "map (≥ 2)")
    ap.add_argument("--no-sweep", action="store_true", help="skip the C sweep, crossovers and the gain map")
    ap.add_argument("--seed", type=int, default=0, help="seed of the bootstraps")
    ap.add_argument("--out", help="directory for plan.json and plots")
    ap.add_argument("--no-plots", action="store_true", help="write plan.json only")


def _add_design(ap: argparse.ArgumentParser) -> None:
    """--design: how sure a pilot (a table, or one planned from the laws) makes the teacher law."""
    ap.add_argument("--design", metavar="TABLE.csv", help="pilot table: CI of the teacher law and ranked additions")
    ap.add_argument("--design-students", type=_floats, help="a planned pilot from the laws instead of a table: "
                    "student sizes, comma-separated (with --design-teacher-ratios, --design-seeds, --noise-sd)")
    ap.add_argument("--design-teacher-ratios", type=_floats, default=api.DESIGN_RATIOS,
                    help="teacher sizes of a planned pilot, as multiples of each student")
    ap.add_argument("--design-seeds", type=_count(1), default=5, help="seeds of a planned pilot")
    ap.add_argument("--target-student", type=positive, help="student size for the design's T* CI (default 10x "
                    "the largest pilot student)")
    ap.add_argument("--design-boot", type=_count(20), default=1000, help="parametric-bootstrap pilots (≥ 20)")
    ap.add_argument("--eq8-boot", type=_count(0), default=0,
                    help="refits of Eq. 8 on re-drawn pilots: the extrapolation error to expect (needs --laws)")
    ap.add_argument("--noise-sd", type=positive, help="seed noise of the pilot, in loss units (default: measured "
                    "from its seeds)")


def _request(args, protocol: link.TeacherProtocol) -> dict:
    """The flags that go to simgap.plan.run.PlanRequest as they are (simgap.plan's **request)."""
    return dict(student_tokens=args.student_tokens, protocol=protocol, flops_c1=args.flops_c1, flops_c2=args.flops_c2,
                sweep_points=args.sweep_points, map_students=args.map_students,
                design_students=args.design_students or (), design_ratios=args.design_teacher_ratios,
                design_seeds=args.design_seeds, target_student=args.target_student, design_boot=args.design_boot,
                eq8_boot=args.eq8_boot, noise_sd=args.noise_sd, seed=args.seed, teacher_size=args.teacher_size,
                teacher_tokens=args.teacher_tokens if args.teacher_size is not None else None,
                teacher_loss=args.teacher_loss, students_per_teacher=args.students_per_teacher)


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args = ap.parse_args(argv)
    try:
        if args.design and args.design_students:
            raise PlanError("give --design TABLE.csv or --design-students, not both")
        if not (args.laws or args.reference):
            if not args.design:
                raise PlanError("give laws (--laws FILE or --reference busbridge), or a pilot table (--design TABLE.csv)")
            if args.student is not None or args.compute is not None:
                raise PlanError("--student/--compute need laws: --laws FILE or --reference busbridge")
        elif args.student is None or args.compute is None:
            raise PlanError("--student and --compute are required with laws")
        if args.eq8_boot and not args.laws:
            raise PlanError("--eq8-boot needs --laws FILE (the fit's data)")
        if args.target_student is not None and not (args.design or args.design_students or args.eq8_boot):
            raise PlanError("--target-student needs --design TABLE.csv, --design-students or --eq8-boot N")
        if args.teacher_size is None and args.teacher_loss is None and args.teacher_tokens is not None \
                and args.teacher_protocol != "fixed-tokens":
            raise PlanError("--teacher-tokens needs --teacher-size (your teacher) or --teacher-protocol fixed-tokens")
        if args.teachers and (args.teacher_size is not None or args.teacher_loss is not None):
            raise PlanError("give --teachers FILE.csv or --teacher-size/--teacher-loss, not both")
        if args.teacher_size is not None and args.teacher_tokens is None and args.teacher_loss is None:
            raise PlanError("--teacher-size needs --teacher-tokens D_T (or --teacher-loss L_T): a teacher's loss "
                            "depends on how long it was trained")
        protocol = link.TeacherProtocol(PROTOCOLS[args.teacher_protocol], args.teacher_tokens_per_param,
                                        float("nan") if args.teacher_tokens is None else args.teacher_tokens,
                                        args.compute_multiple)
        laws = args.reference or (Path(args.laws) if args.laws else None)  # a path, never a reference's name
        plan = api.plan(laws, family=args.family, setting=args.setting, student=args.student,
                        compute=args.compute, scenario=args.scenario, teachers=args.teachers, design=args.design,
                        sweep=not args.no_sweep, size_unit=args.size_unit, **_request(args, protocol))
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            if not args.no_plots:
                plan = replace(plan, plots=write_plots(plan, out))
            (out / "plan.json").write_text(json.dumps(to_json(plan), indent=1, allow_nan=False))
    except (PlanError, ValueError, OSError) as e:
        print(f"simgap.plan: error: {e}", file=sys.stderr)
        return 2
    print(summarize(plan))
    if args.out:
        print(f"wrote {out / 'plan.json'}" + (f" and {len(plan.plots)} plots" if plan.plots else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
