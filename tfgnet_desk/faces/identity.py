"""Identity encoders behind one small interface, and the scores they produce.

Every score names the backend that produced it (DESIGN.md, 'Identity scores'). Two numbers per score:
- ``raw``: cosine similarity of the two embeddings, in [-1, 1];
- ``calibrated``: the centred cosine, i.e. the cosine after subtracting a mean face descriptor estimated
  from training faces (UTKFace for dlib; see docs/identity.md). Raw dlib cosines crowd into 0.85-0.95 for
  the same and for different people; centring moves unrelated people to about 0 and keeps the same
  person clearly positive, which is what an analyst expects a similarity to mean. A backend without a
  mean vector reports ``calibrated == raw`` and says so in ``calibration``.

Encoders are created through :func:`get_identity_encoder` (a name -> factory registry, cached per process,
so dlib/onnx models are loaded once).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from .align import align_face
from .detect import FaceDetection, largest_face
from .landmarks import to_rgb_uint8


@dataclass(frozen=True)
class IdentityScore:
    """One comparison: raw cosine, calibrated (centred) cosine, and the backend that produced them."""

    raw: float
    calibrated: float
    backend: str
    calibration: str = "centred-cosine"
    threshold: float | None = None  # the backend's decision threshold on the calibrated scale

    @property
    def same_person(self) -> bool | None:
        """Above the backend's documented decision threshold (None when it has none)."""
        return None if self.threshold is None else self.calibrated >= self.threshold

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class IdentityEncoder(Protocol):
    """What the rest of the app needs from an identity model."""

    name: str
    dim: int
    threshold: float  # decision threshold on the raw cosine (documented in docs/identity.md)
    calibrated_threshold: float  # the same decision on the calibrated scale

    def embed(self, img: np.ndarray, box: tuple[float, float, float, float] | None = None) -> np.ndarray: ...

    def embed_aligned(self, face: np.ndarray) -> np.ndarray: ...

    def similarity(self, e1: np.ndarray, e2: np.ndarray) -> float: ...

    def calibrated_similarity(self, e1: np.ndarray, e2: np.ndarray) -> float: ...

    def score(self, img_a: np.ndarray, img_b: np.ndarray) -> IdentityScore: ...


def cosine(e1: np.ndarray, e2: np.ndarray) -> float:
    """Cosine similarity in [-1, 1] (0 when either vector is zero)."""
    a = np.asarray(e1, dtype=np.float64).ravel()
    b = np.asarray(e2, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"embedding sizes differ: {a.shape} vs {b.shape}")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 0.0
    return float(np.clip(a @ b / (na * nb), -1.0, 1.0))


class BaseIdentityEncoder:
    """Shared behaviour: detect + align + embed, cosine, centred cosine, scores.

    Subclasses set ``name``, ``dim``, ``threshold``, ``calibrated_threshold``, ``template``,
    ``aligned_size`` and ``mean`` (a mean embedding or None) and implement ``embed_aligned``.
    """

    name: str = ""
    dim: int = 0
    threshold: float = 0.5
    calibrated_threshold: float = 0.5
    template: str = "ffhq"
    aligned_size: int = 512
    mean: np.ndarray | None = None
    models_dir: Path | None = None

    def __init__(self) -> None:
        self._lock = threading.RLock()

    @property
    def calibration(self) -> str:
        return "centred-cosine" if self.mean is not None else "none (calibrated = raw)"

    def align(self, img: np.ndarray, detection: FaceDetection) -> np.ndarray:
        """The face of ``detection`` aligned to this backend's template."""
        aligned, _ = align_face(
            img, detection.landmarks68, self.template, self.aligned_size, border="constant"
        )
        return aligned

    def detect(self, img: np.ndarray, box: tuple[float, float, float, float] | None = None) -> FaceDetection:
        return largest_face(img, box=box, models_dir=self.models_dir)

    def embed(self, img: np.ndarray, box: tuple[float, float, float, float] | None = None) -> np.ndarray:
        """Embedding of the largest face in ``img`` (or of the face in ``box``); raises NoFaceError."""
        rgb = to_rgb_uint8(img)
        return self.embed_detection(rgb, self.detect(rgb, box))

    def embed_detection(self, img: np.ndarray, detection: FaceDetection) -> np.ndarray:
        return self.embed_aligned(self.align(to_rgb_uint8(img), detection))

    def embed_aligned(self, face: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def similarity(self, e1: np.ndarray, e2: np.ndarray) -> float:
        return cosine(e1, e2)

    def calibrated_similarity(self, e1: np.ndarray, e2: np.ndarray) -> float:
        if self.mean is None:
            return cosine(e1, e2)
        return cosine(np.asarray(e1) - self.mean, np.asarray(e2) - self.mean)

    def score_embeddings(self, e1: np.ndarray, e2: np.ndarray) -> IdentityScore:
        return IdentityScore(
            raw=self.similarity(e1, e2),
            calibrated=self.calibrated_similarity(e1, e2),
            backend=self.name,
            calibration=self.calibration,
            threshold=self.calibrated_threshold,
        )

    def score(self, img_a: np.ndarray, img_b: np.ndarray) -> IdentityScore:
        """Compare the largest faces of two images."""
        return self.score_embeddings(self.embed(img_a), self.embed(img_b))


_registry: dict[str, Callable[[Path | None], IdentityEncoder]] = {}
_instances: dict[tuple[str, str], IdentityEncoder] = {}
_registry_lock = threading.Lock()


def register_identity_encoder(name: str, factory: Callable[[Path | None], IdentityEncoder]) -> None:
    """Make ``get_identity_encoder(name)`` build encoders with ``factory(models_dir)``."""
    _registry[name] = factory


def available_identity_encoders() -> tuple[str, ...]:
    _ensure_builtin()
    return tuple(_registry)


def _ensure_builtin() -> None:
    if "dlib-resnet" not in _registry:
        from .dlib_backend import DlibResNetEncoder

        register_identity_encoder("dlib-resnet", lambda models_dir: DlibResNetEncoder(models_dir))
    if "arcface" not in _registry:
        from .arcface_backend import ArcFaceEncoder

        register_identity_encoder("arcface", lambda models_dir: ArcFaceEncoder(models_dir))
    if "faceres" not in _registry:
        from .faceres import FaceResEncoder

        register_identity_encoder("faceres", lambda models_dir: FaceResEncoder(models_dir))


def get_identity_encoder(name: str = "dlib-resnet", models_dir: Path | None = None) -> IdentityEncoder:
    """The identity encoder ``name`` ('dlib-resnet', 'arcface', 'faceres'), loaded once per process+folder.

    Raises ``FaceModelError`` (naming the folder searched) when the backend's model files are missing,
    ``KeyError`` for an unknown name.
    """
    _ensure_builtin()
    if name not in _registry:
        raise KeyError(f"unknown identity backend {name!r}; available: {', '.join(_registry)}")
    key = (name, str(Path(models_dir).resolve()) if models_dir is not None else "")
    with _registry_lock:
        if key not in _instances:
            _instances[key] = _registry[name](Path(models_dir) if models_dir is not None else None)
        return _instances[key]


def clear_encoder_cache() -> None:
    with _registry_lock:
        _instances.clear()
