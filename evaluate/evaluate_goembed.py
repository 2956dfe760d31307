"""Evaluate GOEmbed on the test split from 1 view and from 3 views; write rows ``goembed`` and ``goembed_3views``.

The command is ``latentmapper.evaluation.commands.evaluate_goembed`` (``--help`` lists its arguments).
"""

from pathlib import Path

from latentmapper.evaluation.commands.evaluate_goembed import main

if __name__ == "__main__":
    raise SystemExit(main(root=Path(__file__).resolve().parents[1]))
