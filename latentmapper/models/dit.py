"""Deep Implicit Templates (Zheng et al., CVPR 2021): a conditional warp into one shared template SDF.

A shape is a latent code ``z``. An LSTM cell, fed ``[z, p]`` at every step, predicts a
per-point affine warp ``p <- (1 + s) * p + t``; after ``warp_steps`` steps the warped point
is looked up in a template SDF, a DeepSDF-style MLP of the point alone (weight norm,
dropout, tanh output). Because the template is shared, the warper must explain all shape
variation, which is what gives DIT its dense correspondences.

Faithful to the official code: LSTM ``weight_ih`` Kaiming-normal, ``weight_hh`` orthogonal,
zero biases except the forget gates (one in each bias vector), a warp head initialised near
zero (the identity warp), hidden-state gradients clamped to [-10, 10], and the warped points
kept every ``warp_steps // curriculum_levels`` steps for the curriculum loss. One
deliberate change: the template's output layer starts small (bias 0, weights x0.1), so
the initial SDF lies inside the clamp. The clamped L1 has no gradient where prediction
and target are both beyond the clamp, and a template that happens to start beyond it
everywhere (likely for small networks) never learns.

Speed (the decoder is the whole cost of meshing and training on a CPU):

- the latent's share of the LSTM input, ``W_z z`` plus both biases, is the same for every
  point of a shape, so it is computed once per shape and added as a bias; at the first
  step the hidden state is zero, so its product is skipped. Same function as
  ``nn.LSTMCell`` on ``[z, p]``.
- points run feature-major, (features, points), so every layer is one plain matrix product
  and each gate is one contiguous block;
- ``tanh(x)`` is computed as ``2 sigmoid(2x) - 1`` (the same function; PyTorch's CPU sigmoid
  is several times faster than its tanh);
- on a CPU without autograd, ``sdf`` takes a fused path that reuses its buffers in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from diffusers.utils import BaseOutput
from torch import nn

SDFFunction = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class DITDecoderOutput(BaseOutput):
    """Final SDF, plus (when asked) the curriculum's intermediate warped points and their SDFs.

    ``sdf`` has the points' leading shape; ``warped_points[k]`` is (..., 3) and
    ``intermediate_sdf[k]`` (...), from the first curriculum level to the last (the last is
    the final warp, so ``intermediate_sdf[-1]`` is ``sdf``). ``correction`` is the latent
    correction's share of every level's SDF (None without one).
    """

    sdf: torch.Tensor
    warped_points: tuple[torch.Tensor, ...] | None = None
    intermediate_sdf: tuple[torch.Tensor, ...] | None = None
    correction: torch.Tensor | None = None


def _tanh(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(x * 2.0) * 2.0 - 1.0


def _linear_fm(weight: torch.Tensor, bias: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """``weight @ x + bias`` for feature-major ``x`` (in, N) -> (out, N)."""
    if bias is None:
        return torch.mm(weight, x)
    return torch.addmm(bias[:, None], weight, x)


class WeightNormLinear(nn.Module):
    """A linear layer with weight normalisation ``W = g * V / ||V||`` (per output row).

    Written out rather than through ``torch.nn.utils`` hooks so that the state dict is plain
    tensors that load on a meta device and save as safetensors unchanged.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        base = nn.Linear(in_features, out_features)
        self.weight_v = nn.Parameter(base.weight.detach().clone())
        self.weight_g = nn.Parameter(base.weight.detach().norm(dim=1, keepdim=True))
        self.bias = nn.Parameter(base.bias.detach().clone())

    @property
    def weight(self) -> torch.Tensor:
        return self.weight_v * (self.weight_g / self.weight_v.norm(dim=1, keepdim=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)


class TemplateSDF(nn.Module):
    """The template: an MLP from a (warped) point to a tanh-squashed SDF, DeepSDF without the code."""

    def __init__(self, dims: Sequence[int], dropout_prob: float, weight_norm: bool) -> None:
        super().__init__()
        sizes = [3, *dims]
        make = WeightNormLinear if weight_norm else nn.Linear
        self.hidden = nn.ModuleList(make(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], 1)
        self.dropout_prob = dropout_prob
        with torch.no_grad():
            if not self.out.weight.is_meta:
                self.out.weight.mul_(0.1)  # start inside the clamp (see DITDecoder)
                self.out.bias.zero_()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature-major points (3, N) -> SDF (N,)."""
        for layer in self.hidden:
            x = torch.relu(_linear_fm(layer.weight, layer.bias, x))
            if self.dropout_prob > 0 and self.training:
                x = F.dropout(x, p=self.dropout_prob, training=True)
        return _tanh(_linear_fm(self.out.weight, self.out.bias, x))[0]

    @torch.no_grad()
    def forward_features_inplace(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = _linear_fm(layer.weight, layer.bias, x).relu_()
        out = _linear_fm(self.out.weight, self.out.bias, x)
        return out.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)[0]

    def forward(self, xyz: torch.Tensor) -> torch.Tensor:
        """Point-major (..., 3) -> (...)."""
        return self.forward_features(xyz.reshape(-1, 3).t()).reshape(xyz.shape[:-1])


def _clamp_grad(grad: torch.Tensor) -> torch.Tensor:
    return grad.clamp(-10.0, 10.0)


def _add_gates(gates: torch.Tensor, gates_z: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """Add the per-shape (4H, B, 1) or per-point (4H, B, P) latent gates to flat (4H, B*P) gates."""
    view = gates.view(gates_z.shape[0], gates_z.shape[1], -1)
    out = view.add_(gates_z) if inplace else view + gates_z
    return out.view(gates.shape)


class Warper(nn.Module):
    """LSTM-driven sequence of per-point affine warps, conditioned on the latent at every step."""

    def __init__(self, latent_size: int, hidden_size: int, steps: int) -> None:
        super().__init__()
        self.latent_size = latent_size
        self.hidden_size = hidden_size
        self.steps = steps
        self.lstm = nn.LSTMCell(latent_size + 3, hidden_size)
        self.out = nn.Linear(hidden_size, 6)  # (scale - 1, offset) per point
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        if self.lstm.weight_ih.is_meta:  # from_pretrained builds on meta, then loads weights
            return
        nn.init.kaiming_normal_(self.lstm.weight_ih)
        nn.init.orthogonal_(self.lstm.weight_hh)
        h = self.hidden_size
        for bias in (self.lstm.bias_ih, self.lstm.bias_hh):
            bias.zero_()
            bias[h : 2 * h].fill_(1.0)  # forget gates open
        nn.init.uniform_(self.out.weight, -1e-5, 1e-5)
        nn.init.zeros_(self.out.bias)

    def latent_gates(self, latent: torch.Tensor) -> torch.Tensor:
        """``W_z z + b_ih + b_hh`` (..., 4H): the latent's share of the gates, once per shape."""
        w_z = self.lstm.weight_ih[:, : self.latent_size]
        return F.linear(latent, w_z, self.lstm.bias_ih + self.lstm.bias_hh)

    def forward_features(
        self, gates_z: torch.Tensor, xyz: torch.Tensor, keep_every: int | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Warp feature-major ``xyz`` (3, B*P) given ``gates_z`` (4H, B, 1 or P).

        Returns the final points and, if ``keep_every`` is set, the points after every
        ``keep_every``-th step (all feature-major).
        """
        hs = self.hidden_size
        w_x = self.lstm.weight_ih[:, self.latent_size :]
        w_hx = torch.cat([self.lstm.weight_hh, w_x], dim=1)
        h = c = None
        kept: list[torch.Tensor] = []
        for step in range(self.steps):
            if h is None:
                gates = _add_gates(torch.mm(w_x, xyz), gates_z, inplace=True)
            else:
                gates = _add_gates(torch.mm(w_hx, torch.cat([h, xyz], dim=0)), gates_z, inplace=True)
            i = torch.sigmoid(gates[:hs])
            g = _tanh(gates[2 * hs : 3 * hs])
            o = torch.sigmoid(gates[3 * hs :])
            c = i * g if c is None else torch.addcmul(i * g, torch.sigmoid(gates[hs : 2 * hs]), c)
            h = o * _tanh(c)
            if h.requires_grad:
                h.register_hook(_clamp_grad)
            a = _linear_fm(self.out.weight, self.out.bias, h)
            xyz = torch.addcmul(a[3:], 1.0 + a[:3], xyz)
            if keep_every is not None and (step + 1) % keep_every == 0:
                kept.append(xyz)
        return xyz, kept

    @torch.no_grad()
    def forward_features_inplace(self, gates_z: torch.Tensor, xyz: torch.Tensor) -> torch.Tensor:
        """The same warp without autograd, in reused buffers and with fewer passes (inference).

        With ``s = sigmoid(2 x_g)`` for the cell input, ``tanh(x_g) = 2 s - 1``; the cell is
        kept doubled, ``C = 2 c``, so that ``tanh(c) = 2 sigmoid(C) - 1`` needs no rescaling:
        ``C <- f C + 4 i s - 2 i``.
        """
        n = xyz.shape[1]
        hs = self.hidden_size
        # Scale the cell-input rows by 2 so that one sigmoid over all gates gives sigma(2 x_g).
        scale = torch.ones(4 * hs, 1, dtype=xyz.dtype, device=xyz.device)
        scale[2 * hs : 3 * hs] = 2.0
        w_x = self.lstm.weight_ih[:, self.latent_size :] * scale
        w_hx = torch.cat([self.lstm.weight_hh * scale, w_x], dim=1)
        gz = gates_z * scale[:, :, None]
        per_shape = gz.shape[1] == 1 and gz.shape[2] == 1
        w_out, b_out = self.out.weight, self.out.bias[:, None]

        buf = torch.empty(hs + 3, n, dtype=xyz.dtype, device=xyz.device)  # [h; xyz]
        buf[hs:] = xyz
        h, pts = buf[:hs], buf[hs:]
        gates = torch.empty(4 * hs, n, dtype=xyz.dtype, device=xyz.device)
        cell = torch.empty(hs, n, dtype=xyz.dtype, device=xyz.device)  # 2 c
        tmp = torch.empty_like(cell)
        i, f, s, o = gates[:hs], gates[hs : 2 * hs], gates[2 * hs : 3 * hs], gates[3 * hs :]
        for step in range(self.steps):
            w, x = (w_x, pts) if step == 0 else (w_hx, buf)
            if per_shape:
                torch.addmm(gz[:, 0], w, x, out=gates)
            else:
                _add_gates(torch.mm(w, x, out=gates), gz, inplace=True)
            gates.sigmoid_()
            if step == 0:
                torch.mul(i, s, out=cell).mul_(4.0).sub_(i, alpha=2.0)
            else:
                cell.mul_(f).addcmul_(i, s, value=4.0).sub_(i, alpha=2.0)
            torch.sigmoid(cell, out=tmp)
            torch.mul(o, tmp, out=h).mul_(2.0).sub_(o)  # o * tanh(c)
            a = torch.addmm(b_out, w_out, h)
            pts.addcmul_(a[:3], pts).add_(a[3:])
        return pts


class LatentCorrection(nn.Module):
    """DIF-Net's correction: a small latent-conditioned SDF term added to the template's SDF.

    The warp of one shared template cannot make every detail of a varied category (a
    pickup's bed, wheels of another size) in the few steps a CPU can train; a ReLU MLP of
    ``[z, p]`` at the *unwarped* point carries what is left, and a penalty on its magnitude
    (``correction_weight`` in the loss) keeps it small, so that warp and template still
    explain the shape and give the correspondences. As in the warper, the latent's share
    of the first layer is computed once per shape. The output layer starts at zero: a new
    model is plain DIT.
    """

    def __init__(self, latent_size: int, dims: Sequence[int]) -> None:
        super().__init__()
        self.latent_size = latent_size
        sizes = [latent_size + 3, *dims]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], 1)
        with torch.no_grad():
            if not self.out.weight.is_meta:
                self.out.weight.zero_()
                self.out.bias.zero_()

    def latent_bias(self, latent: torch.Tensor) -> torch.Tensor:
        """``W_z z + b`` of the first layer (..., H0), once per shape."""
        first = self.hidden[0]
        return F.linear(latent, first.weight[:, : self.latent_size], first.bias)

    def forward_features(self, bias_z: torch.Tensor, xyz: torch.Tensor) -> torch.Tensor:
        """``bias_z`` (H0, B, 1|P), feature-major ``xyz`` (3, B*P) -> correction (B*P,)."""
        first = self.hidden[0]
        x = _add_gates(torch.mm(first.weight[:, self.latent_size :], xyz), bias_z, inplace=True).relu()
        for layer in self.hidden[1:]:
            x = torch.relu(_linear_fm(layer.weight, layer.bias, x))
        return _linear_fm(self.out.weight, self.out.bias, x)[0]


class DITDecoder(ModelMixin, ConfigMixin):
    """Deep Implicit Templates decoder: ``(latent, xyz) -> SDF`` (negative inside, tanh-bounded).

    Shapes: ``latent`` (*B, L) with ``xyz`` (*B, P, 3) gives one code per shape of P points
    (the fast path: each code's gates are computed once); a ``latent`` with as many
    dimensions as ``xyz`` broadcasts against it (e.g. one code per point, (N, L) with (N, 3)).
    ``clamp_distance`` is the training clamp: the output is a distance only within it,
    which meshing and sphere tracing need to know.
    """

    @register_to_config
    def __init__(
        self,
        latent_size: int = 512,
        warp_hidden_size: int = 512,
        warp_steps: int = 8,
        curriculum_levels: int = 4,
        template_dims: Sequence[int] = (256, 256, 256, 256, 256),
        template_dropout_prob: float = 0.05,
        template_weight_norm: bool = True,
        clamp_distance: float = 0.1,
        correction_dims: Sequence[int] = (),
    ) -> None:
        super().__init__()
        if warp_steps < 1 or curriculum_levels < 1 or warp_steps % curriculum_levels:
            raise ValueError(
                f"warp_steps ({warp_steps}) must be a positive multiple of curriculum_levels "
                f"({curriculum_levels})"
            )
        self.warper = Warper(latent_size, warp_hidden_size, warp_steps)
        self.template = TemplateSDF(list(template_dims), template_dropout_prob, template_weight_norm)
        self.correction = LatentCorrection(latent_size, list(correction_dims)) if correction_dims else None

    @property
    def latent_size(self) -> int:
        return int(self.config.latent_size)

    def _features(self, latent: torch.Tensor, xyz: torch.Tensor):
        """Feature-major gates (4H, B, 1|P) and points (3, B*P), plus the output shape."""
        if xyz.dim() < 2 or xyz.shape[-1] != 3:
            raise ValueError(f"xyz must be (..., P, 3), got {tuple(xyz.shape)}")
        if latent.shape[-1] != self.latent_size:
            raise ValueError(f"latent has size {latent.shape[-1]}, the decoder expects {self.latent_size}")
        lead, num = xyz.shape[:-2], xyz.shape[-2]
        latent = latent.to(xyz.dtype)
        if latent.dim() == xyz.dim() - 1:  # one code per shape
            latent = latent.expand(*lead, self.latent_size).reshape(-1, 1, self.latent_size)
        elif latent.dim() == xyz.dim():  # broadcast, e.g. one code per point
            per = 1 if latent.shape[-2] == 1 else num
            latent = latent.expand(*lead, per, self.latent_size).reshape(-1, per, self.latent_size)
        else:
            raise ValueError(
                f"latent {tuple(latent.shape)} does not fit points {tuple(xyz.shape)}: give "
                "(*B, L) with (*B, P, 3), or broadcastable (..., L) with (..., 3)"
            )
        gates = self.warper.latent_gates(latent).permute(2, 0, 1)  # (4H, B, 1|P)
        pts = xyz.reshape(-1, 3).t().contiguous()
        return gates, pts, xyz.shape[:-1], latent

    def _correction(self, latent: torch.Tensor, pts: torch.Tensor) -> torch.Tensor | None:
        """The latent correction at the unwarped feature-major points, or None for plain DIT."""
        if self.correction is None:
            return None
        return self.correction.forward_features(self.correction.latent_bias(latent).permute(2, 0, 1), pts)

    def forward(
        self,
        latent: torch.Tensor,
        xyz: torch.Tensor,
        return_intermediate: bool = False,
        return_dict: bool = True,
        use_correction: bool = True,
    ) -> DITDecoderOutput | tuple:
        """SDF at ``xyz``; with ``return_intermediate`` also the curriculum's warped points and SDFs.
        ``use_correction=False`` leaves the latent correction out (warp and template alone)."""
        gates, pts, shape, latent = self._features(latent, xyz)
        keep = self.config.warp_steps // self.config.curriculum_levels if return_intermediate else None
        correction = self._correction(latent, pts) if use_correction else None
        warped, kept = self.warper.forward_features(gates, pts, keep_every=keep)

        def sdf_at(points: torch.Tensor) -> torch.Tensor:
            sdf = self.template.forward_features(points)
            return (sdf if correction is None else sdf + correction).reshape(shape)

        if return_intermediate:
            sdfs = tuple(sdf_at(p) for p in kept)
            points = tuple(p.t().reshape(*shape, 3) for p in kept)
            out = DITDecoderOutput(
                sdf=sdfs[-1], warped_points=points, intermediate_sdf=sdfs,
                correction=None if correction is None else correction.reshape(shape),
            )
        else:
            out = DITDecoderOutput(sdf=sdf_at(warped))
        return out if return_dict else out.to_tuple()

    def sdf(self, latent: torch.Tensor, xyz: torch.Tensor) -> torch.Tensor:
        """Final SDF only. On a CPU without autograd (in eval mode) it takes the fused in-place
        path; elsewhere the plain one, which fp16 autocast on CUDA applies to."""
        gates, pts, shape, latent = self._features(latent, xyz)
        correction = self._correction(latent, pts)
        if torch.is_grad_enabled() or self.training or pts.device.type != "cpu":
            warped, _ = self.warper.forward_features(gates, pts)
            sdf = self.template.forward_features(warped)
            return (sdf if correction is None else sdf + correction).reshape(shape)
        warped = self.warper.forward_features_inplace(gates, pts)
        sdf = self.template.forward_features_inplace(warped)
        return (sdf if correction is None else sdf.add_(correction)).reshape(shape)

    def warp(self, latent: torch.Tensor, xyz: torch.Tensor) -> torch.Tensor:
        """Points carried into the template's frame (DIT's dense correspondences)."""
        gates, pts, shape, _ = self._features(latent, xyz)
        warped, _ = self.warper.forward_features(gates, pts)
        return warped.t().reshape(*shape, 3)

    def template_sdf(self, xyz: torch.Tensor) -> torch.Tensor:
        """The shared template's SDF, without any warp."""
        return self.template(xyz)

    def warped_template_sdf(self, latent: torch.Tensor, xyz: torch.Tensor) -> torch.Tensor:
        """The template's SDF at the warped points, without the correction: what warp and
        template alone make of the shape (equal to ``sdf`` for plain DIT)."""
        gates, pts, shape, _ = self._features(latent, xyz)
        warped, _ = self.warper.forward_features(gates, pts)
        return self.template.forward_features(warped).reshape(shape)

    def without_correction(self) -> "DITDecoder":
        """A copy that is warp and template only, to mesh what they make of a shape alone."""
        import copy

        plain = copy.deepcopy(self)
        plain.correction = None
        plain.register_to_config(correction_dims=[])
        return plain

    def correction_sdf(self, latent: torch.Tensor, xyz: torch.Tensor) -> torch.Tensor:
        """The latent correction alone (zeros for plain DIT)."""
        gates, pts, shape, latent = self._features(latent, xyz)
        correction = self._correction(latent, pts)
        return torch.zeros(shape, dtype=xyz.dtype, device=xyz.device) if correction is None else correction.reshape(shape)

    def sdf_fn(self, latent: torch.Tensor, chunk_size: int = 1024) -> SDFFunction:
        """A closure ``points (B, 3) -> SDF (B,)`` for one latent, for grids and sphere tracing.

        The latent's gates are computed once here, on the decoder's device; points are
        evaluated in chunks of ``chunk_size``, which keeps the LSTM's (4H, chunk)
        intermediates in cache on a CPU. Put the decoder in eval mode and call it without
        autograd for the fast path.
        """
        if latent.dim() == 2 and latent.shape[0] == 1:
            latent = latent[0]
        if latent.dim() != 1 or latent.shape[0] != self.latent_size:
            raise ValueError(f"sdf_fn takes one latent of shape ({self.latent_size},), got {tuple(latent.shape)}")
        param = next(self.parameters())
        latent = latent.detach().to(param.device, param.dtype)

        def fn(points: torch.Tensor) -> torch.Tensor:
            points = points.to(param.device)
            out = [self.sdf(latent, points[s : s + chunk_size]) for s in range(0, points.shape[0], chunk_size)]
            return torch.cat(out) if len(out) != 1 else out[0]

        return fn


__all__ = ["DITDecoder", "DITDecoderOutput", "LatentCorrection", "TemplateSDF", "Warper", "WeightNormLinear"]
