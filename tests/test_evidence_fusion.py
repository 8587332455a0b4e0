"""Low-frequency fusion with the evidence: coarse colour and shading from the evidence, fine detail kept."""

from __future__ import annotations

import numpy as np
import pytest

from tfgnet_desk.evidence_fusion import default_sigmas, lowfreq_fusion


def _checker(size: int = 64, value: int = 128, amp: int = 40) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    fine = np.where((yy + xx) % 2 == 0, amp, -amp)  # the highest frequency there is
    img = np.full((size, size, 3), value, np.int32) + fine[..., None]
    return img.astype(np.uint8)


def test_coarse_colour_comes_from_the_evidence_and_fine_detail_stays():
    image = _checker(value=128)
    evidence = np.zeros((64, 64, 3), np.uint8)
    evidence[..., 0] = 200  # a red evidence, no detail
    out = lowfreq_fusion(image, evidence, sigma=3.0)
    centre = out[16:48, 16:48].astype(np.int32)
    red, green = centre[..., 0], centre[..., 1]
    # the coarse level is the evidence's (red 200, green 0) ...
    assert abs(red.mean() - 200) < 2
    # ... and the +-40 checkerboard is kept on top of it (clipped at 0 in green)
    assert abs((red.max() - red.min()) / 2 - 40) <= 2
    assert set(np.unique(green)) <= {0, 1, 39, 40, 41}


def test_sigma_zero_is_the_identity_and_sizes_are_matched():
    image = _checker()
    assert np.array_equal(lowfreq_fusion(image, np.zeros((8, 8, 3), np.uint8), 0), image)
    small_evidence = np.full((16, 16, 3), 90, np.uint8)  # resized to the image's size
    out = lowfreq_fusion(np.full((64, 64, 3), 160, np.uint8), small_evidence, 4.0)
    assert out.shape == (64, 64, 3) and np.all(np.abs(out.astype(int) - 90) <= 1)


def test_bad_inputs_and_profile_defaults():
    with pytest.raises(ValueError, match="RGB"):
        lowfreq_fusion(np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.uint8), 2.0)
    assert default_sigmas("tiny") == (2.0, 4.0)
    assert default_sigmas("full") == (0.0, 0.0)
