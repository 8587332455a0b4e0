"""``tfgnet-desk --self-test``: prove that an installation (or a built bundle) works, without a window.

Loads the embedded model (``tiny``: the model folder's, else the shipped ``models/tiny``), verifying
its MANIFEST hashes; runs one headless generation with 2 candidates and a few steps on a synthetic face
drawn here (no image file is needed, none is shipped); and checks the result: candidate shape and type,
finite conditioning, images that are not flat (a NaN decodes to a flat image), distinct candidates,
the manifest hash in the provenance, and the same output hashes when the request is run a second time
(the forensic reproducibility promise). Prints ``OK ...`` and returns 0, or prints what failed and
returns 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

PROMPT = "a man with short black hair"
N_CANDIDATES = 2
STEPS = 4
SEED = 1234


class SelfTestFailure(RuntimeError):
    """One check of the self-test did not hold."""


def synthetic_face(size: int = 160) -> np.ndarray:
    """A deterministic, drawn face (RGB uint8): skin oval, hair, brows, eyes, nose, mouth."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.empty((size, size, 3), np.float32)
    img[:] = (0.55 + 0.2 * yy)[..., None] * np.array([0.75, 0.78, 0.82])  # grey-blue backdrop

    def ellipse(cx, cy, rx, ry):
        return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0

    img[ellipse(0.5, 0.34, 0.30, 0.24) & (yy < 0.42)] = (0.10, 0.08, 0.07)  # hair
    face = ellipse(0.5, 0.52, 0.24, 0.32)
    shade = 1.0 - 0.35 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2)
    img[face] = np.array([0.86, 0.67, 0.55]) * shade[face][:, None]
    for cx in (0.40, 0.60):
        img[ellipse(cx, 0.40, 0.07, 0.015)] = (0.15, 0.10, 0.08)  # brows
        img[ellipse(cx, 0.46, 0.05, 0.025)] = (0.97, 0.97, 0.95)  # eye whites
        img[ellipse(cx, 0.46, 0.022, 0.022)] = (0.20, 0.13, 0.09)  # irises
    img[ellipse(0.5, 0.58, 0.025, 0.06)] *= 0.85  # nose shadow
    img[ellipse(0.5, 0.70, 0.09, 0.025)] = (0.62, 0.30, 0.30)  # mouth
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise SelfTestFailure(what)


def _model_folder(settings) -> Path:
    folder = settings.model_path("tiny")
    if not folder.is_dir() or not (folder / "MANIFEST.json").is_file():
        raise SelfTestFailure(
            f"the embedded model is missing: no model folder with MANIFEST.json at {folder}. This build or "
            "checkout has no models/tiny yet (train it with python -m tfgnet_desk.train, or import one: "
            "tfgnet-desk models import FOLDER --as tiny)"
        )
    return folder


def check_result(result, image_size: int, n: int) -> list[str]:
    """The per-result checks; returns the candidates' image hashes (raises SelfTestFailure)."""
    from tfgnet_desk.hashing import pixel_sha256

    _check(len(result.candidates) == n, f"expected {n} candidates, got {len(result.candidates)}")
    hashes = []
    for c in result.candidates:
        img = np.asarray(c.image)
        _check(
            img.shape == (image_size, image_size, 3) and img.dtype == np.uint8,
            f"candidate {c.index}: {img.dtype} {img.shape}, expected uint8 ({image_size}, {image_size}, 3)",
        )
        _check(
            float(img.std()) > 1.0, f"candidate {c.index} is flat (std {img.std():.2f}): non-finite output?"
        )
        hashes.append(pixel_sha256(img))
    _check(len(set(hashes)) == len(hashes), "candidates with different seeds are identical")
    for r in result.restored:
        _check(np.asarray(r).dtype == np.uint8 and float(np.asarray(r).std()) > 1.0, "restored face is flat")
    _check(bool(np.isfinite(result.mask).all()), "identity mask has non-finite values")
    return hashes


def self_test(settings=None, out: Callable[[str], None] = print) -> None:
    """Run every check; raises :class:`SelfTestFailure` (or the underlying error) on the first failure."""
    import torch

    from tfgnet_desk.model_folders.manifest import manifest_hash
    from tfgnet_desk.pipeline import GenerationRequest, TFGNetPipeline
    from tfgnet_desk.settings import Settings

    settings = (settings or Settings()).with_(device="cpu")
    folder = _model_folder(settings)
    t0 = time.perf_counter()
    pipe = TFGNetPipeline.from_pretrained(folder, settings, device="cpu", dtype=torch.float32)
    t_load = time.perf_counter() - t0
    model = pipe.model
    face = synthetic_face()
    with torch.no_grad():
        cond, _ = model.condition(PROMPT, None)
    _check(bool(torch.isfinite(cond.embeds).all()), "the prompt embedding is not finite")
    req = GenerationRequest(images=[face], prompt=PROMPT, n_candidates=N_CANDIDATES, seed=SEED, steps=STEPS)
    t0 = time.perf_counter()
    first = pipe(req)
    t_gen = time.perf_counter() - t0
    size = model.config.image_size
    hashes = check_result(first, size, N_CANDIDATES)
    expect_hash = manifest_hash(folder)
    got_hash = first.provenance.get("model", {}).get("manifest_hash")
    _check(got_hash == expect_hash, f"provenance manifest hash {got_hash} != the folder's {expect_hash}")
    recorded = [o["sha256"] for o in first.provenance.get("outputs", [])]
    _check(recorded == hashes, "provenance output hashes differ from the candidates")
    again = check_result(pipe(req), size, N_CANDIDATES)
    _check(
        again == hashes, "the same request gave different output hashes on a second run (not reproducible)"
    )
    t0 = time.perf_counter()
    same_threads = settings.with_(profile="tiny", threads=torch.get_num_threads())  # same float sums
    child = check_result(engine_round_trip(same_threads, req), size, N_CANDIDATES)
    t_child = time.perf_counter() - t0
    _check(child == hashes, "the engine child process gave different output hashes than this process")
    out(
        f"OK: self-test passed: model {folder} (profile {model.config.profile}, "
        f"manifest {expect_hash[:12]}), "
        f"{N_CANDIDATES} candidates {size}x{size}, {STEPS} steps, reproducible; load {t_load:.1f} s, "
        f"generation {t_gen:.1f} s; engine child process identical ({t_child:.1f} s with its start)"
    )


def engine_round_trip(settings, request, timeout: float = 300.0):
    """Run ``request`` in an engine child process, as the desktop app does; returns its result.

    Proves that the child starts in this installation (a frozen bundle needs ``freeze_support``) and
    that it computes what this process computes.
    """
    from tfgnet_desk.engine import EngineProcess
    from tfgnet_desk.engine import protocol as P

    engine = EngineProcess("tfgnet-selftest-engine").start()
    try:
        engine.run(1, settings, request)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = engine.receive(1.0)
            if event is None or event[0] not in P.END_OF_RUN:
                continue
            if event[0] == P.FINISHED:
                return event[2]
            detail = P.describe(event[2]) if event[0] == P.FAILED else "cancelled"
            raise SelfTestFailure(f"the engine child process failed the run: {detail}")
        raise SelfTestFailure(f"the engine child process gave no result within {timeout:.0f} s")
    finally:
        engine.stop()


def run_self_test(settings=None, out: Callable[[str], None] = print) -> int:
    """``tfgnet-desk --self-test``: 0 and ``OK ...`` when everything holds, else 1 and what failed."""
    try:
        self_test(settings, out)
    except SelfTestFailure as exc:
        out(f"SELF-TEST FAILED: {exc}")
        return 1
    except Exception as exc:  # noqa: BLE001 - any error is a failed self-test, reported in one line
        out(f"SELF-TEST FAILED: {type(exc).__name__}: {exc}")
        return 1
    return 0
