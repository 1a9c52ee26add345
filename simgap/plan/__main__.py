"""`python -m simgap.plan`: which teacher, how to spend the compute, and is the pilot big enough."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from simgap.plan import link
from simgap.plan.compute import SCENARIOS, PlanError
from simgap.plan.load import REFERENCES, load_laws, reference
from simgap.plan.run import PlanRequest, make_plan, summarize, write_plots

PROTOCOLS = {"tokens-per-param": "tokens_per_param", "fixed-tokens": "fixed_tokens", "compute-optimal": "compute_optimal"}


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item"):
        x = x.item()
    if isinstance(x, float) and x != x or x in (float("inf"), float("-inf")):
        return None
    return x


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2 (argparse's default also prints the usage)
        print(f"simgap.plan: error: {message}", file=sys.stderr)
        sys.exit(2)


def parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m simgap.plan", description=(
        "Plan a distillation run from fitted laws: the optimal teacher Eq. 8 implies, the compute-optimal "
        "allocation per scenario against supervised training, crossovers, and (with --design) how sure a pilot is."))
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--laws", metavar="JSON", help="fit.json from python -m simgap.fit, or a sweep's laws.json")
    src.add_argument("--reference", choices=sorted(REFERENCES), help="the paper's fitted laws")
    ap.add_argument("--family", help="family in the laws file (default: the first with a distillation law)")
    ap.add_argument("--setting", type=int, help="settings group index in that family")
    ap.add_argument("--student", type=float, help="student size N_S (parameters, or the fit's size unit)")
    ap.add_argument("--compute", type=float, help="total compute C in FLOPs")
    ap.add_argument("--student-tokens", type=float, help="D_S for the teacher-law link (default 20·N_S)")
    ap.add_argument("--scenario", choices=["all", *SCENARIOS], default="all")
    ap.add_argument("--teacher-protocol", choices=list(PROTOCOLS), default="tokens-per-param")
    ap.add_argument("--teacher-tokens-per-param", type=float, default=20.0)
    ap.add_argument("--teacher-tokens", type=float, help="D_T for --teacher-protocol fixed-tokens")
    ap.add_argument("--compute-multiple", type=float, default=10.0,
                    help="compute-optimal protocol: C = multiple · 6·N_S·D_S per student")
    ap.add_argument("--flops-c1", type=float, default=0.0, help="F(N) = 2N(1 + c1·N^(-1/3) + c2·N^(-2/3))")
    ap.add_argument("--flops-c2", type=float, default=0.0)
    ap.add_argument("--size-unit", type=float, help="teacher-law fits in sizes / this (default 1e6 with --reference)")
    ap.add_argument("--sweep-points", type=int, default=13, help="computes per scenario for crossovers and plots")
    ap.add_argument("--map-students", type=int, default=5, help="student sizes (N_S/10..10·N_S) in the gain map")
    ap.add_argument("--no-sweep", action="store_true", help="skip the C sweep, crossovers and the gain map")
    ap.add_argument("--design", metavar="TABLE.csv", help="pilot table: CI of the teacher law and ranked additions")
    ap.add_argument("--design-students", type=_floats, help="a planned pilot from the laws instead of a table: "
                    "student sizes, comma-separated (with --design-teacher-ratios, --design-seeds, --noise-sd)")
    ap.add_argument("--design-teacher-ratios", type=_floats, default=(16.0, 32.0, 64.0, 128.0, 256.0, 512.0))
    ap.add_argument("--design-seeds", type=int, default=5)
    ap.add_argument("--target-student", type=float, help="student size for the design's T* CI (default 10x largest)")
    ap.add_argument("--design-boot", type=int, default=1000)
    ap.add_argument("--eq8-boot", type=int, default=0,
                    help="refits of Eq. 8 on re-drawn pilots: the extrapolation error to expect (needs --laws)")
    ap.add_argument("--noise-sd", type=float, help="seed noise of the pilot (default: measured from its seeds)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="directory for plan.json and plots")
    ap.add_argument("--no-plots", action="store_true")
    return ap


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
        if args.sweep_points < 3:
            raise PlanError(f"--sweep-points must be ≥ 3, got {args.sweep_points}")
        if args.map_students < 2:
            raise PlanError(f"--map-students must be ≥ 2, got {args.map_students}")
        if args.eq8_boot < 0 or (args.eq8_boot and not args.laws):
            raise PlanError("--eq8-boot takes a count ≥ 0 and needs --laws FILE (the fit's data)")
        if args.design_boot < 20:
            raise PlanError(f"--design-boot must be ≥ 20, got {args.design_boot}")
        if args.target_student is not None and not (args.design or args.design_students or args.eq8_boot):
            raise PlanError("--target-student needs --design TABLE.csv, --design-students or --eq8-boot N")
        protocol = link.TeacherProtocol(PROTOCOLS[args.teacher_protocol], args.teacher_tokens_per_param,
                                        float("nan") if args.teacher_tokens is None else args.teacher_tokens,
                                        args.compute_multiple)
        L = (reference(args.reference) if args.reference else load_laws(args.laws, args.family, args.setting)
             if args.laws else None)
        req = PlanRequest(student=args.student or float("nan"), compute=args.compute or float("nan"), student_tokens=args.student_tokens,
                          scenarios=tuple(SCENARIOS) if args.scenario == "all" else (args.scenario,),
                          protocol=protocol, flops_c1=args.flops_c1, flops_c2=args.flops_c2,
                          size_unit=args.size_unit or (1e6 if args.reference else 1.0),
                          sweep_points=args.sweep_points, map_students=args.map_students, design_table=args.design,
                          design_students=args.design_students or (),
                          design_ratios=args.design_teacher_ratios, design_seeds=args.design_seeds,
                          target_student=args.target_student, design_boot=args.design_boot, eq8_boot=args.eq8_boot,
                          noise_sd=args.noise_sd, seed=args.seed)
        plan, extras = make_plan(L, req, sweeps=not args.no_sweep)
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            if not args.no_plots:
                plan["plots"] = write_plots(L, req, plan, extras, out)
            (out / "plan.json").write_text(json.dumps(_jsonable(plan), indent=1, allow_nan=False))
    except (PlanError, ValueError, OSError) as e:
        print(f"simgap.plan: error: {e}", file=sys.stderr)
        return 2
    print(summarize(plan))
    if args.out:
        print(f"wrote {out / 'plan.json'}" + (f" and {len(plan['plots'])} plots" if "plots" in plan else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
