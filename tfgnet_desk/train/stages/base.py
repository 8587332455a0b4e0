"""What every training stage provides to the loop (``loop.run_training``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tfgnet_desk.train.config import TrainConfig
from tfgnet_desk.train.data import Batch, FaceSource, to_uint8


class TrainStage(nn.Module):
    """A stage is an ``nn.Module`` holding the components it trains (and frozen ones it needs).

    ``forward(batch, rand) -> (loss, parts)`` so that DDP wraps it like any model; ``param_groups``
    names what the optimiser updates (with per-group learning rates: the stage-wise schedule);
    ``sample_grid`` renders a uint8 image of a fixed batch; ``export`` writes the trained components
    as safetensors for later stages and for the model assembly.
    """

    name = "base"

    def __init__(self, cfg: TrainConfig, source: FaceSource, out_root: Path) -> None:
        super().__init__()
        self.cfg = cfg
        self.out_root = Path(out_root)
        self.p: dict[str, Any] = dict(cfg.params)

    def init_path(self, component: str) -> Path | None:
        """Exported weights of ``component`` from an earlier stage (``cfg.init``), if configured: a path
        under the run folder, else under the working directory, or absolute."""
        rel = self.cfg.init.get(component)
        if not rel:
            return None
        path = Path(rel)
        if not path.is_absolute():
            # relative to the run folder (an earlier stage's export) or, failing that, to the working
            # directory (a shipped model's component, e.g. models/tiny/image_encoder/model.safetensors)
            path = self.out_root / path if (self.out_root / path).exists() or not path.exists() else path
        if not path.exists():
            raise FileNotFoundError(
                f"{self.name}: init weights for {component} not found at {path}; "
                f"train the earlier stage first or fix 'init' in the config"
            )
        return path

    def param_groups(self) -> list[dict[str, Any]]:
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]

    def sample_grid(self, batch: Batch) -> np.ndarray | None:
        return None

    def export(self, folder: Path) -> None:
        raise NotImplementedError


def image_grid(rows: list[torch.Tensor]) -> np.ndarray:
    """Rows of image batches (each (B, 3, H, W) in [-1, 1], same size) -> one uint8 grid, rows stacked."""
    lines = [np.concatenate(list(to_uint8(r)), axis=1) for r in rows]
    return np.concatenate(lines, axis=0)
