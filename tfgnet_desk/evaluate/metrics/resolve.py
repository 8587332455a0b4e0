"""Resolve the backbones of a run: reference weights when present, the tiny CLIP otherwise, else n/a.

Kept apart from the metric definitions so that the decision (which backbone, which label, which reason)
is in one place and is recorded in the run metadata.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfgnet_desk.evaluate.metrics import backbones as bb
from tfgnet_desk.evaluate.metrics.suite import MetricSuite

log = logging.getLogger("tfgnet_desk.evaluate")


def metric_roots(explicit: Path | None, models_dir: Path | None, model_folder: Path | None) -> list[Path]:
    """Folders searched for metric weights, in order: ``--metric-weights``, ``<models_dir>/metrics``,
    ``<model folder>/metrics``."""
    roots = [explicit] if explicit is not None else []
    if models_dir is not None:
        roots.append(Path(models_dir) / "metrics")
    if model_folder is not None:
        roots.append(Path(model_folder) / "metrics")
    return roots


def _where(roots: list[Path], sub: str) -> str:
    return " or ".join(str(r / sub) for r in roots) or "(no metric-weights folder given)"


def build_suite(
    roots: list[Path],
    tiny_clip: Callable[[], tuple[Any, Any] | None] | None = None,
    identity: list[str] | None = None,
    models_dir: Path | None = None,
    ssim_channel: str = "luminance",
    face_box: tuple[float, float, float, float] | None = None,
) -> MetricSuite:
    """A :class:`MetricSuite` with every backbone that can be had offline.

    ``tiny_clip``: a callable returning ``(image_encoder, text_encoder)`` of the evaluated model (or None);
    it is only called when the reference CLIP (or LPIPS/FID weights) are missing.
    ``identity``: backends to use; None means dlib-resnet, plus arcface when its pack is present.
    """
    suite = MetricSuite(ssim_channel=ssim_channel, face_box=face_box, models_dir=models_dir)
    _identity(suite, identity, models_dir)

    tiny_cache: dict[str, Any] = {}

    def tiny() -> tuple[Any, Any] | None:
        if "v" not in tiny_cache:
            try:
                tiny_cache["v"] = tiny_clip() if tiny_clip is not None else None
            except Exception as exc:  # noqa: BLE001 - a broken model folder leaves the metric n/a
                log.warning("tiny CLIP unavailable: %s", exc)
                tiny_cache["v"] = None
        return tiny_cache["v"]

    folder = bb.find_metric_weights(roots, bb.CLIP_DIR, ("config.json", "model.safetensors"))
    if folder is not None:
        suite.clip = bb.load_reference_clip(folder)
    elif (enc := tiny()) is not None:
        suite.clip = bb.tiny_clip_backbone(*enc)
    else:
        why = f"CLIP ViT-B/32 not found at {_where(roots, bb.CLIP_DIR)} and no tiny CLIP in the model folder"
        why += " (a faceres ID encoder is not one)"
        suite.missing["clip_i"] = suite.missing["clip_t"] = why

    folder = bb.find_metric_weights(roots, bb.DINO_DIR, ("config.json", "model.safetensors"))
    if folder is not None:
        suite.dino = bb.load_dino(folder)
    else:
        suite.missing["dino"] = (
            f"DINO ViT-S/16 weights not found at {_where(roots, bb.DINO_DIR)}; "
            "no stand-in (a tiny-CLIP DINO would repeat CLIP-I)"
        )

    folder = bb.find_metric_weights(roots, bb.LPIPS_DIR, bb.LPIPS_FILES)
    if folder is not None:
        suite.lpips = bb.load_lpips(folder)
    elif (enc := tiny()) is not None:
        suite.lpips = bb.tiny_clip_lpips(enc[0])
    else:
        suite.missing["lpips"] = f"LPIPS AlexNet weights not found at {_where(roots, bb.LPIPS_DIR)}"

    folder = bb.find_metric_weights(roots, bb.INCEPTION_DIR, (bb.INCEPTION_FILE,))
    if folder is not None:
        suite.fid = bb.load_inception(folder)
    elif suite.clip is not None and suite.clip.label == "tiny-CLIP":
        suite.fid = bb.tiny_clip_fid_features(suite.clip)
    elif (enc := tiny()) is not None:
        suite.fid = bb.tiny_clip_fid_features(bb.tiny_clip_backbone(*enc))
    else:
        suite.missing["fid"] = f"FID Inception weights not found at {_where(roots, bb.INCEPTION_DIR)}"
    return suite


def _identity(suite: MetricSuite, names: list[str] | None, models_dir: Path | None) -> None:
    from tfgnet_desk.faces.identity import get_identity_encoder

    wanted = names if names is not None else ["dlib-resnet", "arcface"]
    for name in wanted:
        try:
            suite.identity[name] = get_identity_encoder(name, models_dir)
        except Exception as exc:  # noqa: BLE001 - missing model pack: the column says why
            reason = f"{name} unavailable: {exc}"
            suite.missing[f"face_sim_{name}"] = reason
            if names is not None or name == "dlib-resnet":
                log.warning(reason)
