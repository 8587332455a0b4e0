"""``TFGNetPipeline``: evidence crop(s) + description -> scored candidate faces, with provenance.

Public stages, in the order ``__call__`` runs them (``ProgressEvent.stage`` in brackets):

- :meth:`~TFGNetPipeline.restore` (``restore``): frame each evidence face (``framing.prepare_face``), the
  codebook + transformer restorer at fidelity ``w``, low-frequency fusion with the evidence, and the
  identity mask (landmarks, else an ellipse);
- :meth:`~TFGNetPipeline.condition` (``embed``): the restored faces with their background filled with
  seeded noise -> the CLIP image embedding, fused with the prompt embedding into the stacked ID
  embedding (or, with no restored faces, the prompt alone: the text-only row);
- :meth:`~TFGNetPipeline.generate` (``generate``): latent diffusion, one seed per candidate, from the
  restored face at ``strength`` < 1, with identity guidance, each candidate fused with the restored
  face's low frequencies;
- :meth:`~TFGNetPipeline.score` (``score``, ``run_scoring.py``): each candidate against the face in the
  evidence crop and the optional reference photo, as soon as it is decoded (never against the model's
  own restored face, which would be circular);
- :meth:`~TFGNetPipeline.provenance`: the record (``provenance.py``).

Forensic requirements met here: every random choice is a recorded seed (candidate i uses seed + i; the
CLIP background noise uses ``seed``); on CPU the same request gives byte-identical candidates; the
provenance holds every parameter, the model's manifest hash, library versions, the device and timings.
The models are loaded once (``from_pretrained``) and reused across calls; calls are serialised by a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tfgnet_desk.evidence_fusion import default_sigmas, lowfreq_fusion
from tfgnet_desk.framing import CROP_FRAME_POINTS, PreparedFace, prepare_face, to_tensor, to_uint8
from tfgnet_desk.model import Cancelled
from tfgnet_desk.pipeline_outputs import Candidate, GenerationResult, ProgressEvent, RestoredFaces
from tfgnet_desk.provenance import build_provenance, library_versions
from tfgnet_desk.request import RECORD_VERSION, GenerationRequest
from tfgnet_desk.run_scoring import RunScorer

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.model.tfgnet import TFGNet
    from tfgnet_desk.settings import Settings

__all__ = [
    "CROP_FRAME_POINTS",
    "RECORD_VERSION",
    "Cancelled",
    "Candidate",
    "GenerationRequest",
    "GenerationResult",
    "PreparedFace",
    "ProgressEvent",
    "RestoredFaces",
    "TFGNetPipeline",
    "library_versions",
    "prepare_face",
    "to_tensor",
    "to_uint8",
]

STAGES = ("restore", "embed", "generate", "score")
Report = Callable[[str, int, int], None]  # (stage, step, total)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled")


class TFGNetPipeline:
    """Loaded once, called many times: ``pipeline(request, progress=, cancel=, on_candidate=)``.

    ``__call__`` composes the public stages, which evaluation calls one by one too (the ``restorer`` and
    ``text-only`` rows, the flip test): :meth:`restore` -> :meth:`condition` -> :meth:`generate` (each
    candidate handed to :meth:`score` as it is decoded) -> :meth:`provenance`.
    """

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

    # ------------------------------------------------------------------------------------ stages
    def restore(
        self,
        images: Sequence[np.ndarray],
        face_boxes: Sequence[tuple[int, int, int, int] | None] | None = None,
        *,
        fidelity: float,
        restore_fusion: float,
        report: Report | None = None,
        cancel: threading.Event | None = None,
    ) -> RestoredFaces:
        """Frame each evidence image's face, restore it at fidelity ``fidelity`` and fuse it with the
        evidence's low frequencies (sigma ``restore_fusion`` px, 0: off); with each, its identity mask."""
        import torch

        from tfgnet_desk import faces

        model, cfg = self.model, self.model.config
        models_dir = self.settings.models_dir if self.settings is not None else None
        out = RestoredFaces([], [], [])
        boxes = list(face_boxes) if face_boxes else [None] * len(images)
        if report is not None:
            report("restore", 0, len(images))
        with torch.no_grad():
            for i, (img, box) in enumerate(zip(images, boxes, strict=True)):
                _check(cancel)
                face = prepare_face(np.asarray(img), cfg.restorer.img_size, cfg.face_frame, box, models_dir)
                lq = to_tensor(face.lq).to(model.device, model.dtype)
                rest = lowfreq_fusion(
                    to_uint8(model.restorer.restore(lq, w=fidelity)), face.lq, restore_fusion
                )
                if face.landmarks68 is not None:
                    mask = faces.identity_mask(face.landmarks68, rest.shape[:2], soft=False)
                else:
                    mask = faces.ellipse_mask(rest.shape[:2], soft=False)
                out.prepared.append(face)
                out.restored.append(rest)
                out.masks.append(np.asarray(mask, dtype=np.float32))
                if report is not None:
                    report("restore", i + 1, len(images))
        return out

    def condition(self, prompt: str, restored: RestoredFaces | None, seed: int) -> tuple[Any, dict[str, Any]]:
        """The generator's conditioning and its description: the stacked ID embedding of ``prompt`` and
        the restored faces (background outside each identity mask filled with noise from
        ``default_rng(seed)`` when the model was trained so), or with ``restored`` None the prompt alone."""
        import torch

        from tfgnet_desk import faces

        model = self.model
        id_images = None
        if restored is not None:
            noise_rng = np.random.default_rng(seed)
            id_inputs = [
                faces.fill_background_noise(r, m, noise_rng) if model.config.id_image_noise else r
                for r, m in zip(restored.restored, restored.masks, strict=True)
            ]
            id_images = torch.cat([to_tensor(x) for x in id_inputs]).to(model.device, model.dtype)
        with torch.no_grad():
            return model.condition(prompt, id_images)

    def generate(
        self,
        cond: Any,
        seeds: Sequence[int],
        restored: RestoredFaces | None,
        *,
        steps: int,
        guidance: float,
        strength: float,
        identity_guidance: float,
        candidate_fusion: float,
        sampler: str | None = None,
        batch_size: int | None = None,
        on_image: Callable[[int, np.ndarray], None] | None = None,
        report: Report | None = None,
        cancel: threading.Event | None = None,
    ) -> list[np.ndarray]:
        """One image per seed (RGB uint8). With ``restored`` faces, sampling starts from the first at
        ``strength`` < 1, identity guidance pulls towards them (scale ``identity_guidance``, 0: off) and
        each image keeps the first's low frequencies (sigma ``candidate_fusion``); ``on_image(i, pixels)``
        gets each as soon as it is decoded. ``batch_size`` seeds are denoised together (default all)."""
        import torch

        from tfgnet_desk.model.id_guidance import build_identity_guide

        model = self.model
        first = restored.restored[0] if restored is not None else None
        init = guide = None
        if first is not None and strength < 1.0:
            init = to_tensor(first).to(model.device, model.dtype)
        if restored is not None:
            refs = torch.cat([to_tensor(r) for r in restored.restored]).to(model.device, model.dtype)
            guide = build_identity_guide(model, refs, identity_guidance)
        images: list[np.ndarray] = []

        def decoded(i: int, image: torch.Tensor) -> None:
            pixels = to_uint8(image)
            if first is not None:
                pixels = lowfreq_fusion(pixels, first, candidate_fusion)
            images.append(pixels)
            if on_image is not None:
                on_image(i, pixels)

        model.generator.sample(
            cond,
            list(seeds),
            steps=steps,
            guidance=guidance,
            strength=strength,
            image_size=model.config.image_size,
            init_image=init,
            sampler=sampler,
            callback=None if report is None else (lambda done, total: report("generate", done, total)),
            cancel=cancel,
            on_image=decoded,
            batch_size=batch_size,
            guide=guide,
        )
        return images

    def score(
        self, images: Sequence[np.ndarray], restored: RestoredFaces, reference: np.ndarray | None = None
    ):
        """A :class:`~tfgnet_desk.run_scoring.RunScorer` for this run, ready to score candidates against
        the evidence faces (and ``reference``) with the identity encoder; it has scored the restored faces."""
        scorer = RunScorer(self.identity_encoder())
        scorer.prepare(images, restored.prepared, restored.restored, reference)
        return scorer

    def provenance(self, req: GenerationRequest, **record: Any) -> dict[str, Any]:
        """The run's provenance record (``provenance.build_provenance``) for the resolved ``req``."""
        return build_provenance(self.model, req, **record)

    # ------------------------------------------------------------------------------- composition
    def _run(self, req: GenerationRequest, progress, cancel, on_candidate) -> GenerationResult:
        def report(stage: str, step: int, total: int) -> None:
            if progress is not None:
                progress(ProgressEvent(stage, step, total))

        model = self.model
        timings: dict[str, float] = {}
        t_all = time.perf_counter()
        model.class_token_index(model.tokenize([req.prompt])[0], [req.prompt])  # fail early: no class word
        req = self.resolve_defaults(req)

        t0 = time.perf_counter()
        faces = self.restore(
            req.images,
            req.face_boxes,
            fidelity=req.fidelity,
            restore_fusion=req.restore_fusion,
            report=report,
            cancel=cancel,
        )
        timings["restore"] = time.perf_counter() - t0

        _check(cancel)
        t0 = time.perf_counter()
        report("embed", 0, 1)
        cond, cond_info = self.condition(req.prompt, faces, req.seed)
        report("embed", 1, 1)
        timings["embed"] = time.perf_counter() - t0

        # each candidate is scored as soon as it is decoded; scoring time is counted apart
        t0 = time.perf_counter()
        scorer = self.score(req.images, faces, req.reference)
        t_score, t_score_in_generate = time.perf_counter() - t0, 0.0
        seeds = [req.seed + i for i in range(req.n_candidates)]
        candidates: list[Candidate] = []

        def on_image(i: int, pixels: np.ndarray) -> None:
            nonlocal t_score_in_generate
            t0 = time.perf_counter()
            cand = Candidate(index=i, seed=seeds[i], image=pixels)
            scorer.score(cand)
            candidates.append(cand)
            t_score_in_generate += time.perf_counter() - t0
            report("score", len(candidates), req.n_candidates)
            if on_candidate is not None:
                on_candidate(cand)

        t0 = time.perf_counter()
        self.generate(
            cond,
            seeds,
            faces,
            steps=req.steps,
            guidance=req.guidance,
            strength=req.strength,
            identity_guidance=req.identity_guidance,
            candidate_fusion=req.candidate_fusion,
            sampler=req.sampler,
            # one candidate after another: each is decoded, scored and handed on (the window stores it)
            # as soon as it is done, so a cancel keeps the finished ones, and progress reads
            # "candidate k of n, step s of S"
            batch_size=1,
            on_image=on_image,
            report=report,
            cancel=cancel,
        )
        timings["generate"] = time.perf_counter() - t0 - t_score_in_generate
        timings["score"] = t_score + t_score_in_generate
        timings["total"] = time.perf_counter() - t_all

        notes = scorer.close(req.reference is not None, self._identity_error)
        provenance = self.provenance(
            req,
            seeds=seeds,
            prepared=faces.prepared,
            conditioning=cond_info,
            identity=scorer.enc,
            candidates=candidates,
            notes=notes,
            timings=timings,
        )
        provenance["restored_scores"] = [{k: asdict(v) for k, v in s.items()} for s in scorer.restored_scores]
        return GenerationResult(
            candidates=candidates,
            restored=faces.restored,
            mask=faces.masks[0],
            provenance=provenance,
            restored_scores=scorer.restored_scores,
        )
