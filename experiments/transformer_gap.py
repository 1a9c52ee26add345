"""The transformer capacity-gap search, reproducible from a config in configs/.

    python experiments/transformer_gap.py [CONFIG] [--init pruned_from_teacher random ...] \
        [--seeds N] [--out DIR] [--results runs/NAME ...]

CONFIG (default: transformer, the CPU preset) runs Zhang et al.'s protocol: each student pruned
from the teacher it is distilled from, distilled with lam = 0.5. `--init` runs one sweep per
student init (`random` and `pruned_from_largest` are the controls), each its own run directory
DIR/<init>. The summary is read from each sweep's laws.json, as for experiments/mlp_gap.py.
"""

import sys

import gap_runs

if __name__ == "__main__":
    sys.exit(gap_runs.main(default="transformer", doc=__doc__))
