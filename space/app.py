"""Gradio Blocks for the LatentMapper Space."""

from __future__ import annotations

import gradio as gr

from .explorer import OUTPUT_DIR, explorer_tab

TITLE = "LatentMapper: view-agnostic single-view 3D reconstruction"


def build_demo() -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nBrowse the procedural shape families that the models are trained on.")
        with gr.Tab("Shape explorer"):
            explorer_tab()
    demo.queue(default_concurrency_limit=2, max_size=32)
    return demo


def allowed_paths() -> list[str]:
    return [str(OUTPUT_DIR)]
