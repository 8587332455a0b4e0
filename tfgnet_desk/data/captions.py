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


def _article(word: str) -> str:
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
    text = f"{_article(head)} {head}"
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


# ---------------------------------------------------------------------------------------------------
# Reading attributes back out of a description, and editing one attribute (evaluation: attribute
# adherence and the flip test). Names are the attribute probes' (faces/attributes.py PROBE_ATTRIBUTES).

_NEG = r"(?:(?:no|without|not wearing|not)\s+(?:a\s+|any\s+)?)"
# attribute -> regexes whose match states the attribute; a match preceded by a negation states False
_STATE_PATTERNS: dict[str, tuple[str, ...]] = {
    "eyeglasses": (r"(?:eye|sun)?glasses", r"spectacles"),
    "beard": (r"beard(?:ed)?",),
    "mustache": (r"mo?ustache",),
    "smiling": (r"smil(?:ing|es|e)",),
    "black_hair": (r"black(?: hair|-haired)",),
    "blond_hair": (r"blonde?",),
    "brown_hair": (r"brown(?: hair|-haired)",),
    "gray_hair": (r"gr[ae]y(?: hair|-haired)",),
    "bald": (r"bald(?:ing)?",),
    "hat": (r"hat", r"cap"),
}
_STATE_FALSE: dict[str, tuple[str, ...]] = {"beard": (r"clean[- ]shaven", r"beardless")}
# "young" probe: these words say young / not young (class words boy/girl are children or teenagers)
YOUNG_WORDS = ("young", "teenage", "boy", "girl")
NOT_YOUNG_WORDS = ("older", "elderly", "middle-aged")

# the three attributes of the flip test, how each is phrased when added: (slot, phrase)
FLIP_ATTRIBUTES: tuple[str, ...] = ("eyeglasses", "beard", "smiling")
_EDIT_PHRASES: dict[str, tuple[str, str]] = {
    "eyeglasses": ("wearing", "glasses"),
    "beard": ("with", "a beard"),
    "smiling": ("adj", "smiling"),
    "mustache": ("with", "a mustache"),
    "hat": ("wearing", "a hat"),
}
# an item to remove: the phrase with its article, modifiers and any negation
_ITEM_PATTERNS: dict[str, str] = {
    "eyeglasses": r"(?:(?:no|without|not wearing)\s+)?(?:a pair of\s+)?(?:(?:eye|sun)?glasses|spectacles)",
    "beard": r"(?:(?:no|without)\s+)?(?:(?:a|an)\s+)?(?:(?:thick|full|short|long|bushy)\s+)?beard(?:ed)?"
    r"|clean[- ]shaven|beardless",
    "smiling": r"(?:not\s+)?smiling",
    "mustache": r"(?:(?:no|without)\s+)?(?:(?:a|an)\s+)?(?:thick\s+)?mo?ustache",
    "hat": r"(?:(?:no|without|not wearing)\s+)?(?:(?:a|an)\s+)?(?:hat|cap)",
}
_OPENERS = ("with", "wearing", "wears")
_CLASS_RE = r"(?:" + "|".join(CLASS_WORDS) + r")"


def _word(pattern: str) -> str:
    return r"\b(?:" + pattern + r")\b"


def stated_attributes(text: str) -> dict[str, bool]:
    """What a description states about each probe attribute: ``{name: True/False}``; unstated ones are absent.

    "glasses" -> eyeglasses True, "no glasses" -> False; "a beard" / "bearded" -> beard True,
    "clean-shaven" / "no beard" -> False; "smiling"; "mustache"; "black/blond/brown/grey hair"; "bald";
    "hat"; young: True for "young", "teenage" and the class words boy/girl, False for "older", "elderly",
    "middle-aged". An attribute stated both ways is left out (ambiguous)."""
    low = text.lower()
    found: dict[str, set[bool]] = {}
    for name, patterns in _STATE_PATTERNS.items():
        for pat in patterns:
            for m in re.finditer(_word(pat), low):
                negated = re.search(r"\b" + _NEG + r"$", low[: m.start()]) is not None
                found.setdefault(name, set()).add(not negated)
    for name, patterns in _STATE_FALSE.items():
        if any(re.search(_word(p), low) for p in patterns):
            found.setdefault(name, set()).add(False)
    if re.search(_word("|".join(YOUNG_WORDS)), low):
        found.setdefault("young", set()).add(True)
    if re.search(_word("|".join(NOT_YOUNG_WORDS)), low):
        found.setdefault("young", set()).add(False)
    return {name: next(iter(v)) for name, v in found.items() if len(v) == 1}


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+,", ",", text)
    text = re.sub(r",(\s*,)+", ",", text)
    return re.sub(r"^[,\s]+|[,\s]+$", "", text)


def _fix_article(before: str, after: str) -> str:
    """``before`` ending in "a "/"an " re-articled for the word that starts ``after``."""
    m = re.search(r"\b(a|an)\s+$", before, flags=re.IGNORECASE)
    if not m or not after.strip():
        return before
    art = _article(after.strip())
    if m.group(1)[0].isupper():
        art = art.capitalize()
    return before[: m.start(1)] + art + " "


def _last_opener(before: str) -> re.Match[str] | None:
    ms = list(re.finditer(r"(,\s*|\s+|^)\b(" + "|".join(_OPENERS) + r")\s+", before))
    return ms[-1] if ms else None


def _remove_item(text: str, m: re.Match[str]) -> str:
    """``text`` without the list item / adjective ``m``, keeping the list grammar ("A, B and C")."""
    i, j = m.span()
    before, after = text[:i], text[j:]
    opener = re.search(r"(,\s*|\s+|^)\b(?:" + "|".join(_OPENERS) + r")\s+$", before)
    if opener:
        if after.startswith(" and "):  # "with X and B" -> "with B"
            return before + after[5:]
        if after.startswith(", "):
            rest = after[2:]
            stop = re.search(r"\b(?:" + "|".join(_OPENERS) + r")\b", rest)
            if " and " in rest[: stop.start() if stop else len(rest)]:  # "with X, B and C" -> "with B and C"
                return before + rest
        if opener.group(0).strip() == "with" and re.match(r",\s*(?:wearing|wears)\b", after):
            after = " " + after.lstrip(", ")  # "a man with X, wearing glasses" -> "a man wearing glasses"
        return before[: opener.start()] + after  # the list held only X: drop "with"/"wearing" too
    if before.endswith(" and ") and not after.startswith((" and ", " ")):
        head = before[:-5]  # "with A, B and X" -> "with A and B"
        op = _last_opener(head)
        start = op.end() if op else None
        if start is not None and ", " in head[start:]:
            k = head.rindex(", ")
            head = head[:k] + " and " + head[k + 2 :]
        return head + after
    if before.endswith(", ") and (after.startswith((", ", " and ")) or not after.strip(" .")):
        return before[:-2] + after  # "A, X, B" / "A, X and B" / "A, X"
    if after.startswith(" ") and not after.startswith((" and ", " ,")):  # adjective: "a smiling man"
        return _fix_article(before, after[1:]) + after[1:]
    return before + after


def _list_span(text: str, opener: str) -> tuple[int, int] | None:
    """Character span of the items of the first ``opener`` list ("with ...", "wearing ...")."""
    m = re.search(r"\b" + opener + r"\s+", text)
    if not m:
        return None
    start = m.end()
    rest = text[start:]
    if opener == "with":
        stop = re.search(r",\s*(?:wearing|wears)\b", rest)
        return start, start + (stop.start() if stop else len(rest))
    k = rest.find(" and ")
    if k >= 0 and not re.search(r"\bwith\b", rest[:k]):  # "wearing A, B and C[, ...]"
        comma = rest.find(",", k)
        return start, start + (comma if comma >= 0 else len(rest))
    comma = rest.find(",")
    return start, start + (comma if comma >= 0 else len(rest))


def _add_item(text: str, slot: str, phrase: str) -> str:
    if slot == "adj":
        np_re = r"\b(a|an)\s+((?:(?!(?:a|an|the|of|with|wearing|wears)\b)[\w-]+\s+)*?)(" + _CLASS_RE + r")\b"
        m = re.search(np_re, text, flags=re.IGNORECASE)
        if m:
            art = _article(phrase)
            art = art.capitalize() if m.group(1)[0].isupper() else art
            return text[: m.start()] + f"{art} {phrase} {m.group(2)}{m.group(3)}" + text[m.end() :]
        c = re.search(r"\b" + _CLASS_RE + r"\b", text, flags=re.IGNORECASE)
        if c is None:
            return _tidy(f"{phrase} {text}")
        if text[c.end() :].startswith(","):  # witness-note style: "woman, smiling, ..."
            return text[: c.end()] + f", {phrase}" + text[c.end() :]
        return text[: c.start()] + f"{phrase} " + text[c.start() :]
    witness = re.search(r"\b" + _CLASS_RE + r",", text, flags=re.IGNORECASE) is not None
    verb = "wears" if witness and slot == "wearing" else slot
    span = _list_span(text, slot) or (_list_span(text, "wears") if slot == "wearing" else None)
    if span is not None:
        a, b = span
        items = text[a:b]
        if " and " in items:
            head, last = items.rsplit(" and ", 1)
            items = f"{head}, {last} and {phrase}"
        else:
            items = f"{items} and {phrase}"
        return text[:a] + items + text[b:]
    if witness and slot == "with":
        return f"{text}, " + re.sub(r"^(a|an) ", "", phrase)
    sep = ", " if ("," in text or re.search(r"\b(?:with|wearing|wears)\b", text)) else " "
    return f"{text}{sep}{verb} {phrase}"


def with_attribute(text: str, attribute: str, present: bool) -> str:
    """``text`` with ``attribute`` stated (``present``) or not mentioned at all (not ``present``).

    Adding inserts the attribute's phrase ("wearing glasses", "with a beard", "smiling" before the class
    word) into the description's own lists when it has them; removing deletes every mention, negations
    ("no glasses", "clean-shaven") included, and repairs the list around it ("with A, X and B" -> "with A
    and B"). The class word and every other phrase are kept. A description that already states the
    attribute (resp. does not mention it) is returned unchanged, so that the two texts of a flip pair
    differ by the attribute's phrase only. Attributes: eyeglasses, beard, smiling, mustache, hat."""
    if attribute not in _EDIT_PHRASES:
        raise ValueError(f"cannot edit {attribute!r}; editable: {', '.join(_EDIT_PHRASES)}")
    stated = stated_attributes(text).get(attribute)
    if present and stated is True:
        return text
    item = re.compile(_word(_ITEM_PATTERNS[attribute]), flags=re.IGNORECASE)
    out = text
    for _ in range(8):  # every mention (a description rarely has more than one)
        m = item.search(out)
        if m is None:
            break
        out = _remove_item(out, m)
    out = _tidy(out) if out != text else text
    if present:
        slot, phrase = _EDIT_PHRASES[attribute]
        out = _tidy(_add_item(out, slot, phrase))
    return out
