"""Train the offline default encoders on the procedural renders: a small CLIP and a small ViT.

The command is ``latentmapper.training.commands.train_encoders`` (``--help`` lists its arguments).
"""

from pathlib import Path

from latentmapper.training.commands.train_encoders import main

if __name__ == "__main__":
    raise SystemExit(main(presets_dir=Path(__file__).resolve().parent / "configs"))
