"""The ceiling of any image -> code mapper: DIT codes predicted from each shape's own parameters, decoded and scored.

The command is ``latentmapper.evaluation.commands.evaluate_params_ceiling`` (``--help`` lists its arguments).
"""

from latentmapper.evaluation.commands.evaluate_params_ceiling import main

if __name__ == "__main__":
    raise SystemExit(main())
