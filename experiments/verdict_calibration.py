"""Measure how often each law-fit assumption check says fails where its assumption holds and
where it is violated by a stated amount (simgap.fit.calibration): docs/verdicts.md's table.

    python experiments/verdict_calibration.py --tables 50 --out calibration.json [--only eq8,eq8_eta_0.01]

Every simulation runs once (n tables) and its counts are written to --out after each one, so a
long run keeps what it measured; the table printed at the end gives the shares as k/n.
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
    for name in names:
        if done.get(name, {}).get("tables") == a.tables:
            continue
        t0 = time.time()
        counts = verdict_counts(SIMULATIONS[name], a.tables)
        done[name] = {"tables": a.tables, "seconds": round(time.time() - t0, 1), "about": SIMULATIONS[name].about,
                      "counts": {k: dict(v) for k, v in counts.items()}}
        a.out.write_text(json.dumps(done, indent=1))
        print(f"{name}: {a.tables} tables in {done[name]['seconds']} s", flush=True)
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
