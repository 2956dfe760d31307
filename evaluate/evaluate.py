"""Reproduce the paper's Table 3 and Table 5 on our data: every system, three kinds of input view.

The command is ``latentmapper.evaluation.commands.evaluate`` (``--help`` lists its arguments).
"""

from pathlib import Path

from latentmapper.evaluation.commands.evaluate import main

if __name__ == "__main__":
    raise SystemExit(main(root=Path(__file__).resolve().parents[1]))
