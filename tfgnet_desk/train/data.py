"""Training batches from the face cache (``facecache.py``) or from synthetic faces (tests).

Every random choice of step ``s`` comes from ``numpy.random.default_rng([seed, s])``: which faces,
which flips, which caption, which degraded version. So a run is a pure function of (seed, step), which
is what makes ``--resume`` exact and lets every process of a data-parallel run build the same global
batch and take its own slice of it (``slice_batch``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tfgnet_desk.train.facecache import LQ_TIERS, lq_file

# Face region of the aligned 128 crops (eyes near (0.49, 0.30), mouth near (0.49, 0.70) of the side):
# an ellipse that covers brows to chin and cheek to cheek, used when no landmarks are cached.
FACE_ELLIPSE = (0.49, 0.52, 0.40, 0.50)  # centre x, centre y, semi-axis x, semi-axis y (fractions)


def ellipse_mask(size: int, ellipse: tuple[float, float, float, float] = FACE_ELLIPSE) -> np.ndarray:
    cx, cy, ax, ay = ellipse
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    return (((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0).astype(np.float32)


def step_rng(seed: int, step: int, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, step, salt])


def step_generator(seed: int, step: int, salt: int = 1) -> torch.Generator:
    """A torch generator for step ``step`` (noise, timesteps), independent of the process count."""
    g = torch.Generator()
    g.manual_seed(int(np.random.default_rng([seed, step, salt]).integers(2**62)))
    return g


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (B, 3, H, W) in [-1, 1] -> uint8 (B, H, W, 3)."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


@dataclass
class Batch:
    """One global (or per-process) batch. Tensors are CPU; the loop moves them to the device."""

    hq: torch.Tensor  # (B, 3, H, W) target faces in [-1, 1]
    lq: torch.Tensor  # (B, 3, H, W) A.1-degraded versions in [-1, 1]
    mask: torch.Tensor  # (B, H, W) identity-region mask in [0, 1]
    desc: torch.Tensor  # (B, 128) centred, unit-norm dlib descriptors (zeros where missing)
    has_desc: torch.Tensor  # (B,) bool
    identity: torch.Tensor  # (B,) int64 CelebA identity, -1 for none
    captions: list[str]
    index: torch.Tensor  # (B,) row in the data source

    def __len__(self) -> int:
        return self.hq.shape[0]

    def slice(self, start: int, stop: int) -> Batch:
        kw: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            kw[name] = v[start:stop]
        return Batch(**kw)

    def to(self, device: torch.device | str) -> Batch:
        kw = {
            n: (v.to(device) if isinstance(v, torch.Tensor) else v)
            for n, v in ((n, getattr(self, n)) for n in self.__dataclass_fields__)
        }
        return Batch(**kw)


def slice_batch(batch: Batch, rank: int, world: int) -> Batch:
    n = len(batch)
    if n % world:
        raise ValueError(f"global batch {n} does not split over {world} processes")
    per = n // world
    return batch.slice(rank * per, (rank + 1) * per)


def _fallback_caption(gender: str, rng: np.random.Generator) -> str:
    word = "man" if gender == "male" else "woman"
    return str(rng.choice([f"a photo of a {word}", f"a {word}", f"a face of a {word}"]))


class FaceSource:
    """Faces with LQ versions, masks, dlib descriptors and captions, indexed by row."""

    size: int

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def rows(self, idx: np.ndarray, rng: np.random.Generator) -> Batch:  # pragma: no cover
        raise NotImplementedError

    desc_fraction: float = 0.0
    # Text that matters (joint stage): attributes always stated in a face's caption when the face shows
    # them, and the share of every batch drawn from faces that show one of them (one attribute chosen
    # uniformly per slot), so that a rare attribute (eyeglasses: ~6 % of CelebA) is seen often enough.
    salient_attributes: tuple[str, ...] = ()
    attribute_fraction: float = 0.0

    def attribute_rows(self, attribute: str) -> np.ndarray:  # pragma: no cover - interface
        """Rows whose face shows ``attribute`` (for ``attribute_fraction``)."""
        return np.zeros(0, np.int64)

    def sample(self, seed: int, step: int, batch_size: int) -> Batch:
        """The global batch of ``step``: rows drawn with ``step_rng(seed, step)``, random flips.

        With ``desc_fraction`` > 0, that share of the batch is drawn from faces that have a dlib
        descriptor (while the identity cache is partial, so the identity term sees enough of them).
        With ``attribute_fraction`` > 0, that share is drawn from faces showing one of
        ``salient_attributes`` (the attribute uniformly, then the face). With both at 0 the draw is
        exactly the plain one (runs resume bit-identically).
        """
        rng = step_rng(seed, step)
        idx = rng.integers(0, len(self), size=batch_size)
        has = getattr(self, "has_desc", None)
        if self.desc_fraction > 0 and has is not None and has.any():
            n = int(round(self.desc_fraction * batch_size))
            described = np.flatnonzero(has)
            idx[:n] = described[rng.integers(0, len(described), size=n)]
            idx = idx[rng.permutation(batch_size)]
        if self.attribute_fraction > 0 and self.salient_attributes:
            groups = [g for g in (self.attribute_rows(a) for a in self.salient_attributes) if len(g)]
            if groups:
                n = int(round(self.attribute_fraction * batch_size))
                which = rng.integers(0, len(groups), size=n)
                idx[:n] = [groups[k][rng.integers(0, len(groups[k]))] for k in which]
                idx = idx[rng.permutation(batch_size)]
        return self.rows(idx, rng)

    def fixed(self, n: int, seed: int = 12345) -> Batch:
        """A fixed batch (sample grids, over-fitting tests)."""
        rng = np.random.default_rng(seed)
        return self.rows(rng.choice(len(self), size=min(n, len(self)), replace=False), rng)


class CachedFaces(FaceSource):
    """The training cache built by ``python -m tfgnet_desk.train.facecache`` (faces, lq, identity)."""

    def __init__(
        self,
        cache_dir: Path | str,
        data_root: Path | str | None = None,
        pools: tuple[str, ...] = ("train",),
        size: int = 128,
        flip: bool = True,
        identity_teacher: str = "dlib",
        masks: str = "landmarks",
    ) -> None:
        """``identity_teacher``: 'dlib' (``identity.npz``) or 'faceres' (``teacher.npz``) features as
        ``desc``; ``masks``: 'landmarks' (the identity-region hull of the cached landmarks, the ellipse
        where a face has none) or 'ellipse' (always)."""
        if identity_teacher not in ("dlib", "faceres") or masks not in ("landmarks", "ellipse"):
            raise ValueError(f"identity_teacher {identity_teacher!r} / masks {masks!r} not known")
        cache_dir = Path(cache_dir)
        meta = json.loads((cache_dir / f"faces-{size}.json").read_text())
        keep = np.array([p in pools for p in meta["pools"]])
        self.rows_all = np.flatnonzero(keep)
        self.keys = [meta["keys"][i] for i in self.rows_all]
        self.size = size
        self.flip = flip
        self.faces = np.load(cache_dir / f"faces-{size}.npy", mmap_mode="r")
        # degraded banks, (versions, N, size, size, 3) each: A.1 and, when built, the surveillance tier;
        # every sample draws one (bank, version) uniformly over all versions of all banks
        self.lq_banks = [
            np.load(cache_dir / lq_file(size, t), mmap_mode="r")
            for t in LQ_TIERS
            if (cache_dir / lq_file(size, t)).exists()
        ]
        self.lq_tiers = [t for t in LQ_TIERS if (cache_dir / lq_file(size, t)).exists()]
        self._lq_versions = [(b, v) for b, bank in enumerate(self.lq_banks) for v in range(bank.shape[0])]
        n = len(self.keys)
        self.desc = np.zeros((n, 128), np.float32)
        self.has_desc = np.zeros(n, bool)
        self.lm68 = np.full((n, 68, 2), np.nan, np.float32)
        self.identity = np.full(n, -1, np.int64)
        self.gender = ["female"] * n
        self.records: list[Any] = [None] * n
        self.cache_dir = cache_dir
        self._identity_mtime = 0.0
        self.identity_teacher = identity_teacher
        self.masks = masks
        self._load_records(data_root)
        self._load_identity(cache_dir)
        self._load_teacher(cache_dir)
        self.default_mask = ellipse_mask(size)

    def __len__(self) -> int:
        return len(self.keys)

    def _load_records(self, data_root: Path | str | None) -> None:
        if data_root is None:
            return
        from tfgnet_desk.data import load_records

        pos = {k: i for i, k in enumerate(self.keys)}
        for ds in ("utkface", "celeba10k"):
            for rec in load_records(data_root, ds):
                i = pos.get(rec.key)
                if i is None:
                    continue
                self.records[i] = rec
                self.gender[i] = rec.gender
                if rec.identity is not None:
                    self.identity[i] = int(rec.identity)

    def _load_identity(self, cache_dir: Path) -> None:
        from tfgnet_desk.data.crops import crop_box

        path = cache_dir / "identity.npz"
        if self.identity_teacher == "dlib" and path.exists():
            self._identity_mtime = path.stat().st_mtime
            pos = {k: i for i, k in enumerate(self.keys)}
            z = np.load(path)
            refs = {"utkface": (200, 200, 3), "celeba10k": (109, 89, 3)}
            for j, key in enumerate(z["keys"]):
                i = pos.get(str(key))
                if i is None:
                    continue
                self.desc[i] = z["desc"][j]
                self.has_desc[i] = True
                if z["found"][j]:
                    x0, y0, side = crop_box(str(key).split("/")[0], refs[str(key).split("/")[0]])
                    self.lm68[i] = (z["lm68"][j] - np.array([x0, y0], np.float32)) * (self.size / side)
        if self.has_desc.any():
            # Centre on the mean training face (DESIGN: unrelated people then land near 0).
            self.desc_mean = self.desc[self.has_desc].mean(0)
            d = self.desc - self.desc_mean
            d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-8
            self.desc = np.where(self.has_desc[:, None], d, 0.0).astype(np.float32)
        else:
            self.desc_mean = np.zeros(128, np.float32)

    def _load_teacher(self, cache_dir: Path) -> None:
        """``teacher.npz``: landmarks for every face (they replace dlib's, fitted in the same crop
        box) and, with ``identity_teacher='faceres'``, the centred unit-norm faceres features."""
        path = cache_dir / "teacher.npz"
        if not path.exists():
            if self.identity_teacher == "faceres":
                raise FileNotFoundError(
                    f"{path} not found: build it with python -m tfgnet_desk.train.facecache teacher"
                )
            return
        z = np.load(path)
        done = int(z["done"])
        pos = {str(k): j for j, k in enumerate(z["keys"][:done])}
        rows = [(i, pos[k]) for i, k in enumerate(self.keys) if k in pos]
        if not rows:
            return
        mine, theirs = (np.array(v) for v in zip(*rows, strict=True))
        self.lm68[mine] = z["lm68"][theirs]
        if self.identity_teacher == "faceres":
            feats = z["faceres"][theirs].astype(np.float32)
            self.desc = np.zeros((len(self.keys), feats.shape[1]), np.float32)
            self.has_desc = np.zeros(len(self.keys), bool)
            self.desc_mean = feats.mean(0)
            d = feats - self.desc_mean
            self.desc[mine] = d / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-8)
            self.has_desc[mine] = True

    def mask_of(self, i: int) -> np.ndarray:
        """The identity-region mask of face ``i`` (landmark hull, or the default ellipse)."""
        lm = self.lm68[i]
        if self.masks == "ellipse" or not np.isfinite(lm).all():
            return self.default_mask
        from tfgnet_desk.faces.masks import identity_mask

        return identity_mask(lm, (self.size, self.size))

    def refresh_identity(self) -> bool:
        """Re-read ``identity.npz`` if the (still running) cache builder has extended it since."""
        path = self.cache_dir / "identity.npz"
        if self.identity_teacher != "dlib":
            return False
        if not path.exists() or path.stat().st_mtime <= self._identity_mtime:
            return False
        self.desc[:] = 0
        self.has_desc[:] = False
        self._load_identity(self.cache_dir)
        return True

    def caption(self, i: int, rng: np.random.Generator) -> str:
        rec = self.records[i]
        if rec is None:
            return _fallback_caption(self.gender[i], rng)
        from tfgnet_desk.data.caption_attributes import state_salient
        from tfgnet_desk.data.captions import caption_for

        return state_salient(caption_for(rec, rng), rec, self.salient_attributes)

    def attribute_rows(self, attribute: str) -> np.ndarray:
        cache = self.__dict__.setdefault("_attribute_rows", {})
        if attribute not in cache:
            from tfgnet_desk.data.caption_attributes import shows

            rows = [i for i, rec in enumerate(self.records) if rec is not None and shows(rec, attribute)]
            cache[attribute] = np.array(rows, np.int64)
        return cache[attribute]

    def rows(self, idx: np.ndarray, rng: np.random.Generator) -> Batch:
        rows = self.rows_all[idx]
        hq = np.stack([self.faces[r] for r in rows])
        if self._lq_versions:
            pick = rng.integers(0, len(self._lq_versions), size=len(idx))
            lq = np.stack(
                [
                    self.lq_banks[self._lq_versions[k][0]][self._lq_versions[k][1], r]
                    for k, r in zip(pick, rows, strict=True)
                ]
            )
        else:
            lq = hq.copy()
        mask = np.stack([self.mask_of(int(i)) for i in idx]).astype(np.float32)
        flips = rng.random(len(idx)) < 0.5 if self.flip else np.zeros(len(idx), bool)
        hq[flips] = hq[flips, :, ::-1]
        lq[flips] = lq[flips, :, ::-1]
        mask[flips] = mask[flips, :, ::-1]
        captions = [self.caption(int(i), rng) for i in idx]
        return Batch(
            hq=to_tensor(hq),
            lq=to_tensor(lq),
            mask=torch.from_numpy(mask),
            desc=torch.from_numpy(self.desc[idx]),
            has_desc=torch.from_numpy(self.has_desc[idx]),
            identity=torch.from_numpy(self.identity[idx]),
            captions=captions,
            index=torch.from_numpy(np.asarray(idx, np.int64)),
        )


class SyntheticFaces(FaceSource):
    """Smooth random 'faces' with fake identities and captions: for tests and smoke runs, no data needed."""

    def __init__(self, n: int = 64, size: int = 32, seed: int = 0, identities: int = 8) -> None:
        rng = np.random.default_rng(seed)
        self.size = size
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
        imgs = []
        for _ in range(n):
            c = rng.random((3, 3)).astype(np.float32)
            img = (c[:, 0, None, None] + c[:, 1, None, None] * xx + c[:, 2, None, None] * yy) / 2
            img += 0.3 * np.exp(-(((xx - 0.5) / 0.25) ** 2 + ((yy - 0.5) / 0.3) ** 2)) * rng.random()
            imgs.append(np.clip(img.transpose(1, 2, 0), 0, 1))
        self.faces = (np.stack(imgs) * 255).astype(np.uint8)
        self.lq = (self.faces // 32 * 32 + 16).astype(np.uint8)  # a cheap, deterministic 'degradation'
        self.identity = rng.integers(0, identities, size=n)
        centres = rng.normal(size=(identities, 128)).astype(np.float32)
        d = centres[self.identity] + 0.3 * rng.normal(size=(n, 128)).astype(np.float32)
        self.desc = d / np.linalg.norm(d, axis=1, keepdims=True)
        self.gender = np.where(rng.random(n) < 0.5, "male", "female")
        self.mask = ellipse_mask(size)

    def __len__(self) -> int:
        return len(self.faces)

    def rows(self, idx: np.ndarray, rng: np.random.Generator) -> Batch:
        b = len(idx)
        return Batch(
            hq=to_tensor(self.faces[idx]),
            lq=to_tensor(self.lq[idx]),
            mask=torch.from_numpy(np.broadcast_to(self.mask, (b, self.size, self.size)).copy()),
            desc=torch.from_numpy(self.desc[idx]),
            has_desc=torch.ones(b, dtype=torch.bool),
            identity=torch.from_numpy(self.identity[idx].astype(np.int64)),
            captions=[_fallback_caption(str(self.gender[i]), rng) for i in idx],
            index=torch.from_numpy(np.asarray(idx, np.int64)),
        )
