"""Random backgrounds for the stand-in photo domain: gradients, textures and noise scenes.

No photo collection can be downloaded here, so photo-like images are made from renders by
putting the object in front of something that is not a white studio. Three kinds, each
drawn from a random palette, none of them pure white:

* ``gradient``: a sky- or studio-like linear or radial blend of two or three colours;
* ``texture``: periodic patterns (gratings, checks, stripes) with jitter, like walls, floors, fabric;
* ``scene``: multi-octave value noise coloured by a palette, with a horizon that splits it
  into "sky" and "ground" and a few blurred blobs as clutter.

Every function takes a ``numpy.random.Generator`` and returns an (H, W, 3) float32 array in
[0, 255], so a build is reproducible from its seed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

KINDS = ("gradient", "texture", "scene")


def random_color(rng: np.random.Generator, low: float = 20.0, high: float = 235.0) -> np.ndarray:
    """An RGB colour away from pure white, so that the background never looks like the studio."""
    return rng.uniform(low, high, size=3).astype(np.float32)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / max(1, size - 1)
    return xs, ys


def gradient(size: int, rng: np.random.Generator) -> np.ndarray:
    """Two or three colours blended along a random direction, or radially from a random centre."""
    xs, ys = _grid(size)
    colors = [random_color(rng) for _ in range(rng.integers(2, 4))]
    if rng.random() < 0.7:
        angle = rng.uniform(0, 2 * np.pi)
        t = xs * np.cos(angle) + ys * np.sin(angle)
    else:
        cx, cy = rng.uniform(0.2, 0.8, size=2)
        t = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)
    t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
    stops = np.linspace(0, 1, len(colors))
    out = np.stack([np.interp(t, stops, [c[k] for c in colors]) for k in range(3)], axis=-1)
    return out.astype(np.float32)


def texture(size: int, rng: np.random.Generator) -> np.ndarray:
    """A sum of random gratings, or checks, or stripes, between two colours, slightly warped."""
    xs, ys = _grid(size)
    warp = ndimage.gaussian_filter(rng.normal(size=(size, size)), size / 16) * rng.uniform(0, 3)
    kind = rng.integers(3)
    if kind == 0:  # gratings
        t = np.zeros_like(xs)
        for _ in range(rng.integers(2, 5)):
            angle, freq, phase = rng.uniform(0, np.pi), rng.uniform(2, 14), rng.uniform(0, 2 * np.pi)
            t += np.sin(2 * np.pi * freq * (xs * np.cos(angle) + ys * np.sin(angle)) + phase + warp)
        t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
    elif kind == 1:  # checks (tiles, floors)
        cells = rng.uniform(3, 12)
        angle = rng.uniform(-0.5, 0.5)
        u = xs * np.cos(angle) - ys * np.sin(angle) + warp * 0.05
        v = xs * np.sin(angle) + ys * np.cos(angle)
        t = ((np.floor(u * cells) + np.floor(v * cells)) % 2).astype(np.float32)
    else:  # stripes (wood, blinds)
        angle, freq = rng.uniform(0, np.pi), rng.uniform(4, 20)
        t = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * freq * (xs * np.cos(angle) + ys * np.sin(angle)) + warp))
    t = ndimage.gaussian_filter(t.astype(np.float32), rng.uniform(0.3, 1.5))
    a, b = random_color(rng), random_color(rng)
    return (a * (1 - t[..., None]) + b * t[..., None]).astype(np.float32)


def value_noise(size: int, rng: np.random.Generator, octaves: int = 5, persistence: float = 0.55) -> np.ndarray:
    """Multi-octave value noise in [0, 1]: random grids of growing resolution, upsampled smoothly and summed."""
    total = np.zeros((size, size), np.float32)
    amplitude, weight = 1.0, 0.0
    for octave in range(octaves):
        cells = 2 ** (octave + 1)
        coarse = rng.random((cells + 1, cells + 1)).astype(np.float32)
        total += amplitude * ndimage.zoom(coarse, size / (cells + 1), order=3, mode="nearest")[:size, :size]
        weight += amplitude
        amplitude *= persistence
    total /= weight
    return (total - total.min()) / max(1e-6, float(total.max() - total.min()))


def scene(size: int, rng: np.random.Generator) -> np.ndarray:
    """A "sky" and a "ground" of palette-coloured noise split at a random horizon, plus blurred blobs."""
    xs, ys = _grid(size)
    sky = gradient(size, rng) * rng.uniform(0.6, 1.0) + value_noise(size, rng)[..., None] * random_color(rng) * 0.4
    ground_noise = value_noise(size, rng)[..., None]
    ground = random_color(rng) * (1 - ground_noise) + random_color(rng) * ground_noise
    horizon = rng.uniform(0.35, 0.75) + 0.08 * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * xs + rng.uniform(0, 6))
    ground_weight = ndimage.gaussian_filter((ys > horizon).astype(np.float32), rng.uniform(0.5, 3))[..., None]
    out = sky * (1 - ground_weight) + ground * ground_weight
    for _ in range(rng.integers(0, 6)):  # clutter: soft ellipses of other colours
        cx, cy = rng.uniform(0, 1, size=2)
        rx, ry = rng.uniform(0.03, 0.25, size=2)
        blob = (((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 < 1).astype(np.float32)
        blob = ndimage.gaussian_filter(blob, rng.uniform(0.5, 4))[..., None] * rng.uniform(0.5, 1.0)
        out = out * (1 - blob) + random_color(rng) * blob
    return np.clip(out, 0, 255).astype(np.float32)


def random_background(size: int, rng: np.random.Generator, kinds: tuple[str, ...] = KINDS) -> np.ndarray:
    """One background of a kind drawn uniformly from ``kinds``."""
    unknown = set(kinds) - set(KINDS)
    if unknown or not kinds:
        raise ValueError(f"background kinds must be among {KINDS}, got {kinds}")
    kind = kinds[int(rng.integers(len(kinds)))]
    return {"gradient": gradient, "texture": texture, "scene": scene}[kind](size, rng)


__all__ = ["KINDS", "gradient", "random_background", "random_color", "scene", "texture", "value_noise"]
