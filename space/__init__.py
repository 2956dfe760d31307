"""The Gradio Space. ``python app.py`` starts it; ``build_demo()`` returns the Blocks."""

from .app import build_demo

__all__ = ["build_demo"]
