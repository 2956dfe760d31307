"""The Space's shape explorer callback: a GLB the viewer can load, clear errors on bad input."""

import gradio as gr
import pytest
import trimesh

from space.explorer import explore_shape


def test_explorer_returns_a_loadable_glb_nine_views_and_a_caption():
    glb, views, caption, params = explore_shape("airplane", 3, 48)
    mesh = trimesh.load(glb, force="mesh")
    assert len(mesh.faces) > 100
    assert len(views) == 9 and views[0][1] == "yaw 0"
    assert caption.startswith("a ") and '"subtype"' in params


@pytest.mark.parametrize("category, seed, message", [("boat", 1, "unknown"), ("car", -1, "0 or more"),
                                                     ("car", "x", "whole number")])
def test_explorer_bad_input_is_a_plain_gradio_error(category, seed, message):
    with pytest.raises(gr.Error, match=message):
        explore_shape(category, seed, 48)


def test_explorer_meshes_go_to_pruned_request_folders(monkeypatch):
    """Issue 19, defect 6a: every explorer call left a GLB in the Space's folder for good."""
    import space.explorer
    from space.outputs import OUTPUT_DIR

    monkeypatch.setattr(space.explorer, "EXPLORER_KEEP", 2)
    paths = [explore_shape("car", seed, 32)[0] for seed in range(4)]
    kept = sorted(str(p) for p in OUTPUT_DIR.rglob("*.glb") if "car" in p.name and "-32.glb" in p.name)
    assert kept == sorted(paths[-2:])  # the two newest; the older ones are gone
