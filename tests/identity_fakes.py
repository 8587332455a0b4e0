"""A stand-in identity encoder whose embeddings tell the images apart, for tests of what is scored
against what (the pipeline, ``tfgnet-desk generate``)."""

from __future__ import annotations

import numpy as np

from tfgnet_desk.faces import IdentityScore, cosine
from tfgnet_desk.hashing import pixel_sha256


class HashIdentityEncoder:
    """Embeds an image as a unit vector drawn from a generator seeded by the hash of its pixels: every
    distinct image gets its own reproducible embedding, so a score says which two images it compared.
    ``calls`` records each embedding: (how, sha256 of the image, face box, detection method)."""

    name = "fake-hash"
    calibration = "none (calibrated = raw)"
    calibrated_threshold = 0.5
    threshold = 0.5
    dim = 16
    models_dir = None

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple | None, str | None]] = []

    def vector(self, img: np.ndarray) -> np.ndarray:
        seed = int(pixel_sha256(img)[:16], 16)
        v = np.random.default_rng(seed).normal(size=self.dim)
        return v / np.linalg.norm(v)

    def embed(self, img: np.ndarray, box=None) -> np.ndarray:
        self.calls.append(("embed", pixel_sha256(img), box, None))
        return self.vector(img)

    def embed_detection(self, img: np.ndarray, detection) -> np.ndarray:
        sha = pixel_sha256(img)
        self.calls.append(("detection", sha, tuple(detection.box), detection.method))
        return self.vector(img)

    def score_embeddings(self, e1: np.ndarray, e2: np.ndarray) -> IdentityScore:
        value = cosine(e1, e2)
        return IdentityScore(value, value, self.name, self.calibration, self.calibrated_threshold)

    def expected(self, a: np.ndarray, b: np.ndarray) -> float:
        """The raw score this encoder gives images ``a`` and ``b``."""
        return cosine(self.vector(a), self.vector(b))

    def embedded(self, img: np.ndarray) -> list[tuple[str, str, tuple | None, str | None]]:
        """The calls that embedded ``img``."""
        sha = pixel_sha256(img)
        return [c for c in self.calls if c[1] == sha]
