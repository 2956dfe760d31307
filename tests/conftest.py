"""Test session set-up: no network, caches in a throw-away folder, few threads."""

import os
import tempfile

# Before any Hugging Face library is imported: offline, and caches that do not touch ~/.cache.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="latentmapper-test-hf-"))
os.environ.setdefault("TQDM_DISABLE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

# Tiny models are dominated by per-op overhead, which extra threads only add to.
torch.set_num_threads(1)


@pytest.fixture
def tiny_record_config():
    from latentmapper.data import RecordConfig

    return RecordConfig(image_size=32, sdf_samples=2000, surface_samples=500, mesh_resolution=40, supersample=1)
