"""The flip test: does saying an attribute change the candidate the way the words say?

For a case and a method that generates from text (``text-only``, ``tfgnet``), each attribute of
:data:`~tfgnet_desk.data.caption_attributes.FLIP_ATTRIBUTES` (eyeglasses, beard, smiling; beard only when the
description's class word is male) is stated once and removed once (``with_attribute``; the class word and
every other phrase kept), and the two texts are generated with the same seed, model, strength, steps and
evidence (all texts of a case in one batch: the same noise, the same numerics). The attribute's probe
gives P(present) for both images; the pair succeeds when P(added) - P(removed) >= ``FLIP_MARGIN`` (10
points: a move a person could see; the bare sign is reported beside it, see ``aggregate_flip``).
Reported per attribute: the share of successes, of moves at all, of decisions that follow the text, and
the mean shift (percentage points), with the number of pairs; ``--flip-cases N`` bounds the cases (the
first N in name order).

A generated image without landmarks (never, with the shared face box) leaves its pair out, counted.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np

from tfgnet_desk.data.caption_attributes import FLIP_ATTRIBUTES, with_attribute
from tfgnet_desk.evaluate.metrics.analyst import PROBE_THRESHOLD as PROBE_DECISION
from tfgnet_desk.evaluate.metrics.analyst import FaceAnalysis, stated_gender

# A flip succeeds when the probe moves the stated way by at least this much (probability, 0-1).
FLIP_MARGIN = 0.10


def flip_texts(text: str, gender: str | None) -> dict[str, tuple[str, str]]:
    """attribute -> (text with it stated, text without it) for the attributes this case tests."""
    out = {}
    for a in FLIP_ATTRIBUTES:
        if a == "beard" and gender != "male":
            continue
        out[a] = (with_attribute(text, a, True), with_attribute(text, a, False))
    return out


def run_flip(
    case: Any,
    methods: list[Any],
    analysis: FaceAnalysis,
    locate: Any,
    size: tuple[int, int],
    timer: Any = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Flip pairs of ``case`` for every method: ``generate_texts(case, texts) -> images`` (one batch, the
    case seed for every text) when the method has it, else ``generate_text(case, text)`` per text.

    ``locate(img)`` gives an image's landmarks (the run's face locator); ``size`` is the size images are
    scored at (the target's); ``timer(method_name)`` is a context manager that times generation.
    Returns ``{method: {attribute: {p_added, p_removed, added, removed}}}``."""
    from tfgnet_desk.evaluate.methods import to_size

    if analysis.probes is None:
        return {}
    gender = stated_gender(case.text) or case.gender
    pairs = flip_texts(case.text, gender)
    images: list[np.ndarray] = []
    slots: list[tuple[str, str, str]] = []  # (method, attribute, "added" | "removed")
    # each distinct text once (the removed text of two attributes is often the case's own text)
    texts = list(dict.fromkeys(t for pair in pairs.values() for t in pair))
    for m in methods:
        with timer(m.name) if timer is not None else nullcontext():
            if hasattr(m, "generate_texts"):  # all texts of the case in one batch, same seed
                made = m.generate_texts(case, texts)
            else:
                made = [m.generate_text(case, t) for t in texts]
        cache = {
            t: to_size(np.asarray(img, dtype=np.uint8), size) for t, img in zip(texts, made, strict=True)
        }
        for a, (added, removed) in pairs.items():
            for side, text in (("added", added), ("removed", removed)):
                images.append(cache[text])
                slots.append((m.name, a, side))
    faces = analysis.analyse(images, [locate(img) for img in images])
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (m, a, side), face in zip(slots, faces, strict=True):
        entry = out.setdefault(m, {}).setdefault(a, {"added": pairs[a][0], "removed": pairs[a][1]})
        p = None if face is None else face["probes"].get(a)
        entry[f"p_{side}"] = None if p is None else float(p)
    return out


def aggregate_flip(per_case: list[dict[str, Any]], methods: list[str]) -> tuple[dict, dict]:
    """Per method and attribute (and pooled, ``all``):

    - ``flip_<attr>``: success (%), the probe moved the stated way by at least :data:`FLIP_MARGIN`;
    - ``flip_sign_<attr>``: the probe moved the stated way at all (%): with the same seed any change of
      the text perturbs the image a little, so this sign test credits invisible, noise-level moves
      (today's model: 66-90 % "moved" with a mean shift of about 1 point);
    - ``flip_decision_<attr>``: the probe's decision follows the text (%): P(added) >= 0.5 > P(removed);
    - ``flip_shift_<attr>``: mean P(added) - P(removed), percentage points.

    Counts are pairs judged; ``flip_cases`` the cases that ran the test."""
    summary: dict[str, dict[str, float | None]] = {}
    counts: dict[str, dict[str, int]] = {}
    for m in methods:
        shifts: dict[str, list[float]] = {}
        follows: dict[str, list[bool]] = {}
        cases = 0
        for rec in per_case:
            pairs = (rec.get("flip") or {}).get(m)
            if not pairs:
                continue
            cases += 1
            for a, e in pairs.items():
                if e.get("p_added") is not None and e.get("p_removed") is not None:
                    shifts.setdefault(a, []).append(e["p_added"] - e["p_removed"])
                    decided = e["p_added"] >= PROBE_DECISION > e["p_removed"]
                    follows.setdefault(a, []).append(bool(decided))
        if not cases:
            continue
        summary[m], counts[m] = {}, {"flip_cases": cases}
        shifts["all"] = [d for a in FLIP_ATTRIBUTES for d in shifts.get(a, [])]
        follows["all"] = [f for a in FLIP_ATTRIBUTES for f in follows.get(a, [])]
        for a in [*FLIP_ATTRIBUTES, "all"]:
            vals, dec = shifts.get(a, []), follows.get(a, [])
            share = lambda xs: 100.0 * float(np.mean(xs)) if xs else None  # noqa: E731
            summary[m][f"flip_{a}"] = share([d >= FLIP_MARGIN for d in vals])
            summary[m][f"flip_sign_{a}"] = share([d > 0 for d in vals])
            summary[m][f"flip_decision_{a}"] = share(dec)
            summary[m][f"flip_shift_{a}"] = 100.0 * float(np.mean(vals)) if vals else None
            for key in ("flip", "flip_sign", "flip_decision", "flip_shift"):
                counts[m][f"{key}_{a}"] = len(vals)
    return summary, counts
