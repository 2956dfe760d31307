"""Shape data: procedural families, normalisation, SDF samples, renders, datasets I/O.

``latentmapper data build|import-shapenet|push|pull|filter-photos`` is the command line (``latentmapper/cli/data.py``).
"""

from .normalize import normalize_to_unit_sphere
from .records import RecordConfig, ShapeRecord
from .render import render_mesh
from .sdf_sampling import sample_sdf, signed_distance

__all__ = [
    "normalize_to_unit_sphere", "RecordConfig", "ShapeRecord", "render_mesh", "sample_sdf", "signed_distance",
]
