"""Evidence import and face detection, off the GUI thread.

Decoding a large photo and hashing it into the case store run here, on a long-lived worker thread, while
the backend worker may be busy generating. The face detectors (dlib's HOG, with a CNN fallback that
takes about a second) run in a small child process of their own (:class:`ProcessDetector`): dlib keeps
Python's GIL for the whole detection, which would freeze the window if it ran in the window's process.
Results come back as typed signals.

While an item is read or searched for a face, ``busy`` names it ("Finding the face in X…"); the analyst
may cancel that item's analysis (:meth:`AnalysisWorker.cancel`): the detector child is terminated (dlib
checks no cancel flag) and the item arrives marked :data:`NOT_ANALYSED`, stored in the case, unticked,
waiting for a face box drawn by hand. The next analysis starts a fresh child. Closing the window does the
same to whatever is in progress, so that quitting never waits on a detection.

The detector child gets a bounded copy of the image (:func:`detection_copy`, the resolution the detectors
work at anyway, see ``faces/detect.py``), never a 64-megapixel array through the pipe; boxes are mapped
back to the image's pixels. The window draws a large image from a display copy of at most
``DISPLAY_MAX_SIDE`` pixels (:func:`display_copy`, made here, off the GUI thread); runs use the image.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from tfgnet_desk.gui.messages import NOT_ANALYSED, UserMessage, explain
from tfgnet_desk.gui.relay import EventRelay

DISPLAY_MAX_SIDE = 2048  # px: the evidence view fits the whole image in a pane far smaller than this


class AnalysisCancelled(Exception):
    """The analyst cancelled the analysis of the item in progress."""


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` reduced to ``size`` (width, height) with a box filter, a band of rows at a time: no
    full-size copy is made (PIL holds RGB in 4 bytes a pixel: 256 MB for 64 megapixels)."""
    from PIL import Image

    h, w = image.shape[:2]
    f = max(1, min(w // max(1, size[0]), h // max(1, size[1])))
    if f >= 2:  # whole-number reduction band by band (f x f blocks), then the exact size below
        band = f * max(1, (16 << 20) // (4 * w * f))
        parts = [
            np.asarray(Image.fromarray(np.ascontiguousarray(image[y : y + band])).reduce(f))
            for y in range(0, h, band)
        ]
        image = np.concatenate(parts, axis=0)
    small = Image.fromarray(np.ascontiguousarray(image))
    if small.size != tuple(size):
        small = small.resize(tuple(size), Image.Resampling.BOX)
    return np.asarray(small)


def display_copy(image: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray | None:
    """A copy of ``image`` of at most ``max_side`` px a side for the screen, or None when the image
    itself is small enough."""
    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return None
    scale = max_side / max(h, w)
    return shrink(image, (max(1, round(w * scale)), max(1, round(h * scale))))


def detection_copy(image: np.ndarray) -> tuple[np.ndarray, float]:
    """``image`` shrunk to the pixels the detectors would work on (``faces/detect.py`` pads a quarter of
    the longer side on each side and bounds the padded copy to ``WORK_MAX_PIXELS``), and the scale
    applied (1.0: unchanged). Smoothed with a box filter, as the detectors' own reduction is."""
    from tfgnet_desk.faces.detect import PAD_FRACTION, WORK_MAX_PIXELS

    h, w = image.shape[:2]
    longest = max(h, w)
    padded = (h + 2 * PAD_FRACTION * longest) * (w + 2 * PAD_FRACTION * longest)
    if padded <= WORK_MAX_PIXELS:
        return image, 1.0
    scale = (WORK_MAX_PIXELS / padded) ** 0.5
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return shrink(image, size), size[0] / w


def scale_box(
    box: tuple[int, int, int, int] | None, scale: float, shape: tuple[int, ...]
) -> tuple[int, int, int, int] | None:
    """A box found on a copy shrunk by ``scale``, in the pixels of an image of ``shape``."""
    from tfgnet_desk.faces.detect import clip_box

    if box is None or scale == 1.0:
        return box
    return clip_box(np.asarray(box, dtype=np.float64) / scale, shape[:2])


@dataclass
class LoadedEvidence:
    token: int
    name: str
    image: np.ndarray
    evidence_id: int | None  # id in the case store (None when there is no store / case)
    detected_box: tuple[int, int, int, int] | None
    method: str
    stored_box: tuple[int, int, int, int] | None  # a box saved earlier (by hand), wins over detection
    purpose: str = "evidence"  # evidence | reference
    display: np.ndarray | None = None  # a smaller copy to draw a large image from (None: the image)


@dataclass
class EvidenceRequest:
    token: int
    case_id: int | None
    path: Path | None = None
    data: bytes | None = None  # image data pasted or dragged from another application
    name: str = ""
    evidence_id: int | None = None  # re-open evidence already in the store
    purpose: str = "evidence"


class ProcessDetector:
    """``detector(image) -> (box | None, method)`` answered by a detector child process.

    The child starts with the analysis thread (:meth:`start`) and is replaced if it dies; call it only
    from that one thread. :meth:`cancel` (any thread) terminates the child: the call in progress raises
    :class:`AnalysisCancelled`. ``detector``: the child's detector function, ``"package.module:function"``
    (None: dlib's, see ``engine/child.py``).
    """

    def __init__(self, detector: str | None = None) -> None:
        from tfgnet_desk.engine import EngineProcess

        self.engine = EngineProcess("tfgnet-detector", detector=detector)
        self._cancelled = threading.Event()

    def start(self) -> None:
        self.engine.start()

    def begin(self) -> None:
        """A new item: forget an earlier cancel (called before each detection)."""
        self._cancelled.clear()

    def cancel(self) -> None:
        self._cancelled.set()
        self.engine.terminate()

    def __call__(self, image: np.ndarray) -> tuple[tuple[int, int, int, int] | None, str]:
        from tfgnet_desk.engine import EngineDied

        small, scale = detection_copy(image)
        try:
            box, method = self._detect(small)
        except EngineDied:  # one retry in a fresh child (the first may have been killed for memory)
            box, method = self._detect(small)
        return scale_box(box, scale, image.shape), method

    def _detect(self, image: np.ndarray) -> tuple[tuple[int, int, int, int] | None, str]:
        from tfgnet_desk.engine import EngineDied

        if self._cancelled.is_set():
            raise AnalysisCancelled()
        try:
            return self.engine.start().detect(image)
        except EngineDied:
            if self._cancelled.is_set():  # terminated by cancel(), not by a crash
                raise AnalysisCancelled() from None
            raise

    def close(self) -> None:
        """Stop the child at once (terminated when it is busy: quitting never waits on a detection)."""
        self.engine.terminate()
        self.engine.stop(timeout=1.0)


class AnalysisWorker(QObject):
    """Imports evidence into the store and detects faces on its own long-lived thread."""

    loaded = Signal(object)  # LoadedEvidence
    load_failed = Signal(object, object)  # token, UserMessage
    busy = Signal(object, str, int)  # token in progress (None: idle), what it is doing, items waiting

    def __init__(self, store: Any = None, detector=None) -> None:
        super().__init__()
        self.store = store
        self.detector = detector if detector is not None else ProcessDetector()
        self._relay = EventRelay(self)  # signals are emitted on the GUI thread (gui/relay.py)
        self._queue: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()  # orders cancel() against the start of a detection
        self._current: int | None = None  # token of the request being handled
        self._shown: tuple[int, str] | None = None  # what the busy indicator says about it
        self._cancel_current = False
        self._stopping = False

    def start(self) -> threading.Thread:
        """Start the worker thread (a plain Python thread serving a queue: it only decodes, hashes and
        waits on the detector process)."""
        thread = threading.Thread(target=self._serve, name="tfgnet-analysis", daemon=True)
        thread.start()
        self.thread = thread
        return thread

    def request(self, req: EvidenceRequest) -> None:
        self._queue.put(req)
        # the item in progress keeps its words and the count of waiting items grows now (posted outside
        # the lock: on the GUI thread a post may run the window's handlers at once)
        with self._lock:
            shown = self._shown if self._current is not None else None
        if shown is not None:
            self._relay.post("busy", shown[0], shown[1], self._queue.qsize())

    def is_alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def cancel(self, token: int | None = None) -> bool:
        """Cancel the analysis in progress (only if it is ``token``'s, when given); True when one was.
        The item still arrives (``loaded``), stored, with method :data:`NOT_ANALYSED` and no box."""
        with self._lock:
            if self._current is None or (token is not None and token != self._current):
                return False
            self._cancel_current = True
            canceller = getattr(self.detector, "cancel", None)
            if canceller is not None:
                canceller()
        return True

    def stop(self, timeout_ms: int = 5_000) -> bool:
        """End the thread: what waits in the queue is dropped, a detection in progress is cancelled (its
        child terminated) and the detector child stopped. Returns whether the thread has ended."""
        if self.thread is None:
            return True
        self._stopping = True
        self._queue.put(None)
        self.cancel()
        self.thread.join(timeout_ms / 1000)
        ok = not self.thread.is_alive()
        if not ok:  # still decoding a large file: at least the child goes now, not at exit
            closer = getattr(self.detector, "close", None)
            if closer is not None:
                closer()
        self.thread = None
        return ok

    def _serve(self) -> None:
        starter = getattr(self.detector, "start", None)
        if starter is not None:
            try:
                starter()  # spawn the detector child now, not at the first drop
            except Exception:  # noqa: BLE001 - the first detection retries and reports
                pass
        try:
            while (req := self._queue.get()) is not None and not self._stopping:
                with self._lock:
                    self._current, self._cancel_current = req.token, False
                try:
                    self._handle(req)
                finally:
                    with self._lock:
                        self._current = None
                if self._queue.empty():
                    self._relay.post("busy", None, "", 0)
        finally:
            closer = getattr(self.detector, "close", None)
            if closer is not None:
                closer()

    def _busy(self, req: EvidenceRequest, text: str) -> None:
        with self._lock:
            self._shown = (req.token, text)
            self._relay.post("busy", req.token, text, self._queue.qsize())

    def _handle(self, req: EvidenceRequest) -> None:
        try:
            self._relay.post("loaded", self._load(req))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message in the window
            self._relay.post("load_failed", req.token, self._message(exc, req))

    def _message(self, exc: Exception, req: EvidenceRequest) -> UserMessage:
        if type(exc).__name__ == "EvidenceError":
            return UserMessage(
                "bad-file",
                "Cannot use this file",
                str(exc),
                "Choose a JPEG, PNG, BMP, TIFF or WebP photo (under 64 megapixels).",
            )
        return explain(exc, req.name or (req.path.name if req.path else "the image"))

    def _load(self, req: EvidenceRequest) -> LoadedEvidence:
        """Import (or re-open) the image in the case store, decode it and find the face.

        A reference photo is stored with the case too (kind 'reference'), so that runs scored against it
        can name it; it gets no face box (the identity scorer finds the face itself).
        """
        from tfgnet_desk.imaging import load_image

        stored_box = None
        evidence_id = req.evidence_id
        name = req.name or (req.path.name if req.path else "pasted image")
        kind = "reference" if req.purpose == "reference" else "crop"
        self._busy(req, f"Reading {name}…")
        if self.store is None or req.case_id is None:
            image = load_image(req.data if req.data is not None else req.path)
        else:
            if evidence_id is None and req.data is not None:
                evidence_id = self.store.evidence.import_bytes(req.case_id, req.data, name, kind=kind)
            elif evidence_id is None:
                evidence_id = self.store.evidence.import_file(req.case_id, req.path, kind=kind)
            row = self.store.evidence.get(evidence_id)
            name = req.name or row.get("original_name") or name
            stored_box = tuple(row["face_box"]) if row.get("face_box") else None
            image = self.store.evidence.load_image(evidence_id)
        display = display_copy(image)
        if req.purpose == "reference":
            return LoadedEvidence(req.token, name, image, evidence_id, None, "", None, "reference", display)
        known = (
            self.store.evidence.stored_detection(evidence_id)
            if evidence_id is not None and self.store
            else None
        )
        if known is not None:  # analysed when it was imported (or last opened): not again
            box, method = known
        else:
            self._busy(req, f"Finding the face in {name}…")
            try:
                box, method = self._detect(image)
            except AnalysisCancelled:  # not recorded: the next opening of the case analyses it again
                box, method = None, NOT_ANALYSED
            except Exception:  # noqa: BLE001 - a detector failure is the "no face found" state, not an error
                box, method = None, ""
            else:
                if evidence_id is not None and self.store is not None:
                    self.store.evidence.record_detection(evidence_id, box, method)
        return LoadedEvidence(req.token, name, image, evidence_id, box, method, stored_box, display=display)

    def _detect(self, image: np.ndarray) -> tuple[tuple[int, int, int, int] | None, str]:
        with self._lock:  # a cancel() either lands before this (no detection) or reaches the detector
            if self._cancel_current:
                raise AnalysisCancelled()
            begin = getattr(self.detector, "begin", None)
            if begin is not None:
                begin()
        return self.detector(image)
