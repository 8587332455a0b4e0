"""What an analyst needs to know about the candidates, beside the paper's metrics.

Per case and method (every value is a mean over the method's candidates unless said otherwise):

=========================  ===================================================================  ========
key                        definition                                                           better
=========================  ===================================================================  ========
face_ev_sim_<enc>          cosine of identity embeddings, output vs the **evidence** (lq.png's   higher
                           face), x100
face_ev_cal_<enc>          the same, centred                                                    higher
face_cal_best_<enc>        best of the K candidates: max centred cosine to the target, x100     higher
faceres_cal                faceres centred cosine, output vs target, x100 (possible teacher)    higher
faceres_ev_cal             faceres centred cosine, output vs evidence, x100 (possible teacher)  higher
attr_<attribute>           share (%) of candidates whose probe agrees with what the             higher
                           description states (probe P >= 0.5 means present)
attr_all                   share (%) of all (candidate, stated attribute) judgements that        higher
                           agree (pooled over attributes and cases)
gender_agree               share (%) of candidates with faceres P(male) >= 0.5 exactly when     higher
                           the class word is male (man, boy)
age_agree                  share (%) of candidates with faceres age < 40 exactly when the       higher
                           description says young (young, teenage, boy, girl) rather than
                           older (older, elderly, middle-aged); not counted when it says neither
div_id_<enc>               mean over candidate pairs of 1 - centred cosine (K > 1 only)         (spread)
div_px                     mean over candidate pairs of the mean absolute pixel difference,     (spread)
                           of 255 (K > 1 only)
sharp_face                 face-region sharpness: RMS of the 3x3 Laplacian of the grey image    (detail)
                           at 128 px, inside the crop frame's face ellipse, of 255 (a blur
                           lowers it; noise and JPEG blocks raise it: read beside identity)
=========================  ===================================================================  ========

Summaries are means over the cases that have the value (``counts`` says how many), except ``attr_all``
(pooled over judgements) and ``attr_macro`` (the mean of the per-attribute shares). The row ``target``
applies the attribute, gender and age rules to the photo the description was written from: the probes'
own agreement on this benchmark, the ceiling of these columns.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfgnet_desk.data.caption_attributes import stated_attributes
from tfgnet_desk.data.captions import CLASS_WORD_GENDER, find_class_word

log = logging.getLogger("tfgnet_desk.evaluate")

PROBE_THRESHOLD = 0.5
AGE_YOUNG_BELOW = 40.0  # faceres age below this is "young"
FACERES_TAG = "faceres — possible training teacher"
TARGET_ROW = "target"
# the order of attribute columns (probe names; "male" is measured by gender_agree with faceres's own head)
ATTRIBUTE_ORDER = (
    "eyeglasses",
    "beard",
    "mustache",
    "smiling",
    "black_hair",
    "blond_hair",
    "brown_hair",
    "gray_hair",
    "bald",
    "hat",
    "young",
)
ANALYST_PREFIXES = (
    "face_ev_",
    "face_cal_best_",
    "faceres_",
    "attr_",
    "gender_agree",
    "age_agree",
    "div_",
    "sharp_",
)
# Face region of the benchmark's crop frame (eyes near (0.49, 0.30), mouth near (0.49, 0.70) of the side),
# brows to chin and cheek to cheek: centre x, centre y, semi-axis x, semi-axis y, fractions of the side.
SHARPNESS_SIZE = 128
SHARPNESS_ELLIPSE = (0.49, 0.52, 0.40, 0.50)


@dataclass
class FaceAnalysis:
    """faceres and its attribute probes (either may be None, with the reason in ``missing``)."""

    net: Any = None  # FaceResNet: analyse_aligned, centred_cosine, mean
    probes: Any = None  # AttributeProbes: attributes, predict, val_auc
    missing: str = ""
    probes_missing: str = ""

    @property
    def available(self) -> bool:
        return self.net is not None

    @property
    def calibrated(self) -> bool:
        return self.net is not None and getattr(self.net, "mean", None) is not None

    def analyse(self, images: list[np.ndarray], dets: list[Any]) -> list[dict[str, Any] | None]:
        """faceres on every image whose landmarks are known, in one batch: per image ``identity``,
        ``p_male``, ``age`` and ``probes`` ({attribute: P present}), or None without landmarks."""
        if self.net is None or not images:
            return [None] * len(images)
        from tfgnet_desk.faces.faceres import align_for_faceres

        idx = [i for i, d in enumerate(dets) if d is not None]
        out: list[dict[str, Any] | None] = [None] * len(images)
        if not idx:
            return out
        faces = np.stack([align_for_faceres(images[i], dets[i].landmarks68) for i in idx])
        res = self.net.analyse_aligned(faces)
        probs = self.probes.predict(res.identity) if self.probes is not None else {}
        for j, i in enumerate(idx):
            out[i] = {
                "identity": np.asarray(res.identity[j], dtype=np.float64),
                "p_male": float(res.p_male[j]),
                "age": float(res.age[j]),
                "probes": {a: float(p[j]) for a, p in probs.items()},
            }
        return out


def load_face_analysis(folder: Path | None = None, models_dir: Path | None = None) -> FaceAnalysis:
    """faceres (``folder``, else ``<models_dir>/faceres``, else the shipped one) and its probes."""
    try:
        from tfgnet_desk.faces.faceres import FaceResNet, faceres_dir

        where = Path(folder) if folder is not None else faceres_dir(models_dir)
        net = FaceResNet.load(where)
    except Exception as exc:  # noqa: BLE001 - the columns say n/a and why
        log.warning("faceres unavailable: %s", exc)
        return FaceAnalysis(missing=f"faceres unavailable: {exc}", probes_missing="no faceres network")
    try:
        from tfgnet_desk.faces.attributes import AttributeProbes

        return FaceAnalysis(net=net, probes=AttributeProbes.load(where))
    except Exception as exc:  # noqa: BLE001
        log.warning("attribute probes unavailable: %s", exc)
        return FaceAnalysis(net=net, probes_missing=f"attribute probes unavailable: {exc}")


# ------------------------------------------------------------------------------------------ rules
def stated_gender(text: str) -> str | None:
    """'male' / 'female' from the description's class word, None for 'person' or no class word."""
    word = find_class_word(text)
    return CLASS_WORD_GENDER.get(word) if word else None


def description_judgements(text: str, attributes: tuple[str, ...]) -> dict[str, bool]:
    """The probe attributes the description states, with the value it states (``male`` excluded)."""
    stated = stated_attributes(text)
    return {a: stated[a] for a in ATTRIBUTE_ORDER if a in stated and a in attributes}


def judge(text: str, analyses: list[dict[str, Any] | None], attributes: tuple[str, ...]) -> dict[str, Any]:
    """Attribute, gender and age agreement of a list of faces (one method's candidates) with ``text``."""
    faces = [f for f in analyses if f is not None]
    out: dict[str, Any] = {}
    if not faces:
        return out
    agree_all: list[bool] = []
    if attributes:
        for a, value in description_judgements(text, attributes).items():
            agree = [(f["probes"][a] >= PROBE_THRESHOLD) == value for f in faces if a in f["probes"]]
            if agree:
                out[f"attr_{a}"] = 100.0 * float(np.mean(agree))
                agree_all += agree
    if agree_all:
        out["attr_all"] = 100.0 * float(np.mean(agree_all))
        out["attr_all_judged"] = len(agree_all)
    gender = stated_gender(text)
    if gender is not None:
        male = gender == "male"
        out["gender_agree"] = 100.0 * float(
            np.mean([(f["p_male"] >= PROBE_THRESHOLD) == male for f in faces])
        )
    young = stated_attributes(text).get("young")
    if young is not None:
        out["age_agree"] = 100.0 * float(np.mean([(f["age"] < AGE_YOUNG_BELOW) == young for f in faces]))
    return out


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def identity_scores(
    cands_embs: list[dict[str, np.ndarray | None]],
    evidence: dict[str, np.ndarray | None],
    target: dict[str, np.ndarray | None],
    encoders: dict[str, Any],
) -> dict[str, float | None]:
    """Identity against the evidence (raw, centred) and best-of-K centred against the target, x100."""
    out: dict[str, float | None] = {}
    for n, enc in encoders.items():
        embs = [e.get(n) for e in cands_embs if e.get(n) is not None]
        ev, te = evidence.get(n), target.get(n)
        ok = ev is not None and bool(embs)
        out[f"face_ev_sim_{n}"] = _mean([100.0 * enc.similarity(e, ev) for e in embs]) if ok else None
        out[f"face_ev_cal_{n}"] = (
            _mean([100.0 * enc.calibrated_similarity(e, ev) for e in embs]) if ok else None
        )
        best = [100.0 * enc.calibrated_similarity(e, te) for e in embs] if te is not None else []
        out[f"face_cal_best_{n}"] = max(best) if best else None
    return out


def diversity(
    images: list[np.ndarray], cands_embs: list[dict[str, np.ndarray | None]], encoders: dict[str, Any]
) -> dict[str, float | None]:
    """Spread of one run's candidates: mean pairwise identity distance and pixel difference (K > 1)."""
    if len(images) < 2:
        return {}
    pairs = list(itertools.combinations(range(len(images)), 2))
    out: dict[str, float | None] = {
        "div_px": float(
            np.mean(
                [np.abs(images[i].astype(np.float64) - images[j].astype(np.float64)).mean() for i, j in pairs]
            )
        )
    }
    for n, enc in encoders.items():
        d = [
            1.0 - enc.calibrated_similarity(cands_embs[i][n], cands_embs[j][n])
            for i, j in pairs
            if cands_embs[i].get(n) is not None and cands_embs[j].get(n) is not None
        ]
        out[f"div_id_{n}"] = _mean(d)
    return out


def _sharpness_mask() -> np.ndarray:
    n = SHARPNESS_SIZE
    cx, cy, ax, ay = SHARPNESS_ELLIPSE
    yy, xx = np.mgrid[0:n, 0:n]
    return (((xx + 0.5) / n - cx) / ax) ** 2 + (((yy + 0.5) / n - cy) / ay) ** 2 <= 1.0


def face_sharpness(img: np.ndarray) -> float:
    """RMS of the 3x3 Laplacian of ``img``'s grey values at 128 px inside the face ellipse (0-255 scale)."""
    from PIL import Image

    a = np.asarray(img)
    if a.shape[:2] != (SHARPNESS_SIZE, SHARPNESS_SIZE):
        down = a.shape[0] > SHARPNESS_SIZE
        resample = Image.Resampling.BOX if down else Image.Resampling.BICUBIC
        a = np.asarray(Image.fromarray(a).resize((SHARPNESS_SIZE, SHARPNESS_SIZE), resample))
    g = a[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    lap = np.zeros_like(g)
    lap[1:-1, 1:-1] = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4.0 * g[1:-1, 1:-1]
    inside = _sharpness_mask()
    inside[[0, -1], :] = False
    inside[:, [0, -1]] = False
    return float(np.sqrt(np.mean(lap[inside] ** 2)))


def sharpness(images: list[np.ndarray]) -> dict[str, float | None]:
    """``sharp_face``: mean face-region sharpness of a method's outputs (see :func:`face_sharpness`)."""
    return {"sharp_face": _mean([face_sharpness(img) for img in images])}


def faceres_scores(
    cands: list[dict[str, Any] | None],
    target: dict[str, Any] | None,
    evidence: dict[str, Any] | None,
    net: Any,
) -> dict[str, float | None]:
    """faceres centred cosine of the candidates to the target and to the evidence, x100."""
    faces = [f["identity"] for f in cands if f is not None]
    out: dict[str, float | None] = {}
    for key, ref in (("faceres_cal", target), ("faceres_ev_cal", evidence)):
        vals = [100.0 * net.centred_cosine(f, ref["identity"]) for f in faces] if ref is not None else []
        out[key] = _mean(vals)
    return out


# ------------------------------------------------------------------------------------------ summary
def is_analyst_key(key: str) -> bool:
    return key.startswith(ANALYST_PREFIXES)


def aggregate(per_case: list[dict[str, Any]], methods: list[str]) -> tuple[dict, dict]:
    """Summaries and counts of the analyst keys for ``methods`` and the ``target`` row (see the module
    docstring for the pooled and macro averages)."""
    summary: dict[str, dict[str, float | None]] = {}
    counts: dict[str, dict[str, int]] = {}
    rows = {m: [rec["scores"][m] for rec in per_case if m in rec.get("scores", {})] for m in methods}
    rows[TARGET_ROW] = [rec["target_check"] for rec in per_case if rec.get("target_check")]
    for m, scores in rows.items():
        keys = sorted({k for s in scores for k in s if is_analyst_key(k) and not k.endswith("_judged")})
        summary[m], counts[m] = {}, {}
        for k in keys:
            vals = [s[k] for s in scores if s.get(k) is not None]
            summary[m][k] = _mean(vals)
            counts[m][k] = len(vals)
        judged = [(s["attr_all"], s["attr_all_judged"]) for s in scores if s.get("attr_all") is not None]
        if judged:
            n = sum(j for _, j in judged)
            summary[m]["attr_all"] = sum(v * j for v, j in judged) / n
            counts[m]["attr_all_judged"] = n
        per_attr = [
            summary[m][f"attr_{a}"] for a in ATTRIBUTE_ORDER if summary[m].get(f"attr_{a}") is not None
        ]
        if per_attr:
            summary[m]["attr_macro"] = float(np.mean(per_attr))
            counts[m]["attr_macro"] = len(per_attr)
    return summary, counts


def evidence_summary(per_case: list[dict[str, Any]]) -> dict[str, Any]:
    """How the evidence face was found (counts per source) and the cases where it could not be embedded."""
    sources: dict[str, int] = {}
    failed: dict[str, list[str]] = {}
    for rec in per_case:
        ev = rec.get("evidence") or {}
        src = ev.get("source", "none")
        sources[src] = sources.get(src, 0) + 1
        for name, ok in (ev.get("embedded") or {}).items():
            if not ok:
                failed.setdefault(name, []).append(rec["case"])
    return {"sources": sources, "not_embedded": failed, "cases": len(per_case)}
