"""Start the LatentMapper Space: ``python app.py [--port 7860] [--share]``."""

from __future__ import annotations

import argparse

from space import build_demo
from space.app import allowed_paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    args = parser.parse_args()
    build_demo().launch(server_name=args.host, server_port=args.port, share=args.share,
                        allowed_paths=allowed_paths(), max_file_size="20mb")


if __name__ == "__main__":
    main()
