"""The offline default identity backend: dlib's ResNet face descriptor (128-d).

Faces are aligned to dlib's own chip (150x150, padding 0.25, fitted on the 68 landmarks the way
``dlib.get_face_chip`` does, but from sub-pixel landmarks so that small crops lose nothing to rounding)
and passed to ``face_recognition_model_v1.compute_face_descriptor``.

The calibrated score centres both descriptors on ``resources/dlib_mean_descriptor.npy``, the mean
descriptor of UTKFace training faces (how it was made: docs/identity.md). The decision thresholds are the
equal-error-rate thresholds measured by ``python -m tfgnet_desk.faces.bench`` on clean CelebA pairs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfgnet_desk.package_data import resource

from .align import DLIB_CHIP_SIZE
from .identity import BaseIdentityEncoder
from .landmarks import to_rgb_uint8
from .models import inference_lock, resnet_descriptor, shape_predictor_68

MEAN_DESCRIPTOR_FILE = resource("dlib_mean_descriptor.npy")

# Measured by the bench (docs/identity.md): EER thresholds on clean-vs-clean CelebA pairs.
DLIB_RAW_THRESHOLD = 0.897
DLIB_CALIBRATED_THRESHOLD = 0.390


def load_mean_descriptor(path: Path = MEAN_DESCRIPTOR_FILE) -> np.ndarray | None:
    """The shipped mean dlib descriptor (float32 (128,)), or None when the resource is absent."""
    if not path.is_file():
        return None
    mean = np.load(path, allow_pickle=False).astype(np.float32)
    if mean.shape != (128,):
        raise ValueError(f"{path} holds shape {mean.shape}, expected (128,)")
    return mean


class DlibResNetEncoder(BaseIdentityEncoder):
    """dlib ResNet descriptor; ``embed(img)`` detects, aligns to the dlib chip and describes."""

    name = "dlib-resnet"
    dim = 128
    threshold = DLIB_RAW_THRESHOLD
    calibrated_threshold = DLIB_CALIBRATED_THRESHOLD
    template = "dlib"
    aligned_size = DLIB_CHIP_SIZE

    def __init__(self, models_dir: Path | None = None, mean: np.ndarray | None = None) -> None:
        super().__init__()
        self.models_dir = models_dir
        # Load both networks now so that a missing file fails here, with its message, not mid-run.
        self._net = resnet_descriptor(models_dir)
        shape_predictor_68(models_dir)
        self.mean = mean if mean is not None else load_mean_descriptor()

    def embed_aligned(self, face: np.ndarray) -> np.ndarray:
        """Descriptor of a face already aligned like ``align_face(img, lm, 'dlib', 150)``; float32 (128,)."""
        import cv2

        chip = to_rgb_uint8(face)
        if chip.shape[:2] != (DLIB_CHIP_SIZE, DLIB_CHIP_SIZE):
            interp = cv2.INTER_AREA if chip.shape[0] > DLIB_CHIP_SIZE else cv2.INTER_LINEAR
            chip = cv2.resize(chip, (DLIB_CHIP_SIZE, DLIB_CHIP_SIZE), interpolation=interp)
        with inference_lock:
            desc = self._net.compute_face_descriptor(np.ascontiguousarray(chip))
        return np.asarray(desc, dtype=np.float32)
