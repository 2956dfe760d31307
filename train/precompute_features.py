"""Fit the key codebook and cache CLIP + bag-of-descriptors features for every view of every shape.

The command is ``latentmapper.training.commands.precompute_features`` (``--help`` lists its arguments).
"""

from pathlib import Path

from latentmapper.training.commands.precompute_features import main

if __name__ == "__main__":
    raise SystemExit(main(presets_dir=Path(__file__).resolve().parent / "configs"))
