"""Headless Chromium for the Space: start it, click an example, time the mesh into the viewer.

Used by ``tests/test_space_app.py`` and ``benchmarks/benchmark_space.py``. Chromium and its driver
are the Debian packages (``tests/install_browser.sh``); selenium is pointed at
``/usr/bin/chromedriver``, so it never downloads a driver, and every network feature that
would phone home is off (the machine has no network).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from typing import Iterator

import numpy as np
from PIL import Image

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
    # WebGL without a GPU, for the viewer's canvas: ANGLE on SwiftShader.
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--window-size=1400,1100",
)
VIEWER_CANVAS = "#lm-viewer canvas"


def missing_browser() -> str | None:
    """Why Chromium cannot run here, or None."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        return (f"headless Chromium is not installed ({', '.join(missing)} missing; "
                "run `sh tests/install_browser.sh` as root on Debian)")
    return None


@contextmanager
def chromium() -> Iterator:
    """A selenium Chrome driver on the system's Chromium with a fresh, throw-away profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="latentmapper-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, css: str, timeout: float) -> list:
    """Elements matching ``css``, once there are some."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = driver.find_elements(By.CSS_SELECTOR, css)
            if found:
                return found
        except StaleElementReferenceException:
            pass
        time.sleep(0.02)
    raise AssertionError(f"nothing new matched {css!r} within {timeout} s")


def open_space(driver, url: str, timeout: float = 60) -> list:
    """Load the Space; returns the example thumbnails."""
    driver.get(url)
    return wait_for(driver, "#lm-examples .thumbnail-item", timeout)


# In the page: click example ``arguments[0]`` and note when the viewer first draws a frame that shows the new
# mesh: after the viewer received the new GLB (resource timing), not blank, and unlike the last frame drawn
# before that. Frames are read inside requestAnimationFrame callbacks, while the WebGL buffer still holds them.
_WATCH_CLICK = """
const index = arguments[0];
const watch = window.__lmWatch = {click: null, shown: null, glb: null, last: null};
function snapshot() {
  const canvas = document.querySelector('#lm-viewer canvas');
  if (!canvas) return null;
  const small = document.createElement('canvas'); small.width = 48; small.height = 32;
  const g = small.getContext('2d'); g.drawImage(canvas, 0, 0, 48, 32);
  return g.getImageData(0, 0, 48, 32).data;
}
function drawn(p) { let n = 0; for (let i = 0; i < p.length; i += 4) if (p[i + 3] > 200 && Math.min(p[i], p[i + 1], p[i + 2]) < 235) n++; return n > 15; }
function differs(p, q) { if (!q) return true; let n = 0; for (let i = 0; i < p.length; i += 4) if (Math.abs(p[i] - q[i]) + Math.abs(p[i + 1] - q[i + 1]) + Math.abs(p[i + 2] - q[i + 2]) > 30) n++; return n > 15; }
function glbArrived() {
  return performance.getEntriesByType('resource').some(e => e.name.includes('.glb') && e.startTime > watch.click && e.responseEnd > 0);
}
if (!window.__lmHooked) {
  const raf = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = cb => raf(t => { cb(t); if (window.__lmFrame) window.__lmFrame(); });
  window.__lmHooked = true;
  performance.setResourceTimingBufferSize(100000);
}
window.__lmFrame = () => {
  const pixels = snapshot();
  if (!pixels) return;
  if (watch.glb === null && glbArrived()) watch.glb = performance.now();
  if (watch.glb === null) { watch.last = pixels; return; }
  if (drawn(pixels) && differs(pixels, watch.last)) { watch.shown = performance.now(); window.__lmFrame = null; }
};
watch.click = performance.now();
document.querySelectorAll('#lm-examples .thumbnail-item')[index].click();
"""


def click_example(driver, index: int, timeout: float = 60) -> tuple[float, float]:
    """Click example ``index``; seconds until (the viewer has received the new GLB, it draws the new mesh).

    Both are measured in the page: the first from resource timing, the second from drawn frames.
    """
    driver.execute_script(_WATCH_CLICK, index)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        watch = driver.execute_script("return window.__lmWatch")
        if watch and watch.get("shown"):
            received = driver.execute_script(
                "return Math.min(...performance.getEntriesByType('resource')"
                ".filter(e => e.name.includes('.glb') && e.startTime > arguments[0]).map(e => e.responseEnd))",
                watch["click"])
            return (received - watch["click"]) / 1000.0, (watch["shown"] - watch["click"]) / 1000.0
        time.sleep(0.05)
    raise AssertionError(f"the viewer showed no new mesh within {timeout} s of the click")


def canvas_pixels(driver) -> np.ndarray:
    """The viewer's canvas as the page shows it, (H, W, 3) float32."""
    from selenium.webdriver.common.by import By

    canvas = driver.find_element(By.CSS_SELECTOR, VIEWER_CANVAS)
    return np.asarray(Image.open(io.BytesIO(canvas.screenshot_as_png)).convert("RGB"), dtype=np.float32)


def drawn_fraction(pixels: np.ndarray, threshold: float = 30.0) -> float:
    """Share of pixels that differ from the background (the median colour)."""
    background = np.median(pixels.reshape(-1, 3), axis=0)
    return float((np.abs(pixels - background).max(axis=-1) > threshold).mean())
