"""DIT decoder, its objective, latent fitting and the training script (tiny sizes, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from latentmapper.models import DITDecoder, fit_latent
from latentmapper.models.dit_losses import (
    DITLossConfig,
    curriculum_sdf_loss,
    dit_loss,
    pointpair_loss,
    pointwise_loss,
    soft_l1,
)

TINY = dict(latent_size=8, warp_hidden_size=16, warp_steps=4, curriculum_levels=4, template_dims=[32, 32, 32])


def tiny_decoder(seed: int = 0, **overrides) -> DITDecoder:
    torch.manual_seed(seed)
    return DITDecoder(**{**TINY, **overrides})


def reference_sdf(decoder: DITDecoder, latent: torch.Tensor, xyz: torch.Tensor) -> torch.Tensor:
    """DIT's official formulation: nn.LSTMCell on [code, xyz], affine warp, template MLP."""
    warper, template = decoder.warper, decoder.template
    state, p = None, xyz
    for _ in range(warper.steps):
        state = warper.lstm(torch.cat([latent, p], dim=1), state)
        a = warper.out(state[0])
        p = (1 + a[:, :3]) * p + a[:, 3:]
    x = p
    for layer in template.hidden:
        x = torch.relu(torch.nn.functional.linear(x, layer.weight, layer.bias))
    return torch.tanh(template.out(x)).squeeze(1)


def scramble_warp(decoder: DITDecoder) -> None:
    with torch.no_grad():  # the identity-like init would hide warp bugs
        decoder.warper.out.weight.normal_(0.0, 0.1)
        decoder.warper.out.bias.normal_(0.0, 0.05)


def test_matches_the_official_lstm_formulation_on_every_path():
    decoder = tiny_decoder().eval()
    scramble_warp(decoder)
    codes, xyz = torch.randn(3, 8), torch.rand(3, 50, 3) * 2 - 1
    flat_codes, flat_xyz = codes[:, None].expand(-1, 50, -1).reshape(-1, 8), xyz.reshape(-1, 3)
    with torch.no_grad():
        ref = reference_sdf(decoder, flat_codes, flat_xyz).reshape(3, 50)
        assert torch.allclose(decoder.sdf(codes, xyz), ref, atol=1e-5)  # fused inference path
        assert torch.allclose(decoder.sdf(flat_codes, flat_xyz).reshape(3, 50), ref, atol=1e-5)  # per point
        assert torch.allclose(decoder.sdf_fn(codes[1])(xyz[1]), ref[1], atol=1e-5)
    out = decoder(codes, xyz, return_intermediate=True)  # autograd path
    assert torch.allclose(out.sdf, ref, atol=1e-5)
    assert out.sdf.requires_grad
    assert len(out.warped_points) == len(out.intermediate_sdf) == 4
    assert out.warped_points[0].shape == (3, 50, 3)
    assert torch.equal(out.intermediate_sdf[-1], out.sdf)
    assert torch.allclose(decoder(codes[0], xyz[0]).sdf, ref[0], atol=1e-5)  # one shape, (L,) with (P, 3)


def test_initialisation_follows_dit():
    decoder = tiny_decoder()
    h = decoder.warper.hidden_size
    for bias in (decoder.warper.lstm.bias_ih, decoder.warper.lstm.bias_hh):
        assert torch.all(bias[h : 2 * h] == 1.0) and torch.all(bias[:h] == 0) and torch.all(bias[2 * h :] == 0)
    w = decoder.warper.lstm.weight_hh
    assert torch.allclose(w.T @ w, torch.eye(h), atol=1e-4)  # orthogonal (4H x H: orthonormal columns)
    xyz = torch.rand(100, 3) * 2 - 1
    with torch.no_grad():
        warped = decoder.warp(torch.randn(8), xyz)
    assert (warped - xyz).abs().max() < 1e-3  # near-identity warp at the start


def test_config_and_weights_round_trip(tmp_path):
    decoder = tiny_decoder(template_dropout_prob=0.0, clamp_distance=0.08).eval()
    scramble_warp(decoder)
    decoder.save_pretrained(tmp_path / "dit")
    files = sorted(p.name for p in (tmp_path / "dit").iterdir())
    assert files == ["config.json", "diffusion_pytorch_model.safetensors"]
    config = json.loads((tmp_path / "dit" / "config.json").read_text())
    assert config["template_dims"] == [32, 32, 32] and config["clamp_distance"] == 0.08
    loaded = DITDecoder.from_pretrained(tmp_path / "dit").eval()
    strip = lambda c: {k: v for k, v in dict(c).items() if not k.startswith("_")}  # noqa: E731
    assert json.loads(json.dumps(strip(loaded.config))) == json.loads(json.dumps(strip(decoder.config)))
    xyz, z = torch.rand(64, 3) * 2 - 1, torch.randn(8)
    with torch.no_grad():
        assert torch.allclose(loaded.sdf(z, xyz), decoder.sdf(z, xyz), atol=1e-6)


def test_rejects_bad_shapes_and_configs():
    with pytest.raises(ValueError, match="multiple"):
        DITDecoder(warp_steps=6, curriculum_levels=4)
    decoder = tiny_decoder()
    with pytest.raises(ValueError, match="latent has size"):
        decoder.sdf(torch.zeros(5), torch.zeros(10, 3))
    with pytest.raises(ValueError, match="does not fit"):
        decoder.sdf(torch.zeros(1, 1, 1, 8), torch.zeros(10, 3))


def test_loss_terms():
    pred, target = torch.tensor([0.0, 0.05, -0.2]), torch.tensor([0.01, 0.0, -0.05])
    assert torch.allclose(soft_l1(pred, target), torch.tensor([0.01, 0.05, 0.15]))
    assert torch.allclose(soft_l1(pred, target, eps=0.02), torch.tensor([0.0, 0.03, 0.13]))
    # Sign errors weigh 1 + lambda when target and residual agree in sign.
    assert torch.allclose(soft_l1(torch.tensor([0.0]), torch.tensor([0.1]), lamb=0.5), torch.tensor([0.15]))
    cfg = DITLossConfig()
    # One level uses the schedule's last (strictest) entry; predictions are clamped first.
    one = curriculum_sdf_loss([torch.tensor([0.5, -0.03])], torch.tensor([0.3, 0.0]), cfg)
    assert torch.allclose(one, torch.tensor(0.015))
    xyz = torch.rand(2, 40, 3)
    moved = xyz + torch.tensor([0.1, 0.0, 0.0])  # a rigid shift: no point-pair penalty
    assert pointpair_loss(xyz, moved).item() == 0.0
    assert pointpair_loss(xyz, xyz * 3.0).item() > 0.0  # stretching by 3 exceeds the bound of 0.5
    assert pointwise_loss([moved], xyz, 0.25).item() == pytest.approx(0.5 * 0.01)
    w1, w_end = cfg.weights(1), cfg.weights(200)
    assert w1["pointwise"] > w_end["pointwise"] == cfg.pointwise_weight
    assert w1["code_reg"] < w_end["code_reg"] == cfg.code_reg_weight


def analytic_samples(kind: str, size: float, count: int = 4000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-1, 1, (count, 3)).astype(np.float32)
    near = rng.normal(0, 1, (count, 3))
    near = near / np.linalg.norm(near, axis=1, keepdims=True) * size + rng.normal(0, 0.03, (count, 1))
    pts = np.concatenate([pts, near.astype(np.float32)])
    if kind == "sphere":
        sdf = np.linalg.norm(pts, axis=1) - size
    elif kind == "box":
        q = np.abs(pts) - size
        sdf = np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(1), 0)
    else:  # ellipsoid, approximately
        sdf = (np.linalg.norm(pts / np.array([1.0, 0.6, 0.8]), axis=1) - size) * 0.6
    return np.concatenate([pts, sdf[:, None]], 1).astype(np.float32)


@pytest.fixture(scope="module")
def overfitted():
    """A tiny DIT overfitted to two shapes (small and large sphere), with its loss history."""
    decoder = tiny_decoder(template_dropout_prob=0.0)
    data = torch.stack([torch.from_numpy(analytic_samples("sphere", r, 3000, i)) for i, r in enumerate((0.3, 0.6))])
    codes = torch.nn.Parameter(torch.randn(2, 8) * 0.3)
    opt = torch.optim.Adam([{"params": decoder.parameters(), "lr": 5e-3}, {"params": [codes], "lr": 2e-2}])
    cfg = DITLossConfig(ramp_epochs=10)
    gen = torch.Generator().manual_seed(0)
    history = []
    for step in range(150):
        idx = torch.randint(data.shape[1], (512,), generator=gen)
        batch = data[:, idx]
        terms = dit_loss(decoder, codes, batch[..., :3], batch[..., 3], 1 + step / 10, cfg)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        history.append(float(terms["sdf"].detach()))
    return decoder.eval(), codes.detach(), data, history


def test_tiny_dit_overfits_two_shapes(overfitted):
    decoder, codes, data, history = overfitted
    start, end = np.mean(history[:3]), np.mean(history[-10:])
    assert end < 0.3 * start, (start, end)
    with torch.no_grad():
        pred = decoder.sdf(codes, data[..., :3]).clamp(-0.1, 0.1)
    err = (pred - data[..., 3].clamp(-0.1, 0.1)).abs().mean(dim=1)
    assert (err < 0.02).all(), err
    # The two codes describe different shapes: swapping them is much worse.
    with torch.no_grad():
        swapped = decoder.sdf(codes.flip(0), data[..., :3]).clamp(-0.1, 0.1)
    assert (swapped - data[..., 3].clamp(-0.1, 0.1)).abs().mean() > 3 * err.mean()


def test_fit_latent_recovers_a_code(overfitted):
    decoder, codes, data, _ = overfitted
    samples = data[1].numpy()
    before = [p.detach().clone() for p in decoder.parameters()]
    latent = fit_latent(decoder, samples, num_steps=150, num_samples=1024, lr=2e-2, init=codes[0])
    assert latent.shape == (8,)
    assert all(torch.equal(a, b) for a, b in zip(before, decoder.parameters()))  # decoder untouched
    assert all(p.requires_grad for p in decoder.parameters())
    xyz, target = data[1, :, :3], data[1, :, 3].clamp(-0.1, 0.1)
    with torch.no_grad():
        err_fit = (decoder.sdf(latent, xyz).clamp(-0.1, 0.1) - target).abs().mean()
        err_start = (decoder.sdf(codes[0], xyz).clamp(-0.1, 0.1) - target).abs().mean()
    assert err_fit < 0.4 * err_start
    batch = fit_latent(decoder, [data[0].numpy(), samples], num_steps=5, num_samples=256)
    assert batch.shape == (2, 8)
    threaded = fit_latent(decoder, [data[0].numpy(), samples], num_steps=5, num_samples=256, workers=2)
    assert torch.allclose(threaded, batch, atol=1e-6)  # points split over two threads: same steps
    assert torch.get_num_threads() == 1  # restored


def tiny_dataset(path: Path) -> None:
    import datasets

    features = datasets.Features(
        {
            "shape_id": datasets.Value("string"),
            "category": datasets.Value("string"),
            "sdf_samples": datasets.Array2D(shape=(None, 4), dtype="float32"),
            "surface_points": datasets.Array2D(shape=(None, 3), dtype="float32"),
        }
    )

    def split(specs, seed):
        rows = {"shape_id": [], "category": [], "sdf_samples": [], "surface_points": []}
        for i, (kind, size) in enumerate(specs):
            s = analytic_samples(kind, size, 800, seed + i)
            rows["shape_id"].append(f"{kind}-{size}")
            rows["category"].append("toy")
            rows["sdf_samples"].append(s)
            rows["surface_points"].append(s[np.abs(s[:, 3]) < 0.02, :3][:100])
        return datasets.Dataset.from_dict(rows, features=features)

    datasets.DatasetDict(
        {
            "train": split([("sphere", 0.4), ("box", 0.3), ("ellipsoid", 0.5)], 0),
            "validation": split([("sphere", 0.5)], 10),
            "test": split([("box", 0.4)], 20),
        }
    ).save_to_disk(str(path))


def test_training_script_writes_outputs_and_resumes_exactly(tmp_path):
    from safetensors.torch import load_file

    from latentmapper.training.commands import train_dit

    tiny_dataset(tmp_path / "data")
    config = {
        "model": {**TINY, "template_dropout_prob": 0.0},
        "training": {
            "epochs": 3,
            "shapes_per_batch": 2,
            "samples_per_shape": 128,
            "lr_decay_interval": 2,
            "checkpoint_every": 1,
            "cpu_workers": 2,  # the threaded CPU path (threaded_step)
            "loss": {"pointpair_max_points": 64, "ramp_epochs": 2},
        },
    }
    (tmp_path / "tiny.json").write_text(json.dumps(config))
    common = ["--dataset", str(tmp_path / "data"), "--config", str(tmp_path / "tiny.json"), "--cpu"]

    full = train_dit.main([*common, "--output", str(tmp_path / "full")])
    log = [json.loads(line) for line in (full / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3]
    assert {"sdf", "code_reg", "pointwise", "pointpair", "loss", "lr", "points_per_second"} <= set(log[0])
    assert log[2]["lr"][0] == pytest.approx(log[0]["lr"][0] * 0.5)  # step decay at epoch 2
    latents = load_file(str(full / "latents.safetensors"))
    assert sorted(latents) == ["box-0.3", "ellipsoid-0.5", "sphere-0.4"]
    assert latents["box-0.3"].shape == (8,)
    decoder = DITDecoder.from_pretrained(full / "decoder")
    assert decoder.config.latent_size == 8
    assert not list(full.glob("**/*.bin")) and not list(full.glob("**/*.pt"))

    # Stop after epoch 2, then resume to 3: the same result as one uninterrupted run.
    part = tmp_path / "part"
    train_dit.main([*common, "--output", str(part), "--epochs", "2"])
    train_dit.main([*common, "--output", str(part), "--resume"])
    resumed = load_file(str(part / "latents.safetensors"))
    for key in latents:
        assert torch.allclose(resumed[key], latents[key], atol=1e-6)
    assert [json.loads(line)["epoch"] for line in (part / "train_log.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_threaded_step_gives_the_batch_gradient():
    from concurrent.futures import ThreadPoolExecutor

    from latentmapper.training.dit_fitting import threaded_step

    decoder = tiny_decoder(template_dropout_prob=0.0)
    scramble_warp(decoder)
    codes = torch.nn.Embedding(5, 8, max_norm=1.0)
    data = torch.stack([torch.from_numpy(analytic_samples("sphere", 0.2 + 0.1 * i, 64, i)) for i in range(5)])
    index, cfg = torch.arange(5), DITLossConfig(pointpair_max_points=32)
    terms = dit_loss(decoder, codes(index), data[..., :3], data[..., 3], 3, cfg)
    terms["loss"].backward()
    expected = [p.grad.clone() for p in (*decoder.parameters(), *codes.parameters())]
    for p in (*decoder.parameters(), *codes.parameters()):
        p.grad = None
    with ThreadPoolExecutor(2) as pool:
        threaded = threaded_step(decoder, codes, index, data, 3, cfg, pool, 2)
    got = [p.grad for p in (*decoder.parameters(), *codes.parameters())]
    assert torch.allclose(threaded["loss"], terms["loss"].detach(), atol=1e-7)
    for a, b in zip(got, expected):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)


def test_sample_drawer_takes_its_far_share_beyond_the_clamp():
    from latentmapper.training.sdf_samples import SampleDrawer

    gen = torch.Generator().manual_seed(0)
    sdf = torch.cat([torch.full((300,), -0.05), torch.full((600,), 0.02), torch.full((100,), 0.5)])
    samples = [torch.cat([torch.randn(1000, 3, generator=gen), sdf[:, None]], dim=1)]

    plain = SampleDrawer(samples, 400, balanced=True).draw(0, gen)
    assert (plain[:, 3] < 0).sum() == 200  # balanced: half inside
    assert (plain[:, 3] > 0.1).sum() < 60  # far points only as often as among the outside ones (1 in 7)

    drawn = SampleDrawer(samples, 400, balanced=True, far_fraction=0.25, far_distance=0.1).draw(0, gen)
    assert drawn.shape == (400, 4)
    assert (drawn[:, 3] > 0.1).sum() >= 100  # the far share, plus what the outside half happens to hold
    assert (drawn[:, 3] < 0).sum() == 150  # the rest still balanced

    with pytest.raises(ValueError, match="far_fraction"):
        SampleDrawer(samples, 400, balanced=True, far_fraction=1.0)


def test_latent_correction_adds_to_the_template_on_every_path():
    decoder = tiny_decoder(template_dropout_prob=0.0, correction_dims=[16, 16]).eval()
    scramble_warp(decoder)
    codes, xyz = torch.randn(3, 8), torch.rand(3, 50, 3) * 2 - 1
    with torch.no_grad():
        assert torch.equal(decoder.correction_sdf(codes, xyz), torch.zeros(3, 50))  # a new model is plain DIT
        assert torch.allclose(decoder.sdf(codes, xyz), decoder.warped_template_sdf(codes, xyz), atol=1e-6)
        decoder.correction.out.weight.normal_(0.0, 0.5)
        decoder.correction.out.bias.fill_(0.01)
        correction = decoder.correction_sdf(codes, xyz)
        # the correction is an MLP of [z, p] at the unwarped point
        x = torch.cat([codes[:, None].expand(-1, 50, -1), xyz], dim=-1)
        for layer in decoder.correction.hidden:
            x = torch.relu(layer(x))
        assert torch.allclose(correction, decoder.correction.out(x)[..., 0], atol=1e-5)
        assert correction.abs().mean() > 1e-3
        expected = decoder.warped_template_sdf(codes, xyz) + correction
        assert torch.allclose(decoder.sdf(codes, xyz), expected, atol=1e-5)  # fused inference path
        assert torch.allclose(decoder.sdf_fn(codes[1])(xyz[1]), expected[1], atol=1e-5)
    out = decoder(codes, xyz, return_intermediate=True)  # training path: every level carries it
    assert torch.allclose(out.sdf, expected, atol=1e-5)
    assert torch.allclose(out.correction, correction, atol=1e-6)
    for level, points in zip(out.intermediate_sdf, out.warped_points):
        assert torch.allclose(level - correction, decoder.template(points), atol=1e-5)
    terms = dit_loss(decoder, codes, xyz, torch.zeros(3, 50), 3, DITLossConfig(pointpair_max_points=32, correction_weight=0.5))
    assert float(terms["correction"]) == pytest.approx(float(correction.abs().mean()), rel=1e-4)
    plain = dit_loss(decoder, codes, xyz, torch.zeros(3, 50), 3, DITLossConfig(pointpair_max_points=32))
    assert float(terms["loss"] - plain["loss"]) == pytest.approx(0.5 * float(correction.abs().mean()), rel=1e-3)


def test_correction_round_trips_and_plain_configs_still_load(tmp_path):
    decoder = tiny_decoder(template_dropout_prob=0.0, correction_dims=[16]).eval()
    with torch.no_grad():
        decoder.correction.out.weight.normal_(0.0, 0.5)
    decoder.save_pretrained(tmp_path / "dit")
    loaded = DITDecoder.from_pretrained(tmp_path / "dit").eval()
    xyz, z = torch.rand(64, 3) * 2 - 1, torch.randn(8)
    with torch.no_grad():
        assert torch.allclose(loaded.sdf(z, xyz), decoder.sdf(z, xyz), atol=1e-6)
    config = json.loads((tmp_path / "dit" / "config.json").read_text())
    del config["correction_dims"]  # a folder written before the correction existed
    (tmp_path / "dit" / "config.json").write_text(json.dumps(config))
    plain = tiny_decoder(template_dropout_prob=0.0)
    plain.save_pretrained(tmp_path / "old")
    (tmp_path / "old" / "config.json").write_text(json.dumps({k: v for k, v in json.loads((tmp_path / "old" / "config.json").read_text()).items() if k != "correction_dims"}))
    assert DITDecoder.from_pretrained(tmp_path / "old").correction is None


def test_pca_codes_start_similar_shapes_close():
    from latentmapper.models.code_init import coarse_sdf_grid, pca_codes

    shapes = [analytic_samples("sphere", r, 3000, i) for i, r in enumerate((0.3, 0.31, 0.6))]
    shapes.append(analytic_samples("box", 0.4, 3000, 9))
    grid = coarse_sdf_grid(shapes[0], resolution=8)
    assert grid.shape == (512,) and grid.max() <= 0.1 and grid.min() >= -0.1
    assert grid[3 * 64 + 3 * 8 + 3] < 0 and grid[0] > 0  # (-1/7, -1/7, -1/7) inside the sphere, a corner outside
    codes = pca_codes(shapes, latent_size=6, mean_norm=0.5, resolution=8)
    assert codes.shape == (4, 6)
    assert codes.norm(dim=1).mean() == pytest.approx(0.5, rel=1e-4)
    dist = torch.cdist(codes, codes)
    assert dist[0, 1] < 0.2 * min(dist[0, 2], dist[0, 3])  # the two near-equal spheres start together
    with pytest.raises(ValueError, match="SDF samples"):
        coarse_sdf_grid(np.zeros((10, 3)))


def test_training_script_with_pca_codes_and_a_correction(tmp_path):
    from latentmapper.models.code_init import pca_codes

    from latentmapper.training.commands import train_dit
    from latentmapper.training.sdf_samples import load_training_shapes

    tiny_dataset(tmp_path / "data")
    config = {
        "model": {**TINY, "template_dropout_prob": 0.0, "correction_dims": [16, 16]},
        "training": {"epochs": 2, "shapes_per_batch": 3, "samples_per_shape": 128, "code_init": "pca",
                     "cpu_workers": 2, "loss": {"pointpair_max_points": 64, "correction_weight": 0.01}},
    }
    (tmp_path / "tiny.json").write_text(json.dumps(config))
    out = train_dit.main(["--dataset", str(tmp_path / "data"), "--config", str(tmp_path / "tiny.json"), "--cpu",
                          "--output", str(tmp_path / "run"), "--epochs", "0"])
    ids, samples = load_training_shapes(str(tmp_path / "data"))
    from safetensors.torch import load_file

    start = load_file(str(out / "latents.safetensors"))  # no epoch run: the initial codes
    expected = pca_codes(samples, 8, mean_norm=0.5, clamp=0.1, seed=0)
    assert torch.allclose(torch.stack([start[i] for i in ids]), expected, atol=1e-6)
    out = train_dit.main(["--dataset", str(tmp_path / "data"), "--config", str(tmp_path / "tiny.json"), "--cpu",
                          "--output", str(tmp_path / "run2")])
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert "correction" in log[-1] and log[-1]["correction"] > 0  # the correction trains from its zero start
    assert DITDecoder.from_pretrained(out / "decoder").config.correction_dims == [16, 16]
    config["training"]["code_init"] = "spectral"
    (tmp_path / "tiny.json").write_text(json.dumps(config))
    with pytest.raises(SystemExit, match="code_init"):
        train_dit.main(["--dataset", str(tmp_path / "data"), "--config", str(tmp_path / "tiny.json"), "--cpu",
                        "--output", str(tmp_path / "run3")])


def test_correction_waits_for_its_start_epoch():
    decoder = tiny_decoder(template_dropout_prob=0.0, correction_dims=[16])
    scramble_warp(decoder)
    with torch.no_grad():
        decoder.correction.out.weight.normal_(0.0, 0.5)
    codes, xyz, target = torch.randn(2, 8), torch.rand(2, 40, 3) * 2 - 1, torch.rand(2, 40) * 0.2 - 0.1
    cfg = DITLossConfig(pointpair_max_points=16, correction_weight=0.1, correction_start_epoch=5)
    early = dit_loss(decoder, codes, xyz, target, 3, cfg)
    assert "correction" not in early
    early["loss"].backward()
    assert all(p.grad is None or torch.all(p.grad == 0) for p in decoder.correction.parameters())
    plain = dit_loss(decoder.without_correction(), codes, xyz, target, 3, cfg)
    assert float(early["sdf"]) == pytest.approx(float(plain["sdf"]), rel=1e-5)  # warp and template alone
    decoder.zero_grad()
    late = dit_loss(decoder, codes, xyz, target, 5, cfg)
    late["loss"].backward()
    assert "correction" in late and decoder.correction.out.weight.grad.abs().sum() > 0
