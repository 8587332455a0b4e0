"""The compare view's upscale of the evidence, off the GUI thread and out of the window's process.

:class:`UpscaleWorker` runs one job at a time on a plain Python thread and reports it as typed signals
on the GUI thread (``gui/relay.py``). The work itself happens in a child process
(:class:`ProcessUpscaler`, an :class:`~tfgnet_desk.engine.EngineProcess` named ``tfgnet-upscale``):
torch and the 67 MB of Real-ESRGAN weights never load into the window's process, a crash or an
out-of-memory kill takes down only the child, and Cancel terminates the child at once (the net checks
no flag). The child is started for a job and stopped after it: the result is cached per evidence item
(``gui/enhance_session.py``), so a warm child would only hold memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from tfgnet_desk.gui.relay import EventRelay

UPSCALE_NICE = 2  # as the generation engine: the window gets the CPU first

Progress = Callable[[int, int], None]


class UpscaleCancelled(Exception):
    """The analyst cancelled the upscale in progress."""


class ProcessUpscaler:
    """``upscaler(image, progress) -> (image x4, provenance)`` answered by a child process.

    ``spec``: the child's upscaler, ``"package.module:function"`` (None: Real-ESRGAN x4plus). Call it
    from one worker thread; :meth:`cancel` (any thread) terminates the child and the call raises
    :class:`UpscaleCancelled`."""

    def __init__(self, spec: str | None = None) -> None:
        self.spec = spec
        self._cancelled = threading.Event()
        self._engine: Any = None
        self._lock = threading.Lock()

    def __call__(self, image: np.ndarray, progress: Progress | None = None) -> tuple[np.ndarray, dict]:
        from tfgnet_desk.engine import EngineDied, EngineProcess

        with self._lock:
            if self._cancelled.is_set():  # cancelled before the child started
                raise UpscaleCancelled()
            self._engine = EngineProcess("tfgnet-upscale", nice=UPSCALE_NICE, upscaler=self.spec).start()
            engine = self._engine
        try:
            return engine.upscale(image, progress)
        except EngineDied:
            if self._cancelled.is_set():  # terminated by cancel(), not by a crash
                raise UpscaleCancelled() from None
            raise
        finally:
            engine.stop(timeout=2.0)
            with self._lock:
                self._engine = None

    def begin(self) -> None:
        """A new job: forget an earlier cancel (the worker calls it before starting the job's thread)."""
        self._cancelled.clear()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled.set()
            if self._engine is not None:
                self._engine.terminate()


class UpscaleWorker(QObject):
    """One upscale at a time; its end arrives as ``finished``, ``failed`` or ``cancelled``."""

    progress = Signal(object, int, int)  # token, done, total
    finished = Signal(object, object, object)  # token, image (RGB uint8), provenance dict
    failed = Signal(object, str)  # token, a sentence for the analyst
    cancelled = Signal(object)  # token

    def __init__(self, upscaler: Any = None) -> None:
        super().__init__()
        self.upscaler = upscaler if upscaler is not None else ProcessUpscaler()
        self._relay = EventRelay(self)
        self._lock = threading.Lock()
        self._token: Any = None
        self._cancel = False
        self.thread: threading.Thread | None = None

    def busy(self) -> bool:
        with self._lock:
            return self._token is not None

    def submit(self, token: Any, image: np.ndarray) -> bool:
        """Start upscaling ``image``; False (nothing started) while another job runs."""
        with self._lock:
            if self._token is not None:
                return False
            self._token, self._cancel = token, False
            begin = getattr(self.upscaler, "begin", None)
            if begin is not None:
                begin()
        self.thread = threading.Thread(
            target=self._work, args=(token, image), name="tfgnet-upscale", daemon=True
        )
        self.thread.start()
        return True

    def cancel(self, token: Any = None) -> bool:
        """Cancel the job in progress (only ``token``'s, when given); True when there was one. The
        ``cancelled`` signal follows once the child has gone."""
        with self._lock:
            if self._token is None or (token is not None and token != self._token):
                return False
            self._cancel = True
        canceller = getattr(self.upscaler, "cancel", None)
        if canceller is not None:
            canceller()
        return True

    def stop(self, timeout: float = 5.0) -> bool:
        """Cancel what runs and wait for the thread; True when it has ended."""
        self.cancel()
        thread = self.thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def _work(self, token: Any, image: np.ndarray) -> None:
        def on_progress(done: int, total: int) -> None:
            self._relay.post("progress", token, int(done), int(total))

        try:
            out, provenance = self.upscaler(image, on_progress)
        except UpscaleCancelled:
            self._end(token, "cancelled")
        except Exception as exc:  # noqa: BLE001 - every end of a job is a signal
            if self._cancelled_now():
                self._end(token, "cancelled")
            else:
                self._end(token, "failed", _sentence(exc))
        else:
            if self._cancelled_now():  # finished just as the analyst cancelled: dropped
                self._end(token, "cancelled")
            else:
                self._end(token, "finished", np.ascontiguousarray(out, dtype=np.uint8), dict(provenance))

    def _cancelled_now(self) -> bool:
        with self._lock:
            return self._cancel

    def _end(self, token: Any, signal: str, *args: Any) -> None:
        with self._lock:
            self._token, self._cancel = None, False
        self._relay.post(signal, token, *args)


def _sentence(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "EngineDied" or isinstance(exc, MemoryError):
        return f"The upscale process stopped ({exc}); the window is not affected."
    if name == "RealESRGANUnavailable":
        return str(exc)
    return f"The upscale failed: {name}: {exc}"
