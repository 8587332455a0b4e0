"""The data folder the window works in (``Settings.home``): its case store, the lock that makes one window
per folder the one that recovers runs, and what an application that was killed left there. The window
opens, switches and closes its data folder only through a :class:`Workspace`; ``recovery.py`` turns what
:meth:`Workspace.recover` finds into the message the window shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QLockFile

LOCK_NAME = "app.lock"


@dataclass
class Recovered:
    """What :meth:`Workspace.recover` found in the data folder."""

    held_elsewhere: bool = False  # another live window holds the folder: its runs are really running
    interrupted_runs: list[Any] = field(default_factory=list)  # runs marked 'interrupted' now
    pending: list[Path] = field(default_factory=list)  # candidate images the store could not take
    error: Exception | None = None  # checking for interrupted runs failed


class Workspace:
    """One data folder: its :class:`~tfgnet_desk.cases.CaseStore` (``store``, None until :meth:`open`
    or when it cannot be opened) and its lock, held while the window works there."""

    def __init__(self, settings: Any, store: Any = None) -> None:
        self.settings = settings
        self.store = store
        self._lock: QLockFile | None = None

    @property
    def home(self) -> Path:
        return Path(self.settings.home)

    def open(self) -> Any:
        """The folder's case store, opened on first use (raises what ``CaseStore`` raises)."""
        if self.store is None:
            from tfgnet_desk.cases import CaseStore

            self.store = CaseStore(self.settings)
        return self.store

    def claim(self) -> bool:
        """Hold ``home/app.lock``; False when another live window holds it. A lock left by a killed
        application is stale and taken over."""
        if self._lock is None:
            self.home.mkdir(parents=True, exist_ok=True)
            self._lock = QLockFile(str(self.home / LOCK_NAME))
            self._lock.setStaleLockTime(0)  # stale only when its process is gone
        return bool(self._lock.isLocked() or self._lock.tryLock(0))

    def release(self) -> None:
        if self._lock is not None and self._lock.isLocked():
            self._lock.unlock()
        self._lock = None

    def recover(self) -> Recovered:
        """Claim the folder; if it is ours, runs left 'running' become 'interrupted' (their stored
        candidates are kept); and list candidates waiting under ``home/pending``."""
        found = Recovered()
        if self.store is not None and not self.claim():
            found.held_elsewhere = True
        elif self.store is not None:
            try:
                found.interrupted_runs = list(self.store.runs.close_interrupted())
            except Exception as exc:  # noqa: BLE001 - reported by the window; nothing is lost
                found.error = exc
        pending = self.home / "pending"
        found.pending = sorted(pending.glob("run-*/*.png")) if pending.is_dir() else []
        return found

    def switch(self, settings: Any) -> Any:
        """Work in ``settings.home`` from now on: the new folder's store is opened before the old one is
        closed (a folder that cannot be opened leaves the old one in use) and the old lock released."""
        from tfgnet_desk.cases import CaseStore

        new = CaseStore(settings)
        old, self.store, self.settings = self.store, new, settings
        if old is not None:
            old.close()
        self.release()
        return new

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
        self.release()
