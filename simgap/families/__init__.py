"""Family registry: the one place where a family is chosen by name."""

from __future__ import annotations

import dataclasses

from simgap.families.kernel import KernelFamily
from simgap.families.mlp import MLPFamily
from simgap.families.transformer import TransformerFamily

FAMILIES = {"kernel": KernelFamily, "mlp": MLPFamily, "transformer": TransformerFamily}
_FIXED = {"name", "closed_form"}  # class attributes, not user parameters


def register(name: str, cls) -> None:
    """Add a family class (a frozen dataclass implementing simgap.families.base.Family)."""
    FAMILIES[name] = cls


def get_family(name: str, **family_params):
    """The family `name` built from `family_params`; ValueError naming any bad name/parameter."""
    if name not in FAMILIES:
        raise ValueError(f"unknown family {name!r}; known: {sorted(FAMILIES)}")
    cls = FAMILIES[name]
    allowed = {f.name for f in dataclasses.fields(cls)} - _FIXED
    unknown = sorted(set(family_params) - allowed)
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for family {name!r}; allowed: {sorted(allowed)}")
    return cls(**family_params)
