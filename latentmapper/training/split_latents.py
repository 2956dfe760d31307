"""DIT codes fitted to the shapes of another split (validation, test) with the frozen decoder.

The DIT run holds codes for its training shapes only. The mapper's early stopping needs
codes for the validation shapes and the evaluation's oracle needs them for the test shapes;
both are found as the paper encodes shapes: a fixed number of Adam steps on the code alone
(``latentmapper.models.fit_latent``). Shapes are fitted a batch at a time and each batch is
cached (``OUTPUT.partial/``), so an interrupted run resumes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from latentmapper.atomic import atomic_path
from latentmapper.features.clip import default_device
from latentmapper.models import DITDecoder, fit_latent


def load_decoder(run: Path, device: torch.device | str | None = None) -> DITDecoder:
    """The DIT decoder of a run folder (``RUN/decoder``) or of the decoder folder itself."""
    run = Path(run)
    folder = run / "decoder" if (run / "decoder" / "config.json").is_file() else run
    decoder = DITDecoder.from_pretrained(folder).eval().requires_grad_(False)
    return decoder.to(device if device is not None else default_device())


def split_sdf_samples(dataset_dir: Path, split: str, limit: int | None = None) -> tuple[list[str], list[np.ndarray]]:
    """Shape ids and (N, 4) SDF samples of a split (the first ``limit`` shapes)."""
    from datasets import load_from_disk

    rows = load_from_disk(str(dataset_dir))[split].select_columns(["shape_id", "sdf_samples"])
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    rows = rows.with_format("numpy")
    ids = [str(s) for s in rows["shape_id"]]
    return ids, [np.asarray(s, dtype=np.float32).reshape(-1, 4) for s in rows["sdf_samples"]]


def fit_split_latents(
    decoder: DITDecoder,
    shape_ids: list[str],
    sdf_samples: list[np.ndarray],
    output: Path,
    *,
    steps: int = 500,
    samples: int = 8000,
    batch_shapes: int = 16,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Codes for every shape, batch by batch with a cache beside ``output``; writes ``output``."""
    output = Path(output)
    if output.is_file():
        done = load_file(str(output))
        if all(sid in done for sid in shape_ids):
            return {sid: done[sid] for sid in shape_ids}
    partial = output.with_name(output.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    settings = {"steps": steps, "samples": samples, "batch_shapes": batch_shapes, "seed": seed}
    info = partial / "settings.json"
    if info.is_file() and json.loads(info.read_text()) != settings:
        raise SystemExit(f"{partial} was fitted with other settings; remove it or keep {json.loads(info.read_text())}")
    info.write_text(json.dumps(settings))
    latents: dict[str, torch.Tensor] = {}
    for start in tqdm(range(0, len(shape_ids), batch_shapes), desc=f"fitting latents -> {output.name}", unit="batch"):
        ids = shape_ids[start : start + batch_shapes]
        chunk = partial / f"{start:06d}.safetensors"
        if chunk.is_file() and set(load_file(str(chunk))) == set(ids):
            latents.update(load_file(str(chunk)))
            continue
        codes = fit_latent(decoder, [torch.from_numpy(s) for s in sdf_samples[start : start + batch_shapes]],
                           num_steps=steps, num_samples=samples, seed=seed + start).cpu()
        fitted = {sid: codes[i].contiguous() for i, sid in enumerate(ids)}
        with atomic_path(chunk) as tmp:
            save_file(fitted, str(tmp))
        latents.update(fitted)
    with atomic_path(output) as tmp:
        save_file(latents, str(tmp), metadata={"steps": str(steps), "samples": str(samples)})
    shutil.rmtree(partial, ignore_errors=True)
    return latents


__all__ = ["fit_split_latents", "load_decoder", "split_sdf_samples"]
