"""The MLP capacity-gap search: student loss vs teacher width, paired across seeds.

    python experiments/mlp_gap.py [CONFIG] [--init INIT ...] [--seeds N] [--csv rows.csv]
    python experiments/mlp_gap.py CONFIG --results runs/NAME/results.csv   # a finished sweep

CONFIG is a path or a name in configs/ (default: mlp; `mlp_zhang` is the same grid under Zhang
et al.'s protocol: each student pruned from the teacher it is distilled from, lam = 0.5). Per
student it prints the seed-mean loss per teacher and the optimum as simgap.optima finds it
(refined teacher with bootstrap CI, interior/edge, the dip with its simultaneous CI and whether
it is beyond noise, T*/S in parameters beside Zhang's 2.5): simgap.gap, library calls only.
"""

from simgap import gap

if __name__ == "__main__":
    gap.main(default="mlp", doc=__doc__)
