"""Train the GOEmbed encoder: posed renders of a shape -> its DIT code (issue 9).

The command is ``latentmapper.training.commands.train_goembed`` (``--help`` lists its arguments).
"""

from pathlib import Path

from latentmapper.training.commands.train_goembed import main

if __name__ == "__main__":
    raise SystemExit(main(presets_dir=Path(__file__).resolve().parent / "configs"))
