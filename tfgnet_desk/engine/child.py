"""The engine child's serve loop: reads one message at a time and answers with events.

It runs in a ``spawn``-ed process (see :mod:`tfgnet_desk.engine.client`), so it starts from a fresh
interpreter: nothing of the GUI (Qt, the case store) is loaded here. The pipeline is loaded lazily, the
first time a run or a preload needs it, and kept for the next runs while the model folder, profile,
device and identity backend stay the same.
"""

from __future__ import annotations

import importlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tfgnet_desk.engine import protocol as P


def load_factory(spec: str | None) -> Callable[[Path, Any], Any]:
    """The pipeline factory named by ``spec`` (``"package.module:function"``), or the real one."""
    if not spec:
        return default_pipeline_factory
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"a pipeline factory is named 'package.module:function', got {spec!r}")
    return getattr(importlib.import_module(module), attr)


def default_pipeline_factory(folder: Path, settings: Any):
    from tfgnet_desk.pipeline import TFGNetPipeline

    return TFGNetPipeline.from_pretrained(folder, settings)


def load_detector(spec: str | None) -> Callable[[np.ndarray], tuple]:
    """The face detector named by ``spec`` (``"package.module:function"``), or :func:`detect_box`."""
    if not spec:
        return detect_box
    return load_factory(spec)


def detect_box(image: np.ndarray) -> tuple[tuple[int, int, int, int] | None, str]:
    """Largest face box and the method that found it, or (None, '') when there is none."""
    from tfgnet_desk.faces.detect import detect_faces

    faces = detect_faces(image)
    if not faces:
        return None, ""
    return tuple(int(v) for v in faces[0].box), faces[0].method  # type: ignore[return-value]


def load_upscaler(spec: str | None) -> Callable[..., tuple]:
    """The upscaler named by ``spec``, or Real-ESRGAN x4plus (``enhance/evidence_upscale.py``)."""
    from tfgnet_desk.enhance.evidence_upscale import DEFAULT_RUNNER

    return load_factory(spec or DEFAULT_RUNNER)


class _Engine:
    """State of one child: the loaded pipeline and how to send events back."""

    def __init__(
        self,
        conn,
        cancel,
        factory_spec: str | None,
        detector_spec: str | None = None,
        upscaler_spec: str | None = None,
    ) -> None:
        self.conn = conn
        self.cancel = cancel
        self.factory_spec = factory_spec
        self.detector_spec = detector_spec
        self.upscaler_spec = upscaler_spec
        self.pipeline = None
        self.key: tuple | None = None

    def send(self, *message: Any) -> None:
        self.conn.send(message)

    def ensure_pipeline(self, settings: Any):
        folder = settings.model_path()
        key = (str(folder), settings.profile, settings.device, settings.identity_backend, settings.threads)
        if self.pipeline is not None and self.key == key:
            return self.pipeline
        self.pipeline, self.key = None, None
        self.send(P.MODEL_STATE, "loading", f"loading {settings.profile} model…")
        t0 = time.perf_counter()
        self.pipeline = load_factory(self.factory_spec)(folder, settings)
        self.key = key
        self.send(P.MODEL_STATE, "ready", f"model ready ({time.perf_counter() - t0:.1f} s)")
        return self.pipeline

    def preload(self, settings: Any) -> None:
        try:
            self.ensure_pipeline(settings)
        except Exception as exc:  # noqa: BLE001 - reported in the window
            self.send(P.MODEL_STATE, "error", f"{type(exc).__name__}: {exc}")

    def run(self, token: int, settings: Any, request: Any) -> None:
        try:
            pipe = self.ensure_pipeline(settings)

            def on_progress(event: Any) -> None:
                if self.cancel.is_set():
                    raise _cancelled()
                self.send(P.PROGRESS, token, str(event.stage), int(event.step), int(event.total))

            def on_candidate(candidate: Any) -> None:
                self.send(P.CANDIDATE, token, candidate)

            result = pipe(request, progress=on_progress, cancel=self.cancel, on_candidate=on_candidate)
        except BaseException as exc:  # noqa: BLE001 - every end of a run is an event
            if type(exc).__name__ == "Cancelled":
                self.send(P.CANCELLED, token)
            elif isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            else:
                self.send(P.FAILED, token, P.error_record(exc))
            return
        self.send(P.FINISHED, token, result)

    def detect(self, token: int, image: np.ndarray) -> None:
        try:
            box, method = load_detector(self.detector_spec)(image)
        except Exception as exc:  # noqa: BLE001 - the parent turns it into "no face found"
            self.send(P.DETECT_FAILED, token, P.error_record(exc))
            return
        self.send(P.DETECTED, token, box, method)

    def upscale(self, token: int, image: np.ndarray) -> None:
        def on_progress(done: int, total: int) -> None:
            self.send(P.UPSCALE_PROGRESS, token, int(done), int(total))

        try:
            out, provenance = load_upscaler(self.upscaler_spec)(image, on_progress)
        except Exception as exc:  # noqa: BLE001 - reported in the compare view
            self.send(P.UPSCALE_FAILED, token, P.error_record(exc))
            return
        self.send(P.UPSCALED, token, out, provenance)


def _cancelled() -> BaseException:
    from tfgnet_desk.pipeline import Cancelled

    return Cancelled("cancelled by the analyst")


def _leave() -> None:
    """End the child now. A child that has loaded torch and the model spends 2 s or more tearing its
    interpreter down (measured: 2.3 s for the tiny pipeline), which the window's close waits for; the
    child holds nothing to save (the case store lives in the parent), so it skips that teardown, as a
    forked multiprocessing child always does."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(0)


def serve(
    conn,
    cancel,
    factory_spec: str | None = None,
    nice: int = 0,
    detector_spec: str | None = None,
    upscaler_spec: str | None = None,
) -> None:
    """The child's main function: serve messages until ``stop`` or until the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the parent's to handle
    if nice:
        try:
            os.nice(nice)  # the window's process wins the CPU whenever it needs it
        except OSError:
            pass
    engine = _Engine(conn, cancel, factory_spec, detector_spec, upscaler_spec)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        kind = message[0]
        try:
            if kind == P.STOP:
                _leave()
            if kind == P.PRELOAD:
                engine.preload(message[1])
            elif kind == P.RUN:
                engine.run(*message[1:])
            elif kind == P.DETECT:
                engine.detect(*message[1:])
            elif kind == P.UPSCALE:
                engine.upscale(*message[1:])
        except (BrokenPipeError, EOFError, OSError):  # the parent went away while we answered
            return
