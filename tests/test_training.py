"""latentmapper.training: the preset loader with --set overrides, the checkpoint format, and the scripts' shape."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

from latentmapper.training.checkpoints import (load_checkpoint, load_extra_tensors, read_state,
                                               save_checkpoint)
from latentmapper.training.presets import apply_overrides, load_config

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_FOLDERS = ("train", "evaluate", "benchmarks")


def test_presets_load_by_stage_and_take_overrides(tmp_path):
    (tmp_path / "mapper_cpu.json").write_text(json.dumps({"lr": 0.1, "model": {"hidden": 8}}))
    config = load_config("mapper", "cpu", overrides=["lr=0.5", "model.hidden=16", "model.dims=[1, 2]",
                                                     "train.name=plain text"], presets_dir=tmp_path)
    assert config == {"lr": 0.5, "model": {"hidden": 16, "dims": [1, 2]}, "train": {"name": "plain text"}}
    assert load_config("other", config_path=tmp_path / "mapper_cpu.json")["lr"] == 0.1  # a file needs no folder
    with pytest.raises(FileNotFoundError, match="presets are cpu and gpu"):
        load_config("mapper", "gpu", presets_dir=tmp_path)
    with pytest.raises(SystemExit, match="--config"):
        load_config("mapper", "cpu")  # neither a preset folder nor a file
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        apply_overrides({}, ["lr"])
    with pytest.raises(SystemExit, match="not a section"):
        apply_overrides({"lr": 0.1}, ["lr.x=1"])


def test_every_shipped_preset_loads():
    presets = sorted((ROOT / "train" / "configs").glob("*_cpu.json"))
    assert len(presets) >= 10
    for path in presets:
        stage = path.name[: -len("_cpu.json")]
        assert load_config(stage, "gpu", presets_dir=path.parent)  # every stage has both presets


def test_checkpoint_with_several_optimizers_and_extra_tensors(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.ModuleDict({"a": torch.nn.Linear(3, 2), "b": torch.nn.Embedding(4, 2)})
    optimizers = {"first": torch.optim.Adam(model["a"].parameters()), "second": torch.optim.SGD(model["b"].parameters(),
                                                                                              lr=0.1, momentum=0.9)}
    (model["a"](torch.randn(5, 3)).sum() + model["b"](torch.arange(4)).sum()).backward()
    for optimizer in optimizers.values():
        optimizer.step()
    save_checkpoint(tmp_path / "ckpt", model, optimizers, {"step": 7}, tensors={"pool": torch.arange(6.0)})
    assert read_state(tmp_path / "ckpt") == {"step": 7}

    other = torch.nn.ModuleDict({"a": torch.nn.Linear(3, 2), "b": torch.nn.Embedding(4, 2)})
    restored = {"first": torch.optim.Adam(other["a"].parameters()), "second": torch.optim.SGD(other["b"].parameters(),
                                                                                            lr=0.1, momentum=0.9)}
    assert load_checkpoint(tmp_path / "ckpt", other, restored) == {"step": 7}
    for a, b in zip(model.parameters(), other.parameters()):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(optimizers["second"].state[model["b"].weight]["momentum_buffer"],
                               restored["second"].state[other["b"].weight]["momentum_buffer"])
    torch.testing.assert_close(load_extra_tensors(tmp_path / "ckpt")["pool"], torch.arange(6.0))

    (tmp_path / "old").mkdir()  # the format before the shared one: a clear error, not a KeyError
    (tmp_path / "old" / "state.json").write_text(json.dumps({"epoch": 3, "optimizer": {}}))
    with pytest.raises(SystemExit, match="cannot be resumed"):
        load_checkpoint(tmp_path / "old", other, restored)


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append((node.module, node.lineno))
    return names


@pytest.mark.parametrize("folder", SCRIPT_FOLDERS)
def test_scripts_import_only_libraries_and_leave_sys_path_alone(folder):
    scripts = sorted((ROOT / folder).glob("*.py"))
    assert scripts
    own = {p.stem for f in SCRIPT_FOLDERS for p in (ROOT / f).glob("*.py")}
    for script in scripts:
        assert "sys.path" not in script.read_text(), f"{script} edits sys.path"
        for name, line in _imports(script):
            assert name.split(".")[0] not in own, f"{script}:{line} imports the script {name}"


def test_random_affine_shift_moves_the_object_and_keeps_earlier_draws():
    from latentmapper.training.augmentation import random_affine

    image = torch.ones(4, 3, 64, 64)
    image[:, :, 24:40, 24:40] = 0.0  # a dark square in the middle of a white image
    centre = lambda x: ((x[:, 0] < 0.5).nonzero()[:, 1:].float().mean(0))  # noqa: E731 (row, column) of the square

    plain = random_affine(image, torch.Generator().manual_seed(3), zoom=(0.9, 1.1), rotation_deg=5)
    unshifted = random_affine(image, torch.Generator().manual_seed(3), zoom=(0.9, 1.1), rotation_deg=5, shift=0.0)
    assert torch.equal(plain, unshifted)  # configurations without a shift augment as before

    shifted = random_affine(image, torch.Generator().manual_seed(3), zoom=(1.0, 1.0), shift=0.2)
    moves = [float((centre(s[None]) - 31.5).abs().max()) for s in shifted]
    assert max(moves) > 3.0 and all(m <= 0.2 * 64 + 1 for m in moves)  # moved, by at most 20% of the side
    assert torch.allclose(shifted.amax(), torch.tensor(1.0))  # the uncovered border is filled white
    with pytest.raises(ValueError, match="shift"):
        random_affine(image, torch.Generator(), shift=0.6)
