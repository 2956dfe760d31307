"""Train the learned background remover: a small U-Net from photo-like renders to their mattes.

The command is ``latentmapper.training.commands.train_matting`` (``--help`` lists its arguments).
"""

from pathlib import Path

from latentmapper.training.commands.train_matting import main

if __name__ == "__main__":
    raise SystemExit(main(presets_dir=Path(__file__).resolve().parent / "configs"))
