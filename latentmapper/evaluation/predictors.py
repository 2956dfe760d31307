"""The evaluated systems, each as image -> mesh with the time it took (paper Tables 3 and 5).

Every system answers ``predict(image, shape)`` with a :class:`Prediction`: the mesh (None
when the prediction describes no surface) and the seconds from image to mesh, which is what
Table 5 compares (features + mapping + meshing at the same grid resolution). The oracle
sees no image: it fits a code to the shape's own SDF samples, once per shape
(``view_independent``), and is the ceiling of what any latent-space method can reach. The
constant system sees nothing either: it answers every input with one training shape, the
floor that a system must clear to have looked at the image at all. The ground-truth system
answers with the shape's own mesh: what a perfect reconstruction scores, because the metric
compares two finite samples of the surface and so never reaches zero.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
import trimesh

from ..geometry import EmptySurfaceError, chamfer_x1e3, latent_to_mesh
from .retrieval import nearest_training_shapes
from .shapes import EvalShape

SYSTEM_NAMES = ("latentmapper", "imnet", "atlasnet25", "nearest_neighbour", "oracle", "constant", "ground_truth")


@dataclass
class Prediction:
    """One system's answer for one input: a mesh (None: no surface) and its cost."""

    mesh: trimesh.Trimesh | None
    seconds: float | None  # image -> mesh; None where the system takes no image
    info: dict = field(default_factory=dict)


def _usable(mesh: trimesh.Trimesh | None) -> trimesh.Trimesh | None:
    return mesh if mesh is not None and len(mesh.faces) > 0 else None


class LatentMesher:
    """Latent -> mesh (coarse-to-fine grid + marching cubes), timed; meshes of keyed latents are remembered.

    Nearest-neighbour retrieval returns the same training shapes again and again, so their
    meshes (and the time each first took) are kept by key.
    """

    def __init__(self, decoder, resolution: int = 128) -> None:
        self.decoder, self.resolution = decoder, int(resolution)
        self.cache: dict[str, tuple[trimesh.Trimesh | None, float]] = {}

    def mesh(self, latent: torch.Tensor, key: str | None = None) -> tuple[trimesh.Trimesh | None, float]:
        """(mesh or None, seconds the meshing took)."""
        if key is not None and key in self.cache:
            return self.cache[key]
        started = time.perf_counter()
        try:
            mesh = _usable(latent_to_mesh(self.decoder, latent, self.resolution))
        except EmptySurfaceError:
            mesh = None
        result = (mesh, time.perf_counter() - started)
        if key is not None:
            self.cache[key] = result
        return result

    def chamfer(self, latent: torch.Tensor, gt: np.ndarray, key: str | None = None) -> float | None:
        """Chamfer x10^3 of the latent's mesh against ground-truth points (None: no surface)."""
        mesh, _ = self.mesh(latent, key)
        return None if mesh is None else chamfer_x1e3(mesh, gt)


class System:
    """Base: a named image -> mesh predictor."""

    name = "system"
    view_independent = False

    def predict(self, image: PIL.Image.Image | None, shape: EvalShape) -> Prediction:
        raise NotImplementedError


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


class LatentMapperSystem(System):
    """The pipeline as shipped: CLIP + ViT-key features -> autoencoder + mapper -> DIT latent -> mesh.

    The pipeline runs every stage and times it; the seconds counted are its features (image
    checks included), mapper and meshing stages, also when the latent has no surface.
    """

    name = "latentmapper"

    def __init__(self, pipe, resolution: int = 128) -> None:
        self.pipe, self.resolution = pipe, int(resolution)

    def predict(self, image: PIL.Image.Image | None, shape: EvalShape) -> Prediction:
        try:
            out = self.pipe(image, resolution=self.resolution, output_type="trimesh")
            mesh, timings = _usable(out.meshes[0]), out.timings
        except EmptySurfaceError as err:
            mesh, timings = None, err.timings
        stages = {"features_s": timings["prepare"] + timings["features"], "mapping_s": timings["mapper"],
                  "meshing_s": timings["sdf_grid"] + timings["marching_cubes"]}
        return Prediction(mesh, sum(stages.values()), stages)


class ImNetSystem(System):
    """IM-NET-style baseline: grayscale image -> ResNet -> DIT latent -> the same meshing."""

    name = "imnet"

    def __init__(self, model, decoder, resolution: int = 128) -> None:
        self.model, self.mesher = model.eval(), LatentMesher(decoder, resolution)

    def predict(self, image: PIL.Image.Image | None, shape: EvalShape) -> Prediction:
        with torch.no_grad():
            latent, t_map = _timed(lambda: self.model(self.model.preprocess([image]))[0].float())
        mesh, t_mesh = self.mesher.mesh(latent)
        return Prediction(mesh, t_map + t_mesh, {"mapping_s": t_map, "meshing_s": t_mesh})


class AtlasNetSystem(System):
    """AtlasNet-25: image -> 25 patch meshes, no meshing step."""

    name = "atlasnet25"

    def __init__(self, model, grid_size: int = 10) -> None:
        self.model, self.grid_size = model.eval(), int(grid_size)

    def predict(self, image: PIL.Image.Image | None, shape: EvalShape) -> Prediction:
        meshes, seconds = _timed(lambda: self.model.meshes(self.model.preprocess([image]), self.grid_size))
        return Prediction(_usable(meshes[0]), seconds, {"meshing_s": seconds})


class NearestNeighbourSystem(System):
    """Retrieval: the training shape whose render's CLIP embedding is closest -> its DIT code -> mesh.

    ``embed`` maps a list of images to (B, D) embeddings (the pipeline's CLIP);
    ``train_clip`` is (T, V, D) over the training shapes ``train_ids``, each of which has a
    code in ``latents``. The time counted is embedding + search + the retrieved code's meshing.
    """

    name = "nearest_neighbour"

    def __init__(self, embed: Callable, train_clip: torch.Tensor, train_ids: list[str],
                 latents: dict[str, torch.Tensor], decoder, resolution: int = 128) -> None:
        keep = [i for i, sid in enumerate(train_ids) if sid in latents]
        if not keep:
            raise ValueError("none of the training shapes with CLIP embeddings has a DIT code")
        self.embed, self.latents = embed, latents
        self.train_clip = F.normalize(train_clip[keep].float(), dim=-1)
        self.train_ids = [train_ids[i] for i in keep]
        self.mesher = LatentMesher(decoder, resolution)

    def predict(self, image: PIL.Image.Image | None, shape: EvalShape) -> Prediction:
        def retrieve() -> str:
            query = self.embed([image]).float().cpu()
            return self.train_ids[int(nearest_training_shapes(query[None], self.train_clip)[0, 0])]

        neighbour, t_search = _timed(retrieve)
        mesh, t_mesh = self.mesher.mesh(self.latents[neighbour], key=neighbour)
        return Prediction(mesh, t_search + t_mesh, {"neighbour": neighbour, "features_s": t_search, "meshing_s": t_mesh})


class OracleSystem(System):
    """The DIT code fitted to the test shape's own SDF samples (``fit_latent``), then meshed.

    ``latents`` may hold codes fitted beforehand (``train/fit_split_latents.py``); missing
    ones are fitted here with ``steps`` Adam steps on ``samples`` points each.
    """

    name = "oracle"
    view_independent = True

    def __init__(self, decoder, resolution: int = 128, latents: dict[str, torch.Tensor] | None = None,
                 steps: int = 500, samples: int = 1024, seed: int = 0) -> None:
        self.decoder, self.mesher = decoder, LatentMesher(decoder, resolution)
        self.latents, self.steps, self.samples, self.seed = dict(latents or {}), steps, samples, seed

    def fit(self, shape: EvalShape) -> torch.Tensor:
        from ..models.latent_fitting import fit_latent

        if shape.shape_id not in self.latents:
            self.latents[shape.shape_id] = fit_latent(
                self.decoder, torch.from_numpy(shape.sdf_samples), num_steps=self.steps, num_samples=self.samples,
                seed=self.seed).cpu()
        return self.latents[shape.shape_id]

    def predict(self, image: PIL.Image.Image | None, shape: EvalShape) -> Prediction:
        latent, t_fit = _timed(lambda: self.fit(shape))
        mesh, t_mesh = self.mesher.mesh(latent)
        return Prediction(mesh, None, {"fitting_s": t_fit, "meshing_s": t_mesh})


class ConstantSystem(System):
    """The know-nothing baseline: one training shape's ground-truth mesh, the answer to every input.

    The shape is the most central training shape (``cross.central_training_shape``); since the
    answer does not depend on the input, it is scored once per test shape, like the oracle.
    """

    name = "constant"
    view_independent = True

    def __init__(self, shape: EvalShape) -> None:
        self.shape_id, self.answer = shape.shape_id, _usable(shape.mesh())
        if self.answer is None:
            raise ValueError(f"the constant answer {shape.shape_id} has no faces")

    def predict(self, image: PIL.Image.Image | None, shape: EvalShape) -> Prediction:
        return Prediction(self.answer, None, {"answer": self.shape_id})


class GroundTruthSystem(System):
    """The perfect reconstruction: each test shape's own ground-truth mesh, sampled anew by the metric.

    Chamfer on 5000 points a side is not zero even for the right surface (two independent
    samples of it), so this row is the floor under every other row: a system's excess over it
    is its real error, and a target below it cannot be met by any mesh.
    """

    name = "ground_truth"
    view_independent = True

    def predict(self, image: PIL.Image.Image | None, shape: EvalShape) -> Prediction:
        return Prediction(_usable(shape.mesh()), None)


__all__ = [
    "AtlasNetSystem", "ConstantSystem", "GroundTruthSystem", "ImNetSystem", "LatentMapperSystem", "LatentMesher",
    "NearestNeighbourSystem", "OracleSystem", "Prediction", "SYSTEM_NAMES", "System", "nearest_training_shapes",
]
