"""Photo mode: photos -> images like the renders the models were trained on, from pipeline components.

    images = photo_mode(photos, framing=pipe.framing, matting=pipe.matting, translator=pipe.translator)

``pipe(photo, photo_mode=True)`` runs exactly this before mapping. Three steps, each from an
optional component:

1. matte: the matting U-Net (``matting``, a diffusers ``UNet2DModel`` run by ``LearnedMatting``),
   else the classical matting (no weights);
2. frame and shade: the object on white, framed, and its grey level set, as the category's
   training renders with the most similar silhouettes show theirs (``framing``, a
   ``FramingReference``), else one fixed framing for every view and the colours kept;
3. translate: the real-to-synthetic CycleGAN generator (``translator``), else nothing.
"""

from __future__ import annotations

import numpy as np
import PIL.Image
import torch
from diffusers import ModelMixin, UNet2DModel

from .framing_reference import FramingReference
from .learned_matting import LearnedMatting
from .matting import ClassicalMatting
from .prepare import prepare_photo
from .removers import BackgroundRemover


def matting_remover(matting: UNet2DModel | None) -> BackgroundRemover:
    """The matting U-Net as a background remover; the classical matting without one."""
    return LearnedMatting(matting) if matting is not None else ClassicalMatting()


@torch.no_grad()
def translate_to_renders(translator: ModelMixin, images: list[PIL.Image.Image]) -> list[PIL.Image.Image]:
    """Real photos -> synthetic-looking renders with the translator (a CycleGAN generator).

    Contract: the translator maps (B, 3, S, S) images in [-1, 1] to the same, S being its
    ``config.image_size`` (default 256); outputs are resized back to the input sizes.
    """
    translator.eval()
    size = int(getattr(translator.config, "image_size", 256))
    param = next(translator.parameters())
    batch = np.stack([np.asarray(im.resize((size, size), PIL.Image.BICUBIC), np.float32) for im in images])
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).to(param.device, param.dtype) / 127.5 - 1.0
    out = translator(x)
    out = getattr(out, "sample", out)
    pixels = ((out.float().clamp(-1, 1) + 1.0) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return [PIL.Image.fromarray(p).resize(im.size, PIL.Image.BICUBIC) for p, im in zip(pixels, images)]


def photo_mode(
    images: list[PIL.Image.Image],
    *,
    framing: FramingReference | None = None,
    matting: UNet2DModel | None = None,
    translator: ModelMixin | None = None,
) -> list[PIL.Image.Image]:
    """Matte -> frame (+ grey level) -> translate each photo, with whichever components are given.

    Raises ``EmptyMatteError`` (a ValueError) for an image in which the matting finds no object.
    """
    remover = matting_remover(matting)
    prepared = [prepare_photo(image, remover=remover, framing=framing) for image in images]
    return translate_to_renders(translator, prepared) if translator is not None else prepared


__all__ = ["matting_remover", "photo_mode", "translate_to_renders"]
