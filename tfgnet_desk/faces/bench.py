"""Identity bench: how well an identity backend separates people, clean and after A.1 degradation.

    python -m tfgnet_desk.faces.bench --data DIR [--pairs 1000] [--seed 0] [--out docs/identity.md]
    python -m tfgnet_desk.faces.bench --data DIR --calibrate [--calibrate-n 1000]

Pairs come from celeba10k's **benchmark pool** (the identity-disjoint split of ``tfgnet_desk.data``; the
shipped seed-0 split file when present). Genuine pairs are two different photos of one identity, sampled
without replacement from all such pairs; impostor pairs re-pair the same first photos with the second
photo of another pair whose identity differs (so both sets use the same images). Two conditions:

- ``clean``: photo A (original 89x109 CelebA frame) vs photo B (original);
- ``degraded``: A cut to the data module's face crop at 512, A.1-degraded (``tfgnet_desk.degrade``,
  per-pair seed) to the 128x128 LQ input, vs clean B. This is the gap the product exists to close.

For each: raw and centred cosine distributions, ROC AUC, EER (and its threshold), TAR at FAR 1 %,
detection methods used, time per face. Results replace the block between the bench markers in
``--out`` (docs/identity.md) and can also be written as JSON.

``--calibrate`` estimates the mean dlib descriptor from UTKFace training faces (never CelebA, never the
benchmark pool) and writes ``tfgnet_desk/resources/dlib_mean_descriptor.npy``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import time
from collections import Counter
from pathlib import Path

import numpy as np

BEGIN = "<!-- bench:begin (written by python -m tfgnet_desk.faces.bench) -->"
END = "<!-- bench:end -->"


# Metrics ------------------------------------------------------------------------------------------------
def roc_auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """Area under the ROC curve = P(genuine score > impostor score), ties counted half (Mann-Whitney)."""
    g, i = np.asarray(genuine, dtype=np.float64), np.asarray(impostor, dtype=np.float64)
    scores = np.concatenate([g, i])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks for ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[: len(g)].sum() - len(g) * (len(g) + 1) / 2.0
    return float(u / (len(g) * len(i)))


def eer(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """(equal error rate, threshold): where false accepts (impostor >= t) ~ false rejects (genuine < t)."""
    g, i = np.sort(np.asarray(genuine, dtype=np.float64)), np.sort(np.asarray(impostor, dtype=np.float64))
    thresholds = np.unique(np.concatenate([g, i]))
    far = 1.0 - np.searchsorted(i, thresholds, side="left") / len(i)
    frr = np.searchsorted(g, thresholds, side="left") / len(g)
    k = int(np.argmin(np.abs(far - frr)))
    return float((far[k] + frr[k]) / 2.0), float(thresholds[k])


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float = 0.01) -> tuple[float, float]:
    """(true accept rate, threshold) at the threshold that lets through at most ``far`` of impostors."""
    i = np.sort(np.asarray(impostor, dtype=np.float64))
    t = float(np.quantile(i, 1.0 - far, method="higher"))
    return float((np.asarray(genuine) > t).mean()), t


def summarize(values: np.ndarray) -> dict:
    v = np.asarray(values, dtype=np.float64)
    q = np.quantile(v, [0.05, 0.5, 0.95])
    return {
        "mean": float(v.mean()),
        "std": float(v.std()),
        "p05": float(q[0]),
        "p50": float(q[1]),
        "p95": float(q[2]),
    }


# Data ---------------------------------------------------------------------------------------------------
def benchmark_records(root: Path, seed: int) -> tuple[list, str]:
    """celeba10k records to draw pairs from, and a sentence saying which."""
    from tfgnet_desk.data import DEFAULT_SPLIT_FILE, Splits, load_records, make_splits

    if DEFAULT_SPLIT_FILE.is_file():
        splits = Splits.load(DEFAULT_SPLIT_FILE)
        which = f"benchmark pool of the shipped split ({DEFAULT_SPLIT_FILE.name}, seed {splits.seed})"
    else:  # pragma: no cover - the split file ships with the package
        splits = make_splits(root, seed=0)
        which = "benchmark pool of make_splits(seed=0)"
    recs = [r for r in splits.records("benchmark", root) if r.dataset == "celeba10k"]
    if not recs:  # pragma: no cover
        recs = load_records(root, "celeba10k")
        which = "all celeba10k identities"
    return recs, which


def make_pairs(records: list, n: int, seed: int) -> tuple[list[tuple], list[tuple]]:
    """(genuine, impostor) lists of (record_a, record_b); see the module docstring."""
    rng = np.random.default_rng(seed)
    by_id: dict[str, list] = {}
    for r in records:
        by_id.setdefault(r.identity, []).append(r)
    all_genuine = [
        (recs[a], recs[b])
        for ident in sorted(by_id, key=str)
        for recs in [sorted(by_id[ident], key=lambda r: r.file)]
        for a in range(len(recs))
        for b in range(a + 1, len(recs))
    ]
    if len(all_genuine) < n:
        raise ValueError(f"only {len(all_genuine)} genuine pairs available, asked for {n}")
    genuine = [all_genuine[k] for k in rng.choice(len(all_genuine), size=n, replace=False)]
    # Impostors: A of pair k with B of pair perm[k], re-drawn until identities differ.
    perm = rng.permutation(n)
    for k in range(n):
        tries = 0
        while genuine[perm[k]][1].identity == genuine[k][0].identity and tries < 100:
            j = int(rng.integers(n))
            perm[k], perm[j] = perm[j], perm[k]
            tries += 1
    impostor = [(genuine[k][0], genuine[perm[k]][1]) for k in range(n)]
    impostor = [p for p in impostor if p[0].identity != p[1].identity]
    return genuine, impostor


# Embedding with timing ----------------------------------------------------------------------------------
class Embedder:
    """Embeds images with one encoder, caching by key, timing detection and description separately."""

    def __init__(self, encoder, log=None) -> None:
        self.encoder = encoder
        self.log = log
        self.cache: dict[str, np.ndarray | None] = {}
        self.methods: dict[str, Counter] = {}
        self.times: dict[str, list[tuple[float, float]]] = {}

    def __call__(self, key: str, img: np.ndarray, condition: str) -> np.ndarray | None:
        if key in self.cache:
            return self.cache[key]
        from .detect import NoFaceError

        t0 = time.perf_counter()
        try:
            det = self.encoder.detect(img)
        except NoFaceError:
            self.methods.setdefault(condition, Counter())["none"] += 1
            self.cache[key] = None
            return None
        t1 = time.perf_counter()
        emb = self.encoder.embed_detection(img, det)
        t2 = time.perf_counter()
        self.methods.setdefault(condition, Counter())[det.method] += 1
        self.times.setdefault(condition, []).append((t1 - t0, t2 - t1))
        self.cache[key] = emb
        n = sum(len(v) for v in self.times.values())
        if self.log is not None and n % 250 == 0:
            self.log(f"  {n} faces embedded")
        return emb


def _scores(encoder, pairs, emb_a, emb_b) -> tuple[np.ndarray, np.ndarray, int]:
    raw, cal, missing = [], [], 0
    for a, b in pairs:
        ea, eb = emb_a(a), emb_b(b)
        if ea is None or eb is None:
            missing += 1
            continue
        raw.append(encoder.similarity(ea, eb))
        cal.append(encoder.calibrated_similarity(ea, eb))
    return np.array(raw), np.array(cal), missing


def run_bench(
    data: Path, pairs: int, seed: int, backend: str = "dlib-resnet", models_dir: Path | None = None, log=print
) -> dict:
    """Run both conditions and return the results as a dict (see ``write_markdown``)."""
    from tfgnet_desk.data import load_face
    from tfgnet_desk.degrade import degrade
    from tfgnet_desk.imaging import load_image

    from .identity import get_identity_encoder

    encoder = get_identity_encoder(backend, models_dir)
    records, which = benchmark_records(data, seed)
    genuine, impostor = make_pairs(records, pairs, seed)
    log(f"{len(genuine)} genuine / {len(impostor)} impostor pairs from {which}")
    embed = Embedder(encoder, log)
    pair_index = {id(p[0]): k for k, p in enumerate(genuine)}  # A photo -> its pair (degradation seed)
    deg_params: dict[str, dict] = {}

    def clean(rec) -> np.ndarray | None:
        return embed(f"clean:{rec.key}", load_image(rec.path), "clean")

    def degraded(rec) -> np.ndarray | None:
        key = f"degraded:{rec.key}"
        if key not in embed.cache:
            rng = np.random.default_rng([seed, 7, pair_index.get(id(rec), 0)])
            lq, params = degrade(load_face(rec, 512), rng, lq_size=128, hq_size=512)
            deg_params[rec.key] = params.to_dict()
            return embed(key, lq, "degraded")
        return embed.cache[key]

    results: dict = {
        "pairs_from": which,
        "n_genuine": len(genuine),
        "n_impostor": len(impostor),
        "seed": seed,
    }
    t_start = time.perf_counter()
    for name, emb_a in (("clean", clean), ("degraded", degraded)):
        g_raw, g_cal, g_miss = _scores(encoder, genuine, emb_a, clean)
        i_raw, i_cal, i_miss = _scores(encoder, impostor, emb_a, clean)
        cond = {"missing_pairs": g_miss + i_miss}
        for scale, g, i in (("raw", g_raw, i_raw), ("centred", g_cal, i_cal)):
            e, t = eer(g, i)
            tar, t01 = tar_at_far(g, i, 0.01)
            cond[scale] = {
                "genuine": summarize(g),
                "impostor": summarize(i),
                "auc": roc_auc(g, i),
                "eer": e,
                "eer_threshold": t,
                "tar_at_far1": tar,
                "far1_threshold": t01,
            }
        results[name] = cond
        log(
            f"{name}: raw AUC {cond['raw']['auc']:.3f} EER {cond['raw']['eer']:.3f}; "
            f"centred AUC {cond['centred']['auc']:.3f} EER {cond['centred']['eer']:.3f} "
            f"({time.perf_counter() - t_start:.0f} s)"
        )
    results["methods"] = {k: dict(v) for k, v in embed.methods.items()}
    results["time_ms"] = {
        k: {
            "detect": 1000 * float(np.mean([a for a, _ in v])),
            "embed": 1000 * float(np.mean([b for _, b in v])),
            "faces": len(v),
        }
        for k, v in embed.times.items()
    }
    results["backend"] = encoder.name
    results["calibration"] = getattr(encoder, "calibration", "")
    results["machine"] = machine_description()
    results["date"] = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    results["wall_s"] = time.perf_counter() - t_start
    return results


def machine_description() -> str:
    import os

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    py = platform.python_version()
    return f"{cpu}, {os.cpu_count()} CPUs visible, load average {load:.1f} at start, Python {py}"


# Calibration --------------------------------------------------------------------------------------------
def calibrate(data: Path, n: int, seed: int, out: Path, log=print) -> dict:
    """Mean dlib descriptor of ``n`` UTKFace training faces (train pool of the split), saved to ``out``."""
    from tfgnet_desk.data import DEFAULT_SPLIT_FILE, Splits, load_records
    from tfgnet_desk.imaging import load_image

    from .detect import NoFaceError
    from .dlib_backend import DlibResNetEncoder

    recs = load_records(data, "utkface")  # de-duplicated by content hash
    if DEFAULT_SPLIT_FILE.is_file():
        train = set(Splits.load(DEFAULT_SPLIT_FILE).train)
        recs = [r for r in recs if r.key in train]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(recs))
    enc = DlibResNetEncoder(mean=np.zeros(128, np.float32))
    embs, methods = [], Counter()
    for k in order:
        if len(embs) >= n:
            break
        img = load_image(recs[int(k)].path)
        try:
            det = enc.detect(img)
        except NoFaceError:
            methods["none"] += 1
            continue
        methods[det.method] += 1
        embs.append(enc.embed_detection(img, det))
        if len(embs) % 100 == 0:
            log(f"calibrate: {len(embs)}/{n}")
    mean = np.mean(embs, axis=0).astype(np.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, mean)
    info = {"faces": len(embs), "methods": dict(methods), "seed": seed, "norm": float(np.linalg.norm(mean))}
    log(f"wrote {out}: {info}")
    return info


# Report -------------------------------------------------------------------------------------------------
def format_markdown(r: dict) -> str:
    lines = [
        BEGIN,
        f"Measured {r['date']} on {r['machine']}; backend `{r['backend']}` "
        f"(calibration: {r['calibration']}); {r['n_genuine']} genuine and {r['n_impostor']} impostor pairs "
        f"from the {r['pairs_from']}; pair seed {r['seed']}; wall time {r['wall_s'] / 60:.1f} min.",
        "",
        "| condition | score | genuine mean +- sd [p05, p95] | impostor mean +- sd [p05, p95] "
        "| ROC AUC | EER | EER threshold | TAR @ FAR 1 % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cond in ("clean", "degraded"):
        for scale in ("raw", "centred"):
            c = r[cond][scale]
            g, i = c["genuine"], c["impostor"]
            lines.append(
                f"| {cond} | {scale} | {g['mean']:.3f} +- {g['std']:.3f} [{g['p05']:.3f}, {g['p95']:.3f}] "
                f"| {i['mean']:.3f} +- {i['std']:.3f} [{i['p05']:.3f}, {i['p95']:.3f}] | {c['auc']:.3f} "
                f"| {c['eer']:.3f} | {c['eer_threshold']:.3f} | {c['tar_at_far1']:.3f} |"
            )
    lines += [
        "",
        "| condition | faces embedded | detection methods | detect ms / face | descriptor ms / face |",
        "|---|---|---|---|---|",
    ]
    for cond, t in r["time_ms"].items():
        methods = ", ".join(f"{k} {v}" for k, v in sorted(r["methods"].get(cond, {}).items()))
        lines.append(f"| {cond} | {t['faces']} | {methods} | {t['detect']:.0f} | {t['embed']:.0f} |")
    missing = {c: r[c]["missing_pairs"] for c in ("clean", "degraded")}
    lines += ["", f"Pairs dropped because a face could not be found: {missing}.", END]
    return "\n".join(lines)


def write_markdown(results: dict, out: Path) -> None:
    """Replace the bench block in ``out`` (append one if there is none)."""
    block = format_markdown(results)
    text = out.read_text() if out.is_file() else "# Identity scoring\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    out.write_text(text)


def main(argv: list[str] | None = None) -> int:
    import functools

    log = functools.partial(print, flush=True)
    p = argparse.ArgumentParser(
        prog="python -m tfgnet_desk.faces.bench", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--data", type=Path, required=True, help="face data folder (holds celeba10k/ and utkface/)"
    )
    p.add_argument("--pairs", type=int, default=1000, help="genuine pairs (and as many impostor pairs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="markdown file whose bench block is replaced")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    p.add_argument("--backend", default="dlib-resnet")
    p.add_argument("--models-dir", type=Path, default=None)
    p.add_argument("--calibrate", action="store_true", help="estimate the mean dlib descriptor from UTKFace")
    p.add_argument("--calibrate-n", type=int, default=1000)
    p.add_argument("--calibrate-out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.calibrate:
        from .dlib_backend import MEAN_DESCRIPTOR_FILE

        info = calibrate(args.data, args.calibrate_n, args.seed, args.calibrate_out or MEAN_DESCRIPTOR_FILE)
        if args.json:
            args.json.write_text(json.dumps(info, indent=1))
        return 0
    results = run_bench(args.data, args.pairs, args.seed, args.backend, args.models_dir, log=log)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.out:
        write_markdown(results, args.out)
    print(format_markdown(results))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
