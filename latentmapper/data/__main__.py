"""``python -m latentmapper.data`` — build, push, pull and import shape datasets."""

from latentmapper.data.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
