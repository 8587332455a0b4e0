"""Where the face is in each image of a case: found once, shared by every face metric.

Every identity and face-analysis metric needs the 68 landmarks of the face it looks at. They are found
once per image and reused by dlib (``embed_detection``), arcface and faceres (``align_for_faceres``):

- outputs and targets: landmarks fitted in the benchmark's shared face box (``BENCHMARK_FACE_BOX``; all
  images of a benchmark share one crop), or a detector with ``--face-box detect``, as before;
- the evidence (``lq.png``): the landmarks ``meta.json`` gives (``landmarks68``, in lq.png pixels, fitted
  on the clean photo by the benchmark builder) when present, so a 12 px surveillance face needs no
  detector; else the detector (``--face-box detect`` only) and then the shared face box of the framing.
  The source is recorded per case ("meta-landmarks", "detected", "framing-box"), and a case whose evidence
  gives no landmarks at all is counted, not dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("tfgnet_desk.evaluate")

META_LANDMARKS = "meta-landmarks"
FRAMING_BOX = "framing-box"
DETECTED = "detected"
NO_FACE = "none"


def _px_box(frac: tuple[float, float, float, float], shape: tuple[int, ...]) -> tuple[float, ...]:
    h, w = shape[:2]
    return (frac[0] * w, frac[1] * h, frac[2] * w, frac[3] * h)


def detection_from_landmarks(landmarks68: np.ndarray, method: str = META_LANDMARKS) -> Any:
    """A ``FaceDetection`` built from known 68 landmarks (image coordinates); no model runs."""
    from tfgnet_desk.faces.detect import FaceDetection
    from tfgnet_desk.faces.landmarks import five_from_68

    l68 = np.asarray(landmarks68, dtype=np.float32).reshape(68, 2)
    x0, y0 = np.floor(l68.min(0)).astype(int)
    x1, y1 = np.ceil(l68.max(0)).astype(int)
    return FaceDetection(
        box=(int(x0), int(y0), int(x1), int(y1)),
        score=0.0,
        method=method,
        landmarks5=five_from_68(l68),
        landmarks68=l68,
    )


def meta_landmarks(meta: dict[str, Any], shape: tuple[int, ...]) -> np.ndarray | None:
    """``meta.json``'s ``landmarks68`` when present, well formed and inside an image of ``shape``."""
    raw = meta.get("landmarks68")
    if raw is None:
        return None
    try:
        l68 = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if l68.shape != (68, 2) or not np.all(np.isfinite(l68)):
        return None
    h, w = shape[:2]
    if l68[:, 0].max() < 0 or l68[:, 1].max() < 0 or l68[:, 0].min() > w or l68[:, 1].min() > h:
        return None
    return l68


@dataclass
class FaceLocator:
    """Finds the landmarks of the face of an image: in the shared ``face_box`` (fractions of the side),
    or with dlib's detector when ``face_box`` is None. ``framing_box`` is the evidence's fallback."""

    face_box: tuple[float, float, float, float] | None = None
    framing_box: tuple[float, float, float, float] | None = None
    models_dir: Path | None = None

    def locate(self, img: np.ndarray) -> Any:
        """The face's ``FaceDetection``, or None when none can be found (never raises for a bad face)."""
        if self.face_box is not None:
            return self._in_box(img, self.face_box)
        return self._detect(img)

    def locate_evidence(self, img: np.ndarray, meta: dict[str, Any]) -> tuple[Any, str]:
        """(detection or None, source) for the evidence image ``lq.png`` of a case."""
        l68 = meta_landmarks(meta, img.shape)
        if l68 is not None:
            return detection_from_landmarks(l68), META_LANDMARKS
        if self.face_box is None:
            det = self._detect(img)
            if det is not None:
                return det, DETECTED
        box = self.face_box or self.framing_box
        if box is not None:
            det = self._in_box(img, box)
            if det is not None:
                return det, FRAMING_BOX
        return None, NO_FACE

    def _in_box(self, img: np.ndarray, box: tuple[float, float, float, float]) -> Any:
        from tfgnet_desk.faces.detect import landmarks_in_box

        try:
            px = _px_box(box, img.shape)
            return landmarks_in_box(img, px, method=FRAMING_BOX, models_dir=self.models_dir)
        except (ValueError, RuntimeError) as exc:
            log.debug("no landmarks in the face box: %s", exc)
            return None

    def _detect(self, img: np.ndarray) -> Any:
        from tfgnet_desk.faces.detect import largest_face

        try:
            return largest_face(img, models_dir=self.models_dir)
        except (ValueError, RuntimeError) as exc:  # NoFaceError is a ValueError
            log.debug("no face detected: %s", exc)
            return None
