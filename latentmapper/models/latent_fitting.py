"""Fit a latent code to SDF samples of a shape the decoder has not seen (DeepSDF / DIT reconstruction).

The decoder is frozen; only the code moves. Each step draws a fresh random subset of the
samples, clamps prediction and target to the training clamp and takes an L1 loss plus a
small L2 penalty on the code (which keeps it near the prior the auto-decoder learned).
The learning rate drops tenfold halfway, as in DIT's ``reconstruct``. Several shapes can be
fitted at once: their losses are independent, so a batch is only a speed-up. On a CPU each
step's points are split over single-threaded worker threads whose gradients are summed in
a fixed order (see ``latentmapper.geometry.batching`` for why).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ..geometry.batching import auto_workers, cpu_workers
from .dit import DITDecoder


def _as_batch(sdf_samples, device: torch.device) -> tuple[list[torch.Tensor], bool]:
    if isinstance(sdf_samples, (list, tuple)):
        items, single = list(sdf_samples), False
    else:
        arr = torch.as_tensor(np.asarray(sdf_samples) if not torch.is_tensor(sdf_samples) else sdf_samples)
        if arr.dim() == 2:
            items, single = [arr], True
        elif arr.dim() == 3:
            items, single = list(arr), False
        else:
            raise ValueError(f"sdf_samples must be (N, 4), (S, N, 4) or a list of (N, 4); got {tuple(arr.shape)}")
    out = []
    for item in items:
        t = torch.as_tensor(item, dtype=torch.float32).to(device)
        if t.dim() != 2 or t.shape[1] != 4 or t.shape[0] == 0:
            raise ValueError(f"each shape's sdf_samples must be a non-empty (N, 4) array, got {tuple(t.shape)}")
        out.append(t)
    return out, single


def fit_latent(
    decoder: DITDecoder,
    sdf_samples,
    *,
    num_steps: int = 500,
    lr: float = 5e-3,
    num_samples: int = 8000,
    l2_weight: float = 1e-4,
    init_std: float = 0.01,
    clamp_distance: float | None = None,
    seed: int = 0,
    init: torch.Tensor | None = None,
    workers: int | None = None,
) -> torch.Tensor:
    """Return the code(s) that best explain ``sdf_samples`` (rows x, y, z, sdf) under ``decoder``.

    ``sdf_samples`` is one (N, 4) array (returns (L,)) or several, as (S, N, 4) or a list
    (returns (S, L)). ``clamp_distance`` defaults to the decoder's training clamp.
    ``init`` starts from given codes instead of N(0, ``init_std``^2). ``workers``: CPU
    threads (default one per core PyTorch uses).
    """
    param = next(decoder.parameters())
    device = param.device
    shapes, single = _as_batch(sdf_samples, device)
    clamp = float(decoder.config.clamp_distance if clamp_distance is None else clamp_distance)
    gen = torch.Generator(device="cpu").manual_seed(seed)

    size = decoder.latent_size
    if init is not None:
        latent = torch.as_tensor(init, dtype=torch.float32).reshape(len(shapes), size).clone().to(device)
    else:
        latent = (torch.randn(len(shapes), size, generator=gen) * init_std).to(device)
    latent.requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=lr)

    def data_grad(xyz: torch.Tensor, target: torch.Tensor, weight: float, worker: bool) -> torch.Tensor:
        """Gradient of the (weighted) clamped L1, summed over shapes, for some of the points."""
        if worker:
            torch.set_num_threads(1)  # a fresh thread would otherwise start OpenMP with all cores
        pred = decoder.sdf(latent, xyz).clamp(-clamp, clamp)
        loss = (pred - target).abs().mean(dim=1).sum() * weight
        return torch.autograd.grad(loss, latent)[0]

    was_training = decoder.training
    frozen = [p.requires_grad for p in decoder.parameters()]
    decoder.eval()
    decoder.requires_grad_(False)
    n_workers = auto_workers() if workers is None else workers
    try:
        with cpu_workers(device, n_workers) as n, ThreadPoolExecutor(max_workers=n) as pool:
            for step in range(num_steps):
                for group in optimizer.param_groups:
                    group["lr"] = lr * (0.1 if step >= num_steps // 2 else 1.0)
                batch = []
                for samples in shapes:
                    idx = torch.randint(samples.shape[0], (num_samples,), generator=gen).to(device)
                    batch.append(samples[idx])
                batch = torch.stack(batch)  # (S, num_samples, 4)
                target = batch[..., 3].clamp(-clamp, clamp)
                parts = list(zip(batch[..., :3].tensor_split(n, dim=1), target.tensor_split(n, dim=1)))
                jobs = [(xyz, tgt, xyz.shape[1] / num_samples) for xyz, tgt in parts if xyz.shape[1]]
                if n > 1:
                    grads = list(pool.map(lambda job: data_grad(*job, worker=True), jobs))
                else:
                    grads = [data_grad(*jobs[0], worker=False)]
                # The code's L2 penalty, l2_weight * mean(z^2) per shape, has gradient 2 l2_weight z / L.
                latent.grad = torch.stack(grads).sum(0) + (2.0 * l2_weight / size) * latent.detach()
                optimizer.step()
    finally:
        for p, flag in zip(decoder.parameters(), frozen):
            p.requires_grad_(flag)
        decoder.train(was_training)

    latent = latent.detach()
    return latent[0] if single else latent
