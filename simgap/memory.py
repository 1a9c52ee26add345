"""Memory a config needs, estimated before anything is allocated, against what this machine has.

A config whose tables or buckets cannot fit (an MLP with `classes = 64` enumerates 244 million
inputs; a Markov source with V = 1000, order 4 has 10^12 contexts; a kernel with 2e9
coefficients) is refused with one line at load, in `--dry-run` too, instead of swapping,
growing for minutes or being killed. Estimates are arithmetic on shapes, never allocations.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "SIMGAP_MEMORY_BYTES"  # overrides the machine's memory (tests; a shared node's share)


def available_bytes() -> int:
    """$SIMGAP_MEMORY_BYTES, else this machine's physical memory, capped by a cgroup limit."""
    value = os.environ.get(ENV, "").strip()
    if value:
        return int(float(value))
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB"


def require(what: str, needed: float) -> None:
    """ValueError (one line) when `what` needs more than the machine's memory."""
    have = available_bytes()
    if needed > have:
        raise ValueError(f"{what} needs about {gib(needed)} of memory, more than the {gib(have)} this machine "
                         "has: make it smaller")


def peak_bucket_bytes(family, units, batch_size: int, seeds_scale: int = 1) -> tuple[float, str]:
    """The largest bucket's estimate (family.bucket_bytes, when the family gives one) and its
    id; `seeds_scale` multiplies member counts (a dry run plans one seed)."""
    if not hasattr(family, "bucket_bytes"):
        return 0.0, ""
    best = (0.0, "")
    for u in units:
        first = u.members[0]
        best = max(best, (family.bucket_bytes(seeds_scale * len(u.members), family.bucket_size(first.size),
                                              first.budget, batch_size), u.uid))
    return best


def check_buckets(family, units, batch_size: int, seeds_scale: int = 1) -> float:
    """ValueError when the largest bucket cannot fit; its estimated bytes otherwise."""
    need, uid = peak_bucket_bytes(family, units, batch_size, seeds_scale)
    require(f"bucket {uid}", need)
    return need
