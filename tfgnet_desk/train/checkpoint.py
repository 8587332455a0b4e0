"""Atomic training checkpoints and stage exports.

A checkpoint is written to ``<name>.tmp`` and moved over ``<name>`` with ``os.replace`` (atomic on one
file system), so a crash or a kill while writing leaves the previous checkpoint intact. It holds the
model, optimiser and scheduler state, the step, the elapsed time and every RNG state (Python, NumPy,
torch CPU and CUDA). Loading uses ``torch.load(weights_only=True)``: no arbitrary unpickling.

Exports (what a later stage or the model assembly reads) are safetensors files, one per component.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_NAME = "checkpoint.pt"


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": list(random.getstate()[1]),
        "python_version": random.getstate()[0],
        "python_gauss": random.getstate()[2],
        "numpy": np.random.get_state()[1].tolist(),
        "numpy_pos": int(np.random.get_state()[2]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    np.random.set_state(("MT19937", np.array(state["numpy"], dtype=np.uint32), state["numpy_pos"], 0, 0.0))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_torch_save(obj: Any, path: Path) -> None:
    """Write ``obj`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def save_checkpoint(
    folder: Path,
    *,
    step: int,
    elapsed: float,
    cpu_seconds: float = 0.0,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    config: dict[str, Any],
) -> Path:
    path = Path(folder) / CHECKPOINT_NAME
    atomic_torch_save(
        {
            "step": step,
            "elapsed": elapsed,
            "cpu_seconds": cpu_seconds,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng_state(),
            "config": config,
        },
        path,
    )
    return path


def load_checkpoint(folder: Path) -> dict[str, Any] | None:
    path = Path(folder) / CHECKPOINT_NAME
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def save_component(module: torch.nn.Module, path: Path, dtype: torch.dtype | None = None) -> Path:
    """One component's weights as safetensors (atomic), optionally cast (fp16 for shipping)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {
        k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().contiguous().cpu()
        for k, v in module.state_dict().items()
    }
    tmp = path.with_name(path.name + ".tmp")
    save_file(sd, str(tmp))
    os.replace(tmp, path)
    return path


def load_component(module: torch.nn.Module, path: Path, strict: bool = True) -> torch.nn.Module:
    from safetensors.torch import load_file

    sd = load_file(str(path))
    ref = module.state_dict()
    sd = {k: v.to(ref[k].dtype) if k in ref else v for k, v in sd.items()}
    module.load_state_dict(sd, strict=strict)
    return module
