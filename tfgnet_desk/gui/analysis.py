"""Evidence import and face detection, off the GUI thread.

Decoding a large photo and hashing it into the case store run here, on a long-lived worker thread, while
the backend worker may be busy generating. The face detectors (dlib's HOG, with a CNN fallback that
takes about a second) run in a small child process of their own (:class:`ProcessDetector`): dlib keeps
Python's GIL for the whole detection, which would freeze the window if it ran in the window's process.
Results come back as typed signals.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from tfgnet_desk.gui.messages import UserMessage, explain
from tfgnet_desk.gui.relay import EventRelay


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
    from that one thread.
    """

    def __init__(self) -> None:
        from tfgnet_desk.engine import EngineProcess

        self.engine = EngineProcess("tfgnet-detector")

    def start(self) -> None:
        self.engine.start()

    def __call__(self, image: np.ndarray) -> tuple[tuple[int, int, int, int] | None, str]:
        from tfgnet_desk.engine import EngineDied

        try:
            return self.engine.start().detect(image)
        except EngineDied:  # one retry in a fresh child (the first may have been killed for memory)
            return self.engine.start().detect(image)

    def close(self) -> None:
        self.engine.stop()


class AnalysisWorker(QObject):
    """Imports evidence into the store and detects faces on its own long-lived thread."""

    loaded = Signal(object)  # LoadedEvidence
    load_failed = Signal(object, object)  # token, UserMessage

    def __init__(self, store: Any = None, detector=None) -> None:
        super().__init__()
        self.store = store
        self.detector = detector if detector is not None else ProcessDetector()
        self._relay = EventRelay(self)  # signals are emitted on the GUI thread (gui/relay.py)
        self._queue: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None

    def start(self) -> threading.Thread:
        """Start the worker thread (a plain Python thread serving a queue: it only decodes, hashes and
        waits on the detector process)."""
        thread = threading.Thread(target=self._serve, name="tfgnet-analysis", daemon=True)
        thread.start()
        self.thread = thread
        return thread

    def request(self, req: EvidenceRequest) -> None:
        self._queue.put(req)

    def is_alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def stop(self, timeout_ms: int = 10_000) -> bool:
        if self.thread is None:
            return True
        self._queue.put(None)
        self.thread.join(timeout_ms / 1000)
        ok = not self.thread.is_alive()
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
            while (req := self._queue.get()) is not None:
                self._handle(req)
        finally:
            closer = getattr(self.detector, "close", None)
            if closer is not None:
                closer()

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
        if self.store is None or req.case_id is None:
            image = load_image(req.data if req.data is not None else req.path)
        else:
            if evidence_id is None and req.data is not None:
                evidence_id = self.store.import_evidence_bytes(req.case_id, req.data, name, kind=kind)
            elif evidence_id is None:
                evidence_id = self.store.import_evidence(req.case_id, req.path, kind=kind)
            row = self.store.get_evidence(evidence_id)
            name = req.name or row.get("original_name") or name
            stored_box = tuple(row["face_box"]) if row.get("face_box") else None
            image = self.store.load_evidence_image(evidence_id)
        if req.purpose == "reference":
            return LoadedEvidence(req.token, name, image, evidence_id, None, "", None, "reference")
        known = self.store.stored_detection(evidence_id) if evidence_id is not None and self.store else None
        if known is not None:  # analysed when it was imported (or last opened): not again
            box, method = known
        else:
            try:
                box, method = self.detector(image)
            except Exception:  # noqa: BLE001 - a detector failure is the "no face found" state, not an error
                box, method = None, ""
            else:
                if evidence_id is not None and self.store is not None:
                    self.store.record_detection(evidence_id, box, method)
        return LoadedEvidence(req.token, name, image, evidence_id, box, method, stored_box)
