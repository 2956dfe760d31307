"""Evaluation (issue 7): every system end to end on a tiny dataset, metrics by hand, tables from the JSON."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image
from safetensors.torch import save_file

from conftest import build_tiny_pipeline
from latentmapper.data import RecordConfig
from latentmapper.data.build import build_dataset
from latentmapper.data.cameras import TRAINING_YAWS
from latentmapper.evaluation import (SplitShapes, load_json, merge_systems, results_markdown, score_mesh,
                                     score_points, summarize_system, unseen_cameras, update_card, view_spread,
                                     write_results)
from latentmapper.evaluation.predictors import System
from latentmapper.evaluation.tables import CARD_END, CARD_START
from latentmapper.evaluation.views import render_view
from latentmapper.geometry import chamfer_x1e3, emd_x1e2, latent_to_mesh, sample_surface_points
from latentmapper.models.baselines import AtlasNet, ImNetBaseline

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "train"))

TINY_RESNET = dict(image_size=32, embedding_size=8, hidden_sizes=(8, 16), depths=(1, 1))
SYSTEMS = ["latentmapper", "imnet", "atlasnet25", "nearest_neighbour", "oracle"]


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    """6 procedural cars at toy resolution: 4 train, 1 validation, 1 test."""
    out = tmp_path_factory.mktemp("data") / "car"
    config = RecordConfig(image_size=32, sdf_samples=2000, surface_samples=500, mesh_resolution=40, supersample=1)
    build_dataset("car", 6, out, config=config, num_workers=1, progress=False)
    return out


def octahedron_pipeline():
    """The tiny pipeline with its warp switched off: every latent decodes to exactly the same octahedron."""
    pipe = build_tiny_pipeline()
    with torch.no_grad():
        pipe.dit.warper.out.weight.zero_()
    return pipe


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, tiny_dataset):
    """A tiny pipeline, its DIT as a 'run' with codes for the training shapes, and the two tiny baselines."""
    from datasets import load_from_disk

    root = tmp_path_factory.mktemp("models")
    pipe = octahedron_pipeline()
    pipe.save_pretrained(root / "pipeline")
    pipe.dit.save_pretrained(root / "dit" / "decoder")
    train_ids = list(load_from_disk(str(tiny_dataset))["train"]["shape_id"])
    generator = torch.Generator().manual_seed(0)
    save_file({sid: torch.randn(8, generator=generator) for sid in train_ids}, str(root / "dit" / "latents.safetensors"))
    torch.manual_seed(0)
    ImNetBaseline(latent_size=8, head_hidden_size=16, **TINY_RESNET).save_pretrained(root / "imnet" / "imnet")
    AtlasNet(num_patches=4, code_dim=8, decoder_hidden_size=8, decoder_num_layers=2,
             **TINY_RESNET).save_pretrained(root / "atlasnet" / "atlasnet")
    return root


def _evaluate_args(data: Path, models: Path, out: Path, *extra: str) -> list[str]:
    return ["--category", "car", "--dataset", str(data), "--pipeline", str(models / "pipeline"),
            "--dit", str(models / "dit"), "--imnet", str(models / "imnet"), "--atlasnet", str(models / "atlasnet"),
            "--work", str(out / "work"), "--results-dir", str(out / "results"), "--unseen-per-shape", "2",
            "--resolution", "32", "--emd-points", "64", "--oracle-steps", "3", "--oracle-samples", "64",
            "--atlas-grid", "4", "--figure-shapes", "1", "--no-progress", *extra]


# ---- every system end to end -------------------------------------------------------------------
def test_every_system_end_to_end_merges_results_and_resumes(tiny_dataset, tiny_models, tmp_path, monkeypatch):
    import evaluate

    results_dir = tmp_path / "results"
    results_dir.mkdir()
    goembed = {"fixed_view": {"chamfer_x1e3": 9.5, "emd_x1e2": 4.25}, "nine_views": {"chamfer_x1e3": 9.0,
               "emd_x1e2": 4.0}, "unseen_views": {"chamfer_x1e3": 9.75, "emd_x1e2": 4.5}, "seconds_per_image": 0.5}
    (results_dir / "car.json").write_text(json.dumps({"systems": {"goembed": goembed}}))
    card = tmp_path / "README.md"
    card.write_text("# card\n\n## Evaluation\n\nNot recorded.\n\n## Limitations\n\n- some\n")

    args = _evaluate_args(tiny_dataset, tiny_models, tmp_path, "--model-card", str(card))
    assert evaluate.main(args) == 0

    results = json.loads((results_dir / "car.json").read_text())
    assert set(results) == {"systems"}
    assert results["systems"]["goembed"] == goembed  # another tool's row is kept as it was
    for name in SYSTEMS:
        entry = results["systems"][name]
        assert set(entry) == {"fixed_view", "nine_views", "unseen_views", "seconds_per_image"}
        for view_set in ("fixed_view", "nine_views", "unseen_views"):
            assert set(entry[view_set]) == {"chamfer_x1e3", "emd_x1e2"}
            assert entry[view_set]["chamfer_x1e3"] > 0 and entry[view_set]["emd_x1e2"] > 0
        assert (entry["seconds_per_image"] is None) == (name == "oracle")

    # the tiny DIT decodes every latent to the same octahedron: all latent systems score it identically,
    # and that score is the metric computed here by hand from the same mesh and ground truth
    shape = SplitShapes(tiny_dataset, "test")[0]
    records = {n: json.loads((tmp_path / "work" / n / f"{shape.shape_id}.json").read_text()) for n in SYSTEMS}
    assert [v["kind"] for v in records["latentmapper"]["views"]] == ["training"] * 9 + ["unseen"] * 2
    assert [v["yaw"] for v in records["imnet"]["views"][:9]] == list(TRAINING_YAWS)
    octahedron = latent_to_mesh(octahedron_pipeline().dit, torch.zeros(8), 32)
    points = sample_surface_points(octahedron, 5000, seed=0)
    expected = (chamfer_x1e3(points, shape.surface_points), emd_x1e2(points, shape.surface_points, 64, 0))
    for name in ("latentmapper", "imnet", "nearest_neighbour", "oracle"):
        for view in records[name]["views"]:
            assert (view["chamfer_x1e3"], view["emd_x1e2"]) == pytest.approx(expected, rel=1e-6)
    assert records["atlasnet25"]["views"][0]["chamfer_x1e3"] != pytest.approx(expected[0])
    assert results["systems"]["imnet"]["nine_views"]["chamfer_x1e3"] == pytest.approx(expected[0], rel=1e-5)

    # tables: the .md file and the card are regenerated byte for byte from the JSON files
    text = (results_dir / "car.md").read_text()
    details = load_json(results_dir / "car_details.json", "details")
    assert text == results_markdown(load_json(results_dir / "car.json", "results"), details, "car")
    assert "| GOEmbed (1 view) | 9.500 | 9.000 | 9.750 | 4.250 | 4.000 | 4.500 |" in text
    card_text = card.read_text()
    assert card_text.count(CARD_START) == 1 and text.rstrip() in card_text and "## Limitations\n\n- some" in card_text
    (results_dir / "car.md").unlink()
    assert evaluate.main(args + ["--tables-only"]) == 0
    assert (results_dir / "car.md").read_text() == text and card.read_text() == card_text

    figure = Image.open(results_dir / "car.png")
    assert figure.size == (128 * (1 + len(SYSTEMS) + 1), 18 + 128)

    # resume: nothing is predicted again and the results are identical
    before = (results_dir / "car.json").read_bytes()
    monkeypatch.setattr(System, "predict", lambda *a: pytest.fail("a finished shape was predicted again"))
    for cls in ("LatentMapperSystem", "ImNetSystem", "AtlasNetSystem", "NearestNeighbourSystem", "OracleSystem"):
        monkeypatch.setattr(f"latentmapper.evaluation.predictors.{cls}.predict", System.predict)
    assert evaluate.main(args) == 0
    assert (results_dir / "car.json").read_bytes() == before

    # other settings on the same work folder are refused, naming what differs, and so are retrained weights
    with pytest.raises(SystemExit, match="seed"):
        evaluate.main(args + ["--seed", "1"])
    weights = tiny_models / "imnet" / "imnet" / "diffusion_pytorch_model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(SystemExit, match="imnet.*weights differ"):
        evaluate.main(args)


def test_missing_baseline_gets_a_clear_error(tiny_dataset, tiny_models, tmp_path):
    import evaluate

    args = _evaluate_args(tiny_dataset, tiny_models, tmp_path, "--systems", "imnet", "--imnet", str(tmp_path / "none"))
    with pytest.raises(SystemExit, match="train_imnet_baseline.py"):
        evaluate.main(args)


# ---- views ---------------------------------------------------------------------------------------
def test_unseen_views_lie_between_training_views_and_follow_the_seed(tiny_dataset):
    shape = SplitShapes(tiny_dataset, "train")[0]
    cams = unseen_cameras(shape, 40, seed=3)
    assert cams == unseen_cameras(shape, 40, seed=3)
    assert cams != unseen_cameras(shape, 40, seed=4)
    yaws = np.array([c.yaw for c in cams])
    assert yaws.min() > 0 and yaws.max() < 240
    assert np.abs((yaws + 15) % 30 - 15).min() >= 5  # at least 5 degrees from every training yaw
    elevations = np.array([c.elevation for c in cams])
    assert np.all(np.abs(elevations - 20.0) <= 10.0) and elevations.std() > 2
    assert {c.distance for c in cams} == {shape.cameras[0].distance}


def test_views_are_rendered_with_the_dataset_camera_conventions(tiny_dataset):
    """Rendering a training camera again gives the dataset's own render, pixel for pixel."""
    shapes = SplitShapes(tiny_dataset, "train")
    shape = shapes[1]
    settings = shapes.render_settings()
    assert (settings.image_size, settings.supersample) == (32, 1)
    for index in (0, 4):
        again = render_view(shape, shape.cameras[index], settings)
        assert np.array_equal(np.asarray(again), np.asarray(shape.images[index]))


# ---- metrics by hand -----------------------------------------------------------------------------
def test_scores_on_hand_made_point_sets():
    lattice = np.array([[x, y, z] for x in (0.0, 1.0) for y in (0.0, 1.0) for z in (0.0, 1.0)])
    shifted = lattice + np.array([0.0, 0.0, 0.1])
    scores = score_points(shifted, lattice, emd_points=8)
    # every point is 0.1 from its match: Chamfer = 0.01 + 0.01, EMD = 0.1
    assert scores["chamfer_x1e3"] == pytest.approx(1e3 * 0.02)
    assert scores["emd_x1e2"] == pytest.approx(1e2 * 0.1)
    a, b = np.array([[0.0, 0, 0], [1.0, 0, 0]]), np.array([[0.0, 0, 0]])
    # a -> b: (0 + 1) / 2; b -> a: 0
    assert score_points(a, b, emd_points=1)["chamfer_x1e3"] == pytest.approx(500.0)
    assert score_mesh(None, lattice) == {"chamfer_x1e3": None, "emd_x1e2": None}
    assert score_mesh(trimesh.Trimesh(), lattice)["chamfer_x1e3"] is None


def test_summaries_by_hand():
    def view(kind, yaw, cd, emd, seconds):
        return {"kind": kind, "yaw": yaw, "elevation": 20.0, "chamfer_x1e3": cd, "emd_x1e2": emd, "seconds": seconds}

    records = [
        {"views": [view("training", 0.0, 1.0, 2.0, 0.5), view("training", 30.0, 3.0, 4.0, 0.7),
                   view("unseen", 45.0, None, None, 0.9)]},
        {"views": [view("training", 0.0, 2.0, 1.0, 0.1), view("training", 30.0, 2.0, 1.0, 0.3),
                   view("unseen", 15.0, 5.0, 6.0, 0.2)]},
    ]
    result, details = summarize_system(records)
    assert result["fixed_view"] == {"chamfer_x1e3": 1.5, "emd_x1e2": 1.5}
    assert result["nine_views"] == {"chamfer_x1e3": 2.0, "emd_x1e2": 2.0}
    assert result["unseen_views"] == {"chamfer_x1e3": 5.0, "emd_x1e2": 6.0}  # the empty one is left out ...
    assert details["empty_meshes"]["unseen_views"] == 1  # ... and counted
    assert result["seconds_per_image"] == pytest.approx(0.4)  # median of 0.1 0.2 0.3 0.5 0.7 0.9
    assert details["view_spread"]["nine_views"] == {"mean_std": 0.5, "mean_max_minus_min": 1.0, "shapes": 2}
    assert details["chamfer_by_training_yaw"] == {"0": 1.5, "30": 2.5}

    oracle, _ = summarize_system([{"views": [{"kind": "shape", "chamfer_x1e3": 1.0, "emd_x1e2": 3.0, "seconds": None}]},
                                  {"views": [{"kind": "shape", "chamfer_x1e3": 2.0, "emd_x1e2": 5.0, "seconds": None}]}])
    assert oracle["fixed_view"] == oracle["nine_views"] == oracle["unseen_views"] == {"chamfer_x1e3": 1.5, "emd_x1e2": 4.0}
    assert oracle["seconds_per_image"] is None
    assert view_spread([[1.0, None], [2.0, 4.0, 3.0]])["mean_max_minus_min"] == 2.0


# ---- tables and the results file -----------------------------------------------------------------
def _results() -> dict:
    def entry(cd9, cd_unseen, seconds):
        return {"fixed_view": {"chamfer_x1e3": cd9 + 0.1, "emd_x1e2": 2.0},
                "nine_views": {"chamfer_x1e3": cd9, "emd_x1e2": 2.5},
                "unseen_views": {"chamfer_x1e3": cd_unseen, "emd_x1e2": None}, "seconds_per_image": seconds}

    return {"systems": {"goembed_3views": entry(2.0, 2.2, 0.3), "oracle": entry(1.0, 1.0, None),
                        "imnet": entry(4.0, 8.0, 0.9), "latentmapper": entry(2.5, 3.5, 0.8),
                        "nearest_neighbour": entry(3.0, 3.1, 0.7)}}


def test_tables_are_regenerated_byte_for_byte_from_the_json(tmp_path):
    path = tmp_path / "car.json"
    path.write_text(json.dumps(_results(), indent=2))
    first = results_markdown(load_json(path, "results"), None, "car")
    path.write_text(json.dumps(json.loads(path.read_text())))  # same content, other formatting
    assert results_markdown(load_json(path, "results"), None, "car") == first
    rows = [line for line in first.splitlines() if line.startswith("| ") and "---" not in line]
    names = [r.split(" | ")[0][2:] for r in rows[1:6]]
    assert names[0] == "3D-LatentMapper" and names[-1] == "GOEmbed (3 views)"  # fixed order, extra rows last
    assert "| 3D-LatentMapper | 2.600 | 2.500 | 3.500 | 2.000 | 2.500 | - |" in first
    assert "| Oracle (DIT latent fitted to the shape) | - |" in first  # no timing for the oracle
    assert "Chamfer on the 9 views: 0.625 (target <= 0.7): met" in first
    assert "below nearest neighbour on the 9 views: 2.500 vs 3.000: met" in first
    assert "unseen / 9-view Chamfer: 1.400 (target <= 1.25): not met" in first


def test_card_region_is_replaced_and_nothing_else():
    card = "# x\n\n## Evaluation\n\nold text\n\n## Limitations\n\n- a\n"
    once = update_card(card, "| new | table |\n")
    assert "old text" not in once and "| new | table |" in once and once.endswith("## Limitations\n\n- a\n")
    assert update_card(once, "| new | table |\n") == once
    twice = update_card(once, "| other |\n")
    assert "| new |" not in twice and twice.count(CARD_START) == twice.count(CARD_END) == 1
    appended = update_card("# bare card\n", "| t |")
    assert appended.startswith("# bare card\n\n## Evaluation\n\n" + CARD_START)


def test_a_gpu_timing_run_adds_a_column_and_keeps_the_cpu_scores(tmp_path):
    def records(cd, seconds):
        return {"imnet": [{"views": [{"kind": "training", "yaw": 0.0, "chamfer_x1e3": cd, "emd_x1e2": 1.0,
                                      "seconds": seconds}]}]}

    results, details = tmp_path / "car.json", tmp_path / "car_details.json"
    write_results(results, details, records(2.0, 0.8), device="cpu")
    cpu = json.loads(results.read_text())
    write_results(results, details, records(2.5, 0.1), device="cuda")  # e.g. fewer shapes, other rounding
    assert json.loads(results.read_text()) == cpu
    assert load_json(details, "details")["systems"]["imnet"]["seconds_per_image_by_device"] == {"cpu": 0.8, "cuda": 0.1}
    text = results_markdown(load_json(results, "results"), load_json(details, "details"))
    assert "| system | seconds per image, CPU | seconds per image, CUDA |" in text
    assert "| IM-NET-style (ResNet -> DIT latent) | 0.800 | 0.100 |" in text


def test_merge_keeps_other_rows_and_rejects_bad_files(tmp_path):
    path = tmp_path / "car.json"
    merge_systems(path, {"goembed": {"seconds_per_image": 1.0}})
    merged = merge_systems(path, {"imnet": {"seconds_per_image": 2.0}})
    assert merged == {"systems": {"goembed": {"seconds_per_image": 1.0}, "imnet": {"seconds_per_image": 2.0}}}
    assert json.loads(path.read_text()) == merged
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="systems"):
        merge_systems(path, {"imnet": {}})
    path.write_text("{oops")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_json(path, "results")


def test_shards_split_the_shapes_between_processes(tiny_dataset):
    import evaluate

    every = SplitShapes(tiny_dataset, "train").shape_ids
    shards = [SplitShapes(tiny_dataset, "train", shard=(i, 2)).shape_ids for i in range(2)]
    assert sorted(shards[0] + shards[1]) == sorted(every) and not set(shards[0]) & set(shards[1])
    assert evaluate.parse_args(["--category", "car", "--shard", "1/2"]).shard == (1, 2)
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--category", "car", "--shard", "2/2"])
