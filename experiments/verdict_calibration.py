"""Measure how often each law-fit assumption check says fails where its assumption holds and
where it is violated by a stated amount (simgap.fit.calibration): docs/verdicts.md's table.

    python experiments/verdict_calibration.py --tables 50 --out calibration.json [--only eq8,eq8_eta_0.01]
        [--fit-seeds 0,1]

Every simulation runs once (n tables); its counts are written to --out after every table, so a
killed run keeps what it measured and resumes there; the table printed at the end gives k/n.
With --fit-seeds 0,1 every table is refitted with --seed 1 too and the verdicts that moved are
counted per check (a second table: the seed-flip rates).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from simgap.fit.calibration import CALIBRATIONS, SIMULATIONS, share, verdict_counts


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, default=50)
    ap.add_argument("--out", type=Path, default=Path("calibration.json"))
    ap.add_argument("--only", default="", help="comma-separated simulation names (default: all)")
    ap.add_argument("--first", type=int, default=0, help="the first table's rng seed (shards of one calibration "
                    "run side by side with --first 0, 25, …; their counts add up)")
    ap.add_argument("--fit-seeds", default="0", help="comma-separated fit seeds: the first is counted, the "
                    "others refit each table and count verdicts that moved")
    a = ap.parse_args(argv)
    names = [n for n in a.only.split(",") if n] or list(SIMULATIONS)
    seeds = tuple(int(x) for x in a.fit_seeds.split(","))
    unknown = sorted(set(names) - set(SIMULATIONS))
    if unknown:
        ap.error(f"unknown simulations {unknown}; known: {sorted(SIMULATIONS)}")
    done = json.loads(a.out.read_text()) if a.out.exists() else {}
    for name in names:  # one table at a time, saved after each: a killed run resumes where it stopped
        rec = done.setdefault(name, {"tables": 0, "seconds": 0.0, "about": SIMULATIONS[name].about, "counts": {}})
        while rec["tables"] < a.tables:
            t0 = time.time()
            for check, c in verdict_counts(SIMULATIONS[name], 1, first_seed=a.first + rec["tables"],
                                              fit_seeds=seeds).items():
                for verdict, k in c.items():
                    rec["counts"].setdefault(check, {}).setdefault(verdict, 0)
                    rec["counts"][check][verdict] += k
            rec["tables"] += 1
            rec["seconds"] = round(rec["seconds"] + time.time() - t0, 1)
            a.out.write_text(json.dumps(done, indent=1))
        print(f"{name}: {rec['tables']} tables in {rec['seconds']} s", flush=True)
    print(calibration_table(done) + "\n\n" + flip_table(done))


def calibration_table(done: dict) -> str:
    rows = ["| check | holds in | holds: fails | holds: holds | violated by | violated: fails | calibrated |",
            "|---" * 7 + "|"]
    for c in CALIBRATIONS:
        if c.holds not in done or (c.violated and c.violated not in done):
            continue
        t = done[c.holds]["counts"].get(c.check, {})
        v = done[c.violated]["counts"].get(c.check, {}) if c.violated else {}
        nt, nv = sum(t.values()), sum(v.values())
        ok = share(t, "fails") <= 0.1 and (not c.violated or not c.power_required or share(v, "fails") >= 0.8)
        rows.append(f"| `{c.check}` | {c.holds} | {t.get('fails', 0)}/{nt} | {t.get('holds', 0)}/{nt} | {c.violation} | "
                    + (f"{v.get('fails', 0)}/{nv}" + ("" if c.power_required else " (measured, not required)")
                       if c.violated else "–") + f" | {'yes' if ok else 'NO'} |")
    return "\n".join(rows)


def flip_table(done: dict) -> str:
    """Per simulation and check: tables whose verdict moved when refitted with another --seed."""
    rows = ["| simulation | check | same | holds↔fails | to/from undecided |", "|---" * 5 + "|"]
    for name, rec in done.items():
        for key, c in sorted(rec["counts"].items()):
            if " --seed " not in key:
                continue
            hard = sum(k for m, k in c.items() if m in ("holds->fails", "fails->holds"))
            soft = sum(k for m, k in c.items() if m != "same") - hard
            rows.append(f"| {name} | `{key}` | {c.get('same', 0)}/{sum(c.values())} | {hard} | {soft} |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
