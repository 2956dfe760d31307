"""``python -m latentmapper.data``: the same as ``latentmapper data`` (``latentmapper/cli/data.py``)."""

from latentmapper.cli.data import main

if __name__ == "__main__":
    raise SystemExit(main())
