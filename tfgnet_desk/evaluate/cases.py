"""Reading a Face500-style benchmark folder: one sub-folder per case, written by
``python -m tfgnet_desk.data build-benchmark``::

    DIR/case_0001/lq.png       the degraded input (A.1)
    DIR/case_0001/target.png   the HQ target: another photo of the same person (T2F500 protocol)
    DIR/case_0001/text.txt     the description, with a class word ("man", "woman", ...)
    DIR/case_0001/meta.json    source and target keys, gender, degradation parameters, ...

A case that cannot be read (a file missing, an image that does not decode, empty text, bad JSON) raises
:class:`CaseError` with a sentence saying what is wrong; the runner reports it and goes on.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CASE_FILES = ("lq.png", "target.png", "text.txt")


class CaseError(ValueError):
    """A benchmark case is missing a file or holds one that cannot be used."""


@dataclass
class BenchmarkCase:
    case_id: str
    folder: Path
    lq: np.ndarray
    target: np.ndarray
    text: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def number(self) -> int:
        """Stable per-case number for seeding: the digits of the folder name, else a CRC of it.

        Seeds derive from this (not from the position in the run), so skipping or limiting cases never
        changes the numbers of the others."""
        return case_number(self.case_id)

    @property
    def gender(self) -> str | None:
        g = self.meta.get("gender") or self.meta.get("target_gender")
        return str(g) if g else None


def case_number(case_id: str) -> int:
    digits = re.findall(r"\d+", case_id)
    return int(digits[-1]) if digits else zlib.crc32(case_id.encode()) & 0x7FFFFFFF


def list_cases(bench: Path) -> list[Path]:
    """Case folders of a benchmark, in name order. Raises FileNotFoundError when ``bench`` is not a folder."""
    bench = Path(bench)
    if not bench.is_dir():
        raise FileNotFoundError(f"benchmark folder {bench} does not exist")
    return sorted(p for p in bench.iterdir() if p.is_dir() and not p.name.startswith("."))


def load_case(folder: Path) -> BenchmarkCase:
    """Read one case folder; raises :class:`CaseError` naming the bad file."""
    from tfgnet_desk.imaging import ImageLoadError, load_image

    folder = Path(folder)
    missing = [f for f in CASE_FILES if not (folder / f).is_file()]
    if missing:
        raise CaseError(f"{folder.name}: missing {', '.join(missing)}")
    images = {}
    for name in ("lq.png", "target.png"):
        try:
            images[name] = load_image(folder / name)
        except ImageLoadError as exc:
            raise CaseError(f"{folder.name}: {name} is unusable: {exc}") from exc
        except Exception as exc:  # a decoder bug on a broken file must not end the run either
            why = f"{type(exc).__name__}: {exc}"
            raise CaseError(f"{folder.name}: {name} could not be decoded ({why})") from exc
    try:
        text = (folder / "text.txt").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(f"{folder.name}: text.txt is unreadable: {exc}") from exc
    if not text:
        raise CaseError(f"{folder.name}: text.txt is empty")
    meta: dict[str, Any] = {}
    if (folder / "meta.json").is_file():
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CaseError(f"{folder.name}: meta.json is not valid JSON: {exc}") from exc
        if not isinstance(meta, dict):
            raise CaseError(f"{folder.name}: meta.json does not hold an object")
    return BenchmarkCase(folder.name, folder, images["lq.png"], images["target.png"], text, meta)
