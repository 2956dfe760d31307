"""The Space launched as ``python app.py`` launches it (shipped pipelines), driven over HTTP and in a browser.

The browser test needs headless Chromium and chromedriver (``tests/install_browser.sh``
installs the Debian packages); it is skipped, saying why, only where they are missing.
Set ``LATENTMAPPER_SCREENSHOT=path.png`` to keep its screenshot.
"""

import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import trimesh

from space.examples import EXAMPLES_DIR, load_examples
from space_browser import canvas_pixels, chromium, click_example, drawn_fraction, missing_browser, open_space

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    from space import build_demo
    from space.app import launch_options

    demo = build_demo()
    port = _free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **launch_options())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        demo.close()


@pytest.fixture(scope="module")
def client(app_url, tmp_path_factory):
    from gradio_client import Client

    return Client(app_url, verbose=False, analytics_enabled=False,
                  download_files=str(tmp_path_factory.mktemp("client-downloads")))


@pytest.fixture(scope="module")
def car_example():
    return next(e.path for e in load_examples() if e.category == "car")


def _reconstruct(client, image_path, resolution=128, file_type="GLB"):
    from gradio_client import handle_file

    return client.predict(handle_file(image_path), "car", resolution, file_type, False, api_name="/reconstruct")


def test_an_example_in_a_glb_out(client, car_example):
    started = time.perf_counter()
    viewer, download, timings = _reconstruct(client, car_example)  # the State output stays on the server
    seconds = time.perf_counter() - started
    for path in (viewer, download):
        mesh = trimesh.load(path, force="mesh")
        assert len(mesh.faces) > 1000 and mesh.is_watertight
    assert Path(download).suffix == ".glb" and "SDF grid" in timings
    print(f"\ngradio_client: example -> GLB at 128^3 in {seconds:.2f} s ({timings})")


def test_a_non_image_is_a_plain_error_and_the_app_keeps_serving(client, car_example, tmp_path):
    from gradio_client.exceptions import AppError

    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(AppError, match="not an image"):
        _reconstruct(client, str(text))
    viewer, *_ = _reconstruct(client, car_example, resolution=64, file_type="PLY")
    assert len(trimesh.load(viewer, force="mesh").faces) > 100


def _status(url: str, data: bytes | None = None, headers: dict | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers or {}), timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


def test_serves_only_its_own_files_and_limits_uploads(app_url):
    example = load_examples()[0].path
    assert _status(f"{app_url}/gradio_api/file={example}") == 200
    for private in ("/etc/passwd", ROOT / "README.md", ROOT / "checkpoints" / "latentmapper-car" / "model_index.json",
                    EXAMPLES_DIR.parent / "app.py"):
        assert _status(f"{app_url}/gradio_api/file={private}") == 403, private
    boundary = "lmboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode() + b"\0" * (11 * 1024 * 1024) + f"\r\n--{boundary}--\r\n".encode()
    status = _status(f"{app_url}/gradio_api/upload", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 413


def test_browser_click_an_example_and_see_the_mesh(app_url, tmp_path):
    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    shot = Path(os.environ.get("LATENTMAPPER_SCREENSHOT") or tmp_path / "space.png")
    with chromium() as driver:
        open_space(driver, app_url)
        received, shown = click_example(driver, 2)  # not the first: the page opens showing that one
        time.sleep(1.0)  # the viewer settles (fits the camera) after the first frames
        pixels = canvas_pixels(driver)
        driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    drawn = drawn_fraction(pixels)
    assert 0.01 < drawn < 0.9, f"the viewer's canvas looks blank ({drawn:.4f} of its pixels drawn)"
    background = np.median(pixels.reshape(-1, 3), axis=0)
    mesh = pixels[np.abs(pixels - background).max(axis=-1) > 30]
    assert (mesh[:, 0] > mesh[:, 2] + 20).mean() > 0.5  # the car's colour, not a grey placeholder
    print(f"\nbrowser: click on an example -> GLB received {received:.2f} s, drawn in the viewer {shown:.2f} s; "
          f"screenshot {shot}")
