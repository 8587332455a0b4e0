"""Optional identity backend: an insightface ArcFace recognition network from a model pack.

Layout (nothing is ever downloaded; the user copies an unpacked pack into the model folder)::

    <models_dir>/insightface/models/buffalo_l/   w600k_r50.onnx (recognition), det_10g.onnx, ...
    <models_dir>/insightface/models/antelopev2/  glintr100.onnx (recognition), scrfd_10g_bnkps.onnx, ...

This is the folder ``insightface.app.FaceAnalysis(name=<pack>, root=<models_dir>/insightface)`` reads.
Packs are tried in the order of ``PACKS``. Inside a pack the recognition network is the known file name
(``RECOGNITION_FILES``) or else the one ``.onnx`` with a square 112..N input and one output (what
insightface's model router calls recognition). It is loaded with ``insightface.model_zoo.get_model`` on
the file path (never a pack name, which could trigger a download) after this module has checked that the
file exists. Detection and landmarks come from dlib (``detect.py``), so that both backends see the same
faces; the 5 points are mapped onto insightface's ArcFace template at the network's input size.

ArcFace cosines already put unrelated people near 0, so ``calibrated == raw`` here (the score says so).
The decision threshold 0.36 is insightface's customary verification threshold for these packs, not a
figure measured in this project (no pack is shipped or available here); see docs/identity.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .identity import BaseIdentityEncoder
from .landmarks import to_rgb_uint8
from .models import FaceModelError, inference_lock

PACKS = ("buffalo_l", "antelopev2")
RECOGNITION_FILES = {"buffalo_l": "w600k_r50.onnx", "antelopev2": "glintr100.onnx"}
ARCFACE_THRESHOLD = 0.36


def packs_dir(models_dir: Path | None) -> Path:
    """Where packs are looked for: ``<models_dir>/insightface/models``."""
    if models_dir is None:
        from ..settings import default_models_dir

        models_dir = default_models_dir()
    return Path(models_dir) / "insightface" / "models"


def _is_recognition_onnx(path: Path) -> bool:
    """insightface's routing rule for recognition, read from the graph without starting a session."""
    import onnx

    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - any unreadable file is simply not a candidate
        return False
    graph = model.graph
    inputs = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    if len(inputs) != 1 or len(graph.output) != 1:
        return False
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    return len(dims) == 4 and dims[2] == dims[3] and dims[2] >= 112 and dims[2] % 16 == 0


def find_recognition_model(models_dir: Path | None) -> tuple[str, Path]:
    """(pack name, recognition .onnx path); raises FaceModelError naming the folder searched."""
    root = packs_dir(models_dir)
    for pack in PACKS:
        folder = root / pack
        if not folder.is_dir():
            continue
        known = folder / RECOGNITION_FILES[pack]
        if known.is_file():
            return pack, known
        for candidate in sorted(folder.glob("*.onnx")):
            if _is_recognition_onnx(candidate):
                return pack, candidate
    raise FaceModelError(
        f"no insightface model pack with a recognition network found in {root} "
        f"(looked for {', '.join(f'{p}/' for p in PACKS)}). Unpack buffalo_l or antelopev2 there, e.g. "
        f"{root / 'buffalo_l' / RECOGNITION_FILES['buffalo_l']}; nothing is downloaded automatically."
    )


class ArcFaceEncoder(BaseIdentityEncoder):
    """insightface ArcFace embedding (512-d for buffalo_l / antelopev2)."""

    name = "arcface"
    threshold = ARCFACE_THRESHOLD
    calibrated_threshold = ARCFACE_THRESHOLD
    template = "arcface"

    def __init__(self, models_dir: Path | None = None) -> None:
        super().__init__()
        self.models_dir = models_dir
        self.pack, self.model_file = find_recognition_model(models_dir)
        from insightface.model_zoo import model_zoo

        try:
            model = model_zoo.get_model(str(self.model_file), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises many types for a bad file
            raise FaceModelError(f"could not load ArcFace network {self.model_file}: {exc}") from exc
        if model is None or getattr(model, "taskname", None) != "recognition":
            raise FaceModelError(f"{self.model_file} is not a recognition network (insightface routing)")
        model.prepare(-1)
        self._model = model
        self.aligned_size = int(model.input_size[0])
        out_shape = model.output_shape
        self.dim = int(out_shape[-1]) if isinstance(out_shape[-1], int) else 0
        self.mean = None

    def embed_aligned(self, face: np.ndarray) -> np.ndarray:
        """Embedding of a face aligned to the ArcFace template at the network's input size."""
        rgb = to_rgb_uint8(face)
        with inference_lock:
            feat = self._model.get_feat(np.ascontiguousarray(rgb[:, :, ::-1]))  # insightface takes BGR
        out = np.asarray(feat, dtype=np.float32).ravel()
        if not self.dim:
            self.dim = int(out.size)
        return out
