"""Family registry: the one place where a family is chosen by name.

A new family is one module here implementing simgap.families.base.Family, plus one entry in
FAMILIES below; nothing else in simgap branches on a family's name (docs/families.md).
"""

from __future__ import annotations

import dataclasses

from simgap import prune
from simgap.config import ConfigError, SweepConfig
from simgap.families.kernel import KernelFamily
from simgap.families.mlp import MLPFamily
from simgap.families.transformer import TransformerFamily

FAMILIES = {"kernel": KernelFamily, "mlp": MLPFamily, "transformer": TransformerFamily}
_FIXED = {"name", "closed_form"}  # class attributes, not user parameters


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


def from_config(cfg: SweepConfig):
    """The family a sweep config names, checked against its grid: ConfigError naming the config
    file and the key (family, [family_params], [grid].student_init or [grid].teacher_params_ratio),
    before anything trains."""
    try:
        family = get_family(cfg.family, **cfg.family_params)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{cfg.source}: {'[family_params]' if cfg.family in FAMILIES else 'family'}: {e}") from None
    for key in ("student_sizes", "teacher_sizes"):
        bad = [n for n in getattr(cfg.grid, key) if n % family.size_step]
        if bad:
            raise ConfigError(f"{cfg.source}: [grid].{key}: {bad[0]} is not a multiple of {family.size_step} "
                              f"(the {family.name} family's size step)")
    try:  # a pruned init needs a family that can prune and teachers to prune students from
        prune.check_student_init(family, cfg.grid)
    except ValueError as e:
        raise ConfigError(f"{cfg.source}: [grid].student_init: {e}") from None
    lonely = cfg.grid.unpaired(family.param_count)
    if lonely:
        lo, hi = cfg.grid.teacher_params_ratio
        raise ConfigError(f"{cfg.source}: [grid].teacher_params_ratio = [{lo:g}, {hi:g}]: student sizes {lonely} "
                          f"have no teacher with {lo:g}-{hi:g}x their parameters among teacher_sizes "
                          f"{list(cfg.grid.teacher_sizes)}")
    return family
