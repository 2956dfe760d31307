"""What a perfect reading of the image could give: DIT codes predicted from each shape's own generator parameters.

A mapper can only be as good as what its image features carry. Procedural shapes come with the
parameters that made them (family, lengths, flags), everything an image could show about the
shape. A ridge regression from those parameters to the DIT's training codes, applied to held-out
shapes and decoded, is the ceiling of a linear read of perfect features: when it identifies
most shapes while the mapper does not, the features are what bounds identification, not the
DIT's latent space or the mapper's form. The family's mean code is the floor beside it (it knows
the family, nothing else). The code-space L1 hides this: a code can be far from the shape's own
in L1 and still decode to it. Beside them, a view-agnostic ridge from each render's 32x32 grey
pixels (``PixelsToCodes``): what the plainest reading of the image, not of the shape, gives.
"""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np

IGNORED_PARAMETERS = ("seed", "subtype", "color", "tail_color")


def _scaled_ridge(alphas: np.ndarray):
    """Inputs standardised, then ridge with its penalty chosen among ``alphas`` by leave-one-out."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), RidgeCV(alphas=alphas))


def _parsed(params: Sequence[str | dict]) -> list[dict]:
    return [json.loads(p) if isinstance(p, str) else dict(p) for p in params]


def parameter_columns(params: Sequence[str | dict]) -> tuple[list[str], list[str]]:
    """(numeric, flag) parameter names that every shape has as numbers, or has as booleans where present."""
    rows = _parsed(params)
    if not rows:
        raise ValueError("no shapes to read parameters from")
    names = sorted(set().union(*rows) - set(IGNORED_PARAMETERS))
    numeric = [k for k in names if all(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool) for r in rows)]
    flags = [k for k in names if all(isinstance(r.get(k, False), bool) for r in rows)]
    return numeric, flags


def parameter_matrix(params: Sequence[str | dict], families: Sequence[str], family_names: Sequence[str],
                     numeric: Sequence[str], flags: Sequence[str]) -> np.ndarray:
    """One row per shape: the family one-hot, the numeric parameters, the flags as 0 / 1."""
    rows = _parsed(params)
    missing = [k for k in numeric if any(k not in r for r in rows)]
    if missing:
        raise ValueError(f"shapes lack the numeric parameters {missing}")
    return np.array([[f == name for name in family_names] + [float(r[k]) for k in numeric]
                     + [float(r.get(k, False)) for k in flags] for r, f in zip(rows, families)], dtype=np.float64)


class ParamsToCodes:
    """Ridge (scaled inputs, penalty chosen by leave-one-out) from shape parameters to DIT codes."""

    def __init__(self, params: Sequence[str | dict], families: Sequence[str], codes: np.ndarray) -> None:
        codes = np.asarray(codes, dtype=np.float64)
        if len(params) != len(codes) or len(families) != len(codes):
            raise ValueError(f"{len(params)} parameter sets and {len(families)} families for {len(codes)} codes")
        self.numeric, self.flags = parameter_columns(params)
        self.family_names = sorted(set(families))
        self.families = list(families)
        self.codes = codes
        self.model = _scaled_ridge(np.logspace(-3, 3, 13))
        self.model.fit(self._matrix(params, families), codes)

    def _matrix(self, params, families) -> np.ndarray:
        return parameter_matrix(params, families, self.family_names, self.numeric, self.flags)

    def predict(self, params: Sequence[str | dict], families: Sequence[str]) -> np.ndarray:
        """Codes (N, latent) for shapes described by ``params``."""
        return self.model.predict(self._matrix(params, families))

    def family_means(self, families: Sequence[str]) -> np.ndarray:
        """Each shape's family's mean training code (the overall mean for a family not seen in training)."""
        seen = np.array(self.families)
        return np.stack([self.codes[seen == f].mean(0) if (seen == f).any() else self.codes.mean(0) for f in families])


PIXEL_SIZE = 32


def grey_pixels(images: Sequence, size: int = PIXEL_SIZE) -> np.ndarray:
    """(views, size * size) grey values in [0, 1] of PIL renders: the crudest reading of an image there is."""
    from PIL import Image

    return np.stack([np.asarray(image.convert("L").resize((size, size), Image.Resampling.BILINEAR),
                                dtype=np.float32).ravel() / 255.0 for image in images])


class PixelsToCodes:
    """One ridge for every view alike from the renders' grey pixels to their shape's DIT code.

    It is told no camera, but fitted and scored on the dataset's fixed cameras only, so it
    measures what pixel alignment with those cameras buys; on views between them it falls
    below the mapper (README: A linear read of the renders), so it is no floor for a mapper.
    """

    def __init__(self, pixels: np.ndarray, codes: np.ndarray) -> None:
        pixels, codes = np.asarray(pixels, dtype=np.float64), np.asarray(codes, dtype=np.float64)
        if pixels.ndim != 3 or len(pixels) != len(codes):
            raise ValueError(f"expected (shapes, views, pixels) for {len(codes)} codes, got {pixels.shape}")
        self.model = _scaled_ridge(np.logspace(-3, 5, 17))
        self.model.fit(pixels.reshape(-1, pixels.shape[-1]), np.repeat(codes, pixels.shape[1], axis=0))

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Codes (N, latent) for (N, pixels) single views."""
        return self.model.predict(np.asarray(pixels, dtype=np.float64))


__all__ = ["IGNORED_PARAMETERS", "PIXEL_SIZE", "ParamsToCodes", "PixelsToCodes", "grey_pixels", "parameter_columns",
           "parameter_matrix"]
