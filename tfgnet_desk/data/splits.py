"""Identity-disjoint, seeded splits of the face data into 'train', 'val' and 'benchmark' pools.

Rules (../shared/data/README.md: "an identity used in a benchmark never appears in training"):

- CelebA identities with two or more photos are shuffled with ``seed`` and partitioned: the first
  ``benchmark_identities`` (default 600, at least the 500 cases of a T2F500-style benchmark) form the
  reserved **benchmark** pool, the next ``val_identities`` (default 150) the **val** pool, the rest
  **train**. Identities with a single photo go to train (they cannot leak: nobody else has their face).
- UTKFace has no identities; a seeded ``utkface_val_fraction`` (default 3 %) goes to val, the rest to
  train. No UTKFace photo is ever in the benchmark pool.

A split file is JSON holding only data-set-relative file names (``dataset/file`` keys), never pixels.
The split for seed 0 ships in ``tfgnet_desk/resources/splits_seed0.json`` (:data:`DEFAULT_SPLIT_FILE`);
rebuild it with ``python -m tfgnet_desk.data splits``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tfgnet_desk.data.datasets import DATASETS, FaceRecord, load_records
from tfgnet_desk.package_data import resource

POOLS = ("train", "val", "benchmark")
DEFAULT_SPLIT_FILE = resource("splits_seed0.json")
SPLIT_FORMAT = 1


@dataclass
class Splits:
    """Pool name -> sorted list of record keys (``dataset/file``), plus the parameters that made it."""

    seed: int
    pools: dict[str, list[str]]
    params: dict[str, float | int] = field(default_factory=dict)
    _index: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def train(self) -> list[str]:
        return self.pools["train"]

    @property
    def val(self) -> list[str]:
        return self.pools["val"]

    @property
    def benchmark(self) -> list[str]:
        return self.pools["benchmark"]

    def pool_of(self, key: str) -> str | None:
        """Which pool holds ``key`` (None if in none)."""
        if self._index is None or sum(map(len, self.pools.values())) != len(self._index):
            self._index = {k: name for name, keys in self.pools.items() for k in keys}
        return self._index.get(key)

    def records(self, pool: str, root: Path | str) -> list[FaceRecord]:
        """The :class:`FaceRecord` objects of ``pool``, read from the data folder ``root``.

        Keys whose file is no longer in the data are skipped (the split may be older than the data).
        """
        if pool not in self.pools:
            raise KeyError(f"no pool {pool!r}; pools are {sorted(self.pools)}")
        datasets = {k.split("/", 1)[0] for k in self.pools[pool]} & set(DATASETS)
        every = {r.key: r for ds in sorted(datasets) for r in load_records(root, ds)}
        return [every[k] for k in self.pools[pool] if k in every]

    def identities(self, pool: str, root: Path | str) -> set[str]:
        """CelebA identities present in ``pool`` (namespaced ``celeba10k:<id>``)."""
        return {f"{r.dataset}:{r.identity}" for r in self.records(pool, root) if r.identity is not None}

    def to_dict(self) -> dict:
        return {
            "format": SPLIT_FORMAT,
            "seed": self.seed,
            "params": self.params,
            "counts": {k: len(v) for k, v in self.pools.items()},
            "pools": self.pools,
        }

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=0, sort_keys=True) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path | str = DEFAULT_SPLIT_FILE) -> Splits:
        """Read a split file (by default the shipped seed-0 split)."""
        data = json.loads(Path(path).read_text())
        if data.get("format") != SPLIT_FORMAT:
            raise ValueError(f"{path}: unknown split format {data.get('format')!r}")
        pools = {k: list(v) for k, v in data["pools"].items()}
        missing = set(POOLS) - set(pools)
        if missing:
            raise ValueError(f"{path}: pools missing: {sorted(missing)}")
        return cls(seed=int(data["seed"]), pools=pools, params=dict(data.get("params", {})))


def make_splits(
    root: Path | str,
    seed: int = 0,
    benchmark_cases: int = 500,
    benchmark_identities: int = 600,
    val_identities: int = 150,
    utkface_val_fraction: float = 0.03,
) -> Splits:
    """Build the identity-disjoint split of the data under ``root`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    pools: dict[str, list[str]] = {p: [] for p in POOLS}

    celeba = load_records(root, "celeba10k")
    by_id: dict[str, list[FaceRecord]] = {}
    for rec in celeba:
        by_id.setdefault(rec.identity or "", []).append(rec)
    multi = sorted((i for i, recs in by_id.items() if len(recs) >= 2), key=int)
    n_bench = max(benchmark_identities, benchmark_cases)
    if len(multi) < n_bench + val_identities:
        raise ValueError(
            f"only {len(multi)} CelebA identities have two photos; need {n_bench} benchmark + "
            f"{val_identities} val identities"
        )
    order = [multi[i] for i in rng.permutation(len(multi))]
    assign = {i: "benchmark" for i in order[:n_bench]}
    assign.update({i: "val" for i in order[n_bench : n_bench + val_identities]})
    for ident, recs in by_id.items():
        pool = assign.get(ident, "train")
        pools[pool].extend(r.key for r in recs)

    utk = load_records(root, "utkface")
    n_val = int(round(len(utk) * utkface_val_fraction))
    val_idx = set(rng.permutation(len(utk))[:n_val].tolist())
    for i, rec in enumerate(utk):
        pools["val" if i in val_idx else "train"].append(rec.key)

    for p in POOLS:
        pools[p].sort()
    params = {
        "benchmark_identities": n_bench,
        "val_identities": val_identities,
        "utkface_val_fraction": utkface_val_fraction,
    }
    return Splits(seed=seed, pools=pools, params=params)


def check_disjoint(splits: Splits, root: Path | str) -> None:
    """Raise AssertionError if a key or a CelebA identity is in two pools."""
    seen: dict[str, str] = {}
    for pool, keys in splits.pools.items():
        for k in keys:
            if k in seen:
                raise AssertionError(f"{k} is in both {seen[k]} and {pool}")
            seen[k] = pool
    ids = {p: splits.identities(p, root) for p in POOLS}
    for a in POOLS:
        for b in POOLS:
            if a < b and ids[a] & ids[b]:
                raise AssertionError(f"identities shared by {a} and {b}: {sorted(ids[a] & ids[b])[:5]}")


__all__ = ["DATASETS", "DEFAULT_SPLIT_FILE", "POOLS", "Splits", "check_disjoint", "make_splits"]
