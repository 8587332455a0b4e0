"""PSNR and SSIM between two RGB ``uint8`` images of the same size.

- PSNR on RGB uint8: ``10 log10(255^2 / MSE)`` with the MSE over all pixels and all three channels
  (infinite for identical images).
- SSIM: Wang, Bovik, Sheikh, Simoncelli 2004, "Image quality assessment: from error visibility to
  structural similarity": Gaussian window 11x11 with sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, statistics
  over the 'valid' window positions only (as the authors' MATLAB ``ssim_index``), mean SSIM over the map.
  By default on luminance, Y' = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601 luma, range 0-255);
  ``channel="rgb"`` averages the per-channel SSIM of R, G and B instead.
"""

from __future__ import annotations

import math

import numpy as np

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
DATA_RANGE = 255.0
LUMA_BT601 = (0.299, 0.587, 0.114)


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected RGB (H, W, 3) images, got shape {a.shape}")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two RGB uint8 images (inf when identical)."""
    _check_pair(a, b)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(DATA_RANGE**2 / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian of ``size`` taps; the 2-D window is its outer product."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable correlation with ``g`` keeping only positions where the window fits ('valid')."""
    from numpy.lib.stride_tricks import sliding_window_view

    rows = sliding_window_view(img, g.size, axis=0) @ g  # (H-k+1, W)
    return sliding_window_view(rows, g.size, axis=1) @ g  # (H-k+1, W-k+1)


def ssim_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """SSIM map of two single-channel float images in [0, 255] (valid positions only)."""
    if x.shape[0] < SSIM_WINDOW or x.shape[1] < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {x.shape}")
    g = gaussian_window()
    c1 = (SSIM_K1 * DATA_RANGE) ** 2
    c2 = (SSIM_K2 * DATA_RANGE) ** 2
    mu_x = _filter_valid(x, g)
    mu_y = _filter_valid(y, g)
    sxx = _filter_valid(x * x, g) - mu_x**2
    syy = _filter_valid(y * y, g) - mu_y**2
    sxy = _filter_valid(x * y, g) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return num / den


def luminance(img: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB uint8 image as float64 in [0, 255]."""
    return img.astype(np.float64) @ np.asarray(LUMA_BT601)


def ssim(a: np.ndarray, b: np.ndarray, channel: str = "luminance") -> float:
    """Mean SSIM (Wang et al. 2004) of two RGB uint8 images, on luminance or averaged over R, G, B."""
    _check_pair(a, b)
    if channel == "luminance":
        return float(ssim_map(luminance(a), luminance(b)).mean())
    if channel == "rgb":
        af, bf = a.astype(np.float64), b.astype(np.float64)
        return float(np.mean([ssim_map(af[..., c], bf[..., c]).mean() for c in range(3)]))
    raise ValueError(f"channel must be 'luminance' or 'rgb', not {channel!r}")
