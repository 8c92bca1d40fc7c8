"""The block-PCA ceiling (pure numpy): a rank-k linear reconstruction of image blocks, checked against the
reconstruction computed directly."""
import doctest
import importlib

import numpy as np

from tools.model_ceiling import block_pca_psnr


def test_block_pca_matches_a_direct_projection():
    rng = np.random.default_rng(1)
    crops = rng.random((20, 2, 32, 32))
    crops = 0.5 * crops + 0.5 * np.roll(crops, 1, axis=-1)  # correlated neighbours, full rank
    x = crops.reshape(20, 2, 4, 8, 4, 8).transpose(0, 2, 4, 1, 3, 5).reshape(-1, 128)
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    for k in (8, 32, 64):
        err = x - x @ vt[:k].T @ vt[:k]
        expected = 10 * np.log10(1 / np.mean(err ** 2))
        assert abs(block_pca_psnr(crops, 8, [k])[k] - expected) < 1e-6
    psnr = block_pca_psnr(crops, 8, [8, 32, 64])
    assert psnr[8] < psnr[32] < psnr[64]  # more dimensions kept, never worse


def test_module_doctests():
    result = doctest.testmod(importlib.import_module("tools.model_ceiling"))
    assert result.attempted >= 1 and result.failed == 0
