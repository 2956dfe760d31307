"""Train the descriptor autoencoder on the cached bag-of-descriptors vectors (paper Sec. 3.2).

The command is ``latentmapper.training.commands.train_autoencoder`` (``--help`` lists its arguments).
"""

from pathlib import Path

from latentmapper.training.commands.train_autoencoder import main

if __name__ == "__main__":
    raise SystemExit(main(presets_dir=Path(__file__).resolve().parent / "configs"))
