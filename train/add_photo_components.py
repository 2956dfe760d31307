"""Add photo-mode components (framing, matting U-Net, translator) to a saved pipeline folder.

The command is ``latentmapper.training.commands.add_photo_components`` (``--help`` lists its arguments).
"""

from latentmapper.training.commands.add_photo_components import main

if __name__ == "__main__":
    raise SystemExit(main())
