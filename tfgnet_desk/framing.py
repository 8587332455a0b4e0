"""Framing an evidence face as the model was trained (``prepare_face``), and the tensor conversions
every stage uses (``to_tensor`` / ``to_uint8``): the first step of ``TFGNetPipeline.restore``.

``frame`` "crop" puts the eyes and mouth where ``data/crops.py``'s training crops have them
(:data:`CROP_FRAME_POINTS`); "ffhq" uses the FFHQ alignment of the full profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from tfgnet_desk.faces import FaceDetection

# Training-crop frame of data/crops.py (UTKFace's own framing), as fractions of the side: left eye,
# right eye and mouth centres. Tiny-profile models are trained on faces framed like this.
CROP_FRAME_POINTS = np.array([[0.2950, 0.3000], [0.6875, 0.2995], [0.4915, 0.7060]])


@dataclass
class PreparedFace:
    """An evidence face framed for the restorer, with where it came from."""

    lq: np.ndarray  # framed LQ face, restorer size
    landmarks68: np.ndarray | None  # in the framed image's coordinates
    method: str  # detector / fallback that found it
    box: tuple[int, int, int, int] | None
    detection: FaceDetection | None = None  # in the evidence image's coordinates; None: no face found


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> (1, 3, H, W) float in [-1, 1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (1, 3, H, W) in [-1, 1] -> RGB uint8 (H, W, 3)."""
    import torch

    if x.dim() == 4:
        x = x[0]
    y = ((x.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return np.ascontiguousarray(y.permute(1, 2, 0).numpy())


def _warp(img: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    from tfgnet_desk.imaging import import_cv2

    cv2 = import_cv2()
    return cv2.warpAffine(
        np.ascontiguousarray(img),
        matrix,
        (size, size),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REFLECT_101,
    )


def prepare_face(
    img: np.ndarray, size: int, frame: str, box: tuple[int, int, int, int] | None = None, models_dir=None
) -> PreparedFace:
    """Detect (or fit landmarks in ``box``), then frame the face as the model was trained.

    ``frame`` is "crop" (data/crops.py's training crops: eyes and mouth at fixed places) or "ffhq".
    When no face is found at all, the centred square of the image is used (method "whole-image").
    """
    from tfgnet_desk import faces
    from tfgnet_desk.imaging import resize

    dets = faces.detect_faces(img, box=box, models_dir=models_dir)
    if not dets:
        h, w = img.shape[:2]
        s = min(h, w)
        y0, x0 = (h - s) // 2, (w - s) // 2
        return PreparedFace(
            resize(img[y0 : y0 + s, x0 : x0 + s], size), None, "whole-image", (x0, y0, x0 + s, y0 + s)
        )
    det = dets[0]
    l68 = np.asarray(det.landmarks68, dtype=np.float64)
    if frame == "ffhq":
        framed, matrix = faces.align_face(img, l68, "ffhq", size)
    else:
        src = np.stack([l68[36:42].mean(0), l68[42:48].mean(0), l68[48:68].mean(0)])
        matrix = faces.similarity_transform(src, CROP_FRAME_POINTS * size)
        scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
        if scale < 0.5:  # large photo: shrink with area averaging first so that it does not alias
            f = min(1.0, 2.0 * scale)
            small = resize(img, (max(1, round(img.shape[1] * f)), max(1, round(img.shape[0] * f))))
            framed = _warp(small, matrix @ np.diag([1 / f, 1 / f, 1.0]), size)
        else:
            framed = _warp(img, matrix, size)
    return PreparedFace(framed, faces.transform_points(l68, matrix), det.method, tuple(det.box), det)
