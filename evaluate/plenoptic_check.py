"""Plenoptic-encoding check (the GOEmbed paper's illustrative experiment): GOEmbed vs learned CNN unprojection.

The command is ``latentmapper.evaluation.commands.plenoptic_check`` (``--help`` lists its arguments).
"""

from pathlib import Path

from latentmapper.evaluation.commands.plenoptic_check import main

if __name__ == "__main__":
    raise SystemExit(main(presets_dir=Path(__file__).resolve().parents[1] / "train" / "configs"))
