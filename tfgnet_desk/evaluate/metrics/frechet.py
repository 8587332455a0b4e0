"""Fréchet distance between two Gaussians fitted to feature sets (Heusel et al. 2017, FID).

``d^2 = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2))``. The trace of the matrix square root
is computed as ``sum(sqrt(eig(A S2 A)))`` with ``A = S1^(1/2)`` from a symmetric eigendecomposition:
``A S2 A`` is symmetric positive semi-definite and similar to ``S1 S2``, so its eigenvalues are real and
non-negative, which avoids the complex round-off of a general ``sqrtm`` on rank-deficient covariances
(2048-d features from a few hundred images). Covariances use ``ddof=1`` as pytorch-fid does.

Used for FID (Inception pool3 or a fallback backbone) and for FID-id (identity-embedding space).
"""

from __future__ import annotations

import numpy as np


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean vector and covariance matrix (rows are samples, ddof=1) of a feature set."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need a (N >= 2, D) feature array, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False, ddof=1).reshape(f.shape[1], f.shape[1])


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """``Tr((S1 S2)^(1/2))`` for symmetric positive semi-definite ``S1``, ``S2``."""
    a = _psd_sqrt(np.asarray(s1, dtype=np.float64))
    m = a @ np.asarray(s2, dtype=np.float64) @ a
    w = np.linalg.eigvalsh((m + m.T) / 2.0)
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, S1) and N(mu2, S2); >= 0."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(s1, np.float64)), np.atleast_2d(np.asarray(s2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape:
        raise ValueError("the two Gaussians differ in dimension")
    diff = mu1 - mu2
    d = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt_product(s1, s2))
    return max(d, 0.0)


def frechet_distance_of_features(a: np.ndarray, b: np.ndarray) -> float:
    """FID-style distance between two feature sets (rows are samples)."""
    mu1, s1 = feature_statistics(a)
    mu2, s2 = feature_statistics(b)
    return frechet_distance(mu1, s1, mu2, s2)
