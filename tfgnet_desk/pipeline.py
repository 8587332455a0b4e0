"""``TFGNetPipeline``: evidence crop(s) + description -> scored candidate faces, with provenance.

Stages (ProgressEvent.stage): ``restore`` (detect/align each evidence crop, transformer restorer),
``embed`` (identity mask, CLIP image embedding of the restored face with its background filled with
noise, prompt embedding, fusion into the stacked ID embedding), ``generate`` (latent diffusion, one
seed per candidate) and ``score`` (identity encoder, ``run_scoring.py``: each candidate against the
face in the evidence crop and the optional reference photo, the restored face against the evidence too;
never against the model's own restored face, which would be circular).

Forensic requirements met here: every random choice is a recorded seed (candidate i uses seed + i; the
CLIP background noise uses ``seed``); on CPU the same request gives byte-identical candidates; the
provenance holds every parameter, the model's manifest hash, library versions, the device and timings.
The models are loaded once (``from_pretrained``) and reused across calls; calls are serialised by a lock.
"""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tfgnet_desk.evidence_fusion import default_sigmas, lowfreq_fusion
from tfgnet_desk.hashing import IMAGE_HASH, pixel_sha256
from tfgnet_desk.model import Cancelled
from tfgnet_desk.request import RECORD_VERSION, GenerationRequest
from tfgnet_desk.run_scoring import RunScorer

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from tfgnet_desk.faces import FaceDetection, IdentityScore
    from tfgnet_desk.model.tfgnet import TFGNet
    from tfgnet_desk.settings import Settings

__all__ = [
    "RECORD_VERSION",
    "Cancelled",
    "Candidate",
    "GenerationRequest",
    "GenerationResult",
    "ProgressEvent",
    "TFGNetPipeline",
]

STAGES = ("restore", "embed", "generate", "score")
# Training-crop frame of data/crops.py (UTKFace's own framing), as fractions of the side: left eye,
# right eye and mouth centres. Tiny-profile models are trained on faces framed like this.
CROP_FRAME_POINTS = np.array([[0.2950, 0.3000], [0.6875, 0.2995], [0.4915, 0.7060]])


@dataclass
class Candidate:
    index: int
    seed: int
    image: np.ndarray  # RGB uint8, image_size x image_size
    # "evidence" (the face of evidence image 0) and "reference" (when given); see score_labels.py
    scores: dict[str, IdentityScore] = field(default_factory=dict)


@dataclass
class GenerationResult:
    candidates: list[Candidate]
    restored: list[np.ndarray]  # restored face per evidence image
    mask: np.ndarray  # identity-region mask used for the ID images (float32 (H, W) in [0, 1])
    provenance: dict[str, Any]
    # per restored face: {"evidence": score of restored[i] against the face of evidence image i}
    restored_scores: list[dict[str, IdentityScore]] = field(default_factory=list)


@dataclass(frozen=True)
class ProgressEvent:
    stage: str  # restore | embed | generate | score
    step: int
    total: int


@dataclass
class PreparedFace:
    """An evidence face framed for the restorer, with where it came from."""

    lq: np.ndarray  # framed LQ face, restorer size
    landmarks68: np.ndarray | None  # in the framed image's coordinates
    method: str  # detector / fallback that found it
    box: tuple[int, int, int, int] | None
    detection: FaceDetection | None = None  # in the evidence image's coordinates; None: no face found


def library_versions() -> dict[str, str]:
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


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> (1, 3, H, W) float in [-1, 1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (1, 3, H, W) in [-1, 1] -> RGB uint8 (H, W, 3)."""
    import torch

    if x.dim() == 4:
        x = x[0]
    y = ((x.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return np.ascontiguousarray(y.permute(1, 2, 0).numpy())


def _warp(img: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    from tfgnet_desk.imaging import import_cv2

    cv2 = import_cv2()
    return cv2.warpAffine(
        np.ascontiguousarray(img),
        matrix,
        (size, size),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REFLECT_101,
    )


def prepare_face(
    img: np.ndarray, size: int, frame: str, box: tuple[int, int, int, int] | None = None, models_dir=None
) -> PreparedFace:
    """Detect (or fit landmarks in ``box``), then frame the face as the model was trained.

    ``frame`` is "crop" (data/crops.py's training crops: eyes and mouth at fixed places) or "ffhq".
    When no face is found at all, the centred square of the image is used (method "whole-image").
    """
    from tfgnet_desk import faces
    from tfgnet_desk.imaging import resize

    dets = faces.detect_faces(img, box=box, models_dir=models_dir)
    if not dets:
        h, w = img.shape[:2]
        s = min(h, w)
        y0, x0 = (h - s) // 2, (w - s) // 2
        return PreparedFace(
            resize(img[y0 : y0 + s, x0 : x0 + s], size), None, "whole-image", (x0, y0, x0 + s, y0 + s)
        )
    det = dets[0]
    l68 = np.asarray(det.landmarks68, dtype=np.float64)
    if frame == "ffhq":
        framed, matrix = faces.align_face(img, l68, "ffhq", size)
    else:
        src = np.stack([l68[36:42].mean(0), l68[42:48].mean(0), l68[48:68].mean(0)])
        matrix = faces.similarity_transform(src, CROP_FRAME_POINTS * size)
        scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
        if scale < 0.5:  # large photo: shrink with area averaging first so that it does not alias
            f = min(1.0, 2.0 * scale)
            small = resize(img, (max(1, round(img.shape[1] * f)), max(1, round(img.shape[0] * f))))
            framed = _warp(small, matrix @ np.diag([1 / f, 1 / f, 1.0]), size)
        else:
            framed = _warp(img, matrix, size)
    return PreparedFace(framed, faces.transform_points(l68, matrix), det.method, tuple(det.box), det)


class TFGNetPipeline:
    """Loaded once, called many times: ``pipeline(request, progress=, cancel=, on_candidate=)``."""

    def __init__(
        self, model: TFGNet, settings: Settings | None = None, identity_encoder: Any = "auto"
    ) -> None:
        self.model = model.eval()
        self.settings = settings
        self._identity = identity_encoder
        self._identity_error = None if identity_encoder is not None else "no identity encoder chosen"
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(
        cls,
        folder: Path | str | None = None,
        settings: Settings | None = None,
        device: str | None = None,
        dtype: Any = None,
        identity_encoder: Any = "auto",
    ) -> TFGNetPipeline:
        """Load a verified model folder (``settings.model_path()`` by default); never downloads.

        ``identity_encoder``: "auto" (the settings' backend, loaded on first use), an encoder object, or
        None for no scoring.
        """
        import torch

        from tfgnet_desk.model.tfgnet import TFGNet

        if folder is None:
            if settings is None:
                raise ValueError("give a model folder or settings")
            folder = settings.model_path()
        if device is None:
            device = settings.resolved_device() if settings is not None else "cpu"
        if dtype is None:
            dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
        if settings is not None and settings.threads:
            torch.set_num_threads(settings.threads)
        return cls(TFGNet.from_pretrained(folder, device=device, dtype=dtype), settings, identity_encoder)

    # -------------------------------------------------------------------------------- identity
    def identity_encoder(self):
        """The settings' identity backend (dlib-resnet by default); None with a recorded reason if absent."""
        if self._identity == "auto":
            from tfgnet_desk import faces

            name = self.settings.identity_backend if self.settings is not None else "dlib-resnet"
            models_dir = self.settings.models_dir if self.settings is not None else None
            try:
                self._identity = faces.get_identity_encoder(name, models_dir)
            except (faces.FaceModelError, KeyError, OSError, RuntimeError) as exc:
                self._identity, self._identity_error = None, f"{name}: {exc}"
        return self._identity

    def resolve_defaults(self, req: GenerationRequest) -> GenerationRequest:
        """``req`` with unset fusion sigmas, identity guidance and fidelity replaced by the profile's and
        the model's defaults (recorded as used)."""
        from tfgnet_desk.model.id_guidance import default_scale

        rs, cs = default_sigmas(self.model.config.profile)
        ig = default_scale(self.model.config.profile)
        return replace(
            req,
            identity_guidance=float(ig if req.identity_guidance is None else req.identity_guidance),
            restore_fusion=float(rs if req.restore_fusion is None else req.restore_fusion),
            candidate_fusion=float(cs if req.candidate_fusion is None else req.candidate_fusion),
            fidelity=float(self.model.config.fidelity if req.fidelity is None else req.fidelity),
        )

    # -------------------------------------------------------------------------------------- call
    def __call__(
        self,
        request: GenerationRequest,
        progress: Callable[[ProgressEvent], None] | None = None,
        cancel: threading.Event | None = None,
        on_candidate: Callable[[Candidate], None] | None = None,
    ) -> GenerationResult:
        request.validate()
        with self._lock:
            return self._run(request, progress, cancel, on_candidate)

    def _run(self, req: GenerationRequest, progress, cancel, on_candidate) -> GenerationResult:
        import torch

        from tfgnet_desk import faces
        from tfgnet_desk.model.id_guidance import build_identity_guide

        def report(stage: str, step: int, total: int) -> None:
            if progress is not None:
                progress(ProgressEvent(stage, step, total))

        def check() -> None:
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")

        model, cfg = self.model, self.model.config
        models_dir = self.settings.models_dir if self.settings is not None else None
        timings: dict[str, float] = {}
        t_all = time.perf_counter()
        model.class_token_index(model.tokenize([req.prompt])[0], [req.prompt])  # fail early: no class word
        req = self.resolve_defaults(req)

        # -- restore -------------------------------------------------------------------------------
        t0 = time.perf_counter()
        size = cfg.restorer.img_size
        prepared, restored, masks = [], [], []
        boxes = req.face_boxes or [None] * len(req.images)
        report("restore", 0, len(req.images))
        with torch.no_grad():
            for i, (img, box) in enumerate(zip(req.images, boxes, strict=True)):
                check()
                face = prepare_face(np.asarray(img), size, cfg.face_frame, box, models_dir)
                out = model.restorer.restore(to_tensor(face.lq).to(model.device, model.dtype), w=req.fidelity)
                rest = lowfreq_fusion(to_uint8(out), face.lq, req.restore_fusion)
                if face.landmarks68 is not None:
                    mask = faces.identity_mask(face.landmarks68, rest.shape[:2], soft=False)
                else:
                    mask = faces.ellipse_mask(rest.shape[:2], soft=False)
                prepared.append(face)
                restored.append(rest)
                masks.append(np.asarray(mask, dtype=np.float32))
                report("restore", i + 1, len(req.images))
        timings["restore"] = time.perf_counter() - t0

        # -- embed ----------------------------------------------------------------------------------
        check()
        t0 = time.perf_counter()
        report("embed", 0, 1)
        noise_rng = np.random.default_rng(req.seed)
        id_inputs = [
            faces.fill_background_noise(r, m, noise_rng) if cfg.id_image_noise else r
            for r, m in zip(restored, masks, strict=True)
        ]
        with torch.no_grad():
            id_images = torch.cat([to_tensor(x) for x in id_inputs]).to(model.device, model.dtype)
            cond, cond_info = model.condition(req.prompt, id_images)
        report("embed", 1, 1)
        timings["embed"] = time.perf_counter() - t0

        # -- generate + score (each candidate scored as soon as it is decoded) -------------------------
        enc = self.identity_encoder()
        t0 = time.perf_counter()
        scorer = RunScorer(enc)  # against the evidence (and the reference photo), never the restored face
        scorer.prepare(req.images, prepared, restored, req.reference)
        t_score, t_score_in_generate = time.perf_counter() - t0, 0.0
        seeds = [req.seed + i for i in range(req.n_candidates)]
        candidates: list[Candidate] = []

        def on_image(i: int, image: torch.Tensor) -> None:
            nonlocal t_score_in_generate
            t0 = time.perf_counter()
            pixels = lowfreq_fusion(to_uint8(image), restored[0], req.candidate_fusion)
            cand = Candidate(index=i, seed=seeds[i], image=pixels)
            scorer.score(cand)
            candidates.append(cand)
            t_score_in_generate += time.perf_counter() - t0
            report("score", len(candidates), req.n_candidates)
            if on_candidate is not None:
                on_candidate(cand)

        t0 = time.perf_counter()
        init = to_tensor(restored[0]).to(model.device, model.dtype) if req.strength < 1.0 else None
        refs = torch.cat([to_tensor(r) for r in restored]).to(model.device, model.dtype)
        guide = build_identity_guide(model, refs, req.identity_guidance)
        model.generator.sample(
            cond,
            seeds,
            steps=req.steps,
            guidance=req.guidance,
            strength=req.strength,
            image_size=cfg.image_size,
            init_image=init,
            sampler=req.sampler,
            callback=lambda done, total: report("generate", done, total),
            cancel=cancel,
            on_image=on_image,
            # one candidate after another: each is decoded, scored and handed on (the window stores it)
            # as soon as it is done, so a cancel keeps the finished ones, and progress reads
            # "candidate k of n, step s of S"
            batch_size=1,
            guide=guide,
        )
        timings["generate"] = time.perf_counter() - t0 - t_score_in_generate
        timings["score"] = t_score + t_score_in_generate
        timings["total"] = time.perf_counter() - t_all

        notes = scorer.close(req.reference is not None, self._identity_error)
        provenance = self._provenance(req, seeds, prepared, cond_info, enc, timings, candidates, notes)
        provenance["restored_scores"] = [{k: asdict(v) for k, v in s.items()} for s in scorer.restored_scores]
        return GenerationResult(
            candidates=candidates,
            restored=restored,
            mask=masks[0],
            provenance=provenance,
            restored_scores=scorer.restored_scores,
        )

    def _provenance(self, req, seeds, prepared, cond_info, enc, timings, candidates, notes) -> dict[str, Any]:
        import torch

        model = self.model
        return {
            "request": {
                "prompt": req.prompt,
                "n_candidates": req.n_candidates,
                "seed": req.seed,
                "steps": req.steps,
                "guidance": req.guidance,
                "strength": req.strength,
                "sampler": req.sampler or model.config.generator.sampler,
                "restore_fusion": req.restore_fusion,
                "candidate_fusion": req.candidate_fusion,
                "fidelity": req.fidelity,
                "identity_guidance": req.identity_guidance,
                "face_boxes": [list(b) if b is not None else None for b in (req.face_boxes or [])] or None,
                "evidence_sha256": [pixel_sha256(x) for x in req.images],
                "reference_sha256": None if req.reference is None else pixel_sha256(req.reference),
            },
            "seeds": seeds,
            "id_background_noise_seed": req.seed if model.config.id_image_noise else None,
            "unconditional": "zeros (SDXL force_zeros_for_empty_prompt)",
            "faces": [{"method": f.method, "box": list(f.box) if f.box else None} for f in prepared],
            "conditioning": cond_info,
            "model": {
                "folder": str(model.folder) if model.folder else None,
                "manifest_hash": model.manifest_hash,
                "profile": model.config.profile,
                "image_size": model.config.image_size,
                "face_frame": model.config.face_frame,
            },
            "identity": None
            if enc is None
            else {"backend": enc.name, "calibration": enc.calibration, "evidence_image": 0},
            "notes": notes,
            # outputs[i].sha256 and the request's evidence/reference hashes: hashing.pixel_sha256, the
            # hash the case store, the PNG chunk, the report and bundles hold (named by image_hash)
            "outputs": [
                {"index": c.index, "seed": c.seed, "sha256": pixel_sha256(c.image)} for c in candidates
            ],
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
