"""Records, deduplication and identity-disjoint splits over the real data (skipped without it)."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from tfgnet_desk.data import (
    DEFAULT_SPLIT_FILE,
    POOLS,
    DataError,
    FaceRecord,
    Splits,
    check_disjoint,
    load_records,
    make_splits,
    resolve_data_root,
)

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def splits(data_root) -> Splits:
    return make_splits(data_root, seed=0)


def test_records_are_labelled_and_unique(data_root):
    for ds in ("utkface", "celeba10k"):
        recs = load_records(data_root, ds)
        assert len(recs) > 9000
        assert all(isinstance(r, FaceRecord) and r.dataset == ds for r in recs)
        assert all(r.gender in ("male", "female") for r in recs)
        assert len({r.key for r in recs}) == len(recs)
    utk = load_records(data_root, "utkface")
    assert all(r.identity is None and r.age is not None and r.race in range(5) for r in utk)
    celeba = load_records(data_root, "celeba10k")
    assert all(r.identity and r.age is None and len(r.attrs) == 40 for r in celeba)
    assert all(r.gender == ("male" if r.attrs["Male"] else "female") for r in celeba)


def test_utkface_duplicates_removed(data_root):
    images = sorted((data_root / "utkface" / "images").glob("*.jpg"))
    recs = load_records(data_root, "utkface")
    hashes = Counter(hashlib.sha1(r.path.read_bytes()).hexdigest() for r in recs)
    assert max(hashes.values()) == 1
    assert len(recs) < len(images) - 99  # the README's 99 duplicate groups are gone


def test_pools_are_disjoint_by_file_and_identity(data_root, splits):
    check_disjoint(splits, data_root)  # raises on any overlap
    ids = {p: splits.identities(p, data_root) for p in POOLS}
    assert not ids["benchmark"] & ids["train"]
    assert not ids["benchmark"] & ids["val"]
    assert not ids["val"] & ids["train"]
    assert len(ids["benchmark"]) >= 600
    keys = [k for p in POOLS for k in splits.pools[p]]
    assert len(keys) == len(set(keys))
    n_all = len(load_records(data_root, "utkface")) + len(load_records(data_root, "celeba10k"))
    assert len(keys) == n_all  # every usable photo is in exactly one pool


def test_benchmark_pool_is_celeba_pairs_only(data_root, splits):
    recs = splits.records("benchmark", data_root)
    assert all(r.dataset == "celeba10k" for r in recs)
    per_id = Counter(r.identity for r in recs)
    assert min(per_id.values()) >= 2
    utk_train = [k for k in splits.train if k.startswith("utkface/")]
    assert len(utk_train) > 9000 and any(k.startswith("utkface/") for k in splits.val)


def test_check_disjoint_catches_a_leak(data_root, splits):
    leaked_key = splits.benchmark[0]
    ident = next(r.identity for r in splits.records("benchmark", data_root) if r.key == leaked_key)
    celeba = load_records(data_root, "celeba10k")
    other = next(r for r in celeba if r.identity == ident and r.key != leaked_key)
    bad = Splits(
        seed=0,
        pools={
            **splits.pools,
            "benchmark": [k for k in splits.benchmark if k != other.key],
            "train": [*splits.train, other.key],
        },
    )
    with pytest.raises(AssertionError, match="identities shared"):
        check_disjoint(bad, data_root)


def test_seeded_and_different_per_seed(data_root, splits):
    assert make_splits(data_root, seed=0).pools == splits.pools
    assert make_splits(data_root, seed=1).benchmark != splits.benchmark


def test_shipped_split_file_matches_the_data(data_root, splits):
    shipped = Splits.load(DEFAULT_SPLIT_FILE)
    assert shipped.seed == 0
    assert shipped.pools == splits.pools, "rebuild it: python -m tfgnet_desk.data splits"


def test_save_load_round_trip(tmp_path, splits):
    p = splits.save(tmp_path / "s.json")
    text = p.read_text()
    assert ".jpg" in text and "/work" not in text  # names only, no absolute paths
    back = Splits.load(p)
    assert back.pools == splits.pools and back.seed == splits.seed and back.params == splits.params
    assert back.pool_of(splits.benchmark[0]) == "benchmark"


def test_resolve_data_root_errors(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="does not exist"):
        resolve_data_root(tmp_path / "missing")
    monkeypatch.setenv("TFGNET_DATA", str(tmp_path))
    assert resolve_data_root() == tmp_path
    with pytest.raises(DataError, match="utkface"):
        load_records(tmp_path, "utkface")
