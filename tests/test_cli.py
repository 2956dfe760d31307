"""The ``latentmapper`` command: one parser with the reconstruct, data and photo groups; ``python -m`` aliases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from latentmapper.cli import build_parser, main
from latentmapper.cli import data as data_cli
from latentmapper.cli import photo as photo_cli

ROOT = Path(__file__).resolve().parent.parent
DATA_COMMANDS = {"build", "import-shapenet", "push", "pull", "filter-photos"}
PHOTO_COMMANDS = {"prepare", "stand-in", "fit-framing"}


def _sub_commands(parser) -> set[str]:
    (action,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return set(action.choices)


def test_one_command_holds_every_group_and_sub_command():
    parser = build_parser()
    groups = {name: sub for name, sub in next(a for a in parser._actions if a.dest == "group").choices.items()}
    assert set(groups) == {"reconstruct", "data", "photo"}
    assert _sub_commands(groups["data"]) == DATA_COMMANDS
    assert _sub_commands(groups["photo"]) == PHOTO_COMMANDS


@pytest.mark.parametrize("group, alias, argv", [
    ("data", data_cli, ["build", "--category", "car", "--num-shapes", "3", "--out", "o", "--image-size", "64"]),
    ("data", data_cli, ["filter-photos", "dir", "--category", "car", "--out", "k.tsv", "--clip", "clip", "--recursive"]),
    ("data", data_cli, ["pull", "user/repo", "folder", "--revision", "abc", "--overwrite"]),
    ("photo", photo_cli, ["prepare", "p.png", "-o", "out.png", "--framing", "checkpoints/latentmapper-car/framing", "--detr", "classical"]),
    ("photo", photo_cli, ["stand-in", "--out", "o", "--category", "car", "--num-shapes", "5"]),
])
def test_a_group_parses_alike_as_a_sub_command_and_as_its_python_m_alias(group, alias, argv):
    whole = vars(build_parser().parse_args([group, *argv]))
    alone = vars(alias.build_parser().parse_args(argv))
    assert whole.pop("group") == group
    assert whole == alone and whole["run"] is alias.run


def test_a_build_records_the_same_command_either_way(tmp_path, monkeypatch):
    from latentmapper.data import build as build_module

    recorded = []
    monkeypatch.setattr(build_module, "build_dataset", lambda *a, command=None, **k: recorded.append(command) or {})
    argv = ["build", "--category", "car", "--num-shapes", "3", "--out", str(tmp_path / "o")]
    assert main(["data", *argv]) == 0
    assert data_cli.main(argv) == 0
    assert recorded == ["python -m latentmapper.data " + " ".join(argv)] * 2


@pytest.mark.parametrize("module, shown", [("latentmapper.data", "filter-photos"), ("latentmapper.photo", "fit-framing")])
def test_python_m_aliases_still_run(module, shown):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"usage: python -m {module}" in done.stdout and shown in done.stdout


def test_a_missing_group_or_command_is_a_usage_error(capsys):
    for argv in ([], ["data"], ["photo"], ["reconstruct"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    assert "usage: latentmapper" in capsys.readouterr().err


def test_the_command_line_imports_no_torch_until_a_command_runs():
    code = "import sys, latentmapper.cli; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
