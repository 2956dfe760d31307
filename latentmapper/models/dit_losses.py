"""The DIT training objective: curriculum SDF loss plus code, point-wise and point-pair regularisers.

As in the official code (``train_deep_implicit_templates.py``):

- SDF: prediction and target clamped to +-``clamp``; a soft L1 ``max(|p - t| - eps, 0) *
  (1 + lambda sign(t) sign(t - p))`` on the template SDF of every curriculum level (the
  points after each quarter of the warp), averaged. Early levels get a large ``eps`` and no
  sign weighting, the last level the plain L1 with more weight on sign errors: coarse warps
  need only be roughly right, the final one exactly.
- code regulariser: the mean code norm, weight ramped in over ``ramp_epochs``;
- point-wise: Huber (delta 0.25) of each level's warp displacement, weight 10x at first
  and decayed to 1x over ``ramp_epochs`` (keeps warps small while the template forms);
- point-pair: ``relu(|d_i - d_j| / (|x_i - x_j| + 1e-3) - 0.5)`` between a shape's first
  eighth of points and the rest, on the final displacement ``d`` (keeps the warp smooth),
  ramped in over ``ramp_epochs``;
- correction (only for a decoder with DIF-Net's latent correction): ``correction_weight``
  times its mean magnitude, so that warp and template explain what they can.

DIT sums these over points and divides by the number of points; here they are means. The
point-pair sum has ``P^2 * 7/64`` terms per shape, so DIT's weight 2e-5 at 5000 points per
shape is about 0.011 on the mean; the other terms are means in DIT too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .dit import DITDecoder


@dataclass
class DITLossConfig:
    """Weights and schedule of the DIT objective (defaults: DIT's car/chair specs)."""

    clamp_distance: float = 0.1
    curriculum_eps: tuple[float, ...] = (2.5e-2, 1e-2, 2.5e-3, 0.0)
    curriculum_lambda: tuple[float, ...] = (0.0, 0.1, 0.2, 0.5)
    code_reg_weight: float = 1e-4
    pointwise_weight: float = 5e-3
    pointwise_delta: float = 0.25
    pointpair_weight: float = 0.011
    pointpair_lipschitz: float = 0.5
    pointpair_anchor_fraction: float = 0.125
    pointpair_max_points: int | None = None  # cap on points per shape in the pair term (CPU)
    ramp_epochs: float = 100.0
    correction_weight: float = 0.0  # DIF-Net: L1 on the latent correction, when the decoder has one
    correction_start_epoch: float = 0.0  # before it, warp and template learn alone (the correction stays at zero)

    def weights(self, epoch: float) -> dict[str, float]:
        """Effective weights at ``epoch`` (1-based, may be fractional)."""
        ramp = min(1.0, epoch / self.ramp_epochs) if self.ramp_epochs > 0 else 1.0
        decay = max(1.0, 10.0 * (1.0 - epoch / self.ramp_epochs)) if self.ramp_epochs > 0 else 1.0
        return {
            "code_reg": self.code_reg_weight * ramp,
            "pointwise": self.pointwise_weight * decay,
            "pointpair": self.pointpair_weight * ramp,
        }


def soft_l1(pred: torch.Tensor, target: torch.Tensor, eps: float = 0.0, lamb: float = 0.0) -> torch.Tensor:
    """DIT's soft L1: errors below ``eps`` are free, sign errors cost ``1 + lamb`` (elementwise)."""
    err = (torch.abs(pred - target) - eps).clamp(0.0, 100.0)
    if lamb:
        err = err * (1.0 + lamb * torch.sign(target) * torch.sign(target - pred))
    return err


def curriculum_sdf_loss(
    level_sdfs: tuple[torch.Tensor, ...] | list[torch.Tensor], target: torch.Tensor, cfg: DITLossConfig
) -> torch.Tensor:
    """Mean over curriculum levels of the clamped soft L1; the schedule's tail fits fewer levels."""
    clamp = cfg.clamp_distance
    target = target.clamp(-clamp, clamp)
    n = len(level_sdfs)
    if n > len(cfg.curriculum_eps) or len(cfg.curriculum_eps) != len(cfg.curriculum_lambda):
        raise ValueError(f"{n} curriculum levels but eps/lambda schedules of {len(cfg.curriculum_eps)}")
    eps, lambdas = cfg.curriculum_eps[-n:], cfg.curriculum_lambda[-n:]
    terms = [
        soft_l1(sdf.clamp(-clamp, clamp), target, e, lam).mean() for sdf, e, lam in zip(level_sdfs, eps, lambdas)
    ]
    return torch.stack(terms).mean()


def pointwise_loss(warped: tuple[torch.Tensor, ...] | list[torch.Tensor], xyz: torch.Tensor, delta: float) -> torch.Tensor:
    """Huber of each level's displacement length, averaged over points and levels."""
    terms = []
    for points in warped:
        dist = torch.linalg.vector_norm(points - xyz, dim=-1)
        terms.append(torch.where(dist < delta, 0.5 * dist**2, delta * dist - 0.5 * delta**2).mean())
    return torch.stack(terms).mean()


def pointpair_loss(
    xyz: torch.Tensor,
    warped: torch.Tensor,
    lipschitz: float = 0.5,
    anchor_fraction: float = 0.125,
    max_points: int | None = None,
) -> torch.Tensor:
    """Mean hinge on the displacement's difference quotient between anchor and other points.

    ``xyz`` and ``warped`` are (S, P, 3); per shape, the first ``anchor_fraction`` of the
    (already shuffled) points are paired with all the others.
    """
    if max_points is not None and xyz.shape[1] > max_points:
        xyz, warped = xyz[:, :max_points], warped[:, :max_points]
    k = max(1, int(xyz.shape[1] * anchor_fraction))
    delta = warped - xyz
    dx = torch.cdist(xyz[:, :k], xyz[:, k:])
    dy = torch.cdist(delta[:, :k], delta[:, k:])
    return torch.relu(dy / (dx + 1e-3) - lipschitz).mean()


def dit_loss(
    decoder: DITDecoder,
    codes: torch.Tensor,
    xyz: torch.Tensor,
    sdf: torch.Tensor,
    epoch: float,
    cfg: DITLossConfig,
) -> dict[str, torch.Tensor]:
    """All terms for a batch: ``codes`` (S, L), ``xyz`` (S, P, 3), ``sdf`` (S, P). ``loss`` is the total."""
    # before correction_start_epoch, warp and template learn alone and the correction stays at its start
    out = decoder(codes, xyz, return_intermediate=True, use_correction=epoch >= cfg.correction_start_epoch)
    w = cfg.weights(epoch)
    terms = {"sdf": curriculum_sdf_loss(out.intermediate_sdf, sdf, cfg)}
    total = terms["sdf"]
    if cfg.code_reg_weight:
        terms["code_reg"] = torch.linalg.vector_norm(codes, dim=-1).mean()
        total = total + w["code_reg"] * terms["code_reg"]
    if cfg.pointwise_weight:
        terms["pointwise"] = pointwise_loss(out.warped_points, xyz, cfg.pointwise_delta)
        total = total + w["pointwise"] * terms["pointwise"]
    if cfg.pointpair_weight:
        terms["pointpair"] = pointpair_loss(
            xyz, out.warped_points[-1], cfg.pointpair_lipschitz, cfg.pointpair_anchor_fraction, cfg.pointpair_max_points
        )
        total = total + w["pointpair"] * terms["pointpair"]
    if out.correction is not None:
        terms["correction"] = out.correction.abs().mean()
        total = total + cfg.correction_weight * terms["correction"]
    terms["loss"] = total
    return terms


__all__ = [
    "DITLossConfig",
    "curriculum_sdf_loss",
    "dit_loss",
    "pointpair_loss",
    "pointwise_loss",
    "soft_l1",
]
