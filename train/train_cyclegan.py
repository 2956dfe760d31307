"""Train the real-to-synthetic translator: a CycleGAN on two unaligned image folders (paper Sec. 3.3).

The command is ``latentmapper.training.commands.train_cyclegan`` (``--help`` lists its arguments).
"""

from pathlib import Path

from latentmapper.training.commands.train_cyclegan import main

if __name__ == "__main__":
    raise SystemExit(main(presets_dir=Path(__file__).resolve().parent / "configs"))
