"""Image inputs: every accepted form becomes upright RGB; every bad one gets one error naming it."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from latentmapper.image_io import InvalidImageError, load_image, load_images


def _png_header_only(path, width: int, height: int) -> None:
    """A PNG whose header claims width x height and holds no pixel data (a cheap decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


# ---- accepted forms ------------------------------------------------------------------------
def test_rgba_is_composited_on_white():
    rgba = np.zeros((20, 24, 4), np.uint8)
    rgba[..., 0] = 255  # red, but fully transparent on the left half
    rgba[:, 12:, 3] = 255
    out = np.asarray(load_image(Image.fromarray(rgba, "RGBA")))
    assert out.shape == (20, 24, 3)
    assert (out[:, :12] == 255).all() and (out[:, 12:] == [255, 0, 0]).all()
    assert (np.asarray(load_image(rgba)) == out).all()  # the same from an HxWx4 array


def test_grayscale_palette_and_two_channel_alpha():
    gray = load_image(Image.fromarray(np.full((16, 16), 77, np.uint8), "L"))
    assert gray.mode == "RGB" and (np.asarray(gray) == 77).all()
    palette = Image.new("P", (16, 16), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    palette.paste(0, (0, 0, 8, 16))
    palette.info["transparency"] = 0  # index 0 is transparent
    out = np.asarray(load_image(palette))
    assert (out[:, :8] == 255).all() and (out[:, 8:] == [10, 200, 30]).all()
    la = Image.fromarray(np.stack([np.full((16, 16), 0, np.uint8), np.zeros((16, 16), np.uint8)], -1), "LA")
    assert (np.asarray(load_image(la)) == 255).all()


@pytest.mark.parametrize("mode", ["I;16", "I"])
def test_sixteen_bit_images_are_rescaled_not_clipped(mode, tmp_path):
    values = np.full((16, 16), 32896, np.uint16)
    values[:, 8:] = 65535
    image = Image.fromarray(values) if mode == "I;16" else Image.fromarray(values.astype(np.int32), "I")
    assert image.mode == mode
    out = np.asarray(load_image(image))
    assert (out[:, :8] == 128).all() and (out[:, 8:] == 255).all()
    path = tmp_path / "sixteen.png"
    Image.fromarray(values).save(path)
    assert (np.asarray(load_image(path)) == out).all()
    assert (np.asarray(load_image(values)) == out).all()  # a uint16 array


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    assert load_image(path).size == (20, 40)
    assert load_image(Image.open(path)).size == (20, 40)


def test_numpy_forms_and_batches(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (18, 20, 3), dtype=np.uint8)
    assert (np.asarray(load_image(rgb.astype(np.float32) / 255.0)) == rgb).all()
    assert load_image(rgb[..., :1]).mode == "RGB"  # HxWx1
    assert load_image(rgb[..., 0] > 128).mode == "RGB"  # bool
    Image.fromarray(rgb).save(tmp_path / "a.png")
    batch = load_images([rgb, Image.fromarray(rgb), tmp_path / "a.png", str(tmp_path / "a.png")])
    assert len(batch) == 4 and all((np.asarray(b) == rgb).all() for b in batch)
    assert len(load_images(np.stack([rgb, rgb]))) == 2  # an NxHxWxC array is a batch


# ---- refused inputs, one error each ------------------------------------------------------------
def test_too_small_images_name_their_size(tmp_path):
    with pytest.raises(InvalidImageError, match=r"15x40 pixels.*at least 16"):
        load_image(np.zeros((40, 15, 3), np.uint8))
    Image.new("RGB", (8, 8)).save(tmp_path / "tiny.png")
    with pytest.raises(InvalidImageError, match=r"tiny\.png.*8x8 pixels"):
        load_image(tmp_path / "tiny.png")


def test_huge_images_are_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    _png_header_only(path, 10_000, 6_000)
    with pytest.raises(InvalidImageError, match=r"bomb\.png.*10000x6000.*60\.0 megapixels.*limit is 50"):
        load_image(path)
    _png_header_only(path, 20_000, 20_000)  # past PIL's own decompression-bomb limit too
    with pytest.raises(InvalidImageError, match="megapixels"):
        load_image(path)
    with pytest.raises(InvalidImageError, match="megapixels"):
        load_image(np.broadcast_to(np.zeros(1, np.uint8), (8000, 7000)))  # no memory allocated


def test_files_that_are_not_images(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    with pytest.raises(InvalidImageError, match=r"notes\.png.*not an image file"):
        load_image(text)
    good = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(good)
    good.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InvalidImageError, match=r"cut\.png.*corrupted or truncated"):
        load_image(good)
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(InvalidImageError, match="directory"):
        load_image(tmp_path)


def test_empty_batches_and_bad_values():
    with pytest.raises(InvalidImageError, match="empty"):
        load_images([])
    with pytest.raises(InvalidImageError, match=r"float.*\[0, 1\]"):
        load_image(np.full((16, 16, 3), 255.0))
    with pytest.raises(InvalidImageError, match="NaN"):
        load_image(np.full((16, 16), np.nan))
    with pytest.raises(InvalidImageError, match="channel-first"):
        load_image(np.zeros((3, 32, 32), np.uint8))
    with pytest.raises(InvalidImageError, match="int"):
        load_images([42])


# ---- large images are made small first (issue 19, defect 4) ----------------------------------------
def test_large_images_are_reduced_to_the_longest_side_cap_with_alpha_and_16_bit_handled(tmp_path):
    from latentmapper.image_io import MAX_SIDE

    rgba = np.zeros((2050, 4100, 4), np.uint8)  # transparent black, a red box with soft edges
    rgba[600:1400, 1000:3000] = (200, 30, 30, 255)
    rgba[600:1400, 1000:1003, 3] = 100
    Image.fromarray(rgba, "RGBA").save(tmp_path / "wide.png")
    out = load_image(tmp_path / "wide.png")
    assert out.size == (1367, 684) and max(out.size) <= MAX_SIDE  # 4100 / 3, rounded up
    white = Image.alpha_composite(Image.new("RGBA", (4100, 2050), "white"), Image.fromarray(rgba)).convert("RGB")
    assert np.abs(np.asarray(out, int) - np.asarray(white.reduce(3), int)).max() <= 2  # premultiplied: no dark rim
    grey = np.full((100, 4200), 40000, np.uint16)
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    assert np.asarray(load_image(tmp_path / "grey16.png"))[..., 0].mean() == pytest.approx(40000 / 257, abs=1)
    strip = load_image(np.zeros((16, 9000, 3), np.uint8))  # never below MIN_SIDE on the short side
    assert strip.size == (9000, 16)


def test_large_jpegs_are_decoded_at_a_reduced_scale(tmp_path, monkeypatch):
    from latentmapper.image_io import MAX_SIDE

    photo = np.zeros((3000, 6000, 3), np.uint8)
    photo[:, 3000:] = (30, 60, 200)
    Image.fromarray(photo).save(tmp_path / "photo.jpg", quality=90)
    decoded = []
    original = Image.Image.load

    def load(image):
        decoded.append(image.size)
        return original(image)

    monkeypatch.setattr(Image.Image, "load", load)
    out = load_image(tmp_path / "photo.jpg")
    assert max(decoded[0]) < 6000 and max(out.size) <= MAX_SIDE  # draft: never decoded at full size
    assert np.abs(np.asarray(out)[out.height // 2, -10].astype(int) - (30, 60, 200)).max() < 12


def test_a_large_upload_costs_little_memory_on_its_way_to_the_features(tmp_path):
    """A 4000x4000 RGBA PNG took ~370 MiB on top of the process on its way to the features (float copies at
    full size); decoding is the only full-size step now."""
    import subprocess
    import sys

    script = """
import resource, sys
sys.path.insert(0, "tests")
import numpy as np
from PIL import Image
from conftest import build_tiny_pipeline
image = Image.new("RGBA", (4000, 4000), (0, 0, 0, 0))
image.paste((200, 30, 30, 255), (1000, 1000, 3000, 3000))
image.save(sys.argv[1])
del image
pipe = build_tiny_pipeline()
pipe.encode_image(np.full((64, 64, 3), 255, np.uint8))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
pipe.encode_image(sys.argv[1])
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
"""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "big.png")], cwd=root, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    growth_mib = float(out.stdout.strip().splitlines()[-1])
    assert growth_mib < 200, f"{growth_mib:.0f} MiB for one 4000x4000 image"  # decoding alone is 61 MiB
