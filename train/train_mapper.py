"""Train the latent mapper: [frozen autoencoder code, CLIP embedding] -> DIT latent (paper Sec. 3.2).

The command is ``latentmapper.training.commands.train_mapper`` (``--help`` lists its arguments).
"""

from pathlib import Path

from latentmapper.training.commands.train_mapper import main

if __name__ == "__main__":
    raise SystemExit(main(presets_dir=Path(__file__).resolve().parent / "configs"))
