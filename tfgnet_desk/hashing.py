"""SHA-256 of files (read in blocks) and of decoded images: one definition each, for evidence, candidates,
bundles, model folders and the pipeline's provenance.

``pixel_sha256`` is THE image hash: SHA-256 over ``repr(shape)`` then the uint8 pixel bytes (C order),
independent of file encoding. The case store records it for every candidate, and the pipeline's
provenance (``evidence_sha256``, ``outputs[i].sha256``) uses the same function, so a candidate's
provenance hash equals the hash its case row holds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

BLOCK = 1 << 20


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a file's bytes, read 1 MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            h.update(block)
    return h.hexdigest()


def pixel_sha256(img: np.ndarray) -> str:
    """Hash of an image's decoded pixels (shape, then the uint8 bytes): independent of file encoding."""
    arr = np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
    h = hashlib.sha256(repr(tuple(arr.shape)).encode())
    h.update(arr.tobytes())
    return h.hexdigest()
