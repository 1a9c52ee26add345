"""The MLP capacity-gap search: student loss vs teacher width, paired across seeds.

    python experiments/mlp_gap.py [CONFIG] [--init INIT ...] [--seeds N] [--out DIR]
    python experiments/mlp_gap.py --results runs/NAME ...   # finished sweeps, without training

CONFIG is a path or a name in configs/ (default: mlp; `mlp_zhang` is the same grid under Zhang
et al.'s protocol: each student pruned from the teacher it is distilled from, lam = 0.5). It runs
one `python -m simgap.sweep` per student init (run directories DIR/<init>, default
runs/gap/<config name>; an existing one is resumed) and prints, per student, the seed-mean loss per
teacher and the optimum from the sweep's laws.json (refined teacher with bootstrap CI,
interior/edge, the dip with its simultaneous CI and the `gap_exists` verdict, T*/S in parameters
beside Zhang's 2.5).
"""

import sys

import gap_runs

if __name__ == "__main__":
    sys.exit(gap_runs.main(default="mlp", doc=__doc__))
