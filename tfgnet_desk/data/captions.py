"""Templated, varied descriptions of a face from its labels, always with a class word.

Every caption holds exactly one word of :data:`CLASS_WORDS`; for a known gender it is gendered: ``boy``
/ ``girl`` under 13 years (and for teenagers, "teenage boy"), ``man`` / ``woman`` otherwise (CelebA has
no ages, its people are adults). ``person`` is in the vocabulary for prompts a user types without a
gender; captions built here never use it because both data sets label gender.

CelebA: a random handful of the photo's *true* attributes, phrased naturally ("a smiling young woman
with wavy brown hair, wearing earrings"). A false attribute is never stated, with one deliberate
reading of CelebA's negative labels: ``Young = -1`` is phrased "older" and ``No_Beard = -1`` "a beard".
Attributes that are not visible in the tight face crop (necklace, necktie) or are judgements about
the photo (Attractive, Blurry) are never used. :data:`CELEBA_PHRASES` maps each phrase a caption can
contain to the attribute (and value) it asserts, so tests can check captions against labels.

UTKFace: age (exact, by decade, or a word such as "middle-aged"), gender and, when labelled, race.
"""

from __future__ import annotations

import re

import numpy as np

from tfgnet_desk.data.datasets import FaceRecord

CLASS_WORDS: tuple[str, ...] = ("man", "woman", "boy", "girl", "person")
CLASS_WORD_GENDER: dict[str, str | None] = {
    "man": "male",
    "woman": "female",
    "boy": "male",
    "girl": "female",
    "person": None,
}
CHILD_MAX_AGE = 12  # boy/girl up to this age
TEEN_MAX_AGE = 17  # "teenage boy/girl" up to this age

# phrase in caption -> (CelebA attribute, value it asserts)
CELEBA_PHRASES: dict[str, tuple[str, bool]] = {
    "smiling": ("Smiling", True),
    "young": ("Young", True),
    "older": ("Young", False),
    "chubby": ("Chubby", True),
    "bald": ("Bald", True),
    "black hair": ("Black_Hair", True),
    "blond": ("Blond_Hair", True),
    "brown hair": ("Brown_Hair", True),
    "grey hair": ("Gray_Hair", True),
    "wavy": ("Wavy_Hair", True),
    "straight": ("Straight_Hair", True),
    "bangs": ("Bangs", True),
    "receding hairline": ("Receding_Hairline", True),
    "glasses": ("Eyeglasses", True),
    "hat": ("Wearing_Hat", True),
    "earrings": ("Wearing_Earrings", True),
    "lipstick": ("Wearing_Lipstick", True),
    "heavy makeup": ("Heavy_Makeup", True),
    "goatee": ("Goatee", True),
    "mustache": ("Mustache", True),
    "stubble": ("5_o_Clock_Shadow", True),
    "sideburns": ("Sideburns", True),
    "beard": ("No_Beard", False),
    "bushy eyebrows": ("Bushy_Eyebrows", True),
    "arched eyebrows": ("Arched_Eyebrows", True),
    "full lips": ("Big_Lips", True),
    "big nose": ("Big_Nose", True),
    "pointed nose": ("Pointy_Nose", True),
    "high cheekbones": ("High_Cheekbones", True),
    "oval face": ("Oval_Face", True),
    "double chin": ("Double_Chin", True),
    "rosy cheeks": ("Rosy_Cheeks", True),
    "pale skin": ("Pale_Skin", True),
    "narrow eyes": ("Narrow_Eyes", True),
    "bags under the eyes": ("Bags_Under_Eyes", True),
    "slightly open mouth": ("Mouth_Slightly_Open", True),
}

# (attribute, value) -> (slot, phrase); slot: adj (before the noun), with, wearing
_CELEBA_FEATURES: list[tuple[str, bool, str, str]] = [
    ("Smiling", True, "adj", "smiling"),
    ("Chubby", True, "adj", "chubby"),
    ("Bald", True, "adj", "bald"),
    ("Bangs", True, "with", "bangs"),
    ("Receding_Hairline", True, "with", "a receding hairline"),
    ("Eyeglasses", True, "wearing", "glasses"),
    ("Wearing_Hat", True, "wearing", "a hat"),
    ("Wearing_Earrings", True, "wearing", "earrings"),
    ("Wearing_Lipstick", True, "wearing", "lipstick"),
    ("Heavy_Makeup", True, "wearing", "heavy makeup"),
    ("Goatee", True, "with", "a goatee"),
    ("Mustache", True, "with", "a mustache"),
    ("5_o_Clock_Shadow", True, "with", "stubble"),
    ("Sideburns", True, "with", "sideburns"),
    ("No_Beard", False, "with", "a beard"),
    ("Bushy_Eyebrows", True, "with", "bushy eyebrows"),
    ("Arched_Eyebrows", True, "with", "arched eyebrows"),
    ("Big_Lips", True, "with", "full lips"),
    ("Big_Nose", True, "with", "a big nose"),
    ("Pointy_Nose", True, "with", "a pointed nose"),
    ("High_Cheekbones", True, "with", "high cheekbones"),
    ("Oval_Face", True, "with", "an oval face"),
    ("Double_Chin", True, "with", "a double chin"),
    ("Rosy_Cheeks", True, "with", "rosy cheeks"),
    ("Pale_Skin", True, "with", "pale skin"),
    ("Narrow_Eyes", True, "with", "narrow eyes"),
    ("Bags_Under_Eyes", True, "with", "bags under the eyes"),
    ("Mouth_Slightly_Open", True, "with", "a slightly open mouth"),
]
_HAIR_COLOURS = [
    ("Black_Hair", "black"),
    ("Blond_Hair", "blond"),
    ("Brown_Hair", "brown"),
    ("Gray_Hair", "grey"),
]
_HAIR_TEXTURES = [("Wavy_Hair", "wavy"), ("Straight_Hair", "straight")]
UTK_RACE_WORDS = ("white", "Black", "Asian", "Indian", None)  # code 4 "others": not named
_PREFIXES = ("", "", "", "a photo of ", "a portrait of ", "a close-up of ", "the face of ")
_DECADES = {
    2: "twenties",
    3: "thirties",
    4: "forties",
    5: "fifties",
    6: "sixties",
    7: "seventies",
    8: "eighties",
    9: "nineties",
}


def _generator(rng: int | np.random.Generator) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(int(rng))


def class_word_for(gender: str | None, age: int | None = None) -> str:
    """The class word for a gender and (optional) age: boy/girl up to 17 years, man/woman otherwise."""
    if gender not in ("male", "female"):
        return "person"
    child = age is not None and age <= TEEN_MAX_AGE
    if gender == "male":
        return "boy" if child else "man"
    return "girl" if child else "woman"


def find_class_word(text: str) -> str | None:
    """The first class word in ``text`` (whole word, case-insensitive), or None."""
    m = re.search(r"\b(" + "|".join(CLASS_WORDS) + r")\b", text, flags=re.IGNORECASE)
    return m.group(1).lower() if m else None


def article(word: str) -> str:
    """The indefinite article for ``word``: "an" before a vowel letter, else "a"."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _compose(
    g: np.random.Generator,
    adjs: list[str],
    noun: str,
    withs: list[str],
    wearing: list[str],
    extra: list[str] | None = None,
) -> str:
    """Put the chosen phrases into one of several sentence shapes."""
    extra = extra or []
    if g.random() < 0.3:  # witness-note style: "woman, smiling, wavy brown hair, wears glasses"
        verb = str(g.choice(["wears", "wearing"]))
        withs = [re.sub(r"^(a|an) ", "", w) for w in withs]
        parts = [noun, *adjs, *extra, *withs] + ([f"{verb} {_join(wearing)}"] if wearing else [])
        order = [parts[0]] + [parts[i] for i in 1 + g.permutation(len(parts) - 1)]
        return ", ".join(order)
    head = " ".join([*adjs, noun])
    text = f"{article(head)} {head}"
    if extra:
        text += " " + " ".join(extra)
    if withs:
        text += " with " + _join(withs)
    if wearing:
        text += (", wearing " if withs else " wearing ") + _join(wearing)
    return str(g.choice(_PREFIXES)) + text


def _celeba_caption(rec: FaceRecord, g: np.random.Generator) -> str:
    a = rec.attrs
    noun = class_word_for(rec.gender)
    options: list[tuple[str, str]] = [
        (slot, phrase) for attr, val, slot, phrase in _CELEBA_FEATURES if attr in a and a[attr] == val
    ]
    if not a.get("Bald", False):
        colours = [w for attr, w in _HAIR_COLOURS if a.get(attr)]
        textures = [w for attr, w in _HAIR_TEXTURES if a.get(attr)]
        if colours or textures:
            words = [str(g.choice(textures))] if textures and g.random() < 0.7 else []
            words += [str(g.choice(colours))] if colours else []
            if words:
                options.append(("with", " ".join(words) + " hair"))
    k = min(len(options), int(g.integers(1, 5)))
    chosen = [options[i] for i in sorted(g.choice(len(options), size=k, replace=False))] if k else []
    age = []
    if "Young" in a and g.random() < 0.6:
        age = ["young" if a["Young"] else "older"]
    adjs = [p for s, p in chosen if s == "adj"]
    adjs = adjs[:1] + age if g.random() < 0.5 else age + adjs[:1]
    withs = [p for s, p in chosen if s == "with"]
    g.shuffle(withs)
    wearing = [p for s, p in chosen if s == "wearing"]
    return _compose(g, adjs, noun, withs, wearing)


def age_phrases(age: int, gender: str) -> tuple[list[str], list[str]]:
    """Ways to say ``age``: (adjectives before the noun, phrases after it). All of them true."""
    pron = "his" if gender == "male" else "her"
    adjs: list[str] = []
    after = [f"about {age} years old", f"aged {age}"]
    if age <= 2:
        adjs.append("baby")
    elif age <= CHILD_MAX_AGE:
        adjs.append("little" if age <= 8 else "young")
    elif age <= TEEN_MAX_AGE:
        adjs.append("teenage")
    else:
        if age <= 29:
            adjs.append("young")
        if 40 <= age <= 59:
            adjs.append("middle-aged")
        if age >= 60:
            adjs.append("older")
        if age >= 70:
            adjs.append("elderly")
        if (age // 10) in _DECADES:
            after.append(f"in {pron} {_DECADES[age // 10]}")
    return adjs, after


def _utk_caption(rec: FaceRecord, g: np.random.Generator) -> str:
    noun = class_word_for(rec.gender, rec.age)
    adjs: list[str] = []
    extra: list[str] = []
    if rec.age is not None:
        age_adjs, age_after = age_phrases(rec.age, rec.gender)
        if age_adjs and g.random() < 0.5:
            adjs.append(str(g.choice(age_adjs)))
        else:
            extra.append(str(g.choice(age_after)))
    race = UTK_RACE_WORDS[rec.race] if rec.race is not None and 0 <= rec.race < len(UTK_RACE_WORDS) else None
    if race and g.random() < 0.6:
        adjs.append(race)
    if "teenage" in adjs and adjs[0] != "teenage":  # "a Black teenage girl" reads fine, keep age first
        adjs.remove("teenage")
        adjs.insert(0, "teenage")
    return _compose(g, adjs, noun, [], [], extra)


def caption_for(record: FaceRecord, rng: int | np.random.Generator) -> str:
    """A natural description of ``record`` built only from its true labels; contains a class word."""
    g = _generator(rng)
    if record.dataset == "celeba10k":
        return _celeba_caption(record, g)
    if record.dataset == "utkface":
        return _utk_caption(record, g)
    return f"a {class_word_for(record.gender, record.age)}"
