"""Find a saved pipeline (local folder or Hugging Face repo id) and check its files before loading.

Why a check of its own: diffusers and transformers, given a missing, truncated or garbled
file, fail deep inside with messages that do not say which component is broken, and a
checkpoint with missing tensors even loads with random weights and only a warning. This
module names the component and the file instead. Only safetensors weights are accepted:
nothing is ever unpickled, and pickle weights (``*.bin``, ``*.pt``, ...) are refused.

Why our own download patterns: for a component whose class lives outside diffusers and
transformers, ``model_index.json`` records the class's module (e.g.
``["latentmapper.features.codebook", "KeyCodebook"]``). ``DiffusionPipeline.download`` takes
such a module for custom code that must ship as ``<component>/<module>.py`` in the repo and
refuses the repo when that file is absent. Our classes come from this installed package, so
the repo holds only configs and weights; :func:`download_pipeline` fetches exactly those
(``model_index.json``, the model card, each component's JSON and safetensors files).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".msgpack", ".h5")
HUB_ALLOW_PATTERNS = ["model_index.json", "README.md", "*/*.json", "*/*.safetensors", "*/*.txt"]
HUB_IGNORE_PATTERNS = [f"*{suffix}" for suffix in PICKLE_SUFFIXES] + ["*.py", "*.onnx", "*.pb"]
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


class PipelineLoadError(OSError):
    """A pipeline that cannot be found or loaded; the message names the component and the file."""


# ---- where the pipeline is ----------------------------------------------------------------
def looks_like_repo_id(name: str) -> bool:
    """``org/name`` or ``name``: no path separators beyond one slash, not absolute, no ``.``/``..`` parts."""
    parts = name.split("/")
    return (
        0 < len(parts) <= 2
        and all(parts)
        and not name.startswith(("/", "~"))
        and os.sep not in name.replace("/", "")
        and not any(part in (".", "..") for part in parts)
    )


def download_pipeline(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    local_files_only: bool | None = None,
    force_download: bool = False,
) -> Path:
    """The repo's snapshot folder in the Hugging Face cache (downloaded first unless offline)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=cache_dir,
            token=token,
            local_files_only=bool(local_files_only),
            force_download=force_download,
            allow_patterns=HUB_ALLOW_PATTERNS,
            ignore_patterns=HUB_IGNORE_PATTERNS,
        )
    except LocalEntryNotFoundError as err:
        from huggingface_hub import constants

        if type(err).__name__ == "IncompleteSnapshotError":  # huggingface_hub >= 1.x: some files never arrived
            raise PipelineLoadError(f"cannot load pipeline {repo_id!r}: its cached copy is incomplete ({err})") from None

        offline = constants.HF_HUB_OFFLINE or local_files_only
        raise PipelineLoadError(
            f"cannot load pipeline {repo_id!r}: there is no such local folder, and the repo is not in the Hugging Face "
            f"cache ({cache_dir or constants.HF_HUB_CACHE})"
            + (" while downloads are disabled (HF_HUB_OFFLINE / local_files_only)" if offline else f" ({err})")
        ) from None
    except (RepositoryNotFoundError, RevisionNotFoundError) as err:
        raise PipelineLoadError(f"cannot load pipeline {repo_id!r}: no such repository or revision on the Hub ({err})") from None
    return Path(folder)


def resolve_pipeline_folder(name_or_path: str | os.PathLike, **hub_kwargs) -> Path:
    """A local pipeline folder as it is, or a repo id's cached snapshot (see :func:`download_pipeline`)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_path)
    if path.exists():
        raise PipelineLoadError(f"{name!r} is a file; a pipeline is a folder holding model_index.json")
    if not looks_like_repo_id(name):
        raise PipelineLoadError(f"{name!r} is neither an existing folder nor a Hugging Face repo id (org/name)")
    return download_pipeline(name, **hub_kwargs)


# ---- what is in it ------------------------------------------------------------------------
def read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PipelineLoadError(f"{what}: {path} is corrupted (not valid JSON: {err})") from None
    if not isinstance(data, dict):
        raise PipelineLoadError(f"{what}: {path} is corrupted (a JSON {type(data).__name__}, not an object)")
    return data


def check_safetensors(path: Path, what: str) -> None:
    """Open the file's header: catches garbage, truncation and files that are not safetensors."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except Exception as err:  # SafetensorError and OSError both mean "this file cannot be used"
        raise PipelineLoadError(f"{what}: weights file {path} is corrupted or truncated ({err})") from None


def weight_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(safetensors files, pickle weight files) directly inside ``folder``."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return [p for p in files if p.suffix == ".safetensors"], [p for p in files if p.suffix in PICKLE_SUFFIXES]


def check_component(folder: Path, name: str, class_name: str) -> None:
    """One component folder: it exists, its JSON parses, and a model has complete safetensors weights."""
    what = f"component {name!r} ({class_name})"
    if not folder.is_dir():
        raise PipelineLoadError(f"{what} is missing: there is no folder {folder}")
    for config in sorted(folder.glob("*.json")):
        read_json(config, what)
    if "Processor" in class_name or "FeatureExtractor" in class_name:
        if not any((folder / f).is_file() for f in PROCESSOR_FILES):
            raise PipelineLoadError(f"{what} is missing its {PROCESSOR_FILES[0]} in {folder}")
        return
    if not (folder / "config.json").is_file():
        raise PipelineLoadError(f"{what} is missing its config.json in {folder}")
    safetensors, pickles = weight_files(folder)
    if pickles:  # refused even beside safetensors files: a loader may still prefer the pickle
        only = "only " if not safetensors else ""
        raise PipelineLoadError(
            f"{what} has {only}pickle weights ({pickles[0].name}); LatentMapper loads safetensors only and never "
            "unpickles. Remove that file, or convert it with safetensors.torch.save_file / re-save with save_pretrained"
        )
    if not safetensors:
        raise PipelineLoadError(f"{what} has no weights: no *.safetensors file in {folder}")
    for index in folder.glob("*.safetensors.index.json"):
        shards = set(read_json(index, what).get("weight_map", {}).values())
        for shard in sorted(shards - {p.name for p in safetensors}):
            raise PipelineLoadError(f"{what} is missing weights file {folder / shard} named in {index.name}")
    for path in safetensors:
        check_safetensors(path, what)


def check_loaded_weights(folder: Path, pipe) -> None:
    """Every diffusers component's state dict matches its weights file key for key.

    diffusers only warns about missing or unexpected keys and leaves missing weights on the
    meta device, so a damaged file would load "fine" and fail at the first reconstruction.
    """
    from safetensors import safe_open

    for name in pipe.components:
        module = getattr(pipe, name, None)
        weights = folder / name / "diffusion_pytorch_model.safetensors"
        if module is None or not hasattr(module, "state_dict") or not weights.is_file():
            continue
        with safe_open(str(weights), framework="pt") as handle:
            stored = set(handle.keys())
        expected = set(module.state_dict())
        missing, unexpected = sorted(expected - stored), sorted(stored - expected)
        if missing or unexpected:
            detail = "; ".join(f"{label} {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
                               for label, keys in (("missing", missing), ("unexpected", unexpected)) if keys)
            raise PipelineLoadError(f"component {name!r} does not match its weights file {weights}: {detail}")


def check_pipeline_folder(
    folder: Path, pipeline_class: str, components: Iterable[str], optional: Iterable[str] = ()
) -> dict:
    """Check ``model_index.json`` and every component it names; returns the index."""
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise PipelineLoadError(f"{folder} has no model_index.json; it is not a saved pipeline folder")
    index = read_json(index_path, "the pipeline index")
    found = index.get("_class_name")
    if found != pipeline_class:
        raise PipelineLoadError(f"{index_path} describes a {found!r}, not a {pipeline_class}")
    optional = set(optional)
    for name in components:
        entry = index.get(name)
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            if name in optional and entry is None:
                continue
            raise PipelineLoadError(f"{index_path} has no valid entry for component {name!r} (found {entry!r})")
        if entry[0] is None:
            if name in optional:
                continue
            raise PipelineLoadError(f"{index_path} marks the required component {name!r} as absent")
        check_component(folder / name, name, str(entry[1]))
    return index


__all__ = [
    "HUB_ALLOW_PATTERNS", "HUB_IGNORE_PATTERNS", "PipelineLoadError", "check_component", "check_loaded_weights",
    "check_pipeline_folder",
    "download_pipeline", "looks_like_repo_id", "resolve_pipeline_folder",
]
