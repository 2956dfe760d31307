"""train/assemble_pipeline.py: training-run folders (a full CLIP checkpoint among them) -> a shipped pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from conftest import build_tiny_pipeline
from latentmapper import LatentMapperPipeline


def _run_folders(root: Path, pipe: LatentMapperPipeline) -> dict[str, Path]:
    """What the training scripts leave behind, made from the tiny pipeline's components."""
    from transformers import CLIPConfig, CLIPModel

    vision = pipe.clip.config.to_dict()
    full = CLIPModel(CLIPConfig(vision_config=vision, projection_dim=pipe.clip.config.projection_dim,
                                text_config=dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                                 intermediate_size=32, vocab_size=50, max_position_embeddings=16)))
    full.vision_model.load_state_dict(pipe.clip.vision_model.state_dict())
    full.visual_projection.load_state_dict(pipe.clip.visual_projection.state_dict())
    full.save_pretrained(root / "encoders" / "clip")  # a full CLIPModel, as train_encoders.py saves it
    pipe.clip_processor.save_pretrained(root / "encoders" / "clip")
    pipe.vit.save_pretrained(root / "encoders" / "vit")
    pipe.vit_processor.save_pretrained(root / "encoders" / "vit")
    pipe.codebook.save_pretrained(root / "features" / "codebook")
    pipe.autoencoder.save_pretrained(root / "autoencoder" / "autoencoder")
    pipe.mapper.save_pretrained(root / "mapper" / "mapper")
    pipe.dit.save_pretrained(root / "dit" / "decoder")
    return {name: root / name for name in ("encoders", "features", "autoencoder", "mapper", "dit")}


def test_assembles_a_loadable_fp16_pipeline(tmp_path):
    from transformers import CLIPVisionModelWithProjection

    from latentmapper.training.commands.assemble_pipeline import main

    reference = build_tiny_pipeline()
    folders = _run_folders(tmp_path / "run", reference)
    argv = [arg for name, path in folders.items() for arg in (f"--{name}", str(path))]
    evaluation = tmp_path / "evaluation.md"
    evaluation.write_text("| method | Chamfer |\n| --- | --- |\n| 3D-LatentMapper | 4.9 |\n")
    results = tmp_path / "car.json"  # the DIT's fit (benchmarks/benchmark.py --results) for the card's DIT fit section
    results.write_text(json.dumps({"systems": {}, "dit_fit": {"oracle_test": {
        "shapes": 60, "chamfer_x1e3": 4.4, "identification_top1": 0.5,
        "constant": {"shapes": 60, "chamfer_x1e3": 6.1, "identification_top1": 0.0167}}}}))
    out = tmp_path / "shipped"
    assert main([*argv, "--output", str(out), "--fp16", "--category", "car", "--evaluation", str(evaluation),
                 "--results", str(results)]) == 0

    pipe = LatentMapperPipeline.from_pretrained(out)
    assert type(pipe.clip) is CLIPVisionModelWithProjection and pipe.config.category == "car"
    assert next(pipe.mapper.parameters()).dtype == torch.float32  # upcast on load
    from safetensors import safe_open

    with safe_open(str(out / "mapper" / "diffusion_pytorch_model.safetensors"), "pt") as f:
        dtypes = {key: f.get_tensor(key).dtype for key in f.keys()}
    assert dtypes["net.0.weight"] == torch.float16 and dtypes["latent_std"] == torch.float32  # buffers stay fp32
    image = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    expected = reference(image, output_type="latent").latents
    assert torch.allclose(pipe(image, output_type="latent").latents, expected, atol=1e-2 * expected.abs().max().item())
    card = (out / "README.md").read_text()
    assert "| 3D-LatentMapper | 4.9 |" in card
    assert "| Oracle on the test split (code fitted to the shape) | 60 | 4.400 | 0.500 | 6.100 | 0.017 | 0.721 |" in card
