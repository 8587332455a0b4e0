"""Deliver worker-thread events to the GUI thread as typed signals, without handing Python objects to
Qt's cross-thread signal machinery.

A worker calls :meth:`EventRelay.post` with a signal name and its arguments: the pair goes on a Python
queue and a *no-argument* signal wakes the relay, which lives on the GUI thread; there it drains the
queue and emits each typed signal (``progress``, ``candidate_ready``, ...), so every receiver runs on the
GUI thread with a direct call: a receiver may be a lambda or ``qtbot.waitSignal``, and no Python
object waits in Qt's cross-thread event queue (only an empty wake-up event crosses).
"""

from __future__ import annotations

import queue
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot


class EventRelay(QObject):
    """Created on the GUI thread; ``post`` may be called from any thread."""

    _wake = Signal()

    def __init__(self, owner: QObject) -> None:
        super().__init__()
        self._owner = owner
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    def post(self, signal_name: str, *args: Any) -> None:
        """Emit ``owner.<signal_name>(*args)`` on the GUI thread, in posting order."""
        self._events.put((signal_name, args))
        self._wake.emit()

    @Slot()
    def _drain(self) -> None:
        while True:
            try:
                name, args = self._events.get_nowait()
            except queue.Empty:
                return
            getattr(self._owner, name).emit(*args)
