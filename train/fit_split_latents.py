"""Fit DIT codes to the shapes of one split (validation or test) with the frozen decoder.

The command is ``latentmapper.training.commands.fit_split_latents`` (``--help`` lists its arguments).
"""

from latentmapper.training.commands.fit_split_latents import main

if __name__ == "__main__":
    raise SystemExit(main())
