"""How much a pipeline's shape depends on where the object sits in the image (moved, rescaled, re-framed renders).

The command is ``latentmapper.evaluation.commands.evaluate_framing`` (``--help`` lists its arguments).
"""

from latentmapper.evaluation.commands.evaluate_framing import main

if __name__ == "__main__":
    raise SystemExit(main())
