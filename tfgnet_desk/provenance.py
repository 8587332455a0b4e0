"""A run's provenance: everything needed to repeat a generation and to check what it produced.

``build_provenance`` is ``TFGNetPipeline.provenance``'s record: the resolved request (every parameter
and the hashes of its input images), the seeds, how each evidence face was found, the conditioning, the
model's folder and manifest hash, the identity backend, the hash of every output, the scores, library
versions, device, threads, machine and timings. Every image hash is :func:`hashing.pixel_sha256`, named
in the record (``image_hash``), the hash the case store, the PNG chunk, the report and bundles hold.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from tfgnet_desk.hashing import IMAGE_HASH, pixel_sha256

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.framing import PreparedFace
    from tfgnet_desk.model.tfgnet import TFGNet
    from tfgnet_desk.pipeline import Candidate
    from tfgnet_desk.request import GenerationRequest


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries that decide a run's pixels."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("torch", "diffusers", "transformers", "safetensors", "numpy", "dlib-bin", "opencv-python"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    from tfgnet_desk import __version__

    out["tfgnet-desk"] = __version__
    return out


def request_record(req: GenerationRequest, sampler: str) -> dict[str, Any]:
    """The resolved request as the provenance records it, with the hashes of its input images."""
    return {
        "prompt": req.prompt,
        "n_candidates": req.n_candidates,
        "seed": req.seed,
        "steps": req.steps,
        "guidance": req.guidance,
        "strength": req.strength,
        "sampler": req.sampler or sampler,
        "restore_fusion": req.restore_fusion,
        "candidate_fusion": req.candidate_fusion,
        "fidelity": req.fidelity,
        "identity_guidance": req.identity_guidance,
        "face_boxes": [list(b) if b is not None else None for b in (req.face_boxes or [])] or None,
        "evidence_sha256": [pixel_sha256(x) for x in req.images],
        "reference_sha256": None if req.reference is None else pixel_sha256(req.reference),
    }


def build_provenance(
    model: TFGNet,
    req: GenerationRequest,
    *,
    seeds: Sequence[int],
    prepared: Sequence[PreparedFace],
    conditioning: Mapping[str, Any],
    identity: Any,
    candidates: Sequence[Candidate],
    notes: Sequence[str],
    timings: Mapping[str, float],
) -> dict[str, Any]:
    """The provenance record of one run of ``model`` on the resolved request ``req`` (see the module)."""
    import torch

    return {
        "request": request_record(req, model.config.generator.sampler),
        "seeds": list(seeds),
        "id_background_noise_seed": req.seed if model.config.id_image_noise else None,
        "unconditional": "zeros (SDXL force_zeros_for_empty_prompt)",
        "faces": [{"method": f.method, "box": list(f.box) if f.box else None} for f in prepared],
        "conditioning": conditioning,
        "model": {
            "folder": str(model.folder) if model.folder else None,
            "manifest_hash": model.manifest_hash,
            "profile": model.config.profile,
            "image_size": model.config.image_size,
            "face_frame": model.config.face_frame,
        },
        "identity": None
        if identity is None
        else {"backend": identity.name, "calibration": identity.calibration, "evidence_image": 0},
        "notes": notes,
        "outputs": [{"index": c.index, "seed": c.seed, "sha256": pixel_sha256(c.image)} for c in candidates],
        "image_hash": IMAGE_HASH,
        "scores": [{k: asdict(v) for k, v in c.scores.items()} for c in candidates],
        "libraries": library_versions(),
        "device": str(model.device),
        "dtype": str(model.dtype).replace("torch.", ""),
        "threads": torch.get_num_threads(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
        },
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
