"""All metrics of one evaluation run, with their backbones resolved once and their labels fixed.

Pairwise metrics (to the case's target, or to its text for CLIP-T) are computed per case and method;
set metrics (FID, FID-id) accumulate features per method and compare them with the targets' features at
the end. Every column carries the label of the backbone that produced it, or the reason it is n/a.

A method may give several candidates per case (``tfgnet`` with ``--candidates K``): each pairwise metric
is then the mean over its candidates, and the set metrics take candidate 0 only (the candidate a
one-candidate run makes, so that every row of FID has one sample per case).

Metric keys, their definitions and their direction:

===============  =============================================================  ==========
key              definition                                                      better
===============  =============================================================  ==========
face_sim_<enc>   cosine of identity embeddings, output vs target, x100 (raw)     higher
face_cal_<enc>   the same after centring on the encoder's mean face, x100        higher
dino             cosine of DINO CLS embeddings, output vs target, x100           higher
clip_i           cosine of CLIP image embeddings, output vs target, x100         higher
clip_t           cosine of CLIP image (output) and text (prompt) embeddings, x100  higher
lpips            LPIPS distance, output vs target                                lower
fid              Fréchet distance of output features vs target features          lower
fid_id_<enc>     Fréchet distance in the identity-embedding space                lower
psnr             PSNR (dB) on RGB uint8, output vs target                        higher
ssim             SSIM (Wang et al. 2004) on BT.601 luminance, output vs target   higher
===============  =============================================================  ==========
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfgnet_desk.evaluate.metrics.frechet import frechet_distance_of_features
from tfgnet_desk.evaluate.metrics.pixel import psnr, ssim

# The face box of the project's shared face crop (tfgnet_desk.data.crops), as fractions of the side:
# the mean dlib HOG box measured on 40 benchmark targets (256 px) was (0.04, 0.04, 0.93, 0.93) and on their
# LQ inputs (128 px) (0.08, 0.06, 0.94, 0.94); embeddings from this fixed box and from the detected box have
# cosine 0.98-1.00 to each other.
BENCHMARK_FACE_BOX = (0.05, 0.05, 0.93, 0.93)


@dataclass
class MetricColumn:
    """One column of the tables: what it measures, with which backbone, or why it is missing."""

    key: str
    label: str
    higher_is_better: bool
    available: bool = True
    note: str = ""
    kind: str = "pair"  # "pair" (mean over cases) or "set" (one value over the whole set)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MetricSuite:
    """Backbones (any may be None) and the accumulated set features of one run.

    ``identity``: identity encoders (``faces.IdentityEncoder``) by name; ``clip``: a ``CLIPBackbone``;
    ``dino`` and ``fid``: ``ImageFeatureBackbone``; ``lpips``: ``LPIPSBackbone``; ``missing``: key -> reason
    for the backbones that could not be resolved.
    """

    identity: dict[str, Any] = field(default_factory=dict)
    clip: Any = None
    dino: Any = None
    lpips: Any = None
    fid: Any = None
    missing: dict[str, str] = field(default_factory=dict)
    ssim_channel: str = "luminance"
    # Face box for identity embeddings as fractions (x0, y0, x1, y1) of the image side, or None to detect.
    face_box: tuple[float, float, float, float] | None = None
    models_dir: Path | None = None  # where dlib's landmark model is looked up first
    _set_feats: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------------------ columns
    def columns(self) -> list[MetricColumn]:
        cols: list[MetricColumn] = []
        how = (
            "landmarks fitted in the benchmark's shared face box"
            if self.face_box is not None
            else "face detected in each image"
        )
        for name, enc in self.identity.items():
            cal = getattr(enc, "calibration", "centred cosine")
            cols.append(
                MetricColumn(
                    f"face_sim_{name}",
                    f"Face Sim ({name}, raw) %",
                    True,
                    note=f"raw cosine of {name} embeddings; {how}",
                )
            )
            cols.append(
                MetricColumn(
                    f"face_cal_{name}",
                    f"Face Sim ({name}, centred) %",
                    True,
                    note=f"{cal} of {name} embeddings; {how}",
                )
            )
        for key, why in self.missing.items():
            enc = key.removeprefix("face_sim_")
            if key.startswith("face_sim_") and enc not in self.identity:
                cols.append(MetricColumn(key, f"Face Sim ({enc}) %", True, False, why))
        cols.append(self._col("dino", "DINO", self.dino, True))
        cols.append(self._col("clip_i", "CLIP-I", self.clip, True))
        cols.append(self._col("clip_t", "CLIP-T", self.clip, True))
        cols.append(self._col("lpips", "LPIPS", self.lpips, False, percent=False))
        cols.append(self._col("fid", "FID", self.fid, False, percent=False, kind="set"))
        for name in self.identity:
            cols.append(
                MetricColumn(
                    f"fid_id_{name}",
                    f"FID-id ({name})",
                    False,
                    kind="set",
                    note=f"Fréchet distance of {name} embeddings, outputs vs targets",
                )
            )
        cols.append(MetricColumn("psnr", "PSNR (dB)", True, note="RGB uint8, to the target"))
        ssim_label = "SSIM (Y)" if self.ssim_channel == "luminance" else "SSIM (RGB)"
        cols.append(
            MetricColumn(
                "ssim", ssim_label, True, note=f"Wang et al. 2004, Gaussian 11/1.5, on {self.ssim_channel}"
            )
        )
        return cols

    def _col(
        self, key: str, name: str, backbone: Any, higher: bool, percent: bool = True, kind: str = "pair"
    ) -> MetricColumn:
        unit = " %" if percent else ""
        if backbone is None:
            why = self.missing.get(key, "no backbone")
            return MetricColumn(key, f"{name}{unit}", higher, False, why, kind)
        reference = {
            "dino": "DINO ViT-S/16",
            "clip_i": "CLIP ViT-B/32",
            "clip_t": "CLIP ViT-B/32",
            "lpips": "AlexNet",
            "fid": "Inception-v3 pool3",
        }[key]
        label = f"{name}{unit}" if backbone.label == reference else f"{name} ({backbone.label}){unit}"
        return MetricColumn(key, label, higher, True, backbone.label, kind)

    # ------------------------------------------------------------------------------ per case
    def locator(self):
        """The :class:`FaceLocator` of this suite's face box (the shared framing as evidence fallback)."""
        from tfgnet_desk.evaluate.metrics.faces import FaceLocator

        return FaceLocator(self.face_box, BENCHMARK_FACE_BOX, self.models_dir)

    def needs_landmarks(self) -> bool:
        """Whether an identity encoder can take a precomputed detection (then landmarks are found once)."""
        return any(hasattr(e, "embed_detection") for e in self.identity.values())

    def embed_identity(self, img: np.ndarray, det: Any = None) -> dict[str, np.ndarray | None]:
        """Every encoder's embedding of ``img`` (None where no face): from ``det``'s landmarks when given
        (found once for all encoders), else located by the encoder as ``face_box`` says."""
        out: dict[str, np.ndarray | None] = {}
        for n, enc in self.identity.items():
            if det is not None and hasattr(enc, "embed_detection"):
                try:
                    out[n] = np.asarray(enc.embed_detection(img, det), dtype=np.float64)
                except (ValueError, RuntimeError):
                    out[n] = None
            else:
                out[n] = _safe_embed(enc, img, self.face_box)
        return out

    def target_features(self, target: np.ndarray, det: Any = None) -> dict[str, Any]:
        """Features of a case's target, computed once and reused for every method."""
        feats: dict[str, Any] = {"identity": self.embed_identity(target, det)}
        raw = self._clip_raw([target])
        if raw is not None:
            feats["clip"] = _unit(raw)[0]
        if self.dino is not None:
            feats["dino"] = self.dino.features([target])[0]
        if self.fid is not None:
            fid = raw if raw is not None and self._fid_is_clip() else self.fid.features([target])
            self._add_set("fid", "__target__", fid[0])
        for n, e in feats["identity"].items():
            if e is not None:
                self._add_set(f"fid_id_{n}", "__target__", e)
        return feats

    def score_outputs(
        self,
        target: np.ndarray,
        text: str,
        outputs: dict[str, np.ndarray | list[np.ndarray]],
        tfeats: dict[str, Any],
        embeddings: dict[str, list[dict[str, np.ndarray | None]]] | None = None,
    ) -> dict[str, dict[str, float | None]]:
        """Pairwise metrics of every method's output(s) against the target (and text), and set features.

        ``outputs``: one image or a list of candidates per method (mean over candidates; set features from
        candidate 0). ``embeddings``: identity embeddings per method and candidate when already computed."""
        cands = {m: _as_list(v) for m, v in outputs.items()}
        names = list(cands)
        flat = [(m, img) for m in names for img in cands[m]]
        images = [img for _, img in flat]
        per: dict[str, dict[str, list[float | None]]] = {m: {} for m in names}

        def put(key: str, values: Any) -> None:
            for (m, _), v in zip(flat, values, strict=True):
                per[m].setdefault(key, []).append(None if v is None else float(v))

        put("psnr", [psnr(img, target) for img in images])
        put("ssim", [ssim(img, target, self.ssim_channel) for img in images])
        if self.lpips is not None and images:
            put("lpips", self.lpips.distances_to(images, target))
        raw = self._clip_raw(images)
        if raw is not None:
            emb = _unit(raw)
            temb = self.clip.text_embeds([text])[0]
            put("clip_i", [100.0 * float(e @ tfeats["clip"]) for e in emb])
            put("clip_t", [100.0 * float(e @ temb) for e in emb])
        if self.dino is not None and images:
            put("dino", [100.0 * float(e @ tfeats["dino"]) for e in self.dino.features(images)])
        if self.fid is not None and names:
            first = [next(i for i, (mm, _) in enumerate(flat) if mm == m) for m in names]
            if raw is not None and self._fid_is_clip():  # the tiny-CLIP FID features are CLIP's raw output
                fids = raw[first]
            else:
                fids = self.fid.features([cands[m][0] for m in names])
            for m, f in zip(names, fids, strict=True):
                self._add_set("fid", m, f)
        if embeddings is None:
            embeddings = {m: [self.embed_identity(img) for img in cands[m]] for m in names}
        for n, enc in self.identity.items():
            te = tfeats["identity"][n]
            for m in names:
                embs = [e.get(n) for e in embeddings[m]]
                if embs and embs[0] is not None:
                    self._add_set(f"fid_id_{n}", m, embs[0])
                ok = [e for e in embs if e is not None and te is not None]
                per[m][f"face_sim_{n}"] = [100.0 * enc.similarity(e, te) for e in ok] or [None]
                per[m][f"face_cal_{n}"] = [100.0 * enc.calibrated_similarity(e, te) for e in ok] or [None]
        return {m: {k: candidate_mean(v) for k, v in per[m].items()} for m in names}

    def _clip_raw(self, images: list[np.ndarray]) -> np.ndarray | None:
        """CLIP image features before normalisation (one forward pass serves CLIP-I, CLIP-T and FID)."""
        if self.clip is None or not images:
            return None
        return np.asarray(self.clip.image_fn(images), dtype=np.float64)

    def _fid_is_clip(self) -> bool:
        """Whether the FID features are the CLIP backbone's own raw image features (tiny-CLIP fallback)."""
        return self.clip is not None and self.fid.fn is self.clip.image_fn and not self.fid.normalise

    # ------------------------------------------------------------------------------ set metrics
    def _add_set(self, key: str, method: str, feat: np.ndarray) -> None:
        self._set_feats.setdefault(key, {}).setdefault(method, []).append(np.asarray(feat, dtype=np.float64))

    def set_metrics(self, methods: list[str]) -> dict[str, dict[str, float | None]]:
        """FID and FID-id of each method's outputs against the targets (None with fewer than 2 samples)."""
        out: dict[str, dict[str, float | None]] = {m: {} for m in methods}
        for key, per_method in self._set_feats.items():
            ref = per_method.get("__target__", [])
            for m in methods:
                feats = per_method.get(m, [])
                if len(ref) < 2 or len(feats) < 2:
                    out[m][key] = None
                    continue
                out[m][key] = frechet_distance_of_features(np.stack(feats), np.stack(ref))
        return out

    def set_counts(self, methods: list[str]) -> dict[str, dict[str, int]]:
        return {m: {k: len(v.get(m, [])) for k, v in self._set_feats.items()} for m in methods}


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _as_list(value: np.ndarray | list[np.ndarray]) -> list[np.ndarray]:
    return list(value) if isinstance(value, list | tuple) else [value]


def candidate_mean(values: list[float | None]) -> float | None:
    """Mean over a method's candidates of the values that exist (inf if one is inf; None if none)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    if any(math.isinf(v) for v in vals):
        return math.inf
    return float(np.mean(vals))


def _safe_embed(
    encoder: Any, img: np.ndarray, box_frac: tuple[float, ...] | None = None
) -> np.ndarray | None:
    """Identity embedding, or None when no face is found (counted as a failure, not a zero).

    With ``box_frac`` the landmarks are fitted inside that box (fractions of the image size) instead of
    running a detector: every image of a benchmark row shares the same face crop, so this is the same
    face region for all methods, costs no detection, and never drops a poor generated face."""
    try:
        if box_frac is None:
            e = encoder.embed(img)
        else:
            h, w = img.shape[:2]
            e = encoder.embed(img, box=(box_frac[0] * w, box_frac[1] * h, box_frac[2] * w, box_frac[3] * h))
    except (ValueError, RuntimeError):
        return None
    return None if e is None else np.asarray(e, dtype=np.float64)
