"""Train the IM-NET-style baseline: fixed-view grayscale render -> ResNet -> DIT latent (paper App. B).

The command is ``latentmapper.training.commands.train_imnet_baseline`` (``--help`` lists its arguments).
"""

from pathlib import Path

from latentmapper.training.commands.train_imnet_baseline import main

if __name__ == "__main__":
    raise SystemExit(main(presets_dir=Path(__file__).resolve().parent / "configs"))
