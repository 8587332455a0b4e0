"""Locating and loading the dlib model files (offline, cached per process).

The four dlib models come from the ``face-recognition-models`` package:
``mmod_human_face_detector.dat`` (CNN detector), ``shape_predictor_68_face_landmarks.dat``,
``shape_predictor_5_face_landmarks.dat`` and ``dlib_face_recognition_resnet_model_v1.dat`` (128-d
descriptor). A copy placed in ``<models_dir>/dlib/`` wins over the package's, so that a packaged app can
ship them beside its other weights. Nothing here touches the network: a missing file raises
:class:`FaceModelError` naming every place that was searched.

``import face_recognition_models`` itself fails on recent setuptools (it needs ``pkg_resources``), so the
package folder is found with :func:`importlib.util.find_spec` and never imported.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

CNN_DETECTOR = "mmod_human_face_detector.dat"
SHAPE_68 = "shape_predictor_68_face_landmarks.dat"
SHAPE_5 = "shape_predictor_5_face_landmarks.dat"
RESNET_DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"
DLIB_MODEL_FILES = (CNN_DETECTOR, SHAPE_68, SHAPE_5, RESNET_DESCRIPTOR)


class FaceModelError(RuntimeError):
    """A face model (dlib file, insightface pack) is missing or unusable; the message says where we looked."""


def package_models_dir() -> Path | None:
    """The ``models/`` folder of the installed ``face-recognition-models`` package, or None."""
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def search_dirs(models_dir: Path | None = None) -> list[Path]:
    """Folders searched for dlib model files, in order of preference."""
    dirs: list[Path] = []
    if models_dir is not None:
        dirs.append(Path(models_dir) / "dlib")
    pkg = package_models_dir()
    if pkg is not None:
        dirs.append(pkg)
    return dirs


def dlib_model_path(name: str, models_dir: Path | None = None) -> Path:
    """Path of dlib model file ``name``; raises :class:`FaceModelError` listing the folders searched."""
    dirs = search_dirs(models_dir)
    for d in dirs:
        p = d / name
        if p.is_file():
            return p
    where = ", ".join(str(d) for d in dirs) or "(face-recognition-models is not installed)"
    raise FaceModelError(
        f"dlib model file {name!r} not found; looked in: {where}. Install the 'face-recognition-models' "
        f"package (pip install face-recognition-models) or copy {name} into <models folder>/dlib/."
    )


_cache: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()
# dlib objects are not documented as safe for concurrent calls: callers that run inference hold this lock.
inference_lock = threading.RLock()


def _load(kind: str, name: str, models_dir: Path | None) -> Any:
    path = dlib_model_path(name, models_dir)
    key = (kind, str(path))
    with _lock:
        if key not in _cache:
            import dlib

            loader = {
                "cnn": dlib.cnn_face_detection_model_v1,
                "shape": dlib.shape_predictor,
                "resnet": dlib.face_recognition_model_v1,
            }[kind]
            try:
                _cache[key] = loader(str(path))
            except RuntimeError as exc:  # corrupt or truncated file
                raise FaceModelError(f"could not load dlib model {path}: {exc}") from exc
        return _cache[key]


def hog_detector() -> Any:
    """dlib's built-in HOG frontal face detector (no file needed), cached."""
    key = ("hog", "")
    with _lock:
        if key not in _cache:
            import dlib

            _cache[key] = dlib.get_frontal_face_detector()
        return _cache[key]


def cnn_detector(models_dir: Path | None = None) -> Any:
    """The CNN "mmod" face detector, cached."""
    return _load("cnn", CNN_DETECTOR, models_dir)


def shape_predictor_68(models_dir: Path | None = None) -> Any:
    """The 68-point landmark predictor (iBUG 300-W layout), cached."""
    return _load("shape", SHAPE_68, models_dir)


def resnet_descriptor(models_dir: Path | None = None) -> Any:
    """The ResNet face descriptor network (128-d), cached."""
    return _load("resnet", RESNET_DESCRIPTOR, models_dir)


def clear_cache() -> None:
    """Forget loaded models (tests use it to check the missing-file path)."""
    with _lock:
        _cache.clear()
