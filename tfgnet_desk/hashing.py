"""SHA-256 of files (read in blocks) and of decoded images: one definition each, for evidence, candidates,
bundles, model folders and the pipeline's provenance.

The image hash
--------------
:func:`pixel_sha256` is THE image hash of the project. The bytes hashed are, in this order:

1. ``repr(tuple(shape)).encode("ascii")``, e.g. ``b"(128, 128, 3)"`` (height, width, channels);
2. the pixels as ``uint8``, in C (row-major, channel-last) order: ``arr.tobytes()``.

There is no dtype in the header because the hash is defined over uint8 pixels only: an array of another
dtype is hashed as the uint8 array it equals, and refused (``ValueError``) when it holds a value that
uint8 cannot hold exactly (a float image in [0, 1], a 16-bit value), instead of being wrapped silently.

Why this definition: it is exactly the hash of the *decoded pixels of the stored PNG* (a candidate PNG holds
8-bit RGB, so decoding it gives back the array that was hashed), so every place can recompute it from what
it has: the pipeline from the candidate in memory (provenance ``outputs[i].sha256``, and
``request.evidence_sha256`` / ``reference_sha256`` for its inputs), the case store for its rows
(``candidates.pixel_sha256``, restored faces), the PNG's own ``tfgnet:pixel_sha256`` text chunk, the
report, a bundle's import (from the PNG in the zip) and ``verify-run`` (from the regenerated image). It is
also what the case store has recorded in every ``pixel_sha256`` since that column exists, so no stored
row changes meaning. :data:`IMAGE_HASH` names it in a run's provenance (``provenance.image_hash``).

Runs recorded before the pipeline used it (provenance without ``image_hash``) hashed their provenance
images with :func:`legacy_provenance_sha256` (a ``dtype`` + ``shape`` header). That function is kept only
to read such records: :func:`provenance_image_hash` picks the definition a record says it used. A file's
bytes (evidence copies, candidate PNG files, model weights) are hashed with :func:`sha256_file`; that is
a different thing (a PNG file's hash changes with its metadata, its pixel hash does not).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

BLOCK = 1 << 20

# The name a run's provenance records for the image hash it used (``provenance["image_hash"]``). The
# text is part of the records written since the pipeline adopted pixel_sha256: never change it.
IMAGE_HASH = "pixel_sha256: sha256(repr(shape) + uint8 bytes), as the case store"
# What a record without ``image_hash`` used (the pipeline's sha256_array before issue 16)
LEGACY_IMAGE_HASH = "legacy: sha256(str(dtype) + str(shape) + bytes)"


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a file's bytes, read 1 MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            h.update(block)
    return h.hexdigest()


def _as_uint8(img: Any) -> np.ndarray:
    """``img`` as a C-ordered uint8 array; ValueError when a value is not exactly a uint8."""
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"an image hash needs numeric pixels, not {arr.dtype}")
        as_u8 = arr.astype(np.uint8)
        if not np.array_equal(as_u8, arr):
            raise ValueError(f"an image hash needs uint8 pixels: this {arr.dtype} image has other values")
        arr = as_u8
    return np.ascontiguousarray(arr)


def pixel_sha256(img: np.ndarray) -> str:
    """THE image hash: SHA-256 of ``repr(tuple(shape))`` then the uint8 pixel bytes in C order (see the
    module docstring for why). Equal for an image in memory and the decoded pixels of its stored PNG."""
    arr = _as_uint8(img)
    h = hashlib.sha256(repr(tuple(arr.shape)).encode("ascii"))
    h.update(arr.tobytes())
    return h.hexdigest()


def legacy_provenance_sha256(img: np.ndarray) -> str:
    """READING OLD RECORDS ONLY: the hash the pipeline's provenance used before issue 16 (runs whose
    provenance has no ``image_hash``): SHA-256 of ``f"{dtype}{shape}"`` (e.g. ``uint8(128, 128, 3)``)
    then the array's bytes in C order. Never used to record anything new."""
    a = np.ascontiguousarray(img)
    h = hashlib.sha256(f"{a.dtype}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def provenance_image_hash(provenance: Mapping[str, Any] | None) -> Callable[[np.ndarray], str]:
    """The image hash a run's provenance used for its ``outputs`` and evidence hashes: :func:`pixel_sha256`
    when it says :data:`IMAGE_HASH`, :func:`legacy_provenance_sha256` when it names none (recorded before
    it did). ``ValueError`` for a definition this version does not know."""
    name = (provenance or {}).get("image_hash")
    if name is None:
        return legacy_provenance_sha256
    if name == IMAGE_HASH:
        return pixel_sha256
    raise ValueError(f"the run's provenance uses an image hash this version does not know: {name!r}")


def image_hash_name(provenance: Mapping[str, Any] | None) -> str:
    """The definition a provenance's image hashes follow, as words: the ``image_hash`` it recorded, or
    :data:`LEGACY_IMAGE_HASH` for a record made before it named one."""
    return str((provenance or {}).get("image_hash") or LEGACY_IMAGE_HASH)
