"""Test session set-up: no network, caches in a throw-away folder, few threads."""

import os
import tempfile

# Before any Hugging Face library is imported: offline, and caches that do not touch ~/.cache.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="latentmapper-test-hf-"))
os.environ.setdefault("TQDM_DISABLE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

# Tiny models are dominated by per-op overhead, which extra threads only add to.
torch.set_num_threads(1)


@pytest.fixture
def tiny_record_config():
    from latentmapper.data import RecordConfig

    return RecordConfig(image_size=32, sdf_samples=2000, surface_samples=500, mesh_resolution=40, supersample=1)


# ---- image files that once fooled the Space (tests/test_space_callbacks.py, tests/test_bad_inputs.py) ----------
def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with almost no pixel data (how a decompression bomb starts)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def sixteen_bit_grey_png(path) -> None:
    """A 16-bit grey ramp, mostly above 255: Gradio's RGB conversion clipped it to white."""
    import numpy as np
    from PIL import Image

    Image.fromarray(np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)).save(path)


def rgba_png(path) -> None:
    """A red box on transparent black, with a half-transparent band: white around it on the library's path."""
    import numpy as np
    from PIL import Image

    pixels = np.zeros((48, 64, 4), np.uint8)
    pixels[12:36, 16:48] = (200, 30, 30, 255)
    pixels[:, :8, 3] = 128
    Image.fromarray(pixels, "RGBA").save(path)


# ---- a tiny LatentMapperPipeline (tests/test_pipeline.py, tests/test_cli_reconstruct.py) ----------------------
def build_tiny_pipeline(category: str = "car"):
    """Every component at toy size; the DIT decodes any latent to an octahedron (|x|+|y|+|z| = 0.6),
    so that meshes are small, closed and quick to make."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, ViTConfig, ViTModel
    from transformers.models.clip import CLIPImageProcessorPil
    from transformers.models.vit import ViTImageProcessorPil

    from latentmapper import LatentMapperPipeline
    from latentmapper.features import KeyCodebook
    from latentmapper.models import DescriptorAutoencoder, DITDecoder, LatentMapper

    torch.manual_seed(0)
    image, patch, width, layers = 32, 8, 32, 2
    tower = dict(hidden_size=width, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=64,
                 image_size=image, patch_size=patch)
    clip = CLIPVisionModelWithProjection(CLIPVisionConfig(**tower, projection_dim=16))
    vit = ViTModel(ViTConfig(**tower), add_pooling_layer=False)
    codebook = KeyCodebook(num_words=4, key_dim=width, num_layers=layers, grid_size=2)
    codebook.centroids.copy_(torch.nn.functional.normalize(torch.randn(4, width), dim=-1))
    autoencoder = DescriptorAutoencoder(input_dim=codebook.bag_length, hidden_dim=16, code_dim=8)
    mapper = LatentMapper(latent_size=8, code_dim=8, clip_dim=16, hidden_size=16, num_hidden_layers=2)
    dit = DITDecoder(latent_size=8, warp_hidden_size=8, warp_steps=2, curriculum_levels=1, template_dims=(8, 8),
                     template_dropout_prob=0.0, template_weight_norm=False, clamp_distance=0.1)
    with torch.no_grad():
        first, second = dit.template.hidden
        first.weight.zero_(), first.bias.zero_(), second.weight.zero_(), second.bias.zero_()
        first.weight[:6] = torch.tensor([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])
        second.weight[0, :6] = 1.0  # |x| + |y| + |z|
        dit.template.out.weight.zero_()
        dit.template.out.weight[0, 0] = 1.0
        dit.template.out.bias.fill_(-0.6)
    return LatentMapperPipeline(
        clip=clip, clip_processor=CLIPImageProcessorPil(size={"shortest_edge": image},
                                                        crop_size={"height": image, "width": image}),
        vit=vit, vit_processor=ViTImageProcessorPil(size={"height": image, "width": image}),
        codebook=codebook, autoencoder=autoencoder, mapper=mapper, dit=dit, category=category,
    )


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory):
    """A tiny pipeline saved once per session; tests copy it before changing anything."""
    folder = tmp_path_factory.mktemp("pipeline") / "tiny-pipeline"
    build_tiny_pipeline().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_pipeline_dir):
    """The tiny pipeline loaded from disk; shared, so tests must not modify it."""
    from latentmapper import LatentMapperPipeline

    return LatentMapperPipeline.from_pretrained(tiny_pipeline_dir)
