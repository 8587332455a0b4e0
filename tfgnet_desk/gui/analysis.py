"""Evidence import and face detection, off the GUI thread.

Decoding a large photo, hashing it into the case store and running the dlib detectors (the CNN fallback
takes about a second) would freeze the window, so they run here, on a second long-lived worker thread, while
the backend worker may be busy generating. Results come back as typed signals.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from tfgnet_desk.gui.messages import UserMessage, explain


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


def detect_box(image: np.ndarray) -> tuple[tuple[int, int, int, int] | None, str]:
    """Largest face box and the method that found it, or (None, '') when there is none."""
    from tfgnet_desk.faces.detect import detect_faces

    faces = detect_faces(image)
    if not faces:
        return None, ""
    return tuple(int(v) for v in faces[0].box), faces[0].method  # type: ignore[return-value]


class AnalysisWorker(QObject):
    """Imports evidence into the store and detects faces on its own long-lived thread."""

    loaded = Signal(object)  # LoadedEvidence
    load_failed = Signal(object, object)  # token, UserMessage

    def __init__(self, store: Any = None, detector=detect_box) -> None:
        super().__init__()
        self.store = store
        self.detector = detector
        self._queue: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None

    def start(self) -> threading.Thread:
        """Start the worker thread (a Python thread serving a queue, like the backend worker: dlib calls
        made from PySide-dispatched QThread slots deadlocked on the GIL)."""
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
        while (req := self._queue.get()) is not None:
            self._handle(req)

    def _handle(self, req: EvidenceRequest) -> None:
        try:
            self.loaded.emit(self._load(req))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message in the window
            self.load_failed.emit(req.token, self._message(exc, req))

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
        from tfgnet_desk.imaging import load_image

        stored_box = None
        evidence_id = req.evidence_id
        name = req.name or (req.path.name if req.path else "pasted image")
        if req.purpose == "reference" or self.store is None or req.case_id is None:
            image = load_image(req.data if req.data is not None else req.path)
        elif evidence_id is not None:
            row = self.store.get_evidence(evidence_id)
            name = row.get("original_name") or name
            stored_box = tuple(row["face_box"]) if row.get("face_box") else None
            image = self.store.load_evidence_image(evidence_id)
        else:
            path = req.path
            if req.data is not None:
                load_image(req.data)  # refuse bad data before anything is written
                path = self._incoming_file(req.data, name)
            evidence_id = self.store.import_evidence(req.case_id, path)
            image = self.store.load_evidence_image(evidence_id)
            row = self.store.get_evidence(evidence_id)
            stored_box = tuple(row["face_box"]) if row.get("face_box") else None
        if req.purpose == "reference":
            return LoadedEvidence(req.token, name, image, None, None, "", None, "reference")
        try:
            box, method = self.detector(image)
        except Exception:  # noqa: BLE001 - a detector failure is the "no face found" state, not an error
            box, method = None, ""
        return LoadedEvidence(req.token, name, image, evidence_id, box, method, stored_box)

    def _incoming_file(self, data: bytes, name: str) -> Path:
        """Pasted/dropped image data gets a file of its own so that the store can import (and name) it."""
        folder = Path(self.store.home) / "incoming"
        folder.mkdir(parents=True, exist_ok=True)
        stem = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in Path(name).stem)[:40] or "pasted"
        path = folder / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{time.perf_counter_ns() % 10**6}.png"
        path.write_bytes(data)
        return path
