"""Assemble a LatentMapperPipeline from the training-run folders and save it (the shipped form).

The command is ``latentmapper.training.commands.assemble_pipeline`` (``--help`` lists its arguments).
"""

from latentmapper.training.commands.assemble_pipeline import main

if __name__ == "__main__":
    raise SystemExit(main())
