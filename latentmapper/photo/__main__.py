"""``python -m latentmapper.photo``: the same as ``latentmapper photo`` (``latentmapper/cli/photo.py``)."""

from latentmapper.cli.photo import main

if __name__ == "__main__":
    raise SystemExit(main())
