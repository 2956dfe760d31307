"""Autoencoder and mapper: shapes, overfitting a tiny set, safetensors round trips, and the
training scripts end to end (encoders -> features -> autoencoder -> mapper) on a tiny dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import trimesh
from PIL import Image, ImageDraw

from latentmapper.models import DescriptorAutoencoder, LatentMapper

TRAIN_DIR = Path(__file__).resolve().parent.parent / "train"


def _overfit(model: torch.nn.Module, loss_fn, steps: int = 300, lr: float = 3e-3) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = loss_fn()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return float(loss_fn())


def test_autoencoder_shapes_and_overfit(tmp_path):
    torch.manual_seed(0)
    bags = torch.rand(16, 60)
    model = DescriptorAutoencoder(input_dim=60, hidden_dim=64, code_dim=512)
    out = model(bags)
    assert out.code.shape == (16, 512) and out.reconstruction.shape == (16, 60)
    start = float(F.mse_loss(out.reconstruction, bags).detach())
    final = _overfit(model, lambda: F.mse_loss(model(bags).reconstruction, bags))
    assert final < 0.01 * start
    model.save_pretrained(tmp_path / "ae")
    loaded = DescriptorAutoencoder.from_pretrained(tmp_path / "ae")
    torch.testing.assert_close(loaded.encode(bags), model.encode(bags))
    with pytest.raises(ValueError):
        model.encode(torch.rand(2, 59))


def test_mapper_shapes_overfit_and_roundtrip(tmp_path):
    torch.manual_seed(0)
    code, clip = torch.randn(8, 32) * 3, F.normalize(torch.randn(8, 24), dim=-1)
    latents = torch.randn(8, 16) * 0.05 + 0.02
    model = LatentMapper(latent_size=16, code_dim=32, clip_dim=24, hidden_size=64, num_hidden_layers=3)
    assert sum(isinstance(m, torch.nn.Tanh) for m in model.modules()) == 3
    model.set_normalization(torch.cat([code, clip], 1), latents)
    assert model(code, clip).shape == (8, 16)
    final = _overfit(model, lambda: F.l1_loss(model(code, clip), latents))
    assert final < 0.1 * float(latents.abs().mean())
    model.save_pretrained(tmp_path / "mapper")
    loaded = LatentMapper.from_pretrained(tmp_path / "mapper")
    torch.testing.assert_close(loaded.latent_std, model.latent_std)  # the normalisation buffers travel too
    torch.testing.assert_close(loaded(code, clip), model(code, clip))
    with pytest.raises(ValueError):
        model(code[:, :31], clip)


def test_checkpoint_round_trip_without_pickles(tmp_path):
    from latentmapper.training.checkpoints import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model = LatentMapper(latent_size=4, code_dim=3, clip_dim=2, hidden_size=8)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(5, 3), torch.randn(5, 2)).sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path / "ckpt", model, optimizer, {"epoch": 3, "history": [{"val": 1.0}]})
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["model.safetensors", "optimizer.safetensors", "state.json"]
    other = LatentMapper(latent_size=4, code_dim=3, clip_dim=2, hidden_size=8)
    other_opt = torch.optim.Adam(other.parameters())
    state = load_checkpoint(tmp_path / "ckpt", other, other_opt)
    assert state == {"epoch": 3, "history": [{"val": 1.0}]}
    for a, b in zip(model.parameters(), other.parameters()):
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(optimizer.state[a]["exp_avg_sq"], other_opt.state[b]["exp_avg_sq"])


# ---- the scripts, end to end on a tiny dataset --------------------------------------------
def _tiny_dataset(folder: Path) -> None:
    from datasets import Dataset, DatasetDict, Features, Image as ImageFeature, List, Value

    colours = ["red", "blue", "green"]
    rows = {"shape_id": [], "category": [], "subtype": [], "caption": [], "images": [], "view_yaw": [],
            "vertices": [], "faces": [], "face_colors": [], "view_elevation": [], "camera_distance": [],
            "camera_fov": [], "sdf_samples": []}
    rng = np.random.default_rng(0)
    for i in range(8):
        extents = np.array([0.6 + 0.1 * i, 0.3, 0.4])
        box = trimesh.creation.box(extents=extents)  # the mesh novel views are rendered from
        points = rng.uniform(-0.6, 0.6, (400, 3))
        q = np.abs(points) - extents / 2  # the box's exact signed distance
        sdf = np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(1), 0)
        rows["sdf_samples"].append(np.concatenate([points, sdf[:, None]], 1).astype(np.float32).tolist())
        rows["vertices"].append(box.vertices.astype(np.float32).tolist())
        rows["faces"].append(box.faces.astype(np.int32).tolist())
        rows["face_colors"].append(np.full((len(box.faces), 3), 40 * (i % 3) + 60, dtype=np.uint8).tolist())
        rows["view_elevation"].append([20.0] * 9)
        rows["camera_distance"].append([2.6] * 9)
        rows["camera_fov"].append([45.0] * 9)
        views = []
        for v in range(9):
            image = Image.new("RGB", (32, 32), "white")
            width = 6 + i + v % 3
            ImageDraw.Draw(image).rectangle([16 - width, 12, 16 + width, 12 + 4 + i], fill=colours[i % 3])
            views.append(image)
        rows["shape_id"].append(f"car-{i:03d}")
        rows["category"].append("car")
        rows["subtype"].append("sedan")
        rows["caption"].append(f"a {colours[i % 3]} sedan")
        rows["images"].append(views)
        rows["view_yaw"].append([30.0 * v for v in range(9)])
    features = Features({"shape_id": Value("string"), "category": Value("string"), "subtype": Value("string"),
                         "caption": Value("string"), "images": List(ImageFeature()), "view_yaw": List(Value("float32")),
                         "vertices": List(List(Value("float32"))), "faces": List(List(Value("int32"))),
                         "face_colors": List(List(Value("uint8"))), "view_elevation": List(Value("float32")),
                         "camera_distance": List(Value("float32")), "camera_fov": List(Value("float32")),
                         "sdf_samples": List(List(Value("float32")))})
    full = Dataset.from_dict(rows, features=features)
    DatasetDict({"train": full.select(range(6)), "validation": full.select([6]), "test": full.select([7])}).save_to_disk(folder)


def _tiny_decoder():
    from latentmapper.models.dit import DITDecoder

    torch.manual_seed(0)
    return DITDecoder(latent_size=8, warp_hidden_size=8, warp_steps=1, curriculum_levels=1, template_dims=(16, 16),
                      correction_dims=(16,))


def test_decoded_sdf_loss_scores_the_shape_a_code_makes(tmp_path):
    from latentmapper.training.decoded_sdf_loss import DecodedSDFLoss, near_surface_bank

    data = tmp_path / "data"
    _tiny_dataset(data)
    bank = near_surface_bank(data, ["car-006", "car-000"], per_shape=32, clamp=0.1)
    assert bank.shape == (2, 32, 4) and bank[..., 3].abs().max() < 0.1
    assert not torch.equal(bank[0], bank[1])  # each row holds its own shape's samples
    with pytest.raises(ValueError, match="car-999"):
        near_surface_bank(data, ["car-000", "car-999"], per_shape=8, clamp=0.1)

    # codes fitted through the loss find the shapes a decoder makes from two unknown codes
    decoder = _tiny_decoder()
    with torch.no_grad():
        for parameter in decoder.correction.parameters():  # a correction that depends on the code
            parameter.normal_(0.0, 0.5)
        decoder.correction.out.weight.mul_(0.02)  # small enough to keep the SDF within the clamp (a gradient)
        decoder.correction.out.bias.zero_()
        truth = torch.randn(2, 8)
        bank[..., 3] = decoder.sdf(truth, bank[..., :3]).clamp(-0.1, 0.1)
    loss_fn = DecodedSDFLoss(decoder, bank, points=16, weight=100.0)

    class FreeCode(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.code = torch.nn.Parameter(torch.zeros(2, 8))

        def forward(self, code, clip):
            return self.code[code[:, 0].long()]

    model = FreeCode()
    rows = (torch.tensor([[0.0], [1.0]]), torch.zeros(2, 1), torch.zeros(2, 8), torch.tensor([0, 1]))
    model.eval()
    with torch.no_grad():
        before = float(loss_fn.sdf_error(model(*rows[:2]), rows[3], training=False))
        assert float(loss_fn(model, *rows)) == pytest.approx(100.0 * before)  # zero codes: the latent L1 is 0
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    model.train()
    for _ in range(60):
        optimizer.zero_grad()
        loss_fn(model, *rows).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        assert float(loss_fn.sdf_error(model(*rows[:2]), rows[3], training=False)) < 0.8 * before
    assert all(not p.requires_grad for p in decoder.parameters())  # the DIT stays frozen


def _config(tmp_path: Path, stage: str, **changes) -> str:
    config = json.loads((TRAIN_DIR / "configs" / f"{stage}_cpu.json").read_text())
    for key, value in changes.items():
        target = config
        *parents, last = key.split("__")
        for part in parents:
            target = target[part]
        target[last] = value
    path = tmp_path / f"{stage}.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_training_scripts_end_to_end(tmp_path):
    from latentmapper.training.commands import precompute_features
    from latentmapper.training.commands import train_autoencoder
    from latentmapper.training.commands import train_encoders
    from latentmapper.training.commands import train_mapper
    from safetensors import safe_open
    from safetensors.torch import save_file
    from latentmapper.training.cached_features import load_feature_split

    data = tmp_path / "data"
    _tiny_dataset(data)
    tiny_vit = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64)
    enc_cfg = _config(
        tmp_path, "encoders", clip__vision_config=tiny_vit, clip__projection_dim=24,
        clip__text_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                               max_position_embeddings=16),
        clip__train__epochs=1, clip__train__batch_size=18, vit__train__epochs=1, vit__train__batch_size=18,
        vit__model=dict(tiny_vit, decoder_hidden_size=16, decoder_num_hidden_layers=1, decoder_num_attention_heads=2,
                        decoder_intermediate_size=32, mask_ratio=0.75),
    )
    enc = tmp_path / "encoders"
    assert train_encoders.main(["--dataset", str(data), "--config", enc_cfg, "--output", str(enc)]) == 0
    assert {"config.json", "tokenizer.json", "preprocessor_config.json"} <= {p.name for p in (enc / "clip").iterdir()}
    assert json.loads((enc / "vit" / "config.json").read_text())["model_type"] == "vit"

    feats = tmp_path / "features"
    feat_cfg = _config(tmp_path, "features", num_words=5, grid_size=2, codebook_images=20, batch_images=20, chunk_shapes=4,
                       augment={"copies": 0}, novel_views={"per_shape": 0})
    assert precompute_features.main(["--dataset", str(data), "--encoders", str(enc), "--config", feat_cfg,
                                     "--output", str(feats)]) == 0
    train = load_feature_split(feats, "train")
    assert train.clip.shape == (6, 9, 24) and train.bag.shape == (6, 9, 2 * 5 * (1 + 2 * 2))
    assert train.shape_ids == [f"car-{i:03d}" for i in range(6)]
    assert not (feats / "features_train_augmented.safetensors").exists()
    assert not (feats / "features_train_novel_views.safetensors").exists()
    # resuming with augmentation and novel views configured adds them and keeps the clean features
    clean_mtime = (feats / "features_train.safetensors").stat().st_mtime_ns
    aug_feat_cfg = _config(tmp_path, "features", num_words=5, grid_size=2, codebook_images=20, batch_images=20,
                           chunk_shapes=4, augment={"copies": 2, "zoom": [0.8, 1.2], "rotation_deg": 10},
                           novel_views={"per_shape": 2, "seed": 1})
    assert precompute_features.main(["--dataset", str(data), "--encoders", str(enc), "--config", aug_feat_cfg,
                                     "--output", str(feats), "--resume"]) == 0
    assert (feats / "features_train.safetensors").stat().st_mtime_ns == clean_mtime
    augmented = load_feature_split(feats, "train_augmented")  # two zoomed / rotated copies of every view
    assert augmented.shape_ids == train.shape_ids and augmented.clip.shape == (6, 18, 24)
    assert augmented.view_yaw[:4] == [0.0, 0.0, 30.0, 30.0]
    assert not torch.allclose(augmented.clip[:, ::2], train.clip, atol=1e-3)
    novel = load_feature_split(feats, "train_novel_views")  # two renders of each mesh between the training yaws
    assert novel.shape_ids == train.shape_ids and novel.clip.shape == (6, 2, 24)
    assert load_feature_split(feats, "validation_novel_views").clip.shape == (1, 2, 24)
    assert not (feats / "features_test_novel_views.safetensors").exists()  # test views stay the evaluation's
    assert not torch.allclose(novel.clip[:, 0], novel.clip[:, 1], atol=1e-3)
    with safe_open(str(feats / "features_train_novel_views.safetensors"), framework="pt") as f:
        cameras = json.loads(f.metadata()["cameras"])  # where each shape's novel views were taken from
    assert sorted(cameras) == train.shape_ids and all(len(c) == 2 for c in cameras.values())
    yaws, elevations = (np.array([c[k] for views in cameras.values() for c in views]) for k in (0, 1))
    assert np.all((yaws % 30 >= 5) & (yaws % 30 <= 25)) and np.all(np.abs(elevations - 20.0) <= 10.0)

    ae = tmp_path / "ae"
    ae_cfg = _config(tmp_path, "autoencoder", epochs=3, hidden_dim=32, code_dim=16)
    assert train_autoencoder.main(["--features", str(feats), "--config", ae_cfg, "--output", str(ae)]) == 0
    # resuming a finished run is a no-op that rewrites the same model
    assert train_autoencoder.main(["--features", str(feats), "--config", ae_cfg, "--output", str(ae), "--resume"]) == 0
    with pytest.raises(SystemExit):
        train_autoencoder.main(["--features", str(feats), "--config", ae_cfg, "--output", str(ae)])

    run = tmp_path / "dit"
    run.mkdir()
    gen = torch.Generator().manual_seed(0)
    save_file({f"car-{i:03d}": torch.randn(8, generator=gen) for i in range(7)}, str(run / "latents.safetensors"))
    # the presets stop on held-out training shapes; the validation split's codes are the other choice
    map_cfg = _config(tmp_path, "mapper", hidden_size=32, max_epochs=30, patience=2, augmented_views=False,
                      novel_views=False, sdf_refinement={"epochs": 0}, early_stopping="validation_shapes")
    out = tmp_path / "mapper"
    assert train_mapper.main(["--features", str(feats), "--autoencoder", str(ae), "--latents", str(run),
                              "--config", map_cfg, "--output", str(out)]) == 0
    log = json.loads((out / "mapper_log.json").read_text())
    assert log["validation"] == "validation split" and log["epochs"] <= 30
    assert log["stopped_early"] or log["epochs"] == 30
    mapper = LatentMapper.from_pretrained(out / "mapper")
    assert mapper.config.latent_size == 8 and mapper.config.code_dim == 16 and mapper.config.clip_dim == 24

    # augmented and novel views add rows (novel ones also validate, scored apart); without validation codes
    # the held-out shape's copies and novel views stay out of training
    aug_cfg = _config(tmp_path, "mapper", hidden_size=32, max_epochs=3, augmented_views=True, novel_views=True,
                      sdf_refinement={"epochs": 0}, early_stopping="validation_shapes")
    assert train_mapper.main(["--features", str(feats), "--autoencoder", str(ae), "--latents", str(run),
                              "--config", aug_cfg, "--output", str(tmp_path / "mapper_aug")]) == 0
    log = json.loads((tmp_path / "mapper_aug" / "mapper_log.json").read_text())
    assert log["augmented_rows"] == 6 * 18 and log["novel_view_rows"] == 6 * 2
    assert log["training_rows"] == 6 * 9 + 6 * 18 + 6 * 2
    assert log["val_l1_novel_views"] > 0 and log["val_l1_training_views"] > 0
    train_only = tmp_path / "dit_train_only"
    train_only.mkdir()
    save_file({f"car-{i:03d}": torch.randn(8, generator=gen) for i in range(6)}, str(train_only / "latents.safetensors"))
    assert train_mapper.main(["--features", str(feats), "--autoencoder", str(ae), "--latents", str(train_only),
                              "--config", aug_cfg, "--output", str(tmp_path / "mapper_holdout")]) == 0
    log = json.loads((tmp_path / "mapper_holdout" / "mapper_log.json").read_text())
    assert log["augmented_rows"] == 5 * 18 and log["training_rows"] == 5 * 9 + 5 * 18 + 5 * 2
    # the same hold-out on request, although the validation shapes have codes: they do not stop the fit
    held_cfg = _config(tmp_path, "mapper", hidden_size=32, max_epochs=3, augmented_views=True, novel_views=True,
                       sdf_refinement={"epochs": 0}, early_stopping="held_out_training_shapes")
    assert train_mapper.main(["--features", str(feats), "--autoencoder", str(ae), "--latents", str(run),
                              "--config", held_cfg, "--output", str(tmp_path / "mapper_held")]) == 0
    log = json.loads((tmp_path / "mapper_held" / "mapper_log.json").read_text())
    assert "early_stopping: held_out_training_shapes" in log["validation"]
    assert log["training_rows"] == 5 * 9 + 5 * 18 + 5 * 2 and "val_l1_novel_views" not in log
    bad_cfg = _config(tmp_path, "mapper", hidden_size=32, max_epochs=3, early_stopping="test_shapes")
    with pytest.raises(SystemExit, match="early_stopping must be one of"):
        train_mapper.main(["--features", str(feats), "--autoencoder", str(ae), "--latents", str(run),
                           "--config", bad_cfg, "--output", str(tmp_path / "mapper_bad")])
    aug_cfg = _config(tmp_path, "mapper", hidden_size=32, max_epochs=3, augmented_views=True, novel_views=True,
                      sdf_refinement={"epochs": 0},
                      early_stopping="validation_shapes")  # _config writes one file per stage: the augmented one again
    changed = _config(tmp_path, "features", num_words=5, grid_size=2, codebook_images=20, batch_images=20,
                      chunk_shapes=4, augment={"copies": 3, "zoom": [0.8, 1.2], "rotation_deg": 10})
    with pytest.raises(SystemExit, match="other augment settings"):
        precompute_features.main(["--dataset", str(data), "--encoders", str(enc), "--config", changed,
                                  "--output", str(feats), "--resume"])
    more_views = _config(tmp_path, "features", num_words=5, grid_size=2, codebook_images=20, batch_images=20,
                         chunk_shapes=4, augment={"copies": 2, "zoom": [0.8, 1.2], "rotation_deg": 10},
                         novel_views={"per_shape": 3, "seed": 1})
    with pytest.raises(SystemExit, match="other novel_views settings"):
        precompute_features.main(["--dataset", str(data), "--encoders", str(enc), "--config", more_views,
                                  "--output", str(feats), "--resume"])
    (feats / "features_train_augmented.safetensors").unlink()
    with pytest.raises(SystemExit, match="augment"):
        train_mapper.main(["--features", str(feats), "--autoencoder", str(ae), "--latents", str(run),
                           "--config", aug_cfg, "--output", str(tmp_path / "mapper_missing")])

    # stage 2, the decoded SDF loss through a (tiny) DIT: it needs the decoder and the SDF samples, and only
    # replaces the L1 mapper with an epoch that scores better on the validation shapes under that loss
    refine_cfg = _config(tmp_path, "mapper", hidden_size=32, max_epochs=3, augmented_views=False, novel_views=False,
                         sdf_refinement={"epochs": 3, "weight": 10.0, "points": 16, "samples_per_shape": 64,
                                         "lr": 1e-3, "patience": 3})
    with pytest.raises(SystemExit, match="--dit"):
        train_mapper.main(["--features", str(feats), "--autoencoder", str(ae), "--latents", str(run),
                           "--config", refine_cfg, "--output", str(tmp_path / "mapper_sdf")])
    _tiny_decoder().save_pretrained(tmp_path / "tiny_dit" / "decoder")
    assert train_mapper.main(["--features", str(feats), "--autoencoder", str(ae), "--latents", str(run),
                              "--config", refine_cfg, "--output", str(tmp_path / "mapper_sdf"),
                              "--dit", str(tmp_path / "tiny_dit"), "--dataset", str(data)]) == 0
    refined = json.loads((tmp_path / "mapper_sdf" / "mapper_log.json").read_text())["sdf_refinement"]
    assert len(refined["history"]) >= 1 and refined["val_loss"] <= refined["val_loss_before"]

    # --init-mapper refines a trained mapper without the L1 stage: it starts from that mapper's weights
    # (the same score before refining) and refuses one that maps other sizes
    init_args = ["--features", str(feats), "--autoencoder", str(ae), "--latents", str(run), "--config", refine_cfg,
                 "--dit", str(tmp_path / "tiny_dit"), "--dataset", str(data)]
    assert train_mapper.main([*init_args, "--output", str(tmp_path / "mapper_init"),
                              "--init-mapper", str(tmp_path / "mapper_sdf" / "mapper")]) == 0
    log = json.loads((tmp_path / "mapper_init" / "mapper_log.json").read_text())
    assert log["epochs"] == 0 and log["init_mapper"] == str(tmp_path / "mapper_sdf" / "mapper")
    assert log["sdf_refinement"]["val_loss_before"] == pytest.approx(refined["val_loss"], rel=1e-4)
    LatentMapper(latent_size=5, code_dim=4, clip_dim=3, hidden_size=8).save_pretrained(tmp_path / "wrong_mapper")
    with pytest.raises(SystemExit, match="latent 5"):
        train_mapper.main([*init_args, "--output", str(tmp_path / "mapper_wrong"),
                           "--init-mapper", str(tmp_path / "wrong_mapper")])


def test_evaluation_nearest_neighbour_and_summary():
    from latentmapper.evaluation.commands.evaluate_mapper import markdown_table, nearest_training_shapes, summarize

    train = F.normalize(torch.randn(4, 3, 8), dim=-1)
    test = train[[2, 0]] + 0.01 * torch.randn(2, 3, 8)  # test shape 0 looks like training shape 2, 1 like 0
    assert nearest_training_shapes(test, train).tolist() == [[2, 2, 2], [0, 0, 0]]

    per_shape = [
        {"oracle": 1.0, "mapper": [1.2, 1.4, None], "nearest_neighbour": [2.0, 2.0, 2.0],
         "latent_l1": {"mapper": 0.1, "nearest_neighbour": 0.2}},
        {"oracle": 2.0, "mapper": [2.0, 2.0, 2.6], "nearest_neighbour": [3.0, 4.0, 3.0],
         "latent_l1": {"mapper": 0.1, "nearest_neighbour": 0.3}},
    ]
    summary = summarize(per_shape, [0.0, 30.0, 60.0])
    assert summary["failures"] == {"oracle": 0, "mapper": 1, "nearest_neighbour": 0}
    assert summary["chamfer_x1e3"]["mapper"] == pytest.approx(1.84)
    assert summary["mapper_over_oracle"] == pytest.approx(1.84 / 1.5)
    assert summary["targets"] == {"mapper_beats_nearest_neighbour": True, "mapper_within_1.5x_oracle": True}
    assert summary["mapper_view_spread"]["mean_max_minus_min"] == pytest.approx((0.2 + 0.6) / 2)
    assert summary["mapper_view_spread"]["mean_by_yaw"]["60"] == pytest.approx(2.6)
    assert "3D-LatentMapper | 1.840" in markdown_table(summary)
