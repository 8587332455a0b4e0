"""Reading attributes back out of a description, and editing one attribute in it (evaluation's attribute
adherence and flip test; the joint stage's ``salient_attributes`` captions). Attribute names are the
attribute probes' (``faces/attributes.py`` ``PROBE_ATTRIBUTES``). Captions themselves are written by
``captions.py``.
"""

from __future__ import annotations

import re

from tfgnet_desk.data.captions import CLASS_WORDS, article
from tfgnet_desk.data.datasets import FaceRecord

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


def _fixarticle(before: str, after: str) -> str:
    """``before`` ending in "a "/"an " re-articled for the word that starts ``after``."""
    m = re.search(r"\b(a|an)\s+$", before, flags=re.IGNORECASE)
    if not m or not after.strip():
        return before
    art = article(after.strip())
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
        return _fixarticle(before, after[1:]) + after[1:]
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
            art = article(phrase)
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


def shows(rec: FaceRecord, attribute: str) -> bool:
    """Whether a face record shows a probe attribute by its CelebA labels (a beard only on a man's face;
    UTKFace records have no such labels)."""
    from tfgnet_desk.faces.attributes import PROBE_SOURCES

    if attribute not in PROBE_SOURCES:
        return False
    name, present = PROBE_SOURCES[attribute]
    if name not in rec.attrs or bool(rec.attrs[name]) != present:
        return False
    return attribute != "beard" or rec.gender == "male"


def state_salient(text: str, rec: FaceRecord, attributes: tuple[str, ...]) -> str:
    """``text`` with each of ``attributes`` that the face shows stated (the flip test's own phrase), so
    that a caption which does not mention one of them means the face does not show it."""
    for a in attributes:
        if shows(rec, a):
            text = with_attribute(text, a, True)
    return text
