"""Sphere tracing of an SDF into a shaded preview image, without making a mesh first.

Each ray starts where it enters the bounding sphere and advances by the SDF value, which
cannot overshoot the surface of a true distance field. A network trained on clamped
SDFs is a distance only within its clamp, so steps are capped at the clamp
(``truncation``). Normals are central differences; shading is Lambertian with two lights
fixed to the camera plus ambient, on white, as the dataset renders look.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from ..cameras import OrbitCamera
from .batching import auto_workers, cpu_workers, query_sdf
from .decode import eval_mode

SDFFunction = Callable[[torch.Tensor], torch.Tensor]

# (direction towards the light in camera axes: x right, y up, z towards the viewer, intensity)
_LIGHTS = (((-0.4, 0.7, 0.6), 0.55), ((0.6, 0.2, 0.8), 0.25))
_AMBIENT = 0.3
DEFAULT_COLOR = (180, 180, 185)


@dataclass
class TraceResult:
    """Per-pixel hits (H*W), hit points and unit normals (H*W, 3; zero where missed), depth."""

    hit: np.ndarray
    points: np.ndarray
    normals: np.ndarray
    depth: np.ndarray
    num_queries: int


def sphere_trace(
    sdf_fn: SDFFunction,
    camera: OrbitCamera,
    size: int | tuple[int, int] = 128,
    *,
    truncation: float | None = None,
    bound_radius: float = 1.0,
    max_steps: int = 64,
    epsilon: float = 1e-3,
    step_scale: float = 0.9,
    device: torch.device | str | None = None,
    workers: int | None = None,
) -> TraceResult:
    """March every pixel's ray to the SDF's zero set inside a sphere of ``bound_radius``.

    ``step_scale`` < 1 shortens steps for learned SDFs that are a little steeper than a
    true distance. ``workers``: CPU query threads for a thread-safe ``sdf_fn`` (see
    ``batching.py``); ``None`` keeps PyTorch's own threading.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    with cpu_workers(device, workers) as n_workers:
        return _trace(sdf_fn, camera, size, truncation, bound_radius, max_steps, epsilon, step_scale, device, n_workers)


def _trace(sdf_fn, camera, size, truncation, bound_radius, max_steps, epsilon, step_scale, device, workers) -> TraceResult:
    width, height = (size, size) if isinstance(size, int) else size
    origins_np, dirs_np = camera.rays(width, height)  # cached and read-only: copied to float32
    origins = torch.from_numpy(origins_np.astype(np.float32)).to(device)
    dirs = torch.from_numpy(dirs_np.astype(np.float32)).to(device)

    # Enter the bounding sphere: |o + t d|^2 = r^2.
    b = (origins * dirs).sum(1)
    c = (origins * origins).sum(1) - bound_radius**2
    disc = b * b - c
    t = (-b - disc.clamp_min(0).sqrt()).clamp_min(0.0)
    t_far = -b + disc.clamp_min(0).sqrt()
    alive = (disc > 0) & (t_far > 0)
    hit = torch.zeros_like(alive)
    queries = 0
    for _ in range(max_steps):
        idx = alive.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        d = query_sdf(sdf_fn, origins[idx] + t[idx, None] * dirs[idx], workers=workers)
        queries += int(idx.numel())
        done = d.abs() < epsilon
        hit[idx[done]] = True
        step = (d if truncation is None else d.clamp(-truncation, truncation)) * step_scale
        t[idx] = t[idx] + torch.where(done, torch.zeros_like(step), step)
        alive[idx] = ~done & (t[idx] <= t_far[idx])

    points = origins + t[:, None] * dirs
    normals = torch.zeros_like(points)
    idx = hit.nonzero().squeeze(1)
    if idx.numel():
        h = 1e-3
        p = points[idx]
        offsets = torch.eye(3, device=device) * h
        probes = torch.cat([p[:, None, :] + offsets, p[:, None, :] - offsets], dim=1).reshape(-1, 3)
        vals = query_sdf(sdf_fn, probes, workers=workers).reshape(-1, 6)
        queries += int(probes.shape[0])
        grad = vals[:, :3] - vals[:, 3:]
        normals[idx] = grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
    depth = torch.where(hit, t, torch.full_like(t, float("inf")))
    return TraceResult(
        hit.cpu().numpy(), points.cpu().numpy(), normals.cpu().numpy(), depth.cpu().numpy(), queries
    )


def shade(
    result: TraceResult, camera: OrbitCamera, size: int | tuple[int, int], color: Sequence[int] = DEFAULT_COLOR
) -> Image.Image:
    """Lambertian shading of a trace on a white background."""
    width, height = (size, size) if isinstance(size, int) else size
    image = np.full((height * width, 3), 255.0, dtype=np.float32)
    if result.hit.any():
        axes = camera.camera_to_world()[:3, :3].T  # rows: right, up, backward
        normals = result.normals[result.hit]
        intensity = np.full(len(normals), _AMBIENT, dtype=np.float64)
        for direction, power in _LIGHTS:
            light = np.asarray(direction, float) @ axes
            light /= np.linalg.norm(light)
            intensity += power * np.clip(normals @ light, 0.0, None)
        image[result.hit] = np.clip(np.asarray(color, np.float32)[None, :] * intensity[:, None], 0, 255)
    return Image.fromarray(image.reshape(height, width, 3).astype(np.uint8))


def render_sdf(
    sdf_fn: SDFFunction,
    camera: OrbitCamera | None = None,
    size: int | tuple[int, int] = 128,
    *,
    truncation: float | None = None,
    color: Sequence[int] = DEFAULT_COLOR,
    **trace_kwargs,
) -> Image.Image:
    """Shaded preview (PIL RGB) of ``sdf_fn``'s zero set from ``camera`` (default: the front-left orbit)."""
    camera = camera if camera is not None else OrbitCamera(yaw=30.0)
    result = sphere_trace(sdf_fn, camera, size, truncation=truncation, **trace_kwargs)
    return shade(result, camera, size, color)


def render_latent(
    decoder,
    latent: torch.Tensor,
    camera: OrbitCamera | None = None,
    size: int | tuple[int, int] = 128,
    **kwargs,
) -> Image.Image:
    """Preview of the shape a latent describes, traced on the decoder's device."""
    device = next(decoder.parameters()).device
    kwargs.setdefault("workers", auto_workers())
    with eval_mode(decoder):
        fn = decoder.sdf_fn(torch.as_tensor(latent).to(device))
        return render_sdf(
            fn, camera, size, truncation=getattr(decoder.config, "clamp_distance", None), device=device, **kwargs
        )
