"""Attribute probes: logistic regressions on frozen faceres features, the project's "does the face show
what the description says" ruler.

The paper measures text adherence with CLIP-T; this project's only CLIP is its own tiny one, trained on
the same captions it would grade. Probes on a pretrained face network that never saw the captions are an
independent ruler. One probe per attribute the captions use, trained by
``python -m tfgnet_desk.faces.fit_faceres`` on CelebA **train-pool** identities (labels from
``list_attr_celeba.txt``), with each probe's validation AUC (val pool, disjoint identities) stored beside
the weights and reported in docs/identity.md.

Stored as ``models/faceres/probes.safetensors`` (``weight`` (A, 1024), ``bias`` (A,), ``feature_mean`` and
``feature_std`` (1024,)) and ``probes.json`` (attribute order, CelebA source labels, val AUCs, counts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PROBES_FILE = "probes.safetensors"
PROBES_META = "probes.json"

# probe name -> how it is read from CelebA's 40 attributes (name, value meaning "present")
PROBE_SOURCES: dict[str, tuple[str, bool]] = {
    "eyeglasses": ("Eyeglasses", True),
    "beard": ("No_Beard", False),
    "mustache": ("Mustache", True),
    "smiling": ("Smiling", True),
    "black_hair": ("Black_Hair", True),
    "blond_hair": ("Blond_Hair", True),
    "brown_hair": ("Brown_Hair", True),
    "gray_hair": ("Gray_Hair", True),
    "bald": ("Bald", True),
    "hat": ("Wearing_Hat", True),
    "young": ("Young", True),
    "male": ("Male", True),
}
PROBE_ATTRIBUTES: tuple[str, ...] = tuple(PROBE_SOURCES)


def probe_labels(attrs: dict[str, bool]) -> dict[str, bool]:
    """A CelebA record's attribute dict -> the probe targets."""
    return {name: bool(attrs[src]) == present for name, (src, present) in PROBE_SOURCES.items()}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


@dataclass
class AttributeProbes:
    """Linear probes: P(attribute present | faceres features) for each of ``attributes``."""

    attributes: tuple[str, ...]
    weight: np.ndarray  # (A, D)
    bias: np.ndarray  # (A,)
    feature_mean: np.ndarray  # (D,)
    feature_std: np.ndarray  # (D,)
    val_auc: dict[str, float] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def predict(self, identity: np.ndarray) -> dict[str, np.ndarray]:
        """(N, D) faceres features -> {attribute: (N,) probability present}."""
        x = np.asarray(identity, dtype=np.float64).reshape(-1, self.weight.shape[1]) - self.feature_mean
        x = x / self.feature_std
        p = _sigmoid(x @ self.weight.T.astype(np.float64) + self.bias)
        return {a: p[:, i].astype(np.float32) for i, a in enumerate(self.attributes)}

    def logits_torch(self, identity):
        """Differentiable logits (N, A) for torch features (training signals, guidance)."""
        import torch

        mean = torch.as_tensor(self.feature_mean, dtype=identity.dtype, device=identity.device)
        std = torch.as_tensor(self.feature_std, dtype=identity.dtype, device=identity.device)
        w = torch.as_tensor(self.weight, dtype=identity.dtype, device=identity.device)
        b = torch.as_tensor(self.bias, dtype=identity.dtype, device=identity.device)
        return ((identity - mean) / std) @ w.T + b

    def save(self, folder: Path) -> None:
        from safetensors.numpy import save_file

        folder = Path(folder)
        save_file(
            {
                "weight": self.weight.astype(np.float32),
                "bias": self.bias.astype(np.float32),
                "feature_mean": self.feature_mean.astype(np.float32),
                "feature_std": self.feature_std.astype(np.float32),
            },
            str(folder / PROBES_FILE),
        )
        meta = {**self.meta, "attributes": list(self.attributes), "val_auc": self.val_auc}
        meta["sources"] = {a: list(PROBE_SOURCES[a]) for a in self.attributes if a in PROBE_SOURCES}
        (folder / PROBES_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path | None = None) -> AttributeProbes:
        """The probes shipped with ``models/faceres`` (or in ``folder``)."""
        from safetensors.numpy import load_file

        from .faceres import faceres_dir
        from .models import FaceModelError

        folder = Path(folder) if folder is not None else faceres_dir()
        if not (folder / PROBES_FILE).is_file():
            raise FaceModelError(
                f"attribute probes not found in {folder}; "
                "fit them with python -m tfgnet_desk.faces.fit_faceres"
            )
        t = load_file(str(folder / PROBES_FILE))
        meta = json.loads((folder / PROBES_META).read_text(encoding="utf-8"))
        return cls(
            attributes=tuple(meta["attributes"]),
            weight=t["weight"],
            bias=t["bias"],
            feature_mean=t["feature_mean"],
            feature_std=t["feature_std"],
            val_auc={k: float(v) for k, v in meta.get("val_auc", {}).items()},
            meta=meta,
        )


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 300, balanced: bool = True
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression on standardised features by Newton-free L-BFGS (torch).

    ``balanced`` weights the two classes equally (rare attributes such as bald or hat would otherwise
    be predicted absent everywhere). Returns (weight (D,), bias).
    """
    import torch

    xt = torch.as_tensor(x, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.float64)
    pos = float(yt.mean())
    if balanced and 0 < pos < 1:
        sw = torch.where(yt > 0.5, 0.5 / pos, 0.5 / (1 - pos))
    else:
        sw = torch.ones_like(yt)
    w = torch.zeros(xt.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        z = xt @ w + b
        loss = (sw * torch.nn.functional.binary_cross_entropy_with_logits(z, yt, reduction="none")).mean()
        loss = loss + l2 * (w * w).sum() / 2
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), float(b.detach())
