"""Probe attributes read out of descriptions and one edited (``stated_attributes``, ``with_attribute``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tfgnet_desk.data import FaceRecord, caption_for, find_class_word
from tfgnet_desk.data.caption_attributes import FLIP_ATTRIBUTES, stated_attributes, with_attribute
from tfgnet_desk.data.captions import (
    _CELEBA_FEATURES,
    _HAIR_COLOURS,
    _HAIR_TEXTURES,
    CLASS_WORDS,
)

_ATTRS = [a for a, _, _, _ in _CELEBA_FEATURES] + [a for a, _ in _HAIR_COLOURS + _HAIR_TEXTURES] + ["Young"]
# CelebA label -> the probe attribute a caption phrase for it states (value asserted when the label is set)
_PROBE_OF = {
    "Eyeglasses": ("eyeglasses", True),
    "No_Beard": ("beard", False),  # captions say "a beard" for No_Beard = -1
    "Mustache": ("mustache", True),
    "Smiling": ("smiling", True),
    "Black_Hair": ("black_hair", True),
    "Blond_Hair": ("blond_hair", True),
    "Brown_Hair": ("brown_hair", True),
    "Gray_Hair": ("gray_hair", True),
    "Bald": ("bald", True),
    "Wearing_Hat": ("hat", True),
}


def _captions(n: int = 400) -> list[tuple[FaceRecord, str]]:
    """Real caption outputs for random CelebA-style label sets (both genders, every sentence shape)."""
    rng = np.random.default_rng(7)
    out = []
    for k in range(n):
        attrs = {a: bool(rng.random() < 0.35) for a in _ATTRS}
        rec = FaceRecord(
            "celeba10k", f"{k}.jpg", Path("x.jpg"), str(k), "male" if k % 2 else "female", attrs=attrs
        )
        out.append((rec, caption_for(rec, k)))
    return out


def test_stated_attributes_of_hand_written_descriptions():
    assert stated_attributes("a smiling young woman with wavy brown hair, wearing glasses") == {
        "smiling": True,
        "young": True,
        "brown_hair": True,
        "eyeglasses": True,
    }
    assert stated_attributes("an older man with a beard and a mustache, wearing a hat") == {
        "young": False,
        "beard": True,
        "mustache": True,
        "hat": True,
    }
    assert stated_attributes("a clean-shaven man, no glasses, not smiling") == {
        "beard": False,
        "eyeglasses": False,
        "smiling": False,
    }
    assert stated_attributes("man, bald, grey hair, wears sunglasses") == {
        "bald": True,
        "gray_hair": True,
        "eyeglasses": True,
    }
    assert stated_attributes("a teenage girl with blond hair") == {"young": True, "blond_hair": True}
    assert stated_attributes("a young-looking older man") == {}  # stated both ways: left out
    assert stated_attributes("a woman with black hair") == {"black_hair": True}
    assert stated_attributes("a man") == {}


def test_stated_attributes_agree_with_the_labels_of_real_captions():
    for rec, text in _captions():
        stated = stated_attributes(text)
        for label, (probe, value) in _PROBE_OF.items():
            if probe in stated:
                assert rec.attrs[label] == value, (text, probe)
        if "young" in stated:
            assert rec.attrs["Young"] == stated["young"], text
        # every probe phrase a caption can contain is read back
        if re.search(r"\bglasses\b", text):
            assert stated["eyeglasses"] is True
        if re.search(r"\bbeard\b", text):
            assert stated["beard"] is True


@pytest.mark.parametrize("attribute", FLIP_ATTRIBUTES)
def test_with_attribute_round_trips_on_real_captions(attribute):
    bad = re.compile(r"\s{2}|\s,|,,|, and\b|\band and\b|\b(with|wearing|wears)\s*(,|and\b|$)|^[,\s]|[,\s]$")
    changed = 0
    for rec, text in _captions():
        if attribute == "beard" and rec.gender != "male":
            continue
        before = stated_attributes(text)
        others = {k: v for k, v in before.items() if k != attribute}
        added, removed = with_attribute(text, attribute, True), with_attribute(text, attribute, False)
        for edited in (added, removed):
            assert bad.search(edited) is None, (text, edited)
            words = [w for w in re.findall(r"[a-z]+", edited.lower()) if w in CLASS_WORDS]
            assert words == [find_class_word(text)], (text, edited)  # the class word stays, once
            rest = {k: v for k, v in stated_attributes(edited).items() if k != attribute}
            assert rest == others, (text, edited)  # nothing else changes
        assert stated_attributes(added).get(attribute) is True, (text, added)
        assert attribute not in stated_attributes(removed), (text, removed)
        assert with_attribute(added, attribute, False) == removed, text  # the pair differs by the phrase
        assert with_attribute(removed, attribute, True) == added or before.get(attribute), text
        if before.get(attribute) is True:
            assert added == text
        else:
            assert removed == text
        changed += added != removed
    assert changed > 150


def test_with_attribute_examples():
    t = "a portrait of an older man with high cheekbones, sideburns and a beard, wearing heavy makeup"
    assert with_attribute(t, "beard", False) == (
        "a portrait of an older man with high cheekbones and sideburns, wearing heavy makeup"
    )
    assert with_attribute(t, "smiling", True) == (
        "a portrait of a smiling older man with high cheekbones, sideburns and a beard, wearing heavy makeup"
    )
    assert with_attribute(t, "eyeglasses", True).endswith("wearing heavy makeup and glasses")
    assert with_attribute("a man", "eyeglasses", True) == "a man wearing glasses"
    assert with_attribute("a man", "beard", True) == "a man with a beard"
    assert with_attribute("an old man wearing glasses", "eyeglasses", False) == "an old man"
    assert with_attribute("a man with a beard, wearing glasses", "beard", False) == "a man wearing glasses"
    assert with_attribute("a clean-shaven man", "beard", True) == "a man with a beard"
    assert with_attribute("a smiling man", "smiling", False) == "a man"
    assert with_attribute("a smiling older man", "smiling", False) == "an older man"
    assert with_attribute("woman, wears glasses and a hat, bangs", "eyeglasses", False) == (
        "woman, wears a hat, bangs"
    )
    assert with_attribute("woman, wears earrings, glasses and a hat", "eyeglasses", False) == (
        "woman, wears earrings and a hat"
    )
    assert with_attribute("man, bangs", "smiling", True) == "man, smiling, bangs"
    with pytest.raises(ValueError):
        with_attribute("a man", "young", True)
