"""Face records over the shared data folder (``utkface/``, ``celeba10k/``; see its README).

A :class:`FaceRecord` is one photo with its labels, whatever the data set. :func:`load_records` reads the
label files, never the pixels, except to hash file contents: byte-identical duplicates (UTKFace has 99
groups, some with contradicting age labels) are collapsed to the first file in name order, and a group
whose members disagree on gender is dropped because its labels cannot be trusted.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

DATASETS = ("utkface", "celeba10k")
GENDERS = ("male", "female")
UTK_RACES = ("white", "black", "asian", "indian", "other")  # UTKFace race codes 0..4


class DataError(RuntimeError):
    """The face data folder is missing or malformed; the message says what to do."""


@dataclass(frozen=True)
class FaceRecord:
    """One face photo. ``key`` (``dataset/file``) is unique across data sets and is what split files store.

    identity: CelebA identity number as a string; None for UTKFace (no identities).
    age: years (UTKFace); None for CelebA (it has only the ``Young`` attribute).
    race: UTKFace race code 0..4 (white, black, asian, indian, other); None for CelebA.
    attrs: CelebA's 40 attributes as booleans (names as in list_attr_celeba.txt); empty for UTKFace.
    """

    dataset: str
    file: str
    path: Path
    identity: str | None
    gender: str
    age: int | None = None
    race: int | None = None
    attrs: dict[str, bool] = field(default_factory=dict, hash=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.file}"


def resolve_data_root(data: Path | str | None = None) -> Path:
    """The data folder: ``data`` if given, else ``TFGNET_DATA``, else ``Settings().data_dir``.

    Raises :class:`DataError` with a clear message when none exists.
    """
    if data is None:
        env = os.environ.get("TFGNET_DATA")
        if env:
            data = env
        else:
            from tfgnet_desk.settings import default_data_dir

            data = default_data_dir()
    if data is None:
        raise DataError(
            "no face data folder: pass --data DIR, or set TFGNET_DATA, or place the data at ../shared/data "
            "beside the repository (it must hold utkface/ and celeba10k/)"
        )
    root = Path(data).expanduser()
    if not root.is_dir():
        raise DataError(f"face data folder {root} does not exist (pass --data DIR or set TFGNET_DATA)")
    return root


def _require(path: Path) -> Path:
    if not path.exists():
        raise DataError(f"expected {path} in the face data folder; see ../shared/data/README.md")
    return path


def read_celeba_attributes(path: Path) -> tuple[list[str], dict[str, dict[str, bool]]]:
    """Parse list_attr_celeba.txt: (attribute names, file -> {name: bool})."""
    lines = _require(path).read_text().splitlines()
    names = lines[1].split()
    table: dict[str, dict[str, bool]] = {}
    for line in lines[2:]:
        parts = line.split()
        if len(parts) != len(names) + 1:
            continue
        table[parts[0]] = {n: v == "1" for n, v in zip(names, parts[1:], strict=True)}
    return names, table


def _file_hash(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()


def _dedup(records: list[FaceRecord]) -> list[FaceRecord]:
    groups: dict[str, list[FaceRecord]] = {}
    for rec in records:
        groups.setdefault(_file_hash(rec.path), []).append(rec)
    kept = []
    for members in groups.values():
        if len({m.gender for m in members}) > 1:
            continue
        kept.append(min(members, key=lambda r: r.file))
    return sorted(kept, key=lambda r: r.file)


def _load_utkface(root: Path) -> list[FaceRecord]:
    base = root / "utkface"
    images = _require(base / "images")
    out = []
    with open(_require(base / "labels.csv"), newline="") as fh:
        for row in csv.DictReader(fh):
            path = images / row["file"]
            if not path.is_file():
                continue
            out.append(
                FaceRecord(
                    dataset="utkface",
                    file=row["file"],
                    path=path,
                    identity=None,
                    gender=GENDERS[int(row["gender"])],
                    age=int(row["age"]),
                    race=int(row["race"]),
                )
            )
    return out


def _load_celeba(root: Path) -> list[FaceRecord]:
    base = root / "celeba10k"
    images = _require(base / "images")
    _, attrs = read_celeba_attributes(base / "list_attr_celeba.txt")
    out = []
    for line in _require(base / "identity_CelebA.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) != 2 or parts[0] not in attrs:
            continue
        path = images / parts[0]
        if not path.is_file():
            continue
        a = attrs[parts[0]]
        out.append(
            FaceRecord(
                dataset="celeba10k",
                file=parts[0],
                path=path,
                identity=parts[1],
                gender="male" if a["Male"] else "female",
                attrs=a,
            )
        )
    return out


_CACHE: dict[tuple[str, str], list[FaceRecord]] = {}


def load_records(root: Path | str, dataset: str) -> list[FaceRecord]:
    """All usable records of ``dataset`` ('utkface' or 'celeba10k') under ``root``, deduplicated, sorted.

    Cached per (root, dataset) for the process: hashing ~10,000 files takes about a second.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, not {dataset!r}")
    root = Path(root)
    key = (str(root.resolve()), dataset)
    if key not in _CACHE:
        raw = _load_utkface(root) if dataset == "utkface" else _load_celeba(root)
        _CACHE[key] = _dedup(raw)
    return list(_CACHE[key])


def load_all_records(root: Path | str) -> dict[str, FaceRecord]:
    """Every record of every data set, by ``key``."""
    return {r.key: r for ds in DATASETS for r in load_records(root, ds)}
