"""Overlapping single-thread sections (concurrent requests) restore PyTorch's thread count."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from latentmapper.torch_threads import single_torch_thread


def test_overlapping_sections_restore_the_count_when_the_last_leaves():
    torch.set_num_threads(2)
    try:
        first, second = single_torch_thread(), single_torch_thread()
        first.__enter__()
        second.__enter__()  # entered while the first holds the count at 1
        assert torch.get_num_threads() == 1
        first.__exit__(None, None, None)  # leaves first: the second still needs one thread
        assert torch.get_num_threads() == 1
        second.__exit__(None, None, None)
        assert torch.get_num_threads() == 2  # a save-set-restore per call would leave 1 here
    finally:
        torch.set_num_threads(1)


def test_concurrent_feature_extraction_matches_sequential(tiny_pipeline):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(8)]
    expected = [tiny_pipeline.encode_image(image) for image in images]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(tiny_pipeline.encode_image, images * 3))
    for i, latent in enumerate(got):
        assert torch.allclose(latent, expected[i % len(images)], atol=1e-6)
    assert torch.get_num_threads() == 1  # the test session's count, restored
