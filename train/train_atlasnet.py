"""Train the AtlasNet-25 baseline: fixed-view grayscale render -> 25 square patches, Chamfer loss.

The command is ``latentmapper.training.commands.train_atlasnet`` (``--help`` lists its arguments).
"""

from pathlib import Path

from latentmapper.training.commands.train_atlasnet import main

if __name__ == "__main__":
    raise SystemExit(main(presets_dir=Path(__file__).resolve().parent / "configs"))
