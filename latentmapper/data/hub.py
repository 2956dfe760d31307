"""Push a built dataset to the Hugging Face Hub and pull one back to a local folder.

Pulling goes through ``huggingface_hub.snapshot_download`` and then ``datasets.load_dataset``
on the downloaded folder, so the same call works online and offline (``HF_HUB_OFFLINE=1``)
from the local Hugging Face cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from datasets import DatasetDict, load_dataset, load_from_disk
from huggingface_hub import DatasetCard, snapshot_download
from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

from ..atomic import atomic_path
from .build import BUILD_INFO, BuildError
from .cards import render_dataset_card


def load_built_dataset(folder: str | os.PathLike) -> DatasetDict:
    """``load_from_disk`` with a clear error when ``folder`` is not a saved DatasetDict."""
    folder = Path(folder).expanduser()
    if not (folder / "dataset_dict.json").is_file():
        raise BuildError(f"{folder} is not a saved dataset (no dataset_dict.json); build or pull one first")
    return load_from_disk(str(folder))


def push_dataset(folder: str | os.PathLike, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Upload the DatasetDict at ``folder`` to ``repo_id`` with the dataset card; returns the repo URL."""
    dataset = load_built_dataset(folder)
    dataset.push_to_hub(repo_id, private=private, token=token)
    info_path = Path(folder) / BUILD_INFO
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    card = render_dataset_card(dataset, info)
    try:  # keep the metadata push_to_hub wrote (configs, dataset_info); add ours and our text
        hub_card = DatasetCard.load(repo_id, repo_type="dataset", token=token)
        for key, value in card.data.to_dict().items():
            hub_card.data[key] = value
        hub_card.text = card.text
        card = hub_card
    except Exception:  # no card on the Hub yet: ours alone
        pass
    card.push_to_hub(repo_id, repo_type="dataset", token=token)
    return f"https://huggingface.co/datasets/{repo_id}"


def pull_dataset(
    repo_id: str, out: str | os.PathLike, *, revision: str | None = None, overwrite: bool = False
) -> DatasetDict:
    """Download ``repo_id`` (or take it from the local cache) and save it at ``out`` for ``load_from_disk``."""
    out = Path(out).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise BuildError(f"output folder {out} already exists and is not empty; pass --overwrite to replace it")
    try:
        local = snapshot_download(repo_id, repo_type="dataset", revision=revision)
    except LocalEntryNotFoundError as error:
        raise BuildError(
            f"dataset {repo_id!r} is not in the local Hugging Face cache and the Hub cannot be reached "
            f"(offline mode or no network)"
        ) from error
    except RepositoryNotFoundError as error:
        raise BuildError(f"dataset {repo_id!r} does not exist on the Hub or you have no access to it") from error
    dataset = load_dataset(local)
    if not isinstance(dataset, DatasetDict):
        dataset = DatasetDict({"train": dataset})
    with atomic_path(out, is_dir=True) as tmp:
        dataset.save_to_disk(str(tmp))
    return dataset
