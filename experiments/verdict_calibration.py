"""Measure how often each law-fit assumption check says fails where its assumption holds and
where it is violated by a stated amount (simgap.fit.calibration): docs/verdicts.md's table.

    python experiments/verdict_calibration.py --tables 50 --out calibration.json [--only eq8,eq8_eta_0.01]

Every simulation runs once (n tables); its counts are written to --out after every table, so a
killed run keeps what it measured and resumes there; the table printed at the end gives k/n.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from simgap.fit.calibration import CALIBRATIONS, SIMULATIONS, false_fail_limit, share, verdict_counts


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, default=50)
    ap.add_argument("--out", type=Path, default=Path("calibration.json"))
    ap.add_argument("--only", default="", help="comma-separated simulation names (default: all)")
    a = ap.parse_args(argv)
    names = [n for n in a.only.split(",") if n] or list(SIMULATIONS)
    unknown = sorted(set(names) - set(SIMULATIONS))
    if unknown:
        ap.error(f"unknown simulations {unknown}; known: {sorted(SIMULATIONS)}")
    done = json.loads(a.out.read_text()) if a.out.exists() else {}
    for name in names:  # one table at a time, saved after each: a killed run resumes where it stopped
        rec = done.setdefault(name, {"tables": 0, "seconds": 0.0, "about": SIMULATIONS[name].about, "counts": {}})
        while rec["tables"] < a.tables:
            t0 = time.time()
            for check, c in verdict_counts(SIMULATIONS[name], 1, first_seed=rec["tables"]).items():
                for verdict, k in c.items():
                    rec["counts"].setdefault(check, {}).setdefault(verdict, 0)
                    rec["counts"][check][verdict] += k
            rec["tables"] += 1
            rec["seconds"] = round(rec["seconds"] + time.time() - t0, 1)
            a.out.write_text(json.dumps(done, indent=1))
        print(f"{name}: {rec['tables']} tables in {rec['seconds']} s", flush=True)
    print("| check | holds: fails | holds: holds | violated by | violated: fails | calibrated |\n" + "|---" * 6 + "|")
    for c in CALIBRATIONS:
        if c.holds not in done or c.violated not in done:
            continue
        t, v = (done[k]["counts"].get(c.check, {}) for k in (c.holds, c.violated))
        nt, nv = sum(t.values()), sum(v.values())
        ok = share(t, "fails") <= false_fail_limit(nt) and share(v, "fails") >= 0.8
        print(f"| `{c.check}` | {t.get('fails', 0)}/{nt} | {t.get('holds', 0)}/{nt} | {c.violation} | "
              f"{v.get('fails', 0)}/{nv} | {'yes' if ok else 'NO'} |")


if __name__ == "__main__":
    main()
