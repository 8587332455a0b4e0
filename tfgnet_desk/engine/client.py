"""The parent's handle on one engine child: start, send, receive, cancel, stop, restart.

One thread of the parent reads a given engine's events (the GUI's backend worker, or the analysis
worker for the detector's engine); sends are locked, so any thread may send. The child is started with
``spawn`` (a fresh interpreter), never ``fork``: forking a process that runs Qt and torch threads is
unsafe.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from typing import Any

from tfgnet_desk.engine import protocol as P


class EngineDied(RuntimeError):
    """The child process ended while the parent was waiting on it (crash, kill, out of memory)."""

    def __init__(self, exitcode: int | None) -> None:
        self.exitcode = exitcode
        how = "was killed" if exitcode is not None and exitcode < 0 else f"exited (code {exitcode})"
        if exitcode == -9:
            how = "was killed (SIGKILL; often the system running out of memory)"
        super().__init__(f"the generation engine process {how}")


class EngineProcess:
    """A child process serving :mod:`tfgnet_desk.engine.child`.

    ``factory``: ``"package.module:function"`` building the pipeline in the child (None: the real
    :class:`~tfgnet_desk.pipeline.TFGNetPipeline`). ``nice``: how much lower the child's CPU priority
    is than the parent's, so that the window always gets the CPU first. ``detector``:
    ``"package.module:function"`` answering ``detect`` requests in the child (None: the dlib detectors,
    :func:`tfgnet_desk.engine.child.detect_box`). ``upscaler``: ``"package.module:function"`` answering
    ``upscale`` requests (None: Real-ESRGAN x4plus, ``enhance/evidence_upscale.py:run_upscale``).
    """

    def __init__(
        self,
        name: str = "tfgnet-engine",
        factory: str | None = None,
        nice: int = 0,
        detector: str | None = None,
        upscaler: str | None = None,
    ) -> None:
        self.name = name
        self.factory = factory
        self.nice = nice
        self.detector = detector
        self.upscaler = upscaler
        self._ctx = mp.get_context("spawn")
        self.cancel_event = self._ctx.Event()
        self._conn = None
        self._process = None
        self._send_lock = threading.Lock()
        self._start_lock = threading.Lock()

    # Life cycle ------------------------------------------------------------------------------------
    def start(self) -> EngineProcess:
        """Start the child if it is not running (a dead one is replaced); returns self."""
        from tfgnet_desk.engine.child import serve

        with self._start_lock:
            if self.is_alive():
                return self
            self._close_conn()
            parent, child = self._ctx.Pipe(duplex=True)
            process = self._ctx.Process(
                target=serve,
                args=(child, self.cancel_event, self.factory, self.nice, self.detector, self.upscaler),
                name=self.name,
                daemon=True,
            )
            process.start()
            child.close()
            self._conn, self._process = parent, process
        return self

    def is_alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def exitcode(self) -> int | None:
        return self._process.exitcode if self._process is not None else None

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the child to leave, wait ``timeout`` seconds, then terminate (and kill) it; True when it
        has ended."""
        process = self._process
        if process is None:
            return True
        self.cancel_event.set()
        if process.is_alive():
            try:
                self.send(P.STOP)
            except (OSError, EngineDied):
                pass
            process.join(timeout)
        if process.is_alive():
            process.terminate()
            process.join(2.0)
        if process.is_alive():  # pragma: no cover - a child that ignores SIGTERM
            process.kill()
            process.join(2.0)
        self._close_conn()
        self._process = None
        return not process.is_alive()

    def terminate(self) -> None:
        """End the child now (SIGTERM), whatever it is doing: the way to stop work that checks no cancel
        flag (a face detection inside dlib). Thread-safe: the thread reading this engine's events gets
        :class:`EngineDied` and the next :meth:`start` replaces the child."""
        process = self._process
        if process is not None and process.is_alive():
            process.terminate()

    def _close_conn(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
            self._conn = None

    # Messages --------------------------------------------------------------------------------------
    def send(self, *message: Any) -> None:
        """Send one message (thread-safe); raises :class:`EngineDied` when the child is gone."""
        if self._conn is None:
            raise EngineDied(self.exitcode)
        with self._send_lock:
            try:
                self._conn.send(message)
            except (BrokenPipeError, EOFError, OSError) as exc:
                raise EngineDied(self._wait_exitcode()) from exc

    def receive(self, timeout: float | None = None) -> tuple | None:
        """The next event, or None after ``timeout`` seconds without one; raises :class:`EngineDied`
        when the child has ended (its pipe closes)."""
        conn = self._conn
        if conn is None:
            raise EngineDied(self.exitcode)
        try:
            if not conn.poll(timeout):
                return None
            return conn.recv()
        except (EOFError, OSError) as exc:
            raise EngineDied(self._wait_exitcode()) from exc

    def _wait_exitcode(self) -> int | None:
        if self._process is None:
            return None
        self._process.join(1.0)
        return self._process.exitcode

    # Requests --------------------------------------------------------------------------------------
    def run(self, token: int, settings: Any, request: Any) -> None:
        """Start a generation (its events follow: progress, candidate, then one of END_OF_RUN)."""
        self.cancel_event.clear()
        self.send(P.RUN, token, settings, request)

    def preload(self, settings: Any) -> None:
        self.send(P.PRELOAD, settings)

    def cancel(self) -> None:
        """Thread-safe and message-free: the running job stops at its next diffusion step."""
        self.cancel_event.set()

    def detect(self, image: Any, timeout: float = 120.0) -> tuple[tuple[int, int, int, int] | None, str]:
        """Largest face box in ``image`` and the detector that found it (blocking; call it from a worker
        thread, and only from the thread that reads this engine's events)."""
        token = time.perf_counter_ns()
        self.send(P.DETECT, token, image)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = self.receive(timeout=min(1.0, max(0.0, deadline - time.monotonic())))
            if event is None or event[1] != token:
                continue
            if event[0] == P.DETECTED:
                return event[2], event[3]
            if event[0] == P.DETECT_FAILED:
                raise P.rebuild_exception(event[2])
        raise TimeoutError(f"face detection took more than {timeout:.0f} s")

    def upscale(self, image: Any, progress: Any = None, timeout: float = 600.0) -> tuple[Any, dict[str, Any]]:
        """``image`` enlarged by the child's upscaler and its provenance (blocking; call it from a worker
        thread, the only one reading this engine's events). ``progress(done, total)`` is called on that
        thread. Cancel by :meth:`terminate` (the call raises :class:`EngineDied`)."""
        token = time.perf_counter_ns()
        self.send(P.UPSCALE, token, image)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = self.receive(timeout=min(1.0, max(0.0, deadline - time.monotonic())))
            if event is None or event[1] != token:
                continue
            if event[0] == P.UPSCALE_PROGRESS and progress is not None:
                progress(event[2], event[3])
            elif event[0] == P.UPSCALED:
                return event[2], event[3]
            elif event[0] == P.UPSCALE_FAILED:
                raise P.rebuild_exception(event[2])
        raise TimeoutError(f"the upscale took more than {timeout:.0f} s")
