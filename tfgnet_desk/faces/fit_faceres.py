"""``python -m tfgnet_desk.faces.fit_faceres``: calibrate faceres and fit its attribute probes.

What it writes into ``--out`` (default: the shipped ``models/faceres``), all derived from the training
and validation pools of the shipped split (never the benchmark pool):

- ``calibration.safetensors``: ``identity_mean`` (mean faceres feature of training faces, CelebA and
  UTKFace, for the centred cosine) and the equal-error-rate thresholds of the raw and centred cosine on
  genuine/impostor pairs of CelebA train-pool identities;
- ``probes.safetensors`` + ``probes.json``: one logistic probe per attribute
  (:data:`tfgnet_desk.faces.attributes.PROBE_ATTRIBUTES`) on CelebA train-pool faces, its val-pool AUC;
- ``fit_report.json``: every figure above plus gender accuracy and age error of faceres's own heads;
- ``MANIFEST.json`` re-written (sha256 of every file).

Both data sets are aligned crops: dlib's 68 landmarks are fitted inside each data set's known face box
(:data:`tfgnet_desk.data.crops.CROP_BOXES`), no detector. Features are cached (``--cache``) so that a
rerun costs seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from tfgnet_desk.faces.attributes import PROBE_ATTRIBUTES, AttributeProbes, fit_logistic, probe_labels


def _features_for(paths: list[tuple[str, str]], threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, 1026): identity, p_male, age; found (N,) bool) for image files, HOG + faceres."""
    import torch
    from PIL import Image

    from tfgnet_desk.data.crops import crop_box
    from tfgnet_desk.faces.detect import landmarks_in_box
    from tfgnet_desk.faces.faceres import FaceResNet, align_for_faceres

    torch.set_num_threads(threads)
    net = FaceResNet.load(_OUT)
    feats = np.zeros((len(paths), 1026), np.float32)
    found = np.zeros(len(paths), bool)
    batch: list[np.ndarray] = []
    idx: list[int] = []

    def flush() -> None:
        if batch:
            o = net.analyse_aligned(np.stack(batch))
            feats[idx] = np.concatenate([o.identity, o.p_male[:, None], o.age[:, None]], axis=1)
            batch.clear()
            idx.clear()

    for i, (p, dataset) in enumerate(paths):
        rgb = np.asarray(Image.open(p).convert("RGB"))
        # Both data sets are aligned crops: fit the 68 landmarks inside the known face box (about 5 ms;
        # a HOG search of these small images costs ten times more and finds the same face).
        x0, y0, side = crop_box(dataset, rgb.shape)
        face = landmarks_in_box(rgb, (x0, y0, x0 + side, y0 + side))
        found[i] = True
        batch.append(align_for_faceres(rgb, face.landmarks68))
        idx.append(i)
        if len(batch) == 32:
            flush()
    flush()
    return feats, found


_OUT: Path | None = None


def _init(out: Path) -> None:
    global _OUT
    _OUT = out


def extract(
    keys: list[str], paths: list[tuple[str, str]], cache: Path, out: Path, workers: int
) -> dict[str, np.ndarray]:
    """faceres features of ``keys`` (cached in ``cache``); keys whose face HOG missed are absent."""
    have: dict[str, np.ndarray] = {}
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        have = {str(k): f for k, f in zip(z["keys"], z["feats"], strict=True)}
        missed = set(map(str, z["missed"]))
    else:
        missed = set()
    todo = [(k, p) for k, p in zip(keys, paths, strict=True) if k not in have and k not in missed]
    if todo:
        from multiprocessing import get_context

        chunks = [todo[i : i + 256] for i in range(0, len(todo), 256)]
        t0 = time.time()
        with get_context("spawn").Pool(workers, initializer=_init, initargs=(out,)) as pool:
            jobs = [pool.apply_async(_features_for, ([p for _, p in c],)) for c in chunks]
            for n, (c, job) in enumerate(zip(chunks, jobs, strict=True), 1):
                f, ok = job.get()
                for (k, _), fi, oi in zip(c, f, ok, strict=True):
                    if oi:
                        have[k] = fi
                    else:
                        missed.add(k)
                print(f"  features: chunk {n}/{len(chunks)} ({time.time() - t0:.0f} s)", flush=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        ks = sorted(have)
        np.savez(
            cache, keys=np.array(ks), feats=np.stack([have[k] for k in ks]), missed=np.array(sorted(missed))
        )
    return {k: have[k] for k in keys if k in have}


def _pairs(keys: list[str], identity: dict[str, str], rng: np.random.Generator, n: int):
    by: dict[str, list[str]] = {}
    for k in keys:
        by.setdefault(identity[k], []).append(k)
    multi = [i for i, v in by.items() if len(v) >= 2]
    rng.shuffle(multi)
    genuine = [tuple(rng.choice(by[i], 2, replace=False)) for i in multi[:n]]
    impostor = []
    while len(impostor) < len(genuine):
        a, b = rng.choice(len(keys), 2, replace=False)
        if identity[keys[a]] != identity[keys[b]]:
            impostor.append((keys[a], keys[b]))
    return genuine, impostor


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)


def main(argv: list[str] | None = None) -> int:
    from tfgnet_desk.data.splits import Splits
    from tfgnet_desk.faces.bench import eer, roc_auc
    from tfgnet_desk.faces.faceres import faceres_dir

    p = argparse.ArgumentParser(
        prog="python -m tfgnet_desk.faces.fit_faceres", description=__doc__.split("\n")[0]
    )
    p.add_argument("--data", type=Path, default=Path(os.environ.get("TFGNET_DATA", "../shared/data")))
    p.add_argument(
        "--out", type=Path, default=None, help="converted faceres folder (default: models/faceres)"
    )
    p.add_argument("--cache", type=Path, default=Path(".cache/faceres_features.npz"))
    p.add_argument("--utkface", type=int, default=3000, help="UTKFace training faces for the mean feature")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    out = args.out or faceres_dir()
    if not (args.data / "celeba10k").is_dir():
        print(f"error: no celeba10k in {args.data} (set --data or TFGNET_DATA)", file=sys.stderr)
        return 2
    splits = Splits.load()
    recs = {pool: splits.records(pool, args.data) for pool in ("train", "val")}
    celeba = {pool: [r for r in rs if r.dataset == "celeba10k"] for pool, rs in recs.items()}
    utk = [r for r in recs["train"] if r.dataset == "utkface"]
    utk = [utk[i] for i in sorted(np.random.default_rng(0).permutation(len(utk))[: args.utkface])]
    everything = celeba["train"] + celeba["val"] + utk
    key = {id(r): f"{r.dataset}/{r.file}" for r in everything}
    feats = extract(
        [key[id(r)] for r in everything],
        [(str(r.path), r.dataset) for r in everything],
        args.cache,
        out,
        args.workers,
    )

    heads = {k: v[1024:] for k, v in feats.items()}
    feats = {k: v[:1024] for k, v in feats.items()}

    def table(rs):
        rs = [r for r in rs if key[id(r)] in feats]
        return rs, np.stack([feats[key[id(r)]] for r in rs])

    tr, x_tr = table(celeba["train"])
    va, x_va = table(celeba["val"])
    ut, x_ut = table(utk)
    mean = np.concatenate([x_tr, x_ut]).mean(0).astype(np.float32)
    report: dict = {
        "faces": {"celeba_train": len(tr), "celeba_val": len(va), "utkface_train": len(ut)},
        "faces_left_out": len(everything) - len(feats),
    }
    # identity calibration on train-pool pairs (faceres never saw these identities)
    identity = {key[id(r)]: r.identity for r in tr}
    tr_keys = [key[id(r)] for r in tr]
    gen, imp = _pairs(tr_keys, identity, np.random.default_rng(0), 1000)
    stack = lambda pairs: (np.stack([feats[a] for a, _ in pairs]), np.stack([feats[b] for _, b in pairs]))  # noqa: E731
    (ga, gb), (ia, ib) = stack(gen), stack(imp)
    thresholds = {}
    for name, f in (("raw", lambda a, b: _cos(a, b)), ("calibrated", lambda a, b: _cos(a - mean, b - mean))):
        g, i = f(ga, gb), f(ia, ib)
        rate, thr = eer(g, i)
        thresholds[name] = thr
        report[f"identity_{name}"] = {
            "pairs": [len(g), len(i)],
            "auc": roc_auc(g, i),
            "eer": rate,
            "threshold": thr,
            "genuine_mean": float(g.mean()),
            "impostor_mean": float(i.mean()),
        }
    # probes: train pool -> val pool
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-6
    z_tr, z_va = (x_tr - mu) / sd, (x_va - mu) / sd
    y_tr = {a: np.array([probe_labels(r.attrs)[a] for r in tr]) for a in PROBE_ATTRIBUTES}
    y_va = {a: np.array([probe_labels(r.attrs)[a] for r in va]) for a in PROBE_ATTRIBUTES}
    weights, biases, aucs, counts = [], [], {}, {}
    for a in PROBE_ATTRIBUTES:
        w, b = fit_logistic(z_tr, y_tr[a].astype(np.float64))
        weights.append(w)
        biases.append(b)
        s = z_va @ w + b
        yv = y_va[a]
        aucs[a] = roc_auc(s[yv], s[~yv]) if 0 < yv.sum() < len(yv) else float("nan")
        counts[a] = {"train_pos": int(y_tr[a].sum()), "val_pos": int(yv.sum()), "val": len(yv)}
        print(f"  probe {a:<11} val AUC {aucs[a]:.3f}  (train +{counts[a]['train_pos']}, val +{yv.sum()})")
    probes = AttributeProbes(
        attributes=PROBE_ATTRIBUTES,
        weight=np.stack(weights).astype(np.float32),
        bias=np.array(biases, np.float32),
        feature_mean=mu.astype(np.float32),
        feature_std=sd.astype(np.float32),
        val_auc=aucs,
        meta={
            "trained_on": "CelebA train pool (splits_seed0.json)",
            "validated_on": "CelebA val pool",
            "counts": counts,
            "model": "L2 logistic regression (l2=1e-2, class-balanced) on standardised features",
        },
    )
    probes.save(out)
    # faceres's own heads: gender on CelebA val (Male attribute), age on the UTKFace faces used above
    male = np.array([r.attrs["Male"] for r in va])
    p_male = np.array([heads[key[id(r)]][0] for r in va])
    ages = np.array([r.age for r in ut], dtype=np.float64)
    pred_age = np.array([heads[key[id(r)]][1] for r in ut])
    net_out = {
        "celeba_val_gender_accuracy": float(((p_male >= 0.5) == male).mean()),
        "utkface_age_mae": float(np.abs(pred_age - ages).mean()),
        "utkface_age_under_40_accuracy": float(((pred_age < 40) == (ages < 40)).mean()),
    }
    from safetensors.numpy import save_file

    save_file(
        {
            "identity_mean": mean,
            "threshold_raw": np.array([thresholds["raw"]], np.float32),
            "threshold_calibrated": np.array([thresholds["calibrated"]], np.float32),
        },
        str(out / "calibration.safetensors"),
    )
    report["probes_val_auc"] = aucs
    report.update(net_out)
    report["probes_counts"] = counts
    (out / "fit_report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    from tfgnet_desk.faces.tfjs_store import write_store_manifest

    write_store_manifest(out)
    print(json.dumps({k: v for k, v in report.items() if k != "probes_counts"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
