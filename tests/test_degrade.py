"""The A.1 degradation: parameter ranges, determinism, exact reproduction, and that it degrades."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfgnet_desk.degrade import (
    BLUR_SIGMA_RANGE,
    DOWNSAMPLE_RANGE,
    JPEG_QUALITY_RANGE,
    NOISE_SIGMA_RANGE,
    DegradationParams,
    apply_degradation,
    degrade,
    sample_params,
)

FAST = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _face_like(seed: int = 0, size: int = 48) -> np.ndarray:
    """A small structured image (edges and texture), so blur and noise have something to change."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([(x * 5) % 256, (y * 7) % 256, ((x + y) * 3) % 256], axis=2).astype(np.float64)
    base[size // 4 : size // 2, size // 4 : 3 * size // 4] = 20
    return np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)


def test_sampled_ranges_cover_the_paper():
    ps = [sample_params(s) for s in range(1500)]
    blur = np.array([p.blur_sigma for p in ps])
    fac = np.array([p.downsample_factor for p in ps])
    noise = np.array([p.noise_sigma for p in ps])
    q = np.array([p.jpeg_quality for p in ps])
    for arr, (lo, hi) in ((blur, BLUR_SIGMA_RANGE), (fac, DOWNSAMPLE_RANGE), (noise, NOISE_SIGMA_RANGE)):
        assert arr.min() >= lo and arr.max() <= hi
        assert arr.min() < lo + 0.1 * (hi - lo) and arr.max() > hi - 0.1 * (hi - lo)  # spans the range
        assert abs(arr.mean() - (lo + hi) / 2) < 0.05 * (hi - lo)  # uniform, not skewed
    assert q.dtype.kind == "i" and q.min() == JPEG_QUALITY_RANGE[0] and q.max() == JPEG_QUALITY_RANGE[1]


def test_paper_ranges_are_the_constants():
    assert BLUR_SIGMA_RANGE == (1.0, 10.0)
    assert DOWNSAMPLE_RANGE == (1.0, 10.0)
    assert NOISE_SIGMA_RANGE == (1.0, 15.0)
    assert JPEG_QUALITY_RANGE == (30, 90)


@FAST
@given(seed=st.integers(0, 2**32 - 1), lq=st.sampled_from([16, 32]))
def test_deterministic_per_seed_and_reproducible_from_params(seed, lq):
    img = _face_like(seed % 7)
    before = img.copy()
    a, pa = degrade(img, seed, lq_size=lq, hq_size=64)
    b, pb = degrade(img, np.random.default_rng(seed), lq_size=lq, hq_size=64)
    assert pa == pb
    np.testing.assert_array_equal(a, b)
    assert a.shape == (lq, lq, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(img, before)  # input untouched
    again = apply_degradation(img, DegradationParams.from_dict(json.loads(json.dumps(pa.to_dict()))))
    np.testing.assert_array_equal(again, a)
    assert (pa.lq_size, pa.hq_size) == (lq, 64)


@FAST
@given(seed=st.integers(0, 2**31 - 2))
def test_different_seeds_differ(seed):
    img = _face_like()
    a, pa = degrade(img, seed, lq_size=32, hq_size=64)
    b, pb = degrade(img, seed + 1, lq_size=32, hq_size=64)
    assert pa != pb
    assert not np.array_equal(a, b)


def test_generator_advances_between_calls():
    g = np.random.default_rng(3)
    _, p1 = degrade(_face_like(), g, lq_size=16, hq_size=64)
    _, p2 = degrade(_face_like(), g, lq_size=16, hq_size=64)
    assert p1 != p2


def test_noise_comes_from_the_stored_noise_seed():
    img = _face_like()
    p = sample_params(5, lq_size=32, hq_size=64)
    other = DegradationParams(**{**p.to_dict(), "noise_seed": p.noise_seed + 1})
    assert not np.array_equal(apply_degradation(img, p), apply_degradation(img, other))


def test_default_sizes_are_paper_sizes():
    lq, p = degrade(_face_like(size=64), 0)
    assert lq.shape == (128, 128, 3)
    assert (p.hq_size, p.lq_size) == (512, 128)


def _sharpness(img: np.ndarray) -> float:
    g = img.astype(np.float64).mean(axis=2)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


def test_severity_follows_the_parameters():
    img = _face_like(size=128)
    clean = apply_degradation(img, DegradationParams(1.0, 1.0, 1.0, 90, 0, hq_size=128, lq_size=64))
    mild = apply_degradation(img, DegradationParams(1.5, 1.5, 2.0, 85, 0, hq_size=128, lq_size=64))
    harsh = apply_degradation(img, DegradationParams(10.0, 10.0, 1.0, 30, 0, hq_size=128, lq_size=64))
    ref = clean.astype(float)
    err_mild = np.abs(mild - ref).mean()
    err_harsh = np.abs(harsh.astype(float) - ref).mean()
    assert err_mild < err_harsh
    assert _sharpness(harsh) < 0.5 * _sharpness(clean)


def test_noise_sigma_is_on_the_255_scale():
    flat = np.full((64, 64, 3), 128, np.uint8)
    p = DegradationParams(1.0, 1.0, 15.0, 90, 123, hq_size=64, lq_size=64)
    out = apply_degradation(flat, p).astype(float)
    assert 8 < out.std() < 16  # JPEG at 90 smooths some of the sigma-15 noise, but it stays that order


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        degrade(np.zeros((8, 8), np.uint8), 0)
    with pytest.raises(TypeError):
        degrade(_face_like(), "seed")  # type: ignore[arg-type]
