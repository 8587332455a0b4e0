"""At start (and when the data folder changes): claim the data folder, and report what an application
that was killed left behind: runs left 'running' become 'interrupted' with the candidates they stored,
and candidates the store could not take wait under ``home/pending``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QLockFile

from tfgnet_desk.gui import messages

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.gui.main_window import MainWindow


def claim_data_folder(w: MainWindow) -> bool:
    """Hold ``home/app.lock`` while the window is open; False when another live window holds it (its
    'running' runs are really running, so they must not be marked interrupted). A lock left by a
    killed application is stale and taken over."""
    if getattr(w, "_lock", None) is None:
        w.settings.home.mkdir(parents=True, exist_ok=True)
        w._lock = QLockFile(str(w.settings.home / "app.lock"))
        w._lock.setStaleLockTime(0)  # stale only when its process is gone
    return bool(w._lock.isLocked() or w._lock.tryLock(0))


def release_data_folder(w: MainWindow) -> None:
    if getattr(w, "_lock", None) is not None and w._lock.isLocked():
        w._lock.unlock()
    w._lock = None


def report_interrupted_runs(w: MainWindow) -> None:
    """Runs left 'running' by an application that was killed keep their stored candidates and become
    'interrupted'; candidates that the store could not take wait under ``home/pending``. Say so."""
    lines = []
    if w.store is not None and not claim_data_folder(w):
        lines.append(
            "Another tfgnet-desk window is using this data folder; runs it has in progress are left "
            "alone (close it before starting runs here)."
        )
    elif w.store is not None:
        try:
            runs = w.store.close_interrupted_runs()
        except Exception as exc:  # noqa: BLE001
            w.show_message(messages.explain(exc, "checking for interrupted runs"))
            runs = []
        if runs:
            lines.append(
                f"{len(runs)} run(s) stopped when the application did; their candidates are kept in "
                "the case and the runs are marked 'interrupted'."
            )
    pending = w.settings.home / "pending"
    found = sorted(pending.glob("run-*/*.png")) if pending.is_dir() else []
    if found:
        lines.append(f"{len(found)} candidate image(s) the store could not take are kept in {pending}.")
    if lines:
        w.show_message(
            messages.UserMessage(
                "recovered",
                "Candidates from an interrupted run",
                " ".join(lines),
                "They are labelled synthetic; review them in the run history (or that folder).",
                "info",
            )
        )
