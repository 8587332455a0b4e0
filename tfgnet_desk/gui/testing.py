"""Helpers shared by the GUI tests and ``scripts/screenshots.py``: a drawn, synthetic face (never a real
person's photo) and a way to open the main window offscreen with a given model folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfgnet_desk.settings import Settings


def synthetic_face(size: int = 128, seed: int = 0, blur: bool = True) -> np.ndarray:
    """A drawn face-like RGB image (skin oval, hair, eyes, brows, nose, mouth) for demos and tests.

    Not a photograph of anybody: safe to commit in screenshots. ``blur`` makes it look like a
    low-quality surveillance crop.
    """
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    s = size / 128.0
    bg = tuple(int(v) for v in rng.integers(90, 160, 3))
    skin = tuple(int(v) for v in (rng.integers(170, 225), rng.integers(130, 175), rng.integers(100, 140)))
    hair = tuple(int(v) for v in rng.integers(20, 70, 3))
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    d.rectangle([0, int(104 * s), size, size], fill=(60, 70, 90))  # shoulders
    d.ellipse([34 * s, 20 * s, 94 * s, 104 * s], fill=skin)  # face
    d.chord([30 * s, 10 * s, 98 * s, 64 * s], 180, 360, fill=hair)  # hair
    for x in (50, 78):
        d.ellipse([(x - 7) * s, 52 * s, (x + 7) * s, 60 * s], fill=(245, 245, 240))
        d.ellipse([(x - 3) * s, 53 * s, (x + 3) * s, 59 * s], fill=(50, 40, 30))
        d.line([(x - 9) * s, 46 * s, (x + 8) * s, 45 * s], fill=hair, width=max(1, int(3 * s)))
    d.line([64 * s, 58 * s, 60 * s, 76 * s, 66 * s, 78 * s], fill=(150, 100, 80), width=max(1, int(2 * s)))
    d.arc([52 * s, 78 * s, 76 * s, 92 * s], 20, 160, fill=(150, 60, 60), width=max(1, int(3 * s)))
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(radius=1.2 * s))
    arr = np.asarray(img, dtype=np.float32)
    arr += rng.normal(0, 4.0, arr.shape)
    return np.clip(arr, 0, 255).astype(np.uint8)


def write_synthetic_face(path: Path, size: int = 128, seed: int = 0) -> Path:
    from tfgnet_desk.imaging import save_png

    path.parent.mkdir(parents=True, exist_ok=True)
    save_png(synthetic_face(size, seed), path)
    return path


def make_random_model(folder: Path) -> Path:
    """A random-weight tiny model saved like the real one (the model package's own test helper)."""
    from tfgnet_desk.model.testing import save_random_model

    save_random_model(folder)
    return folder


def fixed_box_detector(image: np.ndarray):
    """A stand-in detector for tests that must not depend on dlib: the central 70 % of the image."""
    h, w = image.shape[:2]
    return (int(0.15 * w), int(0.15 * h), int(0.85 * w), int(0.85 * h)), "test-fixed"


def no_face_detector(image: np.ndarray):
    return None, ""


SLOW_DETECTOR_MARK = "TFGNET_TEST_DETECTING"  # environment: a file the slow detector creates when it starts


def slow_detector(image: np.ndarray):
    """A detector for the detector child (``"tfgnet_desk.gui.testing:slow_detector"``) that never answers
    in a test's time, as dlib on a huge image once did; it touches ``$TFGNET_TEST_DETECTING`` first."""
    import os
    import time

    mark = os.environ.get(SLOW_DETECTOR_MARK)
    if mark:
        Path(mark).touch()
    time.sleep(600)
    return None, ""


class BlockingDetector:
    """An in-process stand-in detector whose calls wait until :meth:`release` (then the fixed box) or
    :meth:`cancel` (then :class:`~tfgnet_desk.gui.analysis.AnalysisCancelled`), as the detector child
    does; ``calls`` counts the calls that started."""

    def __init__(self) -> None:
        import threading

        self.calls = 0
        self._released = threading.Event()
        self._cancelled = threading.Event()

    def begin(self) -> None:
        self._cancelled.clear()

    def cancel(self) -> None:
        self._cancelled.set()

    def release(self) -> None:
        self._released.set()

    def __call__(self, image: np.ndarray):
        from tfgnet_desk.gui.analysis import AnalysisCancelled

        self.calls += 1
        while not self._released.wait(0.01):
            if self._cancelled.is_set():
                raise AnalysisCancelled()
        return fixed_box_detector(image)


class SignalRecorder:
    """Records a signal's arguments (optionally calling ``then(*args)``) in a QObject on the GUI thread.

    The workers emit their signals on the GUI thread (gui/relay.py); the recorder would still receive
    them there, queued, if a signal were emitted from another thread.
    """

    def __new__(cls, signal, then=None):
        from PySide6.QtCore import QObject

        class _Recorder(QObject):
            def __init__(self) -> None:
                super().__init__()
                self.calls: list[tuple] = []
                self.then = then

            def record(self, *args) -> None:
                self.calls.append(args)
                if self.then is not None:
                    self.then(*args)

        rec = _Recorder()
        signal.connect(rec.record)
        return rec


def open_window(settings: Settings, **kwargs):
    """Create, show and start a MainWindow (caller owns closing it); ``engine=`` shares a running
    :class:`~tfgnet_desk.engine.EngineProcess` between windows (its model stays loaded)."""
    from tfgnet_desk.gui.app import ensure_application
    from tfgnet_desk.gui.main_window import MainWindow

    ensure_application()
    kwargs.setdefault("preload", False)
    window = MainWindow(settings, **kwargs)
    window.show()
    window.start_backend()
    return window


class OutOfMemoryError(RuntimeError):
    """Named like ``torch.OutOfMemoryError`` (the window classifies errors by name)."""


class _OutOfMemoryPipeline:
    def __call__(self, request, **kwargs):
        raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def out_of_memory_pipeline(folder: Path, settings: Settings):
    """A pipeline factory for the engine child (``"tfgnet_desk.gui.testing:out_of_memory_pipeline"``)
    whose runs fail as a big GPU job that runs out of memory would."""
    return _OutOfMemoryPipeline()


class Heartbeat:
    """A timer on the GUI thread that beats every ``interval_ms``; ``gaps`` holds the milliseconds between
    beats, so the longest gap is how long the GUI thread could not answer (the stall figure)."""

    def __init__(self, interval_ms: int = 10) -> None:
        from PySide6.QtCore import QElapsedTimer, QTimer

        self.gaps: list[int] = []
        self._clock = QElapsedTimer()
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._beat)
        self._last = 0

    def start(self) -> Heartbeat:
        self._clock.start()
        self._last = self._clock.elapsed()
        self._timer.start()
        return self

    def stop(self) -> list[int]:
        self._timer.stop()
        return self.gaps

    def _beat(self) -> None:
        now = self._clock.elapsed()
        self.gaps.append(now - self._last)
        self._last = now
