"""Procedural dataset build: splits, determinism, resume after interruption, bad input."""

import json

import numpy as np
import pytest
import trimesh
from datasets import load_from_disk

import latentmapper.data.build as build_module
from latentmapper.data.build import BuildError, build_dataset, split_of, work_dir_for
from latentmapper.data.families import SUBTYPES


def test_split_is_80_10_10_and_deterministic():
    splits = split_of(600, seed=3)
    assert splits == split_of(600, seed=3)
    assert splits != split_of(600, seed=4)
    assert (splits.count("train"), splits.count("validation"), splits.count("test")) == (480, 60, 60)
    assert set(split_of(3, seed=0)) == {"train", "validation", "test"}


def test_build_writes_a_loadable_dataset(tmp_path, tiny_record_config):
    n = len(SUBTYPES["car"])
    out = tmp_path / "cars"
    build_dataset("car", n, out, config=tiny_record_config, num_workers=1, progress=False)
    dataset = load_from_disk(str(out))
    rows = [row for split in dataset.values() for row in split]
    assert len(rows) == n
    assert {row["subtype"] for row in rows} == set(SUBTYPES["car"])  # every sub-type appears
    row = rows[0]
    assert row["caption"] and json.loads(row["params"])["subtype"] == row["subtype"]
    assert np.asarray(row["sdf_samples"]).shape == (tiny_record_config.sdf_samples, 4)
    assert len(row["images"]) == 9
    for row in rows:  # normalised, watertight, and SDF signs agree with the mesh's inside test
        mesh = trimesh.Trimesh(np.asarray(row["vertices"]), np.asarray(row["faces"]), process=False)
        assert mesh.is_watertight
        assert np.linalg.norm(mesh.vertices, axis=1).max() == pytest.approx(1 / 1.03, rel=1e-4)
        samples = np.asarray(row["sdf_samples"])
        clear = np.abs(samples[:, 3]) > 1e-3
        inside = mesh.contains(samples[clear, :3])
        assert np.mean((samples[clear, 3] < 0) == inside) > 0.999
        images = [np.asarray(im) for im in row["images"]]
        assert all((im < 250).any(axis=2).mean() > 0.02 for im in images)  # nothing blank
        assert not np.array_equal(images[0], images[3])
    assert not work_dir_for(out.resolve()).exists()  # the work folder is cleaned up
    info = json.loads((out / "latentmapper_build.json").read_text())
    assert info["num_shapes"] == n and info["failures"] == {}


def test_interrupted_build_resumes_without_redoing_shapes(tmp_path, tiny_record_config, monkeypatch):
    out = tmp_path / "planes"
    real = build_module._make_record
    calls = []

    def interrupt_on_third(kind, kwargs, config):
        calls.append(kwargs["seed"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(kind, kwargs, config)

    monkeypatch.setattr(build_module, "_make_record", interrupt_on_third)
    with pytest.raises(BuildError, match="run the same command again to resume"):
        build_dataset("airplane", 4, out, config=tiny_record_config, num_workers=1, progress=False)
    assert not out.exists()  # no half-written dataset
    assert len(list((work_dir_for(out.resolve()) / "shapes").glob("*.npz"))) == 2

    calls.clear()
    monkeypatch.setattr(build_module, "_make_record", lambda *a: (calls.append(a[1]["seed"]), real(*a))[1])
    build_dataset("airplane", 4, out, config=tiny_record_config, num_workers=1, progress=False)
    assert calls == [2, 3]  # only the shapes that were missing
    assert sum(len(split) for split in load_from_disk(str(out)).values()) == 4


def test_resume_with_other_settings_is_refused(tmp_path, tiny_record_config):
    out = tmp_path / "cars"
    work = work_dir_for(out.resolve())
    work.mkdir(parents=True)
    (work / "build.json").write_text(json.dumps({"category": "car", "num_shapes": 99}))
    with pytest.raises(BuildError, match="different settings"):
        build_dataset("car", 3, out, config=tiny_record_config, num_workers=1, progress=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"category": "boat", "num_shapes": 3}, "unknown category 'boat'"),
     ({"category": "car", "num_shapes": 2}, "at least 3")],
)
def test_bad_arguments_get_one_clear_error_and_write_nothing(tmp_path, kwargs, message):
    with pytest.raises(BuildError, match=message):
        build_dataset(out=tmp_path / "out", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_not_overwritten_by_default(tmp_path, tiny_record_config):
    out = tmp_path / "cars"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(BuildError, match="--overwrite"):
        build_dataset("car", 3, out, config=tiny_record_config, num_workers=1, progress=False)
    assert (out / "precious.txt").read_text() == "keep me"


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    from latentmapper.cli.data import main

    assert main(["build", "--category", "boat", "--num-shapes", "3", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown category" in err[0]


@pytest.mark.parametrize("option, value, message", [("--image-size", "0", "image-size must be an integer of at least 16"),
                                                     ("--sdf-samples", "-1", "sdf-samples must be"),
                                                     ("--mesh-resolution", "2", "mesh-resolution must be")])
def test_cli_checks_options_before_computing_any_shape(tmp_path, capsys, monkeypatch, option, value, message):
    """Issue 19: bad record options used to fail only after every shape had been computed."""
    from latentmapper.data import build as build_module
    from latentmapper.cli.data import main

    def no_work(*args, **kwargs):
        raise AssertionError("a shape was computed before the options were checked")

    monkeypatch.setattr(build_module, "procedural_record", no_work, raising=False)
    assert main(["build", "--category", "car", "--num-shapes", "3", "--out", str(tmp_path / "o"), option, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "o").exists()


def _refuse_mkdir(monkeypatch, tmp_path):
    """A parent folder this user may not write to (root writes through chmod, so the refusal is simulated)."""
    import pathlib

    real = pathlib.Path.mkdir

    def mkdir(self, *args, **kwargs):
        if str(self).startswith(str(tmp_path / "read-only")):
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    return tmp_path / "read-only" / "out"


@pytest.mark.parametrize("where, message", [("read-only", "Permission denied"),
                                            ("under-a-file", "Not a directory"),
                                            ("proc", "No such file or directory")])
def test_cli_refuses_an_unwritable_output_folder_in_one_line_before_any_shape(tmp_path, capsys, monkeypatch,
                                                                              where, message):
    """Issue 19, defect 7: --out in a missing or read-only parent gave FileNotFoundError/PermissionError tracebacks."""
    from latentmapper.cli.data import main

    def no_work(*args, **kwargs):
        raise AssertionError("a shape was computed before the output folder was checked")

    monkeypatch.setattr(build_module, "procedural_record", no_work)
    if where == "read-only":
        out = _refuse_mkdir(monkeypatch, tmp_path)
    elif where == "under-a-file":
        (tmp_path / "a-file").write_text("x")
        out = tmp_path / "a-file" / "missing" / "out"
    else:  # a parent no one can create, not even root
        out = "/proc/latentmapper-missing/out"
    assert main(["build", "--category", "car", "--num-shapes", "3", "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "output folder" in err[0] and message in err[0] and str(out) in err[0]


def test_a_build_clears_what_a_killed_final_save_left_beside_its_output(tmp_path, tiny_record_config):
    """Issue 19, defect 6c: kill -9 during the final save left a hidden .NAME.*.tmp folder forever."""
    import os
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "cars"
    killed = tmp_path / f".cars.{dead.pid}-x1y2z3w4.tmp"  # a save of a process that is gone
    trash = tmp_path / f".cars.old-{dead.pid}"  # the folder it was replacing
    legacy = tmp_path / ".cars.ab12cd34.tmp"  # the older naming, without the owner
    running = tmp_path / f".cars.{os.getpid()}-q9w8e7r6.tmp"  # a live process's: not ours to remove
    others = [tmp_path / f".trucks.{dead.pid}-r5t6y7u8.tmp", tmp_path / f".cars.v2.{dead.pid}-r5t6y7u8.tmp",
              tmp_path / ".cars.v2.ab12cd34.tmp"]  # other outputs'
    for folder in (killed, trash, legacy, running, *others):
        (folder / "cars").mkdir(parents=True)
    build_dataset("car", 3, out, config=tiny_record_config, num_workers=1, progress=False)
    assert not killed.exists() and not trash.exists() and not legacy.exists()
    assert running.is_dir() and all(other.is_dir() for other in others)
    assert load_from_disk(str(out))["train"].num_rows >= 1
