"""The transformer capacity-gap search, reproducible from a config in configs/.

    python experiments/transformer_gap.py [CONFIG] [--init pruned_from_teacher random ...] \
        [--seeds N] [--csv rows.csv] [--results runs/NAME/results.csv]

CONFIG (default: transformer, the CPU preset) runs Zhang et al.'s protocol: each student pruned
from the teacher it is distilled from, distilled with lam = 0.5. `--init` runs the grid once per
student init, sharing the trained teachers (`random` and `pruned_from_largest` are the
controls). The summary is simgap.gap's, over simgap.optima, as for experiments/mlp_gap.py.
"""

from simgap import gap

if __name__ == "__main__":
    gap.main(default="transformer", doc=__doc__)
