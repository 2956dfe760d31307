"""Plenoptic-encoding check (the GOEmbed paper's illustrative experiment): GOEmbed vs learned CNN unprojection.

    python evaluate/plenoptic_check.py --dataset data/car --preset cpu --output runs/goembed/plenoptic
        [--representations voxel triplane] [--resume | --overwrite]

For each representation (feature voxel grid, triplane), two encoders of similar size turn a
shape's input views (yaw 0, 60, 120, 180, 240) into that representation, which the shared
renderer (``latentmapper.geometry.volume_rendering``) decodes and renders:

* GOEmbed: the gradient of the input views' rendering error at the zero representation,
  refined by the convolutional U-Net of ``GOEmbedEncoder`` (``decode_representation``);
* unprojection: a small 2D CNN on every view, its features sampled where each 3D grid point
  projects (the same cameras), averaged over views (for a triplane, then averaged along
  each plane's normal), refined by the same U-Net.

Both are trained on the training split to re-render random views of the shape (squared
error) and scored by PSNR on the held-out views (yaw 30, 90, 150, 210) of test shapes; the
PSNR of the input views is reported as well. Settings are the ``plenoptic`` section of
``train/configs/goembed_<preset>.json``. Each (representation, encoder) result is saved as
it finishes, so a rerun skips finished ones (``--overwrite`` redoes them).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from latentmapper.geometry.volume_rendering import render_representation
from latentmapper.models.radiance_decoder import RadianceDecoder
from latentmapper.models.goembed import ConvTrunk, GOEmbedEncoder
from latentmapper.training.devices import make_accelerator
from latentmapper.atomic import write_json
from latentmapper.training.presets import add_config_arguments, config_from_args
from latentmapper.training.schedules import warmup_cosine
from latentmapper.training.view_sets import ViewSet, load_view_set

INPUT_VIEWS = (0, 2, 4, 6, 8)  # yaw 0, 60, 120, 180, 240
HELD_OUT_VIEWS = (1, 3, 5, 7)  # yaw 30, 90, 150, 210


class UnprojectionEncoder(nn.Module):
    """Learned CNN unprojection: per-view 2D features, sampled at each grid point's projection, averaged over views."""

    def __init__(self, model_config: dict, image_channels: int = 16) -> None:
        super().__init__()
        c = model_config
        self.kind, self.resolution, self.feature_dim = c["representation"], int(c["resolution"]), int(c["feature_dim"])
        self.bound, self.samples = float(c["bound"]), int(c["samples_per_ray"])
        self.image_cnn = nn.Sequential(
            nn.Conv2d(3, image_channels, 3, padding=1), nn.SiLU(),
            nn.Conv2d(image_channels, image_channels, 3, padding=1), nn.SiLU(),
            nn.Conv2d(image_channels, self.feature_dim, 1),
        )
        planes = 1 if self.kind == "voxel" else 3
        self.trunk = ConvTrunk(3 if self.kind == "voxel" else 2, planes * self.feature_dim, planes * self.feature_dim,
                               self.resolution, list(c["channels"]), int(c["head_channels"]),
                               int(c["head_hidden_size"]), 1, decode=True)
        self.decoder = RadianceDecoder(self.feature_dim, int(c["decoder_hidden_size"]), int(c["decoder_layers"]),
                                       float(c["density_at_origin"]))

    def lattice(self, device, dtype) -> torch.Tensor:
        """(R^3, 3) grid points (x, y, z), ordered as a voxel tensor's [z, y, x] (align_corners=True)."""
        axis = torch.linspace(-self.bound, self.bound, self.resolution, device=device, dtype=dtype)
        z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
        return torch.stack([x, y, z], dim=-1).reshape(-1, 3)

    def forward(self, views: torch.Tensor, poses: torch.Tensor, fovs: torch.Tensor) -> torch.Tensor:
        batch, count = views.shape[:2]
        features = self.image_cnn((views - 1.0).flatten(0, 1))  # white background -> 0
        points = self.lattice(views.device, views.dtype)
        rot, origin = poses[..., :3, :3], poses[..., :3, 3]
        cam = torch.einsum("bvji,bvnj->bvni", rot, points[None, None] - origin[:, :, None])  # R^T (p - o)
        depth = (-cam[..., 2]).clamp_min(1e-4)
        half = torch.tan(torch.deg2rad(fovs) / 2.0)[..., None]
        grid = torch.stack([cam[..., 0] / depth / half, -cam[..., 1] / depth / half], dim=-1)  # image x right, y down
        sampled = F.grid_sample(features, grid.flatten(0, 1)[:, :, None], mode="bilinear", padding_mode="zeros",
                                align_corners=False)  # (B*V, C, N, 1)
        res = self.resolution
        volume = sampled[..., 0].reshape(batch, count, self.feature_dim, res, res, res).mean(1)
        if self.kind == "voxel":
            _, decoded = self.trunk(volume)
            return decoded
        planes = torch.stack([volume.mean(2), volume.mean(3), volume.mean(4)], dim=1)  # xy, xz, yz
        _, decoded = self.trunk(planes.flatten(1, 2))
        return decoded.reshape(batch, 3, self.feature_dim, res, res)

    def render(self, representation, poses, fovs, size: int) -> torch.Tensor:
        return render_representation(self.kind, representation, self.decoder, poses, fovs, size, self.samples,
                                     self.bound)


class GOEmbedRepresentation(nn.Module):
    """GOEmbed with its decoded-representation head, seen as views -> representation."""

    def __init__(self, model_config: dict) -> None:
        super().__init__()
        self.encoder = GOEmbedEncoder(**{**model_config, "latent_size": 1, "decode_representation": True})

    def forward(self, views, poses, fovs) -> torch.Tensor:
        return self.encoder(views, poses, fovs).representation

    def render(self, representation, poses, fovs, size: int) -> torch.Tensor:
        return self.encoder.render(representation, poses, fovs, size)


def psnr(rendered: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per image (..., 3, H, W) -> (...) PSNR in dB for [0, 1] images."""
    mse = (rendered.clamp(0, 1) - target).square().flatten(-3).mean(-1)
    return -10.0 * torch.log10(mse.clamp_min(1e-10))


def pick(data: ViewSet, rows: torch.Tensor, index: torch.Tensor):
    return data.views[rows][:, index], data.poses[rows][:, index], data.fovs[rows][:, index]


@torch.no_grad()
def score(model, data: ViewSet, device, batch: int = 8) -> dict:
    model.eval()
    held, seen = [], []
    inputs, held_out = torch.tensor(INPUT_VIEWS), torch.tensor(HELD_OUT_VIEWS)
    for start in range(0, len(data.shape_ids), batch):
        rows = torch.arange(start, min(start + batch, len(data.shape_ids)))
        v, p, f = (t.to(device) for t in pick(data, rows, inputs))
        rep = model(v, p, f)
        hv, hp, hf = (t.to(device) for t in pick(data, rows, held_out))
        held.append(psnr(model.render(rep, hp, hf, hv.shape[-1]), hv).flatten())
        seen.append(psnr(model.render(rep, p, f, v.shape[-1]), v).flatten())
    model.train()
    return {"psnr_held_out": float(torch.cat(held).mean()), "psnr_input_views": float(torch.cat(seen).mean())}


def train_one(model, train: ViewSet, test: ViewSet, cfg: dict, accelerator, desc: str) -> dict:
    device = accelerator.device
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    model, optimizer = accelerator.prepare(model, optimizer)
    params = [p for p in model.parameters() if p.requires_grad]
    inputs = torch.tensor(INPUT_VIEWS)
    steps, started = int(cfg["steps"]), time.perf_counter()
    losses = []
    for step in tqdm(range(steps), desc=desc, unit="step", disable=not accelerator.is_local_main_process):
        generator = torch.Generator().manual_seed(cfg["seed"] * 1_000_003 + step)
        rows = torch.randperm(len(train.shape_ids), generator=generator)[: cfg["batch_size"]]
        targets = torch.rand(len(rows), train.views.shape[1], generator=generator).argsort(1)[:, : cfg["target_views"]]
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine(step, steps, cfg["lr"], cfg["warmup_steps"])
        v, p, f = (t.to(device) for t in pick(train, rows, inputs))
        rep = model(v, p, f)
        take = lambda t: t[rows[:, None], targets].to(device)  # noqa: E731
        tv, tp, tf = take(train.views), take(train.poses), take(train.fovs)
        loss = (accelerator.unwrap_model(model).render(rep, tp, tf, tv.shape[-1]) - tv).square().mean()
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss, inputs=params)
        optimizer.step()
        losses.append(float(loss.detach()))
    result = score(accelerator.unwrap_model(model), test, device)
    result.update(parameters=sum(p.numel() for p in params), steps=steps,
                  final_train_mse=sum(losses[-20:]) / max(1, len(losses[-20:])),
                  minutes=round((time.perf_counter() - started) / 60, 2))
    return result


def main(argv: list[str] | None = None, *, presets_dir: str | os.PathLike | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, type=Path)
    add_config_arguments(parser)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--representations", nargs="+", default=["voxel", "triplane"], choices=["voxel", "triplane"])
    parser.add_argument("--resume", action="store_true", help="keep finished results (the default)")
    parser.add_argument("--overwrite", action="store_true", help="redo finished results")
    args = parser.parse_args(argv)
    config = config_from_args(args, "goembed", presets_dir)
    cfg = {"seed": config["seed"], **config["plenoptic"]}
    accelerator = make_accelerator(config)
    image_size = int(config["model"]["image_size"])
    train = load_view_set(args.dataset, "train", image_size, cfg["train_shapes"])
    test = load_view_set(args.dataset, "test", image_size, cfg["test_shapes"])

    results = {}
    for kind in args.representations:
        model_config = {**config["model"], **cfg["models"][kind], "representation": kind,
                        "decode_representation": True}
        for name, build in (("goembed", GOEmbedRepresentation), ("cnn_unprojection", UnprojectionEncoder)):
            path = args.output / f"{kind}_{name}.json"
            if path.is_file() and not args.overwrite:
                results[f"{kind}/{name}"] = json.loads(path.read_text())
                continue
            torch.manual_seed(cfg["seed"])
            result = train_one(build(model_config), train, test, cfg, accelerator, f"{kind} {name}")
            result["model"] = model_config
            write_json(path, result)
            results[f"{kind}/{name}"] = result
    held_out = test.views[:, list(HELD_OUT_VIEWS)]
    white = float(psnr(torch.ones_like(held_out), held_out).mean())  # what rendering nothing scores
    summary = {"input_views": INPUT_VIEWS, "held_out_views": HELD_OUT_VIEWS, "train_shapes": len(train.shape_ids),
               "test_shapes": len(test.shape_ids), "image_size": image_size, "psnr_blank_white": white,
               "results": results}
    write_json(args.output / "plenoptic.json", summary)
    print("| representation | encoder | parameters | PSNR held-out views (dB) | PSNR input views (dB) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for key, r in results.items():
        kind, name = key.split("/")
        print(f"| {kind} | {name} | {r['parameters']:,} | {r['psnr_held_out']:.2f} | {r['psnr_input_views']:.2f} |")
    print(f"(an all-white image scores {white:.2f} dB on the held-out views)")
    return 0
