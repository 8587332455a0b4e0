"""Modules the bundle leaves out, shared by the PyInstaller spec and the test that checks the app runs
without them (``tests/test_package.py`` blocks these imports and runs the self-test).

transformers and diffusers import every model and pipeline under ``TYPE_CHECKING``, so PyInstaller's
analysis would walk ~560 transformers model packages and all diffusers pipelines (an hour on a small
machine, and a far larger bundle). The app needs CLIP, the auto tables, and whatever transformers models
diffusers' own modules import when the UNet, VAE and schedulers load (e.g. DINOv2 configs): those are
found by importing the app's model stack in a child process and keeping what it loaded.
"""

from __future__ import annotations

import importlib.util
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

ALWAYS_KEEP = ("clip", "auto")
FIXED = (
    "torchvision",
    "torchaudio",
    "diffusers.pipelines",
    "diffusers.modular_pipelines",
    "diffusers.commands",
    "diffusers.experimental",
    "transformers.pipelines",
    "transformers.commands",
    "transformers.onnx",
)
PROBE = """
import json, sys
from diffusers import AutoencoderKL, DDIMScheduler, DPMSolverMultistepScheduler, UNet2DConditionModel
from transformers import (CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer,
                          CLIPVisionConfig, CLIPVisionModelWithProjection)
import tfgnet_desk.model.tfgnet, tfgnet_desk.pipeline, tfgnet_desk.selftest
names = {m.split(".")[2] for m in sys.modules if m.startswith("transformers.models.") and m.count(".") >= 2}
print(json.dumps(sorted(names)))
"""


def transformers_model_packages() -> list[str]:
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        return []
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    return sorted(m.name for m in pkgutil.iter_modules([str(models)]) if m.ispkg)


def models_the_app_loads(python: str = sys.executable) -> list[str]:
    """transformers model packages imported when the app's model stack loads (run in a child process)."""
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, cwd=root, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"could not probe the app's imports: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def lazy_library_excludes(keep: list[str] | None = None) -> list[str]:
    """transformers model packages the app never loads, diffusers pipelines, the libraries' CLIs."""
    keep_set = set(ALWAYS_KEEP) | set(models_the_app_loads() if keep is None else keep)
    models = [f"transformers.models.{n}" for n in transformers_model_packages() if n not in keep_set]
    return [*FIXED, *models]
