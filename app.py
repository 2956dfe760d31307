"""Start the LatentMapper Space: ``python app.py [--model ID_OR_PATH] [--host H] [--port P] [--share]``."""

from __future__ import annotations

import argparse

from space import build_demo
from space.app import DEFAULT_CONCURRENCY, launch_options
from space.memory import limit_arenas
from space.outputs import remove_output_dir_on_shutdown


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None,
                        help="serve this pipeline (folder or Hub repo id) instead of the shipped car and airplane ones")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also create a public gradio.live link (off by default)")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
                        help="requests reconstructed at once; more wait in the queue")
    args = parser.parse_args(argv)
    remove_output_dir_on_shutdown()  # SIGTERM closes the server and removes the Space's temporary folder
    limit_arenas()  # before the server's threads start (see space/memory.py)
    demo = build_demo(model=args.model, concurrency=args.concurrency)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **launch_options())


if __name__ == "__main__":
    main()
