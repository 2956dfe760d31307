"""A stage's finished outputs (components, JSON logs), each written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from latentmapper.atomic import atomic_path


def save_component(component, folder: Path, *extras) -> None:
    """``save_pretrained`` of a component (and of ``extras``: processors, tokenizers) atomically."""
    with atomic_path(folder, is_dir=True) as tmp:
        component.save_pretrained(tmp)
        for extra in extras:
            extra.save_pretrained(tmp)


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON at ``path``, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


__all__ = ["save_component", "write_json"]
