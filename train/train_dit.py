"""Train the Deep Implicit Templates decoder as an auto-decoder (one learnable code per shape).

The command is ``latentmapper.training.commands.train_dit`` (``--help`` lists its arguments).
"""

from pathlib import Path

from latentmapper.training.commands.train_dit import main

if __name__ == "__main__":
    main(presets_dir=Path(__file__).resolve().parent / "configs")
