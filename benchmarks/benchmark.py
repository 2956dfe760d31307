"""Benchmark DIT meshing (queries and seconds, coarse-to-fine vs dense) and, given data, reconstruction.

The command is ``latentmapper.evaluation.commands.benchmark`` (``--help`` lists its arguments).
"""

from pathlib import Path

from latentmapper.evaluation.commands.benchmark import main

if __name__ == "__main__":
    main(presets_dir=Path(__file__).resolve().parents[1] / "train" / "configs")
