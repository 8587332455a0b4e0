"""The tiny profile's ID encoder on a pretrained face-identity backbone (faceres) instead of a small CLIP.

The paper (3.3) embeds each ID image with CLIP's image encoder; the full profile does, with CLIP ViT-L/14
as PhotoMaker ships it. The tiny profile cannot have a useful CLIP image tower: trained from scratch on
this project's 17k faces, its embedding told two people apart with ROC AUC 0.69 on the val pool, and
distillation from faceres reached 0.75 at the CPU budget (models/tiny/MODEL_CARD.md). A network trained
for identity on VGGFace2 does what the paper asks of the ID image embedding, so this module puts one
under the same interface, as ID-conditioned diffusion models such as InstantID do with ArcFace:

    ID image (training frame, [-1, 1]) -> similarity warp onto faceres's ArcFace crop at 224 px (fixed,
    from the frame's eye positions) -> faceres 1024-d identity features (frozen) -> minus ``centre``
    (the mean feature of training ID images) -> unit length -> ``visual_projection`` (1024 -> 128,
    initialised with the principal axes of the centred training features, trainable)

``forward`` returns ``(pooled, image_embeds)`` like CLIP's vision tower with projection: ``pooled`` is
the unit centred 1024-d feature, ``image_embeds`` what the fusion MLP reads. On the val pool (371 CelebA
faces, 150 identities) the projected embedding separates identities with AUC 0.949 clean vs clean and
0.926 A.1-degraded vs clean (scripts/encoder_auc.py).

The backbone's topology is the shipped ``models/faceres/graph.json`` (its sha256 is checked against the
config); its weights are part of this component's state dict, so a model folder stays self-contained and
manifest-verified. faceres also serves the evaluation (its identity column and attribute probes): for a
model with this encoder those faceres figures measure a network the model contains, and dlib stays the
Face Sim of record.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

BACKBONE = "faceres"
IDENTITY_OUTPUT = "global_pooling/Mean"


@dataclass(frozen=True)
class FaceResIDConfig:
    """What :class:`FaceResIDEncoder` is built from (``clip.vision`` of the model's config.json)."""

    backbone: str = BACKBONE
    image_size: int = 224  # the side faceres sees
    hidden_size: int = 1024  # faceres identity features (``pooled``)
    projection_dim: int = 128  # ``image_embeds``
    graph_sha256: str = ""  # of the backbone's graph.json ("" = not checked)

    def to_dict(self) -> dict[str, Any]:
        return {"_class_name": "FaceResIDEncoder", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FaceResIDConfig:
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in keys})


def is_faceres_spec(vision: dict[str, Any]) -> bool:
    """True when a ``clip.vision`` dict describes this encoder rather than a CLIP vision tower."""
    return vision.get("backbone") == BACKBONE


def faceres_vision_spec(projection_dim: int = 128) -> dict[str, Any]:
    """The ``clip.vision`` entry of a model config that uses this encoder (with the shipped graph's hash)."""
    from tfgnet_desk.faces.faceres import faceres_dir
    from tfgnet_desk.model_folders.manifest import sha256_file

    cfg = FaceResIDConfig(
        projection_dim=projection_dim, graph_sha256=sha256_file(faceres_dir() / "graph.json")
    )
    return {k: v for k, v in cfg.to_dict().items() if not k.startswith("_")}


def _build_graph(config: FaceResIDConfig):
    """The backbone from the shipped folder, its topology checked against ``config.graph_sha256``."""
    from safetensors.numpy import load_file

    from tfgnet_desk.faces.faceres import faceres_dir
    from tfgnet_desk.faces.models import FaceModelError
    from tfgnet_desk.faces.tfjs_graph import TFJSGraph
    from tfgnet_desk.model_folders.manifest import sha256_file

    folder = faceres_dir()
    graph_file = folder / "graph.json"
    if not graph_file.is_file():
        raise FaceModelError(f"the ID encoder needs the faceres network, not found in {folder}")
    if config.graph_sha256 and sha256_file(graph_file) != config.graph_sha256:
        raise FaceModelError(
            f"{graph_file} is not the faceres graph this model was built with (sha256 differs from "
            f"{config.graph_sha256[:12]}...)"
        )
    spec = json.loads(graph_file.read_text(encoding="utf-8"))
    weights = load_file(str(folder / "model.safetensors"))
    graph = TFJSGraph(spec["nodes"], weights, spec["inputs"], [IDENTITY_OUTPUT])
    graph.requires_grad_(False)
    return graph.eval()


class FaceResIDEncoder(nn.Module):
    """faceres identity features -> centred, unit -> linear projection; see the module docstring."""

    def __init__(self, config: FaceResIDConfig) -> None:
        super().__init__()
        from tfgnet_desk.model.face_teacher import crop_to_arcface_theta

        self.config = config
        self.backbone = _build_graph(config)
        self.register_buffer("centre", torch.zeros(config.hidden_size))
        self.register_buffer("theta", crop_to_arcface_theta(), persistent=False)
        self.visual_projection = nn.Linear(config.hidden_size, config.projection_dim, bias=False)

    def train(self, mode: bool = True) -> FaceResIDEncoder:
        """The backbone always stays in eval mode (and frozen); only the projection can train."""
        super().train(mode)
        self.backbone.eval()
        return self

    def requires_grad_(self, requires_grad: bool = True) -> FaceResIDEncoder:
        super().requires_grad_(requires_grad)
        self.backbone.requires_grad_(False)
        return self

    def features(self, images: Tensor) -> Tensor:
        """Raw faceres identity features (N, 1024) of training-frame images (N, 3, H, W) in [-1, 1]."""
        from tfgnet_desk.model.face_teacher import warp_to_arcface

        aligned = warp_to_arcface(
            images.to(self.theta.device, torch.float32), self.theta, self.config.image_size
        )
        nhwc = (aligned * 255.0).permute(0, 2, 3, 1).to(self.visual_projection.weight.dtype)
        return self.backbone(nhwc)[IDENTITY_OUTPUT]

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``(pooled (N, 1024), image_embeds (N, projection_dim))`` of ID images in [-1, 1]."""
        pooled = F.normalize(
            self.features(images) - self.centre.to(self.visual_projection.weight.dtype), dim=-1
        )
        return pooled, self.visual_projection(pooled)

    @torch.no_grad()
    def fit(self, features: np.ndarray) -> dict[str, float]:
        """Set ``centre`` and ``visual_projection`` from raw features (N, 1024) of training ID images.

        The projection is the top principal axes of the centred, unit features, scaled so that an
        embedding's mean squared length is ``projection_dim`` (unit variance per coordinate, the scale
        the fusion MLP's LayerNorm expects). Returns the fraction of variance the axes keep.
        """
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.config.hidden_size or len(x) < self.config.projection_dim:
            raise ValueError(
                f"fit needs at least {self.config.projection_dim} feature rows of width "
                f"{self.config.hidden_size}, got {x.shape}"
            )
        centre = x.mean(0)
        u = x - centre
        u /= np.linalg.norm(u, axis=1, keepdims=True).clip(1e-8)
        mu = u.mean(0)
        _, s, vt = np.linalg.svd(u - mu, full_matrices=False)
        k = self.config.projection_dim
        axes = vt[:k]
        z = u @ axes.T
        scale = np.sqrt(k / np.mean(np.sum(z**2, axis=1)))
        self.centre.copy_(torch.from_numpy(centre).to(self.centre.dtype))
        weight = torch.from_numpy(axes * scale).to(self.visual_projection.weight.dtype)
        self.visual_projection.weight.copy_(weight)
        return {"variance_kept": float((s[:k] ** 2).sum() / (s**2).sum()), "scale": float(scale)}
