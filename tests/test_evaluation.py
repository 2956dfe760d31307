"""Evaluation (issues 7, 17): every system end to end on a tiny dataset, metrics by hand, tables from the JSON,
the constant answer, top-1 identification and the means per family."""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
from latentmapper.cameras import TRAINING_YAWS
from latentmapper.evaluation import (ConstantSystem, Evaluation, Gallery, SplitShapes, central_training_shape,
                                     dit_fit_markdown, identification_top1, load_json, merge_key, merge_systems,
                                     most_central, results_markdown, score_mesh, score_points, summarize_system,
                                     unseen_cameras, update_card, view_spread, write_results)
from latentmapper.evaluation.cross import identified
from latentmapper.evaluation.predictors import Prediction, System
from latentmapper.evaluation.tables import CARD_END, CARD_START, DIT_FIT_END, DIT_FIT_START
from latentmapper.evaluation.views import render_view
from latentmapper.geometry import chamfer_distance, chamfer_x1e3, emd_x1e2, latent_to_mesh, sample_surface_points
from latentmapper.models.baselines import AtlasNet, ImNetBaseline


TINY_RESNET = dict(image_size=32, embedding_size=8, hidden_sizes=(8, 16), depths=(1, 1))
SYSTEMS = ["latentmapper", "imnet", "atlasnet25", "nearest_neighbour", "oracle", "constant", "ground_truth"]
VIEW_KEYS = {"chamfer_x1e3", "emd_x1e2", "identification_top1"}


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
    from latentmapper.evaluation.commands import evaluate

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
    shape = SplitShapes(tiny_dataset, "test")[0]
    family = SplitShapes(tiny_dataset, "test").families()[shape.shape_id]
    for name in SYSTEMS:
        entry = results["systems"][name]
        assert set(entry) == {"fixed_view", "nine_views", "unseen_views", "seconds_per_image", "by_family"}
        for view_set in ("fixed_view", "nine_views", "unseen_views"):
            assert set(entry[view_set]) == VIEW_KEYS
            assert entry[view_set]["chamfer_x1e3"] > 0 and entry[view_set]["emd_x1e2"] > 0
            assert entry[view_set]["identification_top1"] == 1.0  # one test shape: nothing else to be nearer to
            assert entry["by_family"][family][view_set]["chamfer_x1e3"] == entry[view_set]["chamfer_x1e3"]
        assert entry["by_family"][family]["shapes"] == 1
        assert (entry["seconds_per_image"] is None) == (name in ("oracle", "constant", "ground_truth"))

    # the constant answer is the training shape with the lowest mean Chamfer to the other training shapes
    train = SplitShapes(tiny_dataset, "train").surface_points()
    means = {a: np.mean([chamfer_distance(pa, pb) for b, pb in train.items() if b != a]) for a, pa in train.items()}
    central = min(means, key=means.get)
    constant = json.loads((tmp_path / "work" / "constant" / f"{shape.shape_id}.json").read_text())
    assert [v["answer"] for v in constant["views"]] == [central]
    answer = SplitShapes(tiny_dataset, "train")[list(train).index(central)].mesh()
    assert results["systems"]["constant"]["nine_views"]["chamfer_x1e3"] == pytest.approx(
        chamfer_x1e3(sample_surface_points(answer, 5000, seed=0), shape.surface_points), rel=1e-5)

    # the ground-truth row is the shape's own mesh, sampled anew: the floor, below every real system
    floor = results["systems"]["ground_truth"]["nine_views"]["chamfer_x1e3"]
    assert floor == pytest.approx(chamfer_x1e3(sample_surface_points(shape.mesh(), 5000, seed=0),
                                               shape.surface_points), rel=1e-5)
    assert all(floor < results["systems"][n]["nine_views"]["chamfer_x1e3"] for n in SYSTEMS if n != "ground_truth")

    # the tiny DIT decodes every latent to the same octahedron: all latent systems score it identically,
    # and that score is the metric computed here by hand from the same mesh and ground truth
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
    assert "| Constant (most central training shape) | 1.000 | 1.000 | 1.000 |" in text  # identification, 1 shape
    assert "| Ground truth mesh, sampled anew (the metric's floor) | " in text and "the floor under every row" in text
    assert "| GOEmbed (1 view) | - | - | - |" in text and f"| system | {family} (1) |" in text
    card_text = card.read_text()
    assert card_text.count(CARD_START) == 1 and text.rstrip() in card_text and "## Limitations\n\n- some" in card_text
    (results_dir / "car.md").unlink()
    assert evaluate.main(args + ["--tables-only"]) == 0
    assert (results_dir / "car.md").read_text() == text and card.read_text() == card_text

    figure = Image.open(results_dir / "car.png")
    assert figure.size == (128 * (1 + len(SYSTEMS) - 1 + 1), 18 + 128)  # the ground truth once, as its own column

    # resume: nothing is predicted again and the results are identical
    before = (results_dir / "car.json").read_bytes()
    monkeypatch.setattr(System, "predict", lambda *a: pytest.fail("a finished shape was predicted again"))
    for cls in ("LatentMapperSystem", "ImNetSystem", "AtlasNetSystem", "NearestNeighbourSystem", "OracleSystem",
                "ConstantSystem", "GroundTruthSystem"):
        monkeypatch.setattr(f"latentmapper.evaluation.predictors.{cls}.predict", System.predict)
    assert evaluate.main(args) == 0
    assert (results_dir / "car.json").read_bytes() == before

    # ... but a cached record without the cross distances (made before identification) is predicted again
    record_file = tmp_path / "work" / "imnet" / f"{shape.shape_id}.json"
    complete = record_file.read_text()
    stale = json.loads(complete)
    for view in stale["views"]:
        del view["cross_chamfer_x1e3"]
    record_file.write_text(json.dumps(stale))
    with pytest.raises(pytest.fail.Exception, match="predicted again"):
        evaluate.main(args)
    record_file.write_text(complete)

    # other settings on the same work folder are refused, naming what differs, and so are retrained weights
    with pytest.raises(SystemExit, match="seed"):
        evaluate.main(args + ["--seed", "1"])
    weights = tiny_models / "imnet" / "imnet" / "diffusion_pytorch_model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(SystemExit, match="imnet.*weights differ"):
        evaluate.main(args)


def test_latentmapper_system_counts_the_pipeline_stages_also_without_a_surface(tiny_dataset):
    from latentmapper.evaluation import LatentMapperSystem

    shape = SplitShapes(tiny_dataset, "test")[0]
    pipe = octahedron_pipeline()
    system = LatentMapperSystem(pipe, resolution=24)
    found = system.predict(shape.images[0], shape)
    assert found.mesh is not None and found.mesh.is_watertight
    assert set(found.info) == {"features_s", "mapping_s", "meshing_s"}
    assert found.seconds == pytest.approx(sum(found.info.values())) and found.info["meshing_s"] > 0
    with torch.no_grad():
        pipe.dit.template.out.bias.fill_(5.0)  # outside everywhere: no surface
    empty = system.predict(shape.images[0], shape)
    assert empty.mesh is None and empty.info["meshing_s"] > 0
    assert empty.seconds == pytest.approx(sum(empty.info.values()))


def test_missing_baseline_gets_a_clear_error(tiny_dataset, tiny_models, tmp_path):
    from latentmapper.evaluation.commands import evaluate

    args = _evaluate_args(tiny_dataset, tiny_models, tmp_path, "--systems", "imnet", "--imnet", str(tmp_path / "none"))
    with pytest.raises(SystemExit, match="train_imnet_baseline.py"):
        evaluate.main(args)


def test_dit_folder_without_training_codes_gets_a_clear_error(tiny_dataset, tiny_models, tmp_path):
    """A pipeline's dit/ (a decoder alone) passed as --dit: the nearest neighbour needs the codes too."""
    from latentmapper.evaluation.commands import evaluate

    decoder_only = tmp_path / "dit"
    shutil.copytree(tiny_models / "dit" / "decoder", decoder_only / "decoder")
    args = _evaluate_args(tiny_dataset, tiny_models, tmp_path, "--systems", "nearest_neighbour",
                          "--dit", str(decoder_only))
    with pytest.raises(SystemExit, match="no latents.safetensors"):
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
    # records without cross distances (made before issue 17) cannot tell identification: None, not 0 or 1
    assert result["fixed_view"] == {"chamfer_x1e3": 1.5, "emd_x1e2": 1.5, "identification_top1": None}
    assert result["nine_views"] == {"chamfer_x1e3": 2.0, "emd_x1e2": 2.0, "identification_top1": None}
    assert result["unseen_views"] == {"chamfer_x1e3": 5.0, "emd_x1e2": 6.0,  # the empty one is left out ...
                                      "identification_top1": None}
    assert "by_family" not in result  # no families given
    assert details["empty_meshes"]["unseen_views"] == 1  # ... and counted
    assert result["seconds_per_image"] == pytest.approx(0.4)  # median of 0.1 0.2 0.3 0.5 0.7 0.9
    assert details["view_spread"]["nine_views"] == {"mean_std": 0.5, "mean_max_minus_min": 1.0, "shapes": 2}
    assert details["chamfer_by_training_yaw"] == {"0": 1.5, "30": 2.5}

    oracle, _ = summarize_system([{"views": [{"kind": "shape", "chamfer_x1e3": 1.0, "emd_x1e2": 3.0, "seconds": None}]},
                                  {"views": [{"kind": "shape", "chamfer_x1e3": 2.0, "emd_x1e2": 5.0, "seconds": None}]}])
    assert oracle["fixed_view"] == oracle["nine_views"] == oracle["unseen_views"] == {
        "chamfer_x1e3": 1.5, "emd_x1e2": 4.0, "identification_top1": None}
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
    from latentmapper.evaluation.commands import evaluate

    every = SplitShapes(tiny_dataset, "train").shape_ids
    shards = [SplitShapes(tiny_dataset, "train", shard=(i, 2)).shape_ids for i in range(2)]
    assert sorted(shards[0] + shards[1]) == sorted(every) and not set(shards[0]) & set(shards[1])
    assert evaluate.parse_args(["--category", "car", "--shard", "1/2"]).shard == (1, 2)
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--category", "car", "--shard", "2/2"])


# ---- issue 17: the constant answer, top-1 identification, means per family, the DIT's fit -------------
def _point(x: float) -> np.ndarray:
    return np.array([[x, 0.0, 0.0]])


def test_the_constant_answer_is_the_shape_nearest_on_average_not_the_median():
    # single points: Chamfer(a, b) = 2 |a - b|^2. Mean to the others: x=0: 70, x=1: 55.3, x=2: 46, x=10: 163.3
    points = {"a": _point(0.0), "b": _point(1.0), "c": _point(2.0), "d": _point(10.0)}
    shape_id, mean = most_central(points)
    assert shape_id == "c"  # not "b", the median position
    assert mean == pytest.approx(1e3 * (8 + 2 + 128) / 3)


def test_central_training_shape_by_brute_force_and_its_cache(tiny_dataset, tmp_path):
    train = SplitShapes(tiny_dataset, "train")
    points = train.surface_points()
    means = {a: np.mean([chamfer_distance(pa, pb) for b, pb in points.items() if b != a]) for a, pa in points.items()}
    cache = tmp_path / "constant_choice.json"
    choice = central_training_shape(train, cache)
    assert choice["shape_id"] == min(means, key=means.get) and choice["candidates"] == len(points)
    assert choice["mean_chamfer_x1e3"] == pytest.approx(1e3 * min(means.values()), rel=1e-5)
    stored = json.loads(cache.read_text())
    stored["choice"]["shape_id"] = "from-the-cache"
    cache.write_text(json.dumps(stored))
    assert central_training_shape(train, cache)["shape_id"] == "from-the-cache"  # reused while its key matches
    first_two = central_training_shape(train, cache, candidates=2)  # another key: computed again
    assert first_two["candidates"] == 2 and first_two["shape_id"] in train.shape_ids[:2]


def test_identification_by_hand():
    gallery = ["a", "b", "c"]
    assert identified("a", {"a": 1.0, "b": 2.0, "c": 3.0}, gallery) is True
    assert identified("b", {"a": 1.0, "b": 2.0, "c": 3.0}, gallery) is False
    assert identified("a", {"a": 1.0, "b": 1.0, "c": 3.0}, gallery) is False  # a tie is not "nearer"
    assert identified("a", None, gallery) is False  # no surface: not identified
    assert identified("a", {"a": 1.0, "b": 2.0}, gallery) is None  # c unknown: cannot be told
    constant = {"a": 5.0, "b": 4.0, "c": 6.0}  # the same answer for every input: only b is identified
    assert identification_top1([(s, constant) for s in gallery], gallery) == pytest.approx(1 / 3)
    assert identification_top1([("a", {"a": 1.0, "b": 2.0})], gallery) is None
    pred = np.random.default_rng(0).normal(size=(3000, 3))
    cross = Gallery({"own": pred, "shifted": pred + 0.05}).chamfer_x1e3(pred)
    assert cross["own"] < cross["shifted"]


class _Truth(System):
    """Predicts the shape's own ground-truth mesh from every training view, and counts its calls."""

    name = "truth"
    calls = 0

    def predict(self, image, shape):
        type(self).calls += 1
        return Prediction(shape.mesh(), 0.0)


def test_identification_is_one_for_the_truth_and_one_in_n_for_a_constant(tiny_dataset, tmp_path):
    shapes = SplitShapes(tiny_dataset, "train")  # 4 shapes
    constant = ConstantSystem(SplitShapes(tiny_dataset, "validation")[0])
    work = tmp_path / "work"

    def run(split: SplitShapes) -> dict:
        evaluation = Evaluation(split, [_Truth(), constant], work, unseen_per_shape=0, emd_points=16,
                                figure_shapes=0, progress=False)
        return evaluation.run()

    _Truth.calls = 0
    run(SplitShapes(tiny_dataset, "train", limit=2))
    assert _Truth.calls == 2 * 9
    records = run(shapes)  # a bigger gallery: the first two shapes lack distances to the others, so are redone
    assert _Truth.calls == (2 + 4) * 9
    assert run(shapes) == records and _Truth.calls == 6 * 9  # complete: nothing predicted again

    results, _ = write_results(tmp_path / "car.json", tmp_path / "car_details.json", records,
                               families=shapes.families())
    truth, const = results["systems"]["truth"], results["systems"]["constant"]
    assert truth["fixed_view"]["identification_top1"] == truth["nine_views"]["identification_top1"] == 1.0
    assert truth["unseen_views"]["identification_top1"] is None  # no unseen views were made
    for view_set in ("fixed_view", "nine_views", "unseen_views"):
        assert const[view_set]["identification_top1"] == 0.25

    # means per family: the shapes of each family, grouped by the dataset's parameters
    families = shapes.families()
    from datasets import load_from_disk
    rows = load_from_disk(str(tiny_dataset))["train"]
    assert families == {sid: json.loads(p)["subtype"] for sid, p in zip(rows["shape_id"], rows["params"])}
    for family in set(families.values()):
        members = [r for r in records["truth"] if families[r["shape_id"]] == family]
        expected = np.mean([v["chamfer_x1e3"] for r in members for v in r["views"]])
        assert truth["by_family"][family]["shapes"] == len(members)
        assert truth["by_family"][family]["nine_views"]["chamfer_x1e3"] == pytest.approx(expected, abs=1e-6)

    # a record made before the cross distances were kept is predicted again, and only that one
    path = work / "truth" / f"{shapes.shape_ids[3]}.json"
    stale = json.loads(path.read_text())
    for view in stale["views"]:
        del view["cross_chamfer_x1e3"]
    path.write_text(json.dumps(stale))
    assert run(shapes) == records and _Truth.calls == 7 * 9


def test_means_per_family_by_hand():
    def record(shape_id, *cds):
        return {"shape_id": shape_id, "views": [{"kind": "training", "yaw": 30.0 * i, "chamfer_x1e3": cd,
                                                 "emd_x1e2": 1.0, "seconds": 0.1} for i, cd in enumerate(cds)]}

    records = [record("s1", 1.0, 3.0), record("s2", 10.0, 20.0), record("s3", 5.0, None), record("s4", 7.0, 7.0)]
    result, _ = summarize_system(records, {"s1": "sedan", "s2": "van", "s3": "sedan"})
    by_family = result["by_family"]
    assert list(by_family) == ["sedan", "unknown", "van"]  # s4 has no family
    assert by_family["sedan"]["shapes"] == 2 and by_family["sedan"]["nine_views"]["chamfer_x1e3"] == 3.0
    assert by_family["sedan"]["fixed_view"]["chamfer_x1e3"] == 3.0  # yaw 0 of s1 and s3: (1 + 5) / 2
    assert by_family["van"]["nine_views"]["chamfer_x1e3"] == 15.0 and by_family["unknown"]["shapes"] == 1


def _dit_fit() -> dict:
    def row(cd, top1, const_cd, const_top1, shapes):
        return {"shapes": shapes, "chamfer_x1e3": cd, "identification_top1": top1,
                "constant": {"shapes": shapes - 1, "chamfer_x1e3": const_cd, "identification_top1": const_top1},
                "by_family": {"sedan": {"shapes": 2, "chamfer_x1e3": cd, "constant_chamfer_x1e3": const_cd}}}

    return {"train_from_codes": row(3.0, 0.5, 6.0, 0.25, 5), "oracle_test": row(4.0, 0.25, 5.0, 0.2, 4),
            "constant_shape": "car-000000007"}


def test_new_rows_and_tables_render_and_old_files_keep_their_text():
    results = _results()
    old_text = results_markdown(results, None, "car")
    assert "identification" not in old_text and "per family" not in old_text and "DIT fit" not in old_text
    for name, top1, families in (("latentmapper", 0.75, {"sedan": 2.0, "van": 9.0}), ("imnet", None, None)):
        for view_set in ("fixed_view", "nine_views", "unseen_views"):
            results["systems"][name][view_set]["identification_top1"] = top1
        if families:
            results["systems"][name]["by_family"] = {f: {"shapes": 3 if f == "sedan" else 1, "nine_views": {
                "chamfer_x1e3": cd}} for f, cd in families.items()}
    results["systems"]["constant"] = {s: {"chamfer_x1e3": 6.0, "emd_x1e2": 3.0, "identification_top1": 0.25}
                                      for s in ("fixed_view", "nine_views", "unseen_views")}
    results["systems"]["constant"].update(seconds_per_image=None, by_family={"sedan": {"shapes": 3, "nine_views": {
        "chamfer_x1e3": 5.5}}, "van": {"shapes": 1, "nine_views": {"chamfer_x1e3": 7.0}}})
    results["dit_fit"] = _dit_fit()
    text = results_markdown(results, None, "car")
    assert "| Constant (most central training shape) | 6.000 | 6.000 | 6.000 | 3.000 | 3.000 | 3.000 |" in text
    assert "| Constant (most central training shape) | - |" in text  # Table 5: it takes no time
    rows = [line for line in text.splitlines() if line.startswith("| Oracle") or line.startswith("| Constant")]
    assert rows[0].startswith("| Oracle") and rows[1].startswith("| Constant")  # after the oracle, before GOEmbed
    assert "| system | top-1 identification, fixed view (yaw 0) | top-1 identification, 9 training views |" in text
    assert "| 3D-LatentMapper | 0.750 | 0.750 | 0.750 |" in text
    assert "| IM-NET-style (ResNet -> DIT latent) | - | - | - |" in text  # not measured: shown as such
    assert "| Constant (most central training shape) | 0.250 | 0.250 | 0.250 |" in text
    assert "| system | sedan (3) | van (1) |" in text
    assert "| 3D-LatentMapper | 2.000 | 9.000 |" in text
    assert "| Constant (most central training shape) | 5.500 | 7.000 |" in text
    assert "| DIT training shapes from their codes | 5 | 3.000 | 0.500 | 6.000 | 0.250 | 0.500 |" in text
    assert "| Oracle on the test split (code fitted to the shape) | 4 | 4.000 | 0.250 | 5.000 | 0.200 | 0.800 |" in text
    assert "| sedan | 3.000 | 6.000 | 4.000 | 5.000 |" in text and "`car-000000007`" in text
    assert "ground truth resampled" not in text  # no floor recorded: the old table
    results["dit_fit"]["train_from_codes"]["ground_truth"] = {"chamfer_x1e3": 1.25}
    floored = dit_fit_markdown(results)
    assert "| DIT training shapes from their codes | 5 | 3.000 | 0.500 | 6.000 | 0.250 | 0.500 | 1.250 |" in floored
    assert "| Oracle on the test split (code fitted to the shape) | 4 | 4.000 | 0.250 | 5.000 | 0.200 | 0.800 | - |" \
        in floored and "| ground truth resampled: CD x10^3 |" in floored
    without = results_markdown(results, None, "car", include_dit_fit=False)
    assert "DIT training shapes" not in without and "| 3D-LatentMapper | 0.750 |" in without
    only_test = {"systems": {}, "dit_fit": {"oracle_test": _dit_fit()["oracle_test"]}}  # one row is enough
    assert "| Oracle on the test split" in dit_fit_markdown(only_test) and "from their codes" not in \
        dit_fit_markdown(only_test)
    assert dit_fit_markdown({"systems": {}}) == dit_fit_markdown({"systems": {}, "dit_fit": {}}) == ""


@pytest.mark.parametrize("category", ["car", "airplane"])
def test_committed_results_still_load_and_regenerate_their_tables(category, tmp_path):
    """The shipped results files predate issue 17: --tables-only still works on them and gives their text."""
    from latentmapper.evaluation.commands import evaluate

    shipped = Path(__file__).resolve().parents[1] / "hub_cards" / "results"
    for name in (f"{category}.json", f"{category}_details.json"):
        (tmp_path / name).write_text((shipped / name).read_text())
    assert evaluate.main(["--category", category, "--tables-only", "--results-dir", str(tmp_path)]) == 0
    assert (tmp_path / f"{category}.md").read_text() == (shipped / f"{category}.md").read_text()


def test_model_cards_get_the_dit_fit_when_the_results_have_it(tmp_path):
    from latentmapper.evaluation.commands import evaluate

    from latentmapper.pipelines.model_card import NO_DIT_FIT, render_model_card

    pipe = build_tiny_pipeline()
    bare = render_model_card(pipe).content  # no results: the card says so, and still renders
    assert "## DIT fit" in bare and NO_DIT_FIT in bare and DIT_FIT_START in bare
    assert bare.index("## Evaluation") < bare.index("## DIT fit") < bare.index("## Limitations")
    results = {"systems": {"imnet": _results()["systems"]["imnet"]}, "dit_fit": _dit_fit()}
    filled = render_model_card(pipe, results=results).content
    assert NO_DIT_FIT not in filled and "| DIT training shapes from their codes | 5 | 3.000 |" in filled
    assert NO_DIT_FIT in render_model_card(pipe, results={"systems": {}}).content  # absent keys: the note

    # evaluate.py --model-card: the evaluation region and the DIT fit region are filled separately
    card, old_card = tmp_path / "README.md", tmp_path / "OLD.md"
    card.write_text(bare)
    old_card.write_text("# card\n\n## Evaluation\n\nNot recorded.\n\n## Limitations\n\n- some\n")
    (tmp_path / "car.json").write_text(json.dumps({"systems": results["systems"]}))
    args = ["--category", "car", "--tables-only", "--results-dir", str(tmp_path), "--model-card", str(card),
            str(old_card)]
    assert evaluate.main(args) == 0
    assert NO_DIT_FIT in card.read_text()  # without dit_fit the card keeps its DIT fit text
    assert "## DIT fit" not in old_card.read_text()
    merge_key(tmp_path / "car.json", "dit_fit", _dit_fit())
    assert evaluate.main(args) == 0
    text = card.read_text()
    evaluation = text[text.index(CARD_START):text.index(CARD_END)]
    fit = text[text.index(DIT_FIT_START):text.index(DIT_FIT_END)]
    assert "| IM-NET-style" in evaluation and "DIT training shapes" not in evaluation
    assert "| DIT training shapes from their codes |" in fit and NO_DIT_FIT not in text
    assert text.count("## DIT fit") == 1 and text.index("## DIT fit") < text.index("## Limitations")
    assert "| DIT training shapes from their codes |" in (tmp_path / "car.md").read_text()
    old = old_card.read_text()
    assert old.count(DIT_FIT_START) == 1 and "| Oracle on the test split" in old and "## Limitations\n\n- some" in old
    assert evaluate.main(args) == 0 and card.read_text() == text  # idempotent


def test_benchmark_fit_summary_by_hand():
    from latentmapper.evaluation.commands import benchmark

    rng = np.random.default_rng(0)
    shapes = [{"id": f"s{i}", "family": "van" if i == 3 else "sedan", "gt": rng.normal(size=(300, 3)) + 3 * i}
              for i in range(4)]
    for shape in shapes:
        shape["points"], shape["emd"] = shape["gt"], 1.0  # a perfect reconstruction
    entry = benchmark.fit_summary(shapes, "s1", shapes[1]["gt"])
    assert entry["shapes"] == 4 and entry["chamfer_x1e3"] == 0.0 and entry["identification_top1"] == 1.0
    # the constant (s1's own points) is scored on the three other shapes and identifies just one of them
    assert entry["constant"]["shapes"] == 3 and entry["constant"]["identification_top1"] == pytest.approx(1 / 3)
    expected = np.mean([chamfer_x1e3(shapes[1]["gt"], shapes[i]["gt"]) for i in (0, 2, 3)])
    assert entry["constant"]["chamfer_x1e3"] == pytest.approx(expected, rel=1e-5)
    assert entry["by_family"]["sedan"]["shapes"] == 3 and entry["by_family"]["van"]["shapes"] == 1
    assert entry["by_family"]["van"]["constant_chamfer_x1e3"] == pytest.approx(
        chamfer_x1e3(shapes[1]["gt"], shapes[3]["gt"]), rel=1e-5)
    assert "ground_truth" not in entry  # no shape carries its own resampled floor
    for i, shape in enumerate(shapes):
        shape["floor"] = 0.5 + i
    assert benchmark.fit_summary(shapes, "s1", shapes[1]["gt"])["ground_truth"] == {"chamfer_x1e3": 2.0}


def test_benchmark_reports_the_collapsed_tiny_dit_against_the_constant(tiny_dataset, tiny_models, tmp_path):
    """The tiny DIT decodes every code to one octahedron: its identification is 1 in N, like the constant's."""
    from latentmapper.evaluation.commands import benchmark
    from latentmapper.models import DITDecoder

    results = tmp_path / "car.json"
    results.write_text(json.dumps({"systems": {"imnet": {"seconds_per_image": 1.0}}}))
    args = argparse.Namespace(dataset=str(tiny_dataset), latents=str(tiny_models / "dit" / "latents.safetensors"),
                              decoder=str(tiny_models / "dit" / "decoder"), num_eval_shapes=10, eval_resolution=32,
                              margin=1.0, fit_latent_steps=2, fit_latent_samples=64, emd_points=16,
                              constant_candidates=100, results=str(results), figure=None)
    decoder = DITDecoder.from_pretrained(args.decoder).eval()
    fit = benchmark.evaluate(decoder, args)
    train = fit["train_from_codes"]
    assert train["shapes"] == 4 and train["identification_top1"] == 0.25
    assert fit["oracle_test"]["shapes"] == 1 and fit["constant_shape"] in SplitShapes(tiny_dataset, "train").shape_ids
    assert train["constant"]["shapes"] == 3 and train["constant"]["identification_top1"] == pytest.approx(1 / 3)
    assert sum(v["shapes"] for v in train["by_family"].values()) == 4
    # the floor: each training shape's own mesh sampled anew against its stored points, below the octahedron
    floors = [chamfer_x1e3(s.mesh(), s.surface_points) for s in SplitShapes(tiny_dataset, "train")]
    assert train["ground_truth"]["chamfer_x1e3"] == pytest.approx(np.mean(floors), rel=1e-5)
    assert train["ground_truth"]["chamfer_x1e3"] < train["chamfer_x1e3"]
    stored = json.loads(results.read_text())
    assert stored["systems"] == {"imnet": {"seconds_per_image": 1.0}} and stored["dit_fit"] == fit


def test_benchmark_reports_what_the_latent_correction_carries(tiny_dataset, tiny_models, tmp_path):
    """A correction that is a constant -0.03 everywhere: its magnitude near the surface is 0.03, the
    warp + template alone give the plain octahedron back, and the figure shows both."""
    from latentmapper.evaluation.commands import benchmark
    import PIL.Image
    from latentmapper.models import DITDecoder

    plain = DITDecoder.from_pretrained(tiny_models / "dit" / "decoder").eval()
    config = {k: v for k, v in plain.config.items() if not k.startswith("_")}
    decoder = DITDecoder(**{**config, "correction_dims": [4]}).eval()
    decoder.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        decoder.correction.out.bias.fill_(-0.03)
    args = argparse.Namespace(dataset=str(tiny_dataset), latents=str(tiny_models / "dit" / "latents.safetensors"),
                              decoder=None, num_eval_shapes=2, eval_resolution=32, margin=1.0, fit_latent_steps=2,
                              fit_latent_samples=64, emd_points=16, constant_candidates=100, results=None,
                              figure=str(tmp_path / "fit.png"))
    fit = benchmark.evaluate(decoder, args)
    corrected, reference = fit["train_from_codes"], benchmark.evaluate(plain, argparse.Namespace(**{**vars(args), "figure": None}))
    assert corrected["correction"]["near_surface_abs"] == pytest.approx(0.03, abs=1e-5)
    assert corrected["correction"]["template_only_chamfer_x1e3"] == pytest.approx(
        reference["train_from_codes"]["chamfer_x1e3"], rel=1e-3)
    assert corrected["chamfer_x1e3"] != pytest.approx(reference["train_from_codes"]["chamfer_x1e3"], rel=1e-3)
    figure = PIL.Image.open(tmp_path / "fit.png")
    assert figure.size == (4 * 128, 18 + 3 * 128)  # input | DIT | warp+template | ground truth; 2 train + 1 test rows


# ---- the ceiling of a mapper: codes from the shapes' own parameters -------------------------------
def test_params_to_codes_recovers_a_linear_code_and_the_family_means():
    from latentmapper.evaluation.params_ceiling import ParamsToCodes, parameter_columns

    rng = np.random.default_rng(0)
    params = [{"seed": i, "subtype": "a" if i % 2 else "b", "color": "red", "length": float(rng.uniform(1, 2)),
               "height": float(rng.uniform(0, 1)), "spoiler": bool(i % 3 == 0)} for i in range(40)]
    families = [p["subtype"] for p in params]
    codes = np.array([[2 * p["length"] - p["height"], 3 * p["spoiler"] + (p["subtype"] == "a")] for p in params])
    assert parameter_columns(params) == (["height", "length"], ["spoiler"])  # seed, subtype and colour are no shape
    model = ParamsToCodes([json.dumps(p) for p in params], families, codes)
    new = [dict(params[0], length=1.5, height=0.5, spoiler=True, subtype="a")]
    np.testing.assert_allclose(model.predict(new, ["a"]), [[2.5, 4.0]], atol=0.05)
    means = model.family_means(["b", "unknown"])
    np.testing.assert_allclose(means[0], codes[np.array(families) == "b"].mean(0))
    np.testing.assert_allclose(means[1], codes.mean(0))
    with pytest.raises(ValueError, match="numeric parameters"):
        model.predict([{"subtype": "a", "length": 1.0}], ["a"])


def test_pixels_to_codes_is_one_ridge_for_every_view():
    from PIL import Image

    from latentmapper.evaluation.params_ceiling import PIXEL_SIZE, PixelsToCodes, grey_pixels

    rng = np.random.default_rng(0)
    sizes = rng.uniform(4, 28, size=(30, 2))  # a bright box per shape, drawn at two "views" a few pixels apart
    def render(w, h, shift):
        image = np.zeros((64, 64), np.uint8)
        image[20 + shift: 20 + shift + int(h), 10: 10 + int(w)] = 255
        return Image.fromarray(image).convert("RGB")
    pixels = np.stack([grey_pixels([render(w, h, 0), render(w, h, 3)]) for w, h in sizes])
    assert pixels.shape == (30, 2, PIXEL_SIZE * PIXEL_SIZE) and 0.0 <= pixels.min() and pixels.max() <= 1.0
    codes = sizes / 28.0
    model = PixelsToCodes(pixels, codes)
    new = grey_pixels([render(20, 8, 0), render(20, 8, 3)])
    np.testing.assert_allclose(model.predict(new), [[20 / 28, 8 / 28]] * 2, atol=0.12)  # either view, one answer
    with pytest.raises(ValueError, match="shapes, views, pixels"):
        PixelsToCodes(pixels[:, 0], codes)


def test_params_ceiling_command_scores_the_decoded_codes(tiny_dataset, tiny_models, tmp_path):
    """The tiny DIT decodes every code to one octahedron, so both systems score that octahedron."""
    from latentmapper.evaluation.commands import evaluate_params_ceiling

    out = tmp_path / "ceiling.json"
    assert evaluate_params_ceiling.main(["--dataset", str(tiny_dataset), "--dit", str(tiny_models / "pipeline" / "dit"),
                                         "--latents", str(tiny_models / "dit" / "latents.safetensors"),
                                         "--resolution", "32", "--pixel-views", "0", "--output", str(out),
                                         "--no-progress"]) == 0
    shape = SplitShapes(tiny_dataset, "validation")[0]
    octahedron = latent_to_mesh(octahedron_pipeline().dit.eval(), torch.zeros(8), 32)
    expected = chamfer_x1e3(sample_surface_points(octahedron), shape.surface_points)
    systems = json.loads(out.read_text())["systems"]
    for name in ("params_ridge", "family_mean", "pixels_ridge"):
        assert systems[name]["shapes"] == 1 and systems[name]["identification_top1"] == 1.0
        assert systems[name]["chamfer_x1e3"] == pytest.approx(expected, rel=1e-4)
    with pytest.raises(SystemExit, match="no such file"):
        evaluate_params_ceiling.main(["--dataset", str(tiny_dataset), "--dit", str(tiny_models / "pipeline" / "dit"),
                                      "--latents", str(tmp_path / "missing.safetensors")])
    with pytest.raises(SystemExit, match="renders each"):
        evaluate_params_ceiling.main(["--dataset", str(tiny_dataset), "--dit", str(tiny_models / "pipeline" / "dit"),
                                      "--latents", str(tiny_models / "dit" / "latents.safetensors"),
                                      "--pixel-views", "0,99", "--no-progress"])
