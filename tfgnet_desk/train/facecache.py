"""Training-data cache: per-face dlib identity descriptors and landmarks, and pre-decoded face crops.

Why: on a 2-core CPU, decoding JPEGs and running dlib's ResNet (0.1 s per face) inside the training
loop would cost more than the training itself. The cache is built once into an ignored folder
(``.cache/train`` by default) and read by every stage with ``numpy.load(mmap_mode="r")``.

Two parts, built separately so that the slow one can start first:
- ``identity.npz``: for training faces (``dataset/file`` keys, seeded random order, written in chunks),
  the dlib 128-d descriptor (``desc``), the 68 landmarks in the ORIGINAL image's pixel coordinates
  (``lm68``) and whether HOG detected the face (``found``). Crop-independent.
- ``faces-<size>.npy`` / ``.json``: face crops ``(N, size, size, 3)`` uint8 of the train and val pools.
- ``lq-<size>.npy``: A.1-degraded versions of those crops; ``lq-<size>-surveillance.npy``: the
  surveillance tier's degradation of the same crops (optional; training draws from every bank present).
- ``teacher.npz``: faceres identity features and dlib 68 landmarks of those crops (the identity
  teacher of the clip stage with ``identity_teacher: faceres``, and the landmark masks).
"""

from __future__ import annotations

import argparse
import csv
import glob
import importlib.util
import os
import time
from pathlib import Path

import numpy as np

DATASETS = ("celeba10k", "utkface")


def dlib_model_path(name: str) -> str:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face_recognition_models is not installed")
    hits = glob.glob(str(Path(spec.submodule_search_locations[0]) / "models" / name))
    if not hits:
        raise RuntimeError(f"dlib model file {name} not found in face_recognition_models")
    return hits[0]


def dataset_files(root: Path, dataset: str) -> list[str]:
    """Image file names of a dataset in ``labels.csv`` order (the cache's row order)."""
    with open(root / dataset / "labels.csv", newline="") as fh:
        return [row["file"] for row in csv.DictReader(fh)]


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _face_identity(img: np.ndarray, models: tuple) -> tuple[np.ndarray, np.ndarray, bool]:
    """dlib descriptor (128,), 68 landmarks in ``img`` pixels, and whether HOG found the face."""
    import dlib
    from PIL import Image

    detector, sp5, sp68, rec = models
    h, w = img.shape[:2]
    # Small CelebA images (89x109): detect and describe at 2x, where dlib's HOG finds the face.
    scale = 2.0 if max(h, w) < 150 else 1.0
    work = np.asarray(Image.fromarray(img).resize((round(w * scale), round(h * scale)), Image.BICUBIC))
    dets = detector(work, 1 if scale > 1 else 0)
    if dets:
        box = max(dets, key=lambda r: r.width() * r.height())
    else:  # aligned datasets: the face sits in a known central box
        W, H = work.shape[1], work.shape[0]
        half = 0.36 * W
        cx, cy = W / 2, H * (0.55 if H > W else 0.5)
        box = dlib.rectangle(int(cx - half), int(cy - half), int(cx + half), int(cy + half))
    desc = np.asarray(rec.compute_face_descriptor(work, sp5(work, box)), np.float32)
    lm = np.array([[p.x, p.y] for p in sp68(work, box).parts()], np.float32) / scale
    return desc, lm, bool(dets)


def build_identity(
    root: Path,
    out: Path,
    pools: tuple[str, ...] = ("train",),
    limit: int | None = None,
    seed: int = 0,
    save_every: int = 250,
) -> Path:
    """dlib descriptors + 68 landmarks of the split's ``pools`` faces, in a seeded random order.

    Writes ``identity.npz`` (keys, desc, lm68 in original image pixels, found) every ``save_every``
    faces, so training can start on a partial cache, and resumes from it when run again.
    """
    import dlib

    from tfgnet_desk.data import Splits

    models = (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(dlib_model_path("shape_predictor_5_face_landmarks.dat")),
        dlib.shape_predictor(dlib_model_path("shape_predictor_68_face_landmarks.dat")),
        dlib.face_recognition_model_v1(dlib_model_path("dlib_face_recognition_resnet_model_v1.dat")),
    )
    splits = Splits.load()
    keys = sorted(k for p in pools for k in getattr(splits, p))
    keys = [keys[i] for i in np.random.default_rng(seed).permutation(len(keys))][:limit]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "identity.npz"
    done: dict[str, tuple[np.ndarray, np.ndarray, bool]] = {}
    if path.exists():
        z = np.load(path)
        done = {
            str(k): (d, lm, bool(f))
            for k, d, lm, f in zip(z["keys"], z["desc"], z["lm68"], z["found"], strict=True)
        }

    def save() -> None:
        ks = list(done)
        tmp = out / "identity.tmp.npz"
        np.savez(
            tmp,
            keys=np.array(ks),
            desc=np.stack([done[k][0] for k in ks]),
            lm68=np.stack([done[k][1] for k in ks]),
            found=np.array([done[k][2] for k in ks]),
        )
        os.replace(tmp, path)

    t0 = time.time()
    todo = [k for k in keys if k not in done]
    for i, key in enumerate(todo, 1):
        ds, name = key.split("/", 1)
        done[key] = _face_identity(_read_rgb(root / ds / "images" / name), models)
        if i % save_every == 0 or i == len(todo):
            save()
            print(f"[identity] {len(done)}/{len(keys)} {time.time() - t0:.0f}s", flush=True)
    return path


def build_faces(
    root: Path,
    out: Path,
    size: int = 128,
    pools: tuple[str, ...] = ("train", "val"),
    split_file: Path | None = None,
) -> Path:
    """Decode the face crops of the given split pools (H1's ``load_face`` framing) into one array.

    Writes ``faces-<size>.npy`` (N, size, size, 3) uint8 and ``faces-<size>.json`` (keys and pools).
    Benchmark-pool faces are never written: the split decides, not this function.
    """
    import json

    from tfgnet_desk.data import Splits, load_face, load_records

    splits = Splits.load(split_file) if split_file else Splits.load()
    wanted = {k: p for p in pools for k in getattr(splits, p)}
    records = [r for ds in DATASETS for r in load_records(root, ds) if r.key in wanted]
    n = len(records)
    out.mkdir(parents=True, exist_ok=True)
    npy = out / f"faces-{size}.npy"
    tmp = out / f"faces-{size}.tmp.npy"
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
    t0 = time.time()
    for i, rec in enumerate(records):
        arr[i] = load_face(rec, size)
        if i % 2000 == 0:
            print(f"[faces] {i}/{n} {time.time() - t0:.0f}s", flush=True)
    arr.flush()
    del arr
    tmp.replace(npy)
    meta = {
        "size": size,
        "keys": [r.key for r in records],
        "pools": [wanted[r.key] for r in records],
        "split_seed": splits.seed,
    }
    (out / f"faces-{size}.json").write_text(json.dumps(meta))
    print(f"[faces] wrote {npy} ({n} faces, {time.time() - t0:.0f}s)")
    return npy


LQ_TIERS = ("a1", "surveillance")


def lq_file(size: int, tier: str = "a1") -> str:
    """File name of a degraded bank: ``lq-<size>.npy`` (A.1) or ``lq-<size>-<tier>.npy``."""
    if tier not in LQ_TIERS:
        raise ValueError(f"unknown degradation tier {tier!r} (known: {', '.join(LQ_TIERS)})")
    return f"lq-{size}.npy" if tier == "a1" else f"lq-{size}-{tier}.npy"


def build_lq(out: Path, size: int = 128, seed: int = 0, versions: int = 1, tier: str = "a1") -> Path:
    """Degrade every cached face ``versions`` times with one benchmark tier's degradation.

    ``tier`` 'a1': paper A.1 (H1's ``degrade``, at its 512 scale), ~15 ms a face; 'surveillance': the
    surveillance tier of ``build-benchmark`` (face 12-32 px wide, noise, JPEG, enlarged back), so that the
    restorer also learns the inputs an analyst brings from CCTV. Writes ``lq_file(size, tier)``,
    shape (versions, N, size, size, 3). Face i, version v uses seed ``[seed, v, i]`` (A.1) or
    ``[seed, v, i, 1]`` (surveillance), so each bank is reproducible. Built once because a degradation
    costs more than a training step can afford per sample on this CPU.
    """
    from tfgnet_desk.degrade import degrade, degrade_surveillance

    name = lq_file(size, tier)
    faces = np.load(out / f"faces-{size}.npy", mmap_mode="r")
    n = faces.shape[0]
    tmp = out / name.replace(".npy", ".tmp.npy")
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(versions, n, size, size, 3))
    t0 = time.time()
    for v in range(versions):
        for i in range(n):
            face = np.asarray(faces[i])
            if tier == "a1":
                lq, _ = degrade(face, np.random.default_rng([seed, v, i]), lq_size=size)
            else:
                lq, _ = degrade_surveillance(face, np.random.default_rng([seed, v, i, 1]), lq_size=size)
            arr[v, i] = lq
            if i % 2000 == 0:
                print(f"[lq:{tier}] v{v} {i}/{n} {time.time() - t0:.0f}s", flush=True)
    arr.flush()
    del arr
    path = out / name
    tmp.replace(path)
    print(f"[lq:{tier}] wrote {path} ({time.time() - t0:.0f}s)")
    return path


def build_teacher(out: Path, size: int = 128, batch: int = 32, teacher_size: int = 224) -> Path:
    """faceres identity features and dlib 68 landmarks of every cached face (``teacher.npz``).

    The cached crop is the data set's face box (``data.crops``), so the landmarks are fitted inside the
    whole crop (no detector, ~5 ms a face) and faceres sees the face through the teacher's fixed warp
    (``model.face_teacher``), exactly as the training losses will. Writes ``keys``, ``faceres``
    (N, 1024) float16 and ``lm68`` (N, 68, 2) float32 in crop pixels; resumes from a partial file.
    """
    import json

    import torch

    from tfgnet_desk.faces.detect import landmarks_in_box
    from tfgnet_desk.model.face_teacher import FaceResTeacher
    from tfgnet_desk.train.data import to_tensor

    meta = json.loads((out / f"faces-{size}.json").read_text())
    faces = np.load(out / f"faces-{size}.npy", mmap_mode="r")
    n = faces.shape[0]
    path = out / "teacher.npz"
    feats = np.zeros((n, 1024), np.float16)
    lm = np.full((n, 68, 2), np.nan, np.float32)
    start = 0
    if path.exists():
        z = np.load(path)
        if list(z["keys"][: int(z["done"])]) == meta["keys"][: int(z["done"])]:
            start = int(z["done"])
            feats[:start], lm[:start] = z["faceres"][:start], z["lm68"][:start]
    teacher = FaceResTeacher(size=teacher_size)

    def save(done: int) -> None:
        tmp = out / "teacher.tmp.npz"
        np.savez(tmp, keys=np.array(meta["keys"]), faceres=feats, lm68=lm, done=np.array(done))
        os.replace(tmp, path)

    t0 = time.time()
    for i in range(start, n, batch):
        chunk = np.array(faces[i : i + batch])  # a writable copy of the memory-mapped rows
        for j, face in enumerate(chunk):
            lm[i + j] = landmarks_in_box(face, (0, 0, size, size)).landmarks68
        with torch.no_grad():
            feats[i : i + len(chunk)] = teacher.features(to_tensor(chunk))["identity"].numpy()
        if (i // batch) % 50 == 0 or i + batch >= n:
            save(min(i + batch, n))
            print(f"[teacher] {min(i + batch, n)}/{n} {time.time() - t0:.0f}s", flush=True)
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", choices=["identity", "faces", "lq", "lq-surveillance", "teacher"])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path(".cache/train"))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--size", type=int, default=128)
    args = ap.parse_args(argv)
    if args.part in ("lq", "lq-surveillance"):
        build_lq(args.out, args.size, tier="a1" if args.part == "lq" else "surveillance")
        return
    if args.part == "teacher":
        build_teacher(args.out, args.size)
        return
    if args.part == "faces":
        build_faces(args.data, args.out, args.size)
        return
    build_identity(args.data, args.out, limit=args.limit)


if __name__ == "__main__":
    main()
