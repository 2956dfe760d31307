"""Evaluate single-view reconstruction on the test split: mapper vs nearest neighbour vs DIT oracle.

The command is ``latentmapper.evaluation.commands.evaluate_mapper`` (``--help`` lists its arguments).
"""

from latentmapper.evaluation.commands.evaluate_mapper import main

if __name__ == "__main__":
    raise SystemExit(main())
