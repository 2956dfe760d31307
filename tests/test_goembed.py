"""GOEmbed: the gradient-origin embedding, its second-order training path, and the pipeline around it."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from latentmapper.cameras import OrbitCamera, camera_tensors
from latentmapper.data.render import render_mesh
from latentmapper import GOEmbedPipeline
from latentmapper.models.goembed import GOEmbedEncoder
from latentmapper.pipelines import PipelineLoadError


YAWS = (0.0, 120.0, 240.0)
TINY = {
    "voxel": dict(representation="voxel", resolution=8, channels=(8, 16)),
    "triplane": dict(representation="triplane", resolution=8, channels=(8, 16)),
}


def tiny_encoder(kind: str = "voxel", **overrides) -> GOEmbedEncoder:
    torch.manual_seed(0)
    config = dict(feature_dim=4, decoder_hidden_size=8, image_size=16, samples_per_ray=8, head_channels=4,
                  head_hidden_size=16, latent_size=6, **TINY[kind])
    config.update(overrides)
    return GOEmbedEncoder(**config)


def render_views(mesh: trimesh.Trimesh, yaws=YAWS, size: int = 16) -> torch.Tensor:
    """(V, 3, S, S) in [0, 1]: the dataset's renderer, the dataset's cameras."""
    images = [np.asarray(render_mesh(mesh, OrbitCamera(yaw), size, supersample=1)) for yaw in yaws]
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0


def cameras(batch: int, yaws=YAWS, dtype=torch.float32):
    poses, fovs = camera_tensors(list(yaws), dtype=dtype)
    return poses[None].expand(batch, -1, -1, -1), fovs[None].expand(batch, -1)


@pytest.fixture(scope="module")
def two_shapes() -> torch.Tensor:
    box = trimesh.creation.box(extents=(1.0, 0.5, 0.7))
    ball = trimesh.creation.icosphere(subdivisions=2, radius=0.6)
    ball.apply_translation((0.2, 0.1, 0.0))
    return torch.stack([render_views(box), render_views(ball)])  # (2, 3, 3, 16, 16)


@pytest.mark.parametrize("kind", ["voxel", "triplane"])
def test_blank_views_embed_to_exactly_zero(kind, two_shapes):
    """The zero representation renders exactly white, so white views leave no error, hence no gradient."""
    model = tiny_encoder(kind)
    poses, fovs = cameras(2)
    blank = model.embed(torch.ones(2, 3, 3, 16, 16), poses, fovs)
    assert blank.shape == (2, *model.representation_shape) and torch.count_nonzero(blank) == 0
    shapes = model.embed(two_shapes, poses, fovs)
    assert shapes.abs().amax(dim=tuple(range(1, shapes.dim()))).min() > 0


@pytest.mark.parametrize("kind", ["voxel", "triplane"])
def test_embedding_is_the_gradient_through_the_full_decoder(kind, two_shapes):
    """The cheap path (linearised decoder, 4-channel look-ups) equals the plain gradient through the MLP."""
    model = tiny_encoder(kind).double()
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.normal_(0.0, 0.5)
    views, (poses, fovs) = two_shapes.double(), cameras(2, dtype=torch.float64)
    origin = torch.zeros(2, *model.representation_shape, dtype=torch.float64, requires_grad=True)
    (plain,) = torch.autograd.grad(model.rendering_error(origin, views, poses, fovs).sum(), origin)
    torch.testing.assert_close(model.embed(views, poses, fovs), -plain * model.config.embedding_scale)


@pytest.mark.parametrize("pooling", ["mean", "mean_max_min"])
@pytest.mark.parametrize("kind", ["voxel", "triplane"])
def test_views_combine_symmetrically_with_each_camera(kind, pooling, two_shapes):
    """Several views: the all-view embedding is the mean of the views' own embeddings (each with its own
    camera), the latent does not depend on the views' order, and one view repeated is that view alone
    (for either pooling); a view given another view's camera embeds differently."""
    model = tiny_encoder(kind, view_pooling=pooling).eval()
    poses, fovs = cameras(2)
    with torch.no_grad():
        singles = [model.embed(two_shapes[:, [v]], poses[:, [v]], fovs[:, [v]]) for v in range(3)]
        out = model(two_shapes, poses, fovs)
        flipped = model(two_shapes[:, [2, 0, 1]], poses[:, [2, 0, 1]], fovs[:, [2, 0, 1]])
        once = model(two_shapes[:, [1]], poses[:, [1]], fovs[:, [1]])
        thrice = model(two_shapes[:, [1, 1, 1]], poses[:, [1, 1, 1]], fovs[:, [1, 1, 1]])
        wrong = model.embed(two_shapes[:, [1]], poses[:, [0]], fovs[:, [0]])
    torch.testing.assert_close(out.embedding, sum(singles) / 3, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(flipped.latent, out.latent, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(thrice.latent, once.latent, rtol=1e-4, atol=1e-5)
    assert (wrong - singles[1]).abs().max() > 1e-3 * singles[1].abs().max()


def test_max_min_pooling_widens_only_the_stem():
    """``mean_max_min`` feeds the trunk three times the channels; the rest of the network is unchanged."""
    plain, pooled = tiny_encoder("voxel"), tiny_encoder("voxel", view_pooling="mean_max_min")
    assert pooled.trunk.stem[0].in_channels == 3 * plain.trunk.stem[0].in_channels
    extra = sum(p.numel() for p in pooled.parameters()) - sum(p.numel() for p in plain.parameters())
    assert extra == pooled.trunk.stem[0].weight.numel() - plain.trunk.stem[0].weight.numel()
    with pytest.raises(ValueError, match="view_pooling"):
        tiny_encoder("voxel", view_pooling="sum")


def test_second_order_gradients_reach_the_decoder(two_shapes):
    """The latent depends on the rendering MLP only through the gradient; its derivative matches finite differences."""
    model = tiny_encoder("voxel").double()
    views, (poses, fovs) = two_shapes.double(), cameras(2, dtype=torch.float64)
    model.zero_grad()
    model(views, poses, fovs).latent.sum().backward()
    weight = model.decoder.out.weight
    assert weight.grad is not None and weight.grad[1:].abs().sum() > 0  # colour rows carry the embedding
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())

    index, eps = (2, 1), 1e-6
    with torch.no_grad():
        original = weight[index].item()
        values = []
        for step in (eps, -eps):
            weight[index] = original + step
            values.append(model(views, poses, fovs).latent.sum().item())
        weight[index] = original
    numeric = (values[0] - values[1]) / (2 * eps)
    assert numeric == pytest.approx(weight.grad[index].item(), rel=1e-4, abs=1e-8)


@pytest.mark.parametrize("kind", ["voxel", "triplane"])
def test_any_number_of_views_and_bad_inputs(kind):
    model = tiny_encoder(kind, decode_representation=True).eval()
    for yaws in [(30.0,), YAWS, tuple(range(0, 241, 30))]:
        poses, fovs = cameras(1, yaws)
        with torch.no_grad():
            out = model(torch.rand(1, len(yaws), 3, 32, 32), poses, fovs)  # 32 px views, encoded at 16
        assert out.latent.shape == (1, 6) and out.representation.shape == (1, *model.representation_shape)
    assert model.render(out.representation, poses, fovs).shape == (1, 9, 3, 16, 16)
    with pytest.raises(ValueError, match="poses of shape"):
        model(torch.rand(1, 2, 3, 16, 16), *cameras(1))
    with pytest.raises(ValueError, match="square RGB"):
        model(torch.rand(1, 3, 3, 16, 20), *cameras(1))


@pytest.mark.parametrize("kind", ["voxel", "triplane"])
def test_tiny_encoder_overfits_two_shapes(kind, two_shapes):
    model = tiny_encoder(kind)
    targets = torch.tensor([[1.0, -0.5, 0.3, 0.0, 2.0, -1.0], [-1.0, 0.5, 0.0, 0.7, -2.0, 1.0]])
    model.set_normalization(targets)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    poses, fovs = cameras(2)
    losses = []
    for _ in range(60):
        loss = (model(two_shapes, poses, fovs).latent - targets).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], losses[::10]


# ---- the pipeline ----------------------------------------------------------------------------
def tiny_pipeline():
    from conftest import build_tiny_pipeline

    dit = build_tiny_pipeline().dit  # any latent decodes to an octahedron
    encoder = tiny_encoder("voxel", latent_size=dit.config.latent_size)
    return GOEmbedPipeline(goembed=encoder, dit=dit, category="car")


def test_pipeline_round_trip_and_outputs(tmp_path, two_shapes):
    pipe = tiny_pipeline()
    images = [Image.fromarray((v.permute(1, 2, 0).numpy() * 255).astype(np.uint8)) for v in two_shapes[0]]
    one = pipe(images[:1], cameras=[0.0], output_type="latent").latents
    three = pipe(images, cameras=[OrbitCamera(y) for y in YAWS], output_type="latent").latents
    assert one.shape == three.shape == (1, pipe.latent_size) and not torch.allclose(one, three)

    pipe.save_pretrained(tmp_path / "pipe")
    index = json.loads((tmp_path / "pipe" / "model_index.json").read_text())
    assert index["goembed"] == ["latentmapper.models.goembed", "GOEmbedEncoder"]
    card = (tmp_path / "pipe" / "README.md").read_text()
    assert card.startswith("---") and "# GOEmbed car pipeline" in card and "goembed" in card.split("---")[1]
    assert f"zero {pipe.goembed.config.representation} representation" in card
    assert "from latentmapper import GOEmbedPipeline" in card and "{{" not in card
    loaded = GOEmbedPipeline.from_pretrained(tmp_path / "pipe")
    torch.testing.assert_close(loaded(images, cameras=list(YAWS), output_type="latent").latents, three)

    out = loaded(images, cameras=list(YAWS), resolution=32, workers=2)
    assert isinstance(out.meshes[0], trimesh.Trimesh) and out.meshes[0].is_watertight
    assert list(out.timings) == ["prepare", "goembed", "sdf_grid", "marching_cubes"]
    assert all(seconds >= 0 for seconds in out.timings.values())
    single = loaded(images, cameras=list(YAWS), resolution=32, workers=1).meshes[0]
    assert np.array_equal(single.vertices, out.meshes[0].vertices) and np.array_equal(single.faces, out.meshes[0].faces)
    assert loaded(images[0], cameras=0.0, resolution=32, output_type="glb").meshes[0][:4] == b"glTF"

    with pytest.raises(ValueError, match="2 images but 3 cameras"):
        loaded(images[:2], cameras=list(YAWS))
    with pytest.raises(ValueError, match="output_type"):
        loaded(images, cameras=list(YAWS), output_type="mesh")
    with pytest.raises(ValueError, match=r"resolution must be an integer in \[16, 512\]"):  # the same limit
        loaded(images, cameras=list(YAWS), resolution=1024)
    next((tmp_path / "pipe" / "goembed").glob("*.safetensors")).write_bytes(b"garbage")
    with pytest.raises(PipelineLoadError, match="goembed"):
        GOEmbedPipeline.from_pretrained(tmp_path / "pipe")


# ---- the scripts, end to end on a tiny dataset ---------------------------------------------
def test_training_evaluation_and_plenoptic_scripts(tmp_path, tiny_record_config):
    from datasets import load_from_disk
    from safetensors.torch import save_file

    from latentmapper.data.build import build_dataset

    from latentmapper.evaluation.commands import evaluate_goembed
    from latentmapper.evaluation.commands import plenoptic_check
    from latentmapper.training.commands import train_goembed

    data = tmp_path / "car"
    build_dataset("car", 4, data, config=tiny_record_config, num_workers=1, progress=False)
    dataset = load_from_disk(str(data))
    dit = tiny_pipeline().dit
    dit.save_pretrained(tmp_path / "dit" / "decoder")
    generator = torch.Generator().manual_seed(0)
    codes = {sid: torch.randn(dit.config.latent_size, generator=generator)
             for split in ("train", "validation") for sid in dataset[split]["shape_id"]}
    save_file(codes, str(tmp_path / "dit" / "latents.safetensors"))

    config = json.loads((Path(__file__).resolve().parents[1] / "train" / "configs" / "goembed_cpu.json").read_text())
    config["model"].update(resolution=8, feature_dim=4, channels=[8, 16], head_channels=4, head_hidden_size=16,
                           image_size=16, samples_per_ray=8, decode_representation=True)
    config["training"].update(steps=4, batch_size=2, eval_every=2, warmup_steps=1, rerender_weight=0.5)
    config["plenoptic"].update(train_shapes=2, test_shapes=1, steps=2, batch_size=2,
                               models={"voxel": {}, "triplane": {"resolution": 8, "channels": [8, 16]}})
    (tmp_path / "config.json").write_text(json.dumps(config))
    run = tmp_path / "run"
    args = ["--dataset", str(data), "--latents", str(tmp_path / "dit"), "--config", str(tmp_path / "config.json"),
            "--output", str(run)]
    assert train_goembed.main(args) == 0
    log = json.loads((run / "goembed_log.json").read_text())
    assert log["steps"] == 4 and [h["step"] for h in log["history"]] == [2, 4]
    with pytest.raises(SystemExit, match="--resume"):
        train_goembed.main(args)
    pipe = GOEmbedPipeline.from_pretrained(run / "pipeline")
    assert pipe.config.category == "car" and pipe.goembed.config.image_size == 16

    results = tmp_path / "results"
    results.mkdir()
    (results / "car.json").write_text(json.dumps({"systems": {"latentmapper": {"seconds_per_image": 1.0}}}))
    eval_args = ["--category", "car", "--pipeline", str(run / "pipeline"), "--dataset", str(data), "--unseen-sets",
                 "1", "--resolution", "32", "--emd-points", "32", "--work", str(tmp_path / "eval"),
                 "--results-dir", str(results)]
    assert evaluate_goembed.main(eval_args) == 0
    systems = json.loads((results / "car.json").read_text())["systems"]
    assert systems["latentmapper"] == {"seconds_per_image": 1.0}  # other rows are kept
    test_ids = sorted(dataset["test"]["shape_id"])
    for row in ("goembed", "goembed_3views"):
        assert set(systems[row]) == {"fixed_view", "nine_views", "unseen_views", "seconds_per_image"}
        assert systems[row]["nine_views"]["chamfer_x1e3"] > 0  # the octahedron is never the car
        assert all(0.0 <= systems[row][s]["identification_top1"] <= 1.0 for s in ("fixed_view", "nine_views"))
    record = json.loads(next((tmp_path / "eval" / "per_shape").glob("*.json")).read_text())
    assert [len(record["goembed"][s]) for s in ("fixed_view", "nine_views", "unseen_views")] == [1, 9, 1]
    assert [len(e["yaws"]) for e in record["goembed_3views"]["nine_views"]] == [3, 3, 3]
    scored = [e for e in record["goembed"]["nine_views"] if e["chamfer_x1e3"] is not None]
    assert scored and all(sorted(e["cross_chamfer_x1e3"]) == test_ids for e in scored)

    assert plenoptic_check.main(["--dataset", str(data), "--config", str(tmp_path / "config.json"),
                                 "--output", str(tmp_path / "plenoptic")]) == 0
    summary = json.loads((tmp_path / "plenoptic" / "plenoptic.json").read_text())
    assert set(summary["results"]) == {"voxel/goembed", "voxel/cnn_unprojection", "triplane/goembed",
                                       "triplane/cnn_unprojection"}
    assert all(r["psnr_held_out"] > 0 for r in summary["results"].values())


def test_goembed_identification_counts_inputs_nearer_their_own_shape():
    from latentmapper.evaluation.commands.evaluate_goembed import summarize

    def entry(cross):  # cross: the mesh's Chamfer to shapes a and b; None: no surface
        own = None if cross is None else 1.0
        return {"chamfer_x1e3": own, "emd_x1e2": own, "seconds": 0.1, "cross_chamfer_x1e3": cross}

    def record(sid, entries):
        sets = {"fixed_view": entries[:1], "nine_views": entries, "unseen_views": entries[:1]}
        return {"shape_id": sid, "goembed": sets, "goembed_3views": sets}

    records = [record("a", [entry({"a": 1.0, "b": 2.0}), entry({"a": 3.0, "b": 2.0})]),  # hit, miss
               record("b", [entry({"a": 5.0, "b": 1.0}), entry(None)])]  # hit, empty mesh (a miss)
    result, _ = summarize(records, "goembed")
    assert result["nine_views"]["identification_top1"] == 0.5
    assert result["fixed_view"]["identification_top1"] == 1.0


def test_view_count_weights():
    """Batches' view counts: uniform by default (the old draw, unchanged), else by the weights given."""
    from latentmapper.training.goembed_fitting import draw_view_count

    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert draw_view_count(3, None, gen()) == int(torch.randint(1, 4, (1,), generator=gen()))
    g = gen()
    assert {draw_view_count(3, [0, 0, 1], g) for _ in range(20)} == {3}
    counts = [draw_view_count(3, [1, 0, 3], g) for _ in range(400)]
    assert 2 not in counts and 0.65 < counts.count(3) / len(counts) < 0.85
    with pytest.raises(ValueError, match="view_count_weights"):
        draw_view_count(3, [1, 1], g)
