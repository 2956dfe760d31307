"""A stage's finished components, each written atomically (JSON logs: ``latentmapper.atomic.write_json``)."""

from __future__ import annotations

from pathlib import Path

from latentmapper.atomic import atomic_path


def save_component(component, folder: Path, *extras) -> None:
    """``save_pretrained`` of a component (and of ``extras``: processors, tokenizers) atomically."""
    with atomic_path(folder, is_dir=True) as tmp:
        component.save_pretrained(tmp)
        for extra in extras:
            extra.save_pretrained(tmp)


__all__ = ["save_component"]
