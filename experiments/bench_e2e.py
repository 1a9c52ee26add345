"""End to end, for experiments/benchmark.py: a sweep as a user runs it (`python -m
simgap.sweep`, one subprocess per run), cold (fresh compile cache) then warm (same cache, fresh
run directory), its wall time split into XLA compile / train / the rest (start-up, analysis,
files) from what the sweep prints, and its useful FLOPs (results.csv) per wall second. Source
trees given alongside (e.g. an older commit) are swept interleaved with this one.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomli_w

from simgap.config import CONFIG_DIR

USER_XLA_FLAGS = os.environ.get("XLA_FLAGS")  # as the user started the benchmark, before tune_cpu

# The quick/test end-to-end sweep: default.toml's problem on a grid of 4 buckets (teachers w4 and
# w8, students w8 supervised and distilled) and a few seconds.
TINY_E2E = {"name": "tiny-e2e", "family": "mlp", "family_params": {"classes": 4},
            "grid": {"student_sizes": [7, 8], "teacher_sizes": [4, 7, 8], "student_budgets": [512 * 20],
                     "teacher_budgets": [512 * 20], "seeds": 2},
            "train": {"learning_rate": 3e-3, "batch_size": 512}, "fit": {"bootstrap": 0}}


def e2e_config(e2e: str, workdir: Path) -> Path:
    """The config file the end-to-end section sweeps: "default" (configs/default.toml), "tiny"
    (TINY_E2E), or a path."""
    if e2e == "default":
        return CONFIG_DIR / "default.toml"
    if e2e == "tiny":
        path = workdir / "tiny-e2e.toml"
        path.write_text(tomli_w.dumps(TINY_E2E))
        return path
    return Path(e2e)


_TRAINED = re.compile(r"trained (\d+) runs in ([\d.]+) s \((\d+) compiles; XLA compilation ([\d.]+) s, "
                      r"(\d+) of (\d+) programs from the compile cache\)")
_ANALYSIS = re.compile(r"^analysis ([\d.]+) s$", re.M)


def sweep_once(src: Path, config: Path, cache_dir: Path, out: Path) -> dict:
    """One `python -m simgap.sweep` of the code in `src` into a fresh `out`, compile cache in
    `cache_dir`: wall time (process start to exit) split as the sweep prints it."""
    env = dict(os.environ, PYTHONPATH=str(src), SIMGAP_CACHE_DIR=str(cache_dir), PYTHONUNBUFFERED="1")
    env.pop("XLA_FLAGS", None)  # the user's own flags only, not what tune_cpu added here: each tree sets its own
    if USER_XLA_FLAGS is not None:
        env["XLA_FLAGS"] = USER_XLA_FLAGS
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "simgap.sweep", "--config", str(config), "--out", str(out),
                           "--no-progress"], capture_output=True, text=True, env=env, cwd=src)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"sweep of {src} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    m = _TRAINED.search(proc.stdout)
    if m is None:
        raise RuntimeError(f"sweep of {src} printed no 'trained ... runs' line:\n{proc.stdout[-2000:]}")
    runs, training, compiles, xla, hits, programs = (float(g) for g in m.groups())
    analysis = _ANALYSIS.search(proc.stdout)
    with open(out / "results.csv") as f:
        useful = sum(float(r["flops"]) for r in csv.DictReader(f))
    return dict(wall_s=wall, training_s=training, compile_s=xla, train_s=training - xla,
                analysis_s=float(analysis.group(1)) if analysis else None,  # older code: in rest_s
                rest_s=wall - training, runs=int(runs), compiles=int(compiles), xla_programs=int(programs),
                from_cache=int(hits), useful_flops=useful, load_1min=load)


def end_to_end(config: Path, sources: dict[str, Path], peak_gflops: float, workdir: Path, echo=print) -> dict:
    """Each source tree's sweep of `config` cold (fresh compile cache) then warm (same cache, fresh
    run directory), interleaved (cold a, cold b, warm a, warm b) so the machine's load hits all alike."""
    runs: dict[str, dict] = {name: {} for name in sources}
    for phase in ("cold", "warm"):
        for name, src in sources.items():
            r = sweep_once(src, config, workdir / f"cache-{name}", workdir / f"run-{name}-{phase}")
            r["fraction_of_peak"] = r["useful_flops"] / r["wall_s"] / 1e9 / peak_gflops
            runs[name][phase] = r
            echo(f"   {name:<8s} {phase}: {r['wall_s']:6.1f} s wall = compile {r['compile_s']:5.1f} s "
                 f"({r['compiles']} buckets, {r['from_cache']}/{r['xla_programs']} XLA programs from cache) + train "
                 f"{r['train_s']:6.1f} s + rest {r['rest_s']:5.1f} s"
                 + (f" (analysis {r['analysis_s']:.1f} s)" if r["analysis_s"] is not None else "")
                 + f"; {r['useful_flops']:.3g} useful FLOPs = {100 * r['fraction_of_peak']:.1f}% of peak "
                 f"(load {r['load_1min']:.2f})")
    if len(sources) == 2:
        (a, ra), (b, rb) = runs.items()
        runs["ratios"] = {f"{b}_vs_{a}_{p}": rb[p]["wall_s"] / ra[p]["wall_s"] for p in ("cold", "warm")}
        runs["ratios"][f"{b}_warm_vs_{a}_cold"] = rb["warm"]["wall_s"] / ra["cold"]["wall_s"]
        echo("   wall time ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in runs["ratios"].items()))
    return runs


def section(out: dict, e2e: str, baseline: Path | None, echo) -> None:
    """Section 6 of the benchmark into out["end_to_end"] (nothing when `e2e` is "")."""
    if not e2e:
        return
    here = Path(__file__).resolve().parents[1]
    sources = {"baseline": baseline.resolve(), "this": here} if baseline else {"this": here}
    with tempfile.TemporaryDirectory(prefix="simgap-e2e-") as tmp:
        config = e2e_config(e2e, Path(tmp))
        echo(f"6. end to end: `python -m simgap.sweep --config {config.name}`, cold (fresh compile cache) then "
             f"warm (same cache, fresh run directory); wall = compile + train + rest (startup, analysis, files)")
        out["end_to_end"] = dict(config=str(config), sources={k: str(v) for k, v in sources.items()},
                                 **end_to_end(config, sources, out["peak_gflops"], Path(tmp), echo))
