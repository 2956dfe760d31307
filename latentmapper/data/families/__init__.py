"""Procedural shape families (cars, airplanes) built from SDF primitives and CSG.

No ShapeNet download is possible here, so the project generates its own objects in
ShapeNet's frame (y up, front towards -z, symmetric about x = 0, about 2 units long).
``generate_shape(category, seed)`` is deterministic; ``shape.params`` (plain JSON) rebuilds
the very same shape through ``shape_from_params``.
"""

from __future__ import annotations

from types import ModuleType

from . import airplane, car
from ..categories import CATEGORIES  # {"car": "02958343", "airplane": "02691156"}
from .base import ProceduralShape

_FAMILIES: dict[str, ModuleType] = {"car": car, "airplane": airplane}
SUBTYPES: dict[str, tuple[str, ...]] = {name: module.SUBTYPES for name, module in _FAMILIES.items()}


def _family(category: str) -> ModuleType:
    if category not in _FAMILIES:
        raise ValueError(
            f"unknown shape category {category!r}; valid categories are: {', '.join(sorted(_FAMILIES))}"
        )
    return _FAMILIES[category]


def generate_shape(category: str, seed: int) -> ProceduralShape:
    """The procedural shape number ``seed`` of ``category``.

    The sub-type cycles with the seed (``SUBTYPES[category][seed % n]``), so any run of
    consecutive seeds is balanced; every other parameter comes from
    ``numpy.random.default_rng(seed)``.
    """
    family = _family(category)
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    subtype = family.SUBTYPES[seed % len(family.SUBTYPES)]
    return family.build(family.sample_params(subtype, seed))


def shape_from_params(category: str, params: dict) -> ProceduralShape:
    """Rebuild a shape exactly from its stored ``params`` (``shape.params``)."""
    family = _family(category)
    subtype = params.get("subtype")
    if subtype not in family.SUBTYPES:
        raise ValueError(f"unknown {category} sub-type {subtype!r}; valid: {', '.join(family.SUBTYPES)}")
    return family.build(params)


__all__ = ["CATEGORIES", "SUBTYPES", "ProceduralShape", "generate_shape", "shape_from_params"]
