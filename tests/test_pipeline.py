"""LatentMapperPipeline: save/load round trip, the offline Hub-cache path, outputs, bad inputs and files."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from PIL import Image

from conftest import build_tiny_pipeline
from latentmapper.geometry import EmptySurfaceError
from latentmapper.image_io import InvalidImageError
from latentmapper import LatentMapperPipeline, LatentMapperPipelineOutput
from latentmapper.pipelines.pipeline_files import HUB_ALLOW_PATTERNS, HUB_IGNORE_PATTERNS, PipelineLoadError


def _image(seed: int = 0, size=(40, 48)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# ---- save / load ---------------------------------------------------------------------------
def test_round_trip_gives_identical_latents(tmp_path):
    pipe = build_tiny_pipeline()
    images = [_image(0), _image(1)]
    before = pipe(images, output_type="latent").latents
    pipe.save_pretrained(tmp_path / "saved")
    loaded = LatentMapperPipeline.from_pretrained(tmp_path / "saved")
    assert torch.equal(loaded(images, output_type="latent").latents, before)
    loaded.save_pretrained(tmp_path / "again")  # and once more through a loaded pipeline
    again = LatentMapperPipeline.from_pretrained(tmp_path / "again")
    assert torch.equal(again(images, output_type="latent").latents, before)
    assert loaded.config.category == "car" and again.name_or_path == str(tmp_path / "again")


def test_saved_folder_layout_and_model_card(tiny_pipeline_dir):
    files = _files(tiny_pipeline_dir)
    index = json.loads((tiny_pipeline_dir / "model_index.json").read_text())
    assert index["translator"] == [None, None]
    assert index["clip"] == ["transformers", "CLIPVisionModelWithProjection"]
    assert index["codebook"] == ["latentmapper.features.codebook", "KeyCodebook"]
    weights = [f for f in files if not f.endswith((".json", ".md"))]
    assert weights and all(f.endswith(".safetensors") for f in weights)
    card = (tiny_pipeline_dir / "README.md").read_text()
    assert "pipeline_tag: image-to-3d" in card and "CATEGORIES=car bash train/run_all.sh" in card
    for name in ("clip", "vit", "codebook", "autoencoder", "mapper", "dit", "translator"):
        assert f"| `{name}` |" in card
    assert "## Evaluation" in card and "## Limitations" in card


def test_download_patterns_keep_every_component_file(tiny_pipeline_dir):
    from huggingface_hub.utils import filter_repo_objects

    files = _files(tiny_pipeline_dir)
    kept = list(filter_repo_objects(files, allow_patterns=HUB_ALLOW_PATTERNS, ignore_patterns=HUB_IGNORE_PATTERNS))
    assert kept == files
    unsafe = ["unet/diffusion_pytorch_model.bin", "mapper/model.pt", "mapper/latentmapper.models.mapper.py"]
    assert list(filter_repo_objects(unsafe, allow_patterns=HUB_ALLOW_PATTERNS, ignore_patterns=HUB_IGNORE_PATTERNS)) == []


@pytest.mark.parametrize("tree_listing", [True, False], ids=["as-downloaded", "copied-in"])
def test_loads_by_repo_id_offline_from_the_hub_cache(tiny_pipeline_dir, tiny_pipeline, tree_listing):
    """A snapshot in HF_HOME/hub/models--org--name/snapshots/<hash>/ with refs/main, as a download leaves it
    (with the cached tree listing) or copied in by hand (without), loads by repo id with HF_HUB_OFFLINE=1."""
    from huggingface_hub import constants

    assert constants.HF_HUB_OFFLINE  # tests/conftest.py
    repo_id = f"test-org/tiny-latentmapper-{'tree' if tree_listing else 'plain'}"
    storage = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    commit = ("1" if tree_listing else "2") * 40
    shutil.copytree(tiny_pipeline_dir, storage / "snapshots" / commit)
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text(commit)
    if tree_listing:
        from huggingface_hub._tree_cache import TreeCacheEntry, write_tree_cache

        write_tree_cache(str(storage), commit, {f: TreeCacheEntry(size=(tiny_pipeline_dir / f).stat().st_size,
                                                                  blob_id="0" * 40)
                                                for f in _files(tiny_pipeline_dir)})
    pipe = LatentMapperPipeline.from_pretrained(repo_id)
    assert pipe.name_or_path == repo_id
    image = _image(3)
    assert torch.equal(pipe(image, output_type="latent").latents, tiny_pipeline(image, output_type="latent").latents)


def test_unknown_repo_id_offline_says_so():
    with pytest.raises(PipelineLoadError, match=r"nobody/nothing.*not in the Hugging Face cache.*disabled"):
        LatentMapperPipeline.from_pretrained("nobody/nothing")
    with pytest.raises(PipelineLoadError, match="neither an existing folder nor"):
        LatentMapperPipeline.from_pretrained("./no/such/folder")


def test_fp16_weights_load_as_float32(tmp_path):
    from latentmapper.training.assembly import halve_parameters

    pipe = build_tiny_pipeline()
    image = _image(4)
    reference = pipe(image, output_type="latent").latents
    halve_parameters(pipe)
    pipe.save_pretrained(tmp_path / "half")
    loaded = LatentMapperPipeline.from_pretrained(tmp_path / "half")
    for name in ("clip", "vit", "autoencoder", "mapper", "dit", "codebook"):
        assert all(t.dtype == torch.float32 for t in getattr(loaded, name).state_dict().values()), name
    latents = loaded(image, output_type="latent").latents
    assert torch.allclose(latents, reference, atol=1e-2 * reference.abs().max().item())


def test_push_to_hub_uploads_the_model_card(monkeypatch, tmp_path):
    import huggingface_hub

    uploaded = {}

    class Repo:
        repo_id = "me/tiny"

    def upload_folder(repo_id, folder_path, **kwargs):
        uploaded["repo"] = repo_id
        uploaded["files"] = _files(Path(folder_path))
        uploaded["card"] = (Path(folder_path) / "README.md").read_text()

    monkeypatch.setattr(huggingface_hub, "create_repo", lambda repo_id, **kwargs: Repo())
    monkeypatch.setattr(huggingface_hub, "upload_folder", upload_folder)
    pipe = build_tiny_pipeline()
    pipe.push_to_hub("me/tiny", model_card={"evaluation": "| m | 1.0 |"})
    assert uploaded["repo"] == "me/tiny" and "model_index.json" in uploaded["files"]
    assert 'from_pretrained("me/tiny")' in uploaded["card"] and "| m | 1.0 |" in uploaded["card"]
    uploaded.clear()
    pipe.save_pretrained(tmp_path / "tiny", push_to_hub=True, repo_id="me/tiny")
    assert uploaded["repo"] == "me/tiny" and 'from_pretrained("me/tiny")' in uploaded["card"]


# ---- outputs ---------------------------------------------------------------------------------
def test_output_types(tiny_pipeline, tmp_path):
    Image.fromarray(_image(5)).save(tmp_path / "photo.png")
    inputs = [_image(5), Image.fromarray(_image(5)), tmp_path / "photo.png"]
    out = tiny_pipeline(inputs, resolution=32)
    assert isinstance(out, LatentMapperPipelineOutput) and out.latents.shape == (3, 8) and out.images is None
    assert all(isinstance(m, trimesh.Trimesh) and m.is_watertight for m in out.meshes)
    assert torch.allclose(out.latents[0], out.latents[2])  # same pixels, three input forms
    glb = tiny_pipeline(inputs[0], resolution=32, output_type="glb").meshes[0]
    assert isinstance(glb, bytes) and glb[:4] == b"glTF"
    latent = tiny_pipeline(inputs[0], output_type="latent")
    assert latent.meshes is None and latent.images is None
    preview = tiny_pipeline(inputs[0], output_type="preview", preview_size=24, generator=torch.Generator())
    assert preview.meshes is None and preview.images[0].size == (24, 24)
    assert (np.asarray(preview.images[0]) < 250).any()  # the shape is in view
    latents, meshes, images = tiny_pipeline(inputs[0], output_type="latent", return_dict=False)
    assert latents.shape == (1, 8) and meshes is None


def test_helpers(tiny_pipeline):
    a, b = tiny_pipeline.encode_image([_image(6), _image(7)])
    path = tiny_pipeline.interpolate(a, b, [0.0, 0.5, 1.0])
    assert path.shape == (3, 8) and torch.allclose(path[0], a) and torch.allclose(path[2], b)
    assert torch.allclose(tiny_pipeline.interpolate(a, b, 0.5), path[1])
    with pytest.raises(ValueError, match="differ in size"):
        tiny_pipeline.interpolate(a, b[:4], 0.5)
    mesh = tiny_pipeline.decode_latent(path[1], resolution=24)
    assert mesh.is_watertight and np.abs(mesh.vertices).max() < 0.7
    assert tiny_pipeline.to("cpu").device.type == "cpu"


def test_empty_surface_error_names_the_image():
    pipe = build_tiny_pipeline()
    with torch.no_grad():
        pipe.dit.template.out.bias.fill_(5.0)  # outside everywhere
    with pytest.raises(EmptySurfaceError, match=r"image 0: .*no surface.*may not show a car"):
        pipe(_image(8), resolution=24)


def test_empty_surface_error_carries_the_timings_so_far():
    pipe = build_tiny_pipeline()
    with torch.no_grad():
        pipe.dit.template.out.bias.fill_(5.0)  # outside everywhere
    with pytest.raises(EmptySurfaceError) as caught:
        pipe(_image(8), resolution=24)
    assert list(caught.value.timings) == ["prepare", "features", "mapper", "sdf_grid", "marching_cubes"]


# ---- workers and timings ---------------------------------------------------------------------
def test_the_worker_count_reaches_the_grid_and_changes_no_mesh(tiny_pipeline, monkeypatch):
    import latentmapper.pipelines.base as base

    asked = []

    def latent_to_grid(*args, **kwargs):
        asked.append(kwargs["workers"])
        return real(*args, **kwargs)

    real = base.latent_to_grid
    monkeypatch.setattr(base, "latent_to_grid", latent_to_grid)
    latent = torch.randn(tiny_pipeline.latent_size, generator=torch.Generator().manual_seed(0))
    one = tiny_pipeline(_image(3), resolution=64, workers=1).meshes[0]
    two = tiny_pipeline(_image(3), resolution=64, workers=2).meshes[0]
    assert np.array_equal(one.vertices, two.vertices) and np.array_equal(one.faces, two.faces)
    assert len(one.faces) > 0
    single = tiny_pipeline.decode_latent(latent, 64, workers=1)
    double = tiny_pipeline.decode_latent(latent, 64, workers=2)
    assert np.array_equal(single.vertices, double.vertices) and np.array_equal(single.faces, double.faces)
    assert asked == [1, 2, 1, 2]


@pytest.mark.parametrize("output_type, meshing", [
    ("latent", []), ("trimesh", ["sdf_grid", "marching_cubes"]),
    ("glb", ["sdf_grid", "marching_cubes", "export"]), ("preview", ["preview"]),
])
def test_timings_name_the_stages_the_call_ran(tiny_pipeline, output_type, meshing):
    import time

    started = time.perf_counter()
    out = tiny_pipeline([_image(1), _image(2)], resolution=32, output_type=output_type, preview_size=16)
    elapsed = time.perf_counter() - started
    assert list(out.timings) == ["prepare", "features", "mapper"] + meshing
    assert list(out.cpu_timings) == list(out.timings)
    assert all(seconds >= 0 for seconds in [*out.timings.values(), *out.cpu_timings.values()])
    assert 0 < sum(out.timings.values()) <= elapsed  # the stages are this call's, laid end to end


def test_timings_of_two_images_add_up_per_stage(tiny_pipeline, monkeypatch):
    import latentmapper.pipelines.base as base

    real = base.grid_to_mesh

    def slow_grid_to_mesh(grid):  # 0.05 s of marching cubes per image
        import time

        time.sleep(0.05)
        return real(grid)

    monkeypatch.setattr(base, "grid_to_mesh", slow_grid_to_mesh)
    assert tiny_pipeline(_image(1), resolution=24).timings["marching_cubes"] >= 0.05
    assert tiny_pipeline([_image(1), _image(2)], resolution=24).timings["marching_cubes"] >= 0.1


class _Identity(ModelMixin, ConfigMixin):
    """A stand-in for the CycleGAN translator: a 1x1 convolution set to the identity."""

    @register_to_config
    def __init__(self, image_size: int = 32) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3)[:, :, None, None])
            self.conv.bias.zero_()

    def forward(self, x):
        return self.conv(x)


def test_real_to_synthetic_uses_the_translator(tmp_path):
    pipe = build_tiny_pipeline()
    image = _image(9, size=(32, 32))
    with pytest.raises(ValueError, match="needs a translator"):
        pipe(image, real_to_synthetic=True)
    plain = pipe(image, output_type="latent").latents
    pipe.translator = _Identity()
    assert torch.allclose(pipe(image, output_type="latent", real_to_synthetic=True).latents, plain, atol=1e-5)
    pipe.save_pretrained(tmp_path / "with-translator")
    index = json.loads((tmp_path / "with-translator" / "model_index.json").read_text())
    assert index["translator"][1] == "_Identity"
    assert isinstance(LatentMapperPipeline.from_pretrained(tmp_path / "with-translator").translator, _Identity)


# ---- photo mode (matting -> framing -> translator -> map) -----------------------------------------
def _photo(size=(60, 80)) -> Image.Image:
    """A red ellipse on a grey-green backdrop: an object to cut out."""
    from PIL import ImageDraw

    image = Image.new("RGB", size[::-1], (110, 130, 100))
    ImageDraw.Draw(image).ellipse((15, 20, 65, 45), fill=(200, 40, 40))
    return image


def _photo_components():
    """Framing statistics of two ellipse 'renders', a matting U-Net that keeps every pixel, an identity translator."""
    from latentmapper.photo import FramingReference
    from latentmapper.photo.learned_matting import matting_unet

    masks = [np.pad(np.ones((10, 30), bool), 10), np.pad(np.ones((30, 10), bool), 10)]
    renders = [np.where(m[..., None], 90 + 60 * k, 255).astype(np.uint8).repeat(3, -1) for k, m in enumerate(masks)]
    framing = FramingReference.from_masks(masks, neighbours=1, renders=renders, category="car")
    matting = matting_unet((8, 16), sample_size=32)
    with torch.no_grad():
        matting.conv_out.weight.zero_()
        matting.conv_out.bias.fill_(6.0)  # alpha ~1 everywhere: the whole image is the object
    return framing, matting, _Identity()


def test_photo_mode_is_the_photo_package_s_steps_in_one_call(tmp_path):
    from latentmapper.photo import photo_mode, prepare_photo

    pipe = build_tiny_pipeline()
    photo = _photo()
    # without photo components: classical matting, the fixed framing, no translation
    plain = pipe(prepare_photo(photo), output_type="latent").latents
    assert torch.equal(pipe(photo, output_type="latent", photo_mode=True).latents, plain)
    assert not torch.allclose(pipe(photo, output_type="latent").latents, plain)  # photo mode did change the input

    framing, matting, translator = _photo_components()
    pipe.framing, pipe.matting, pipe.translator = framing, matting, translator
    prepared = photo_mode([photo], framing=framing, matting=matting, translator=translator)
    assert np.asarray(prepared[0]).mean() < 250  # the whole image kept as the object: not white
    expected = pipe(prepared, output_type="latent").latents
    assert torch.equal(pipe(photo, output_type="latent", photo_mode=True).latents, expected)
    assert not torch.equal(expected, plain)  # the matting U-Net and the framing were used

    pipe.save_pretrained(tmp_path / "with-photo-mode")
    index = json.loads((tmp_path / "with-photo-mode" / "model_index.json").read_text())
    assert index["framing"] == ["latentmapper.photo.framing_reference", "FramingReference"]
    assert index["matting"] == ["diffusers", "UNet2DModel"]
    again = LatentMapperPipeline.from_pretrained(tmp_path / "with-photo-mode")
    assert again.framing.config.category == "car"
    assert torch.allclose(again(photo, output_type="latent", photo_mode=True).latents, expected, atol=1e-6)


def test_a_pipeline_saved_before_photo_mode_components_loads_and_runs_photo_mode(tmp_path):
    build_tiny_pipeline().save_pretrained(tmp_path / "old")
    index_path = tmp_path / "old" / "model_index.json"
    index = json.loads(index_path.read_text())
    del index["framing"], index["matting"]  # as written before issue 18
    index_path.write_text(json.dumps(index))
    pipe = LatentMapperPipeline.from_pretrained(tmp_path / "old")
    assert pipe.framing is None and pipe.matting is None
    assert pipe(_photo(), output_type="latent", photo_mode=True).latents.shape == (1, 8)
    with pytest.raises(ValueError, match="no object"):  # EmptyMatteError: nothing to cut out of a blank image
        pipe(Image.new("RGB", (40, 40), "white"), output_type="latent", photo_mode=True)


def test_photo_components_are_added_to_a_saved_folder_without_touching_the_others(tmp_path):
    from latentmapper.training.commands import add_photo_components
    from latentmapper.models.cyclegan import ResnetGenerator

    folder = tmp_path / "pipe"
    build_tiny_pipeline().save_pretrained(folder)
    weights = {p: p.read_bytes() for p in folder.rglob("*.safetensors")}
    framing, matting, _ = _photo_components()
    framing.save_pretrained(tmp_path / "framing")
    ResnetGenerator(image_size=32, ngf=4, num_downsamplings=1, num_res_blocks=1).save_pretrained(tmp_path / "translator")
    assert add_photo_components.main(["--pipeline", str(folder), "--framing", str(tmp_path / "framing"),
                                      "--translator", str(tmp_path / "translator"), "--fp16"]) == 0
    assert all(path.read_bytes() == data for path, data in weights.items())  # the other components as they were
    index = json.loads((folder / "model_index.json").read_text())
    assert index["translator"] == ["latentmapper.models.cyclegan", "ResnetGenerator"] and index["matting"] == [None, None]
    pipe = LatentMapperPipeline.from_pretrained(folder)
    assert isinstance(pipe.translator, ResnetGenerator) and pipe.framing.config.category == "car"
    from safetensors import safe_open
    with safe_open(str(folder / "translator" / "diffusion_pytorch_model.safetensors"), "pt") as handle:
        assert {handle.get_tensor(k).dtype for k in handle.keys()} == {torch.float16}  # stored halved
    assert all(p.dtype == torch.float32 for p in pipe.translator.parameters())  # and loaded upcast
    other = _relabelled(framing, "airplane")
    other.save_pretrained(tmp_path / "airplane-framing")
    with pytest.raises(SystemExit, match="'airplane' framing"):
        add_photo_components.main(["--pipeline", str(folder), "--framing", str(tmp_path / "airplane-framing")])


def _relabelled(reference, category: str):
    """A copy of ``reference`` that says it describes ``category``."""
    from latentmapper.photo import FramingReference

    copy = FramingReference(**{**dict(reference.config), "category": category})
    copy.load_state_dict(reference.state_dict())
    return copy


# ---- bad inputs ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad, error, match",
    [
        ([], InvalidImageError, "empty"),
        (np.zeros((10, 10, 3), np.uint8), InvalidImageError, "10x10 pixels"),
        ("no/such/image.png", FileNotFoundError, "image.png"),
        (3.5, InvalidImageError, "float"),
    ],
    ids=["empty-batch", "too-small", "missing-file", "not-an-image"],
)
def test_bad_inputs_raise_one_clear_error(tiny_pipeline, bad, error, match):
    with pytest.raises(error, match=match):
        tiny_pipeline(bad)


def test_bad_arguments(tiny_pipeline):
    with pytest.raises(ValueError, match="output_type"):
        tiny_pipeline(_image(), output_type="mesh")
    with pytest.raises(ValueError, match="resolution"):
        tiny_pipeline(_image(), resolution=8)
    with pytest.raises(ValueError, match="safetensors"):
        LatentMapperPipeline.from_pretrained("anything", use_safetensors=False)


@pytest.mark.parametrize("resolution", [513, 1024])
def test_resolution_has_a_documented_maximum(tiny_pipeline, resolution):
    """Issue 19, defect 4: resolution=1024 took 8.8 GB; the maximum is 512 (about 1.2 GB)."""
    from latentmapper.pipelines import MAX_RESOLUTION

    assert MAX_RESOLUTION == 512
    with pytest.raises(ValueError, match=r"resolution must be an integer in \[16, 512\].*1.2 GB"):
        tiny_pipeline(_image(), resolution=resolution)
    with pytest.raises(ValueError, match=r"\[16, 512\]"):
        tiny_pipeline.decode_latent(torch.zeros(tiny_pipeline.latent_size), resolution)


# ---- missing or corrupted component files ----------------------------------------------------
def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-64])


def _incomplete_vit(folder: Path) -> None:
    from safetensors.torch import save_file

    save_file({"embeddings.cls_token": torch.zeros(1, 1, 32)}, str(folder / "vit" / "model.safetensors"))


def _edit_weights(component: Path, drop: str | None = None, add: str | None = None) -> None:
    from safetensors.torch import load_file, save_file

    path = component / "diffusion_pytorch_model.safetensors"
    tensors = load_file(str(path))
    if drop:
        del tensors[drop]
    if add:
        tensors[add] = torch.zeros(2)
    save_file(tensors, str(path))


def _pickle_beside_decoy(folder: Path) -> None:
    from safetensors.torch import load_file

    weights = folder / "vit" / "model.safetensors"
    torch.save(load_file(str(weights)), folder / "vit" / "pytorch_model.bin")
    weights.rename(folder / "vit" / "decoy.safetensors")


DAMAGE = {
    "no-index": (lambda d: (d / "model_index.json").unlink(), "no model_index.json"),
    "bad-index": (lambda d: (d / "model_index.json").write_text("{oops"), r"model_index\.json is corrupted"),
    "no-folder": (lambda d: shutil.rmtree(d / "vit"), r"'vit'.*missing"),
    "no-weights": (lambda d: (d / "mapper" / "diffusion_pytorch_model.safetensors").unlink(), r"'mapper'.*no weights"),
    "truncated": (lambda d: _truncate(d / "dit" / "diffusion_pytorch_model.safetensors"),
                  r"'dit'.*diffusion_pytorch_model\.safetensors is corrupted or truncated"),
    "garbage": (lambda d: (d / "clip" / "model.safetensors").write_bytes(b"\x00" * 100), r"'clip'.*corrupted"),
    "bad-config": (lambda d: (d / "codebook" / "config.json").write_text("not json"), r"'codebook'.*config\.json.*JSON"),
    "no-processor": (lambda d: (d / "clip_processor" / "preprocessor_config.json").unlink(),
                     r"'clip_processor'.*preprocessor_config\.json"),
    "pickle": (lambda d: (d / "autoencoder" / "diffusion_pytorch_model.safetensors").rename(
        d / "autoencoder" / "diffusion_pytorch_model.bin"), r"'autoencoder'.*pickle.*never unpickles"),
    "missing-tensors": (_incomplete_vit, r"'vit'.*cannot be loaded.*random weights"),
    # issue 19: a tensor missing from a diffusers component (left on the meta device) or one too many
    "dit-missing-tensor": (lambda d: _edit_weights(d / "dit", drop="template.hidden.0.bias"),
                           r"'dit'.*missing template\.hidden\.0\.bias"),
    "mapper-extra-tensor": (lambda d: _edit_weights(d / "mapper", add="stray.weight"), r"'mapper'.*unexpected stray\.weight"),
    # issue 19: a decoy safetensors file beside a pickle must not let transformers unpickle it
    "pickle-beside-decoy": (_pickle_beside_decoy, r"'vit'.*pytorch_model\.bin.*never unpickles"),
    "pickle-beside-weights": (lambda d: (d / "clip" / "evil.pkl").write_bytes(b"not loaded"), r"'clip'.*evil\.pkl"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_pipeline_files_get_one_clear_error(tiny_pipeline_dir, tmp_path, case):
    damage, match = DAMAGE[case]
    folder = tmp_path / "damaged"
    shutil.copytree(tiny_pipeline_dir, folder)
    damage(folder)
    with pytest.raises(PipelineLoadError, match=match):
        LatentMapperPipeline.from_pretrained(folder)


def test_package_exports_the_pipeline_lazily():
    import subprocess

    code = "import sys, latentmapper; print('diffusers' in sys.modules, 'LatentMapperPipeline' in dir(latentmapper))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]
    import latentmapper

    assert latentmapper.LatentMapperPipeline is LatentMapperPipeline
    assert LatentMapperPipeline.component_names() == sorted(
        ["autoencoder", "clip", "clip_processor", "codebook", "dit", "framing", "mapper", "matting", "translator", "vit",
         "vit_processor"])


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_latent_is_refused_before_the_grid(bad):
    """Issue 19: a NaN latent used to run the whole grid before 'the SDF grid holds NaN'."""
    from latentmapper.geometry import latent_to_grid

    pipe = build_tiny_pipeline()
    latent = torch.zeros(pipe.latent_size)
    latent[3] = bad
    calls = []
    original = pipe.dit.sdf_fn
    pipe.dit.sdf_fn = lambda *a, **k: calls.append(1) or original(*a, **k)
    with pytest.raises(ValueError, match="latent holds NaN or infinite values"):
        pipe.decode_latent(latent, resolution=32)
    with pytest.raises(ValueError, match="latent holds NaN or infinite values"):
        latent_to_grid(pipe.dit, latent, 16)
    assert calls == []  # no SDF query was made


@pytest.mark.parametrize("size", [-5, 0, 8, 2048, 64.0, True])
def test_a_bad_preview_size_is_named(tiny_pipeline, size):
    """Issue 19: preview_size=-5 gave 'can only specify one unknown dimension'."""
    image = np.full((40, 40, 3), 255, dtype=np.uint8)
    with pytest.raises(ValueError, match=r"preview_size must be an integer in \[16, 1024\]"):
        tiny_pipeline(image, output_type="preview", preview_size=size)
    with pytest.raises(ValueError, match="preview_size"):
        tiny_pipeline.render_preview(torch.zeros(tiny_pipeline.latent_size), size)
