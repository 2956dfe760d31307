"""Altered inputs for robustness evaluations: moved / rescaled renders and the framing command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from latentmapper.evaluation.image_robustness import framing_variants, scaled, shifted, summarize_framing


def _square(size: int = 64) -> Image.Image:
    pixels = np.full((size, size, 3), 255, np.uint8)
    pixels[24:40, 20:36] = 40  # a dark 16x16 square, left of centre
    return Image.fromarray(pixels)


def _box(image: Image.Image) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(np.asarray(image)[..., 0] < 128)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def test_shift_and_scale_move_the_object_as_asked():
    image = _square()
    assert _box(shifted(image, 3, -2)) == (23, 22, 39, 38)
    assert _box(shifted(image, -25, 0))[0] == 0  # what leaves the image is cut, the border is white
    assert np.asarray(shifted(image, 5, 0))[:, :5].min() == 255
    left, top, right, bottom = _box(scaled(image, 1.5))
    assert right - left == pytest.approx(24, abs=1) and bottom - top == pytest.approx(24, abs=1)
    assert (left + right) / 2 == pytest.approx(32 + 1.5 * (28 - 32), abs=1)  # scaled about the image centre
    assert scaled(image, 0.5).size == image.size


def test_framing_variants_and_their_summary():
    variants = framing_variants(_square(), shifts=[2, 4], scales=[0.97])
    assert list(variants) == ["render"] + [f"shift_{px}px_{d}" for px in (2, 4) for d in ("left", "right", "up", "down")] \
        + ["scale_0.97"]
    rows = [{"chamfer": {name: 1.0 for name in variants}}, {"chamfer": {name: 3.0 for name in variants}}]
    rows[1]["chamfer"]["shift_4px_up"] = 11.0
    rows[0]["chamfer"]["scale_0.97"] = None  # no surface: left out of the mean
    summary = summarize_framing(rows)
    assert summary["images"] == 2 and summary["chamfer_x1e3"]["render"] == 2.0
    assert summary["chamfer_x1e3"]["shift_4px"] == pytest.approx((4 * 1.0 + 3 * 3.0 + 11.0) / 8)
    assert summary["chamfer_x1e3"]["scale_0.97"] == 3.0 and summary["x_render"]["scale_0.97"] == 1.5


def test_evaluate_framing_command_scores_and_resumes(tiny_pipeline_dir, tmp_path, capsys):
    from latentmapper.evaluation.commands import evaluate_framing

    args = ["--pipeline", str(tiny_pipeline_dir), "--output", str(tmp_path / "out"), "--shapes", "1", "--views", "0",
            "--shifts", "3", "--scales", "1.05", "--resolution", "32"]
    assert evaluate_framing.main(args) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["images"] == 1 and set(summary["chamfer_x1e3"]) >= {"render", "shift_3px", "scale_1.05"}
    assert "render" in capsys.readouterr().out
    cached = next((tmp_path / "out" / "per_shape").glob("*.json"))
    record = json.loads(cached.read_text())
    record[0]["chamfer"]["render"] = 123.0  # a resumed run reads the cached scores
    cached.write_text(json.dumps(record))
    assert evaluate_framing.main(args) == 0
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["chamfer_x1e3"]["render"] == 123.0
    with pytest.raises(SystemExit, match="other settings|settings"):
        evaluate_framing.main(args[:-1] + ["48"])
    with pytest.raises(SystemExit, match="--shifts"):
        evaluate_framing.main(args[:9] + ["0"] + args[10:])
