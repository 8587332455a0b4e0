"""Captions: always a class word of the right gender, never a false attribute, varied."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tfgnet_desk.data import (
    CLASS_WORDS,
    FaceRecord,
    caption_for,
    class_word_for,
    find_class_word,
    load_records,
)
from tfgnet_desk.data.captions import CELEBA_PHRASES, CLASS_WORD_GENDER, age_phrases


def _has(phrase: str, text: str) -> bool:
    return re.search(r"\b" + re.escape(phrase) + r"\b", text, flags=re.IGNORECASE) is not None


def _class_words_in(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]+", text.lower()) if w in CLASS_WORDS]


def test_class_word_rules():
    assert class_word_for("male", 5) == "boy" and class_word_for("female", 12) == "girl"
    assert class_word_for("male", 16) == "boy" and class_word_for("female", 30) == "woman"
    assert class_word_for("male") == "man" and class_word_for(None) == "person"
    assert find_class_word("A Smiling WOMAN with glasses") == "woman"
    assert find_class_word("a manly womanish figure") is None  # whole words only
    assert set(CLASS_WORD_GENDER) == set(CLASS_WORDS)


@pytest.mark.data
def test_celeba_captions_true_to_labels(data_root):
    recs = load_records(data_root, "celeba10k")
    rng = np.random.default_rng(0)
    seen = set()
    used_phrases = set()
    for rec in recs:
        text = caption_for(rec, rng)
        seen.add(text)
        words = _class_words_in(text)
        assert len(words) == 1, text
        assert CLASS_WORD_GENDER[words[0]] == rec.gender, (rec.file, text)
        for phrase, (attr, value) in CELEBA_PHRASES.items():
            if _has(phrase, text):
                used_phrases.add(phrase)
                assert rec.attrs[attr] == value, f"{rec.file}: {text!r} says {phrase!r}; {attr} disagrees"
        assert not _has("necklace", text) and not _has("tie", text) and not _has("attractive", text)
    assert len(seen) > 0.6 * len(recs)  # varied (7,486 distinct of 10,000 when written)
    assert len(used_phrases) > 0.9 * len(CELEBA_PHRASES)  # the whole vocabulary gets used


@pytest.mark.data
def test_utkface_captions_true_to_labels(data_root):
    recs = load_records(data_root, "utkface")
    rng = np.random.default_rng(1)
    race_words = {0: "white", 1: "black", 2: "asian", 3: "indian"}
    for rec in recs:
        text = caption_for(rec, rng)
        words = _class_words_in(text)
        assert words == [class_word_for(rec.gender, rec.age)], (rec.file, text)
        for code, word in race_words.items():
            if _has(word, text):
                assert rec.race == code, (rec.file, text)
        m = re.search(r"(?:about|aged) (\d+)", text)
        if m:
            assert int(m.group(1)) == rec.age
        m = re.search(r"in (?:his|her) (\w+)ies", text)
        if m:
            stems = ["twent", "thirt", "fort", "fift", "sixt", "sevent", "eight", "ninet"]
            decade = stems.index(m.group(1)) + 2
            assert rec.age // 10 == decade, (rec.age, text)
        if _has("elderly", text):
            assert rec.age >= 70
        if _has("middle-aged", text):
            assert 40 <= rec.age <= 59
        if _has("baby", text) or _has("little", text):
            assert rec.age <= 8
        if _has("teenage", text):
            assert 13 <= rec.age <= 17


def test_age_phrases_are_consistent():
    for age in range(0, 100):
        adjs, after = age_phrases(age, "female")
        assert f"about {age} years old" in after
        assert ("young" in adjs) == (9 <= age <= 12 or 18 <= age <= 29)
        assert all("his" not in p for p in after)


def test_caption_from_seed_is_deterministic():
    rec = FaceRecord(
        "celeba10k",
        "x.jpg",
        Path("x.jpg"),
        "1",
        "female",
        attrs={
            "Smiling": True,
            "Young": True,
            "Wavy_Hair": True,
            "Brown_Hair": True,
            "Wearing_Earrings": True,
            "Male": False,
            "No_Beard": True,
        },
    )
    assert caption_for(rec, 7) == caption_for(rec, 7)
    texts = {caption_for(rec, s) for s in range(60)}
    assert len(texts) > 10
    for t in texts:
        assert _class_words_in(t) == ["woman"]
        assert not _has("beard", t) and not _has("older", t)


def test_salient_attributes_are_always_stated_when_the_face_shows_them():
    from tfgnet_desk.data.caption_attributes import shows, state_salient, stated_attributes

    attrs = {"Eyeglasses": True, "No_Beard": False, "Smiling": False, "Male": True, "Young": False}
    man = FaceRecord("celeba10k", "m.jpg", Path("m.jpg"), "2", "male", attrs=attrs)
    woman = FaceRecord("celeba10k", "w.jpg", Path("w.jpg"), "3", "female", attrs={**attrs, "Male": False})
    assert shows(man, "eyeglasses") and shows(man, "beard") and not shows(man, "smiling")
    assert not shows(woman, "beard")  # a beard label on a woman's face is not used
    salient = ("eyeglasses", "beard", "smiling")
    for seed in range(20):
        stated = stated_attributes(state_salient(caption_for(man, seed), man, salient))
        assert stated.get("eyeglasses") is True and stated.get("beard") is True
        assert stated.get("smiling") is not True
    utk = FaceRecord("utkface", "u.jpg", Path("u.jpg"), None, "male", age=30)
    assert state_salient("a man aged 30", utk, salient) == "a man aged 30"
