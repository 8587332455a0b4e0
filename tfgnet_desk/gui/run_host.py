"""``RunHost``: what a run session (``gui/run_session.py``) may use of the window it serves.

The open case and store, the panels it drives through their public methods, and the window's messages;
nothing private. ``MainWindow`` satisfies it; a test may pass any object that does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from tfgnet_desk.gui import messages

if TYPE_CHECKING:  # pragma: no cover
    from PySide6.QtWidgets import QStatusBar

    from tfgnet_desk.gui.widgets.candidate_grid import CandidateGrid
    from tfgnet_desk.gui.widgets.description_editor import DescriptionEditor
    from tfgnet_desk.gui.widgets.evidence_panel import EvidencePanel
    from tfgnet_desk.gui.widgets.message_bar import MessageBar
    from tfgnet_desk.gui.widgets.run_controls import RunControls
    from tfgnet_desk.gui.widgets.run_history import RunHistory
    from tfgnet_desk.gui.worker import BackendWorker
    from tfgnet_desk.settings import Settings


class RunHost(Protocol):
    """The window as a run session sees it (``MainWindow`` is one)."""

    settings: Settings
    case_id: int | None
    reference_id: int | None
    backend: BackendWorker | None
    close_pending: bool  # closing waits for the run to end
    evidence: EvidencePanel
    description: DescriptionEditor
    controls: RunControls
    candidates: CandidateGrid
    history: RunHistory
    message_bar: MessageBar

    @property
    def store(self) -> Any: ...

    def next_token(self) -> int: ...

    def show_message(self, message: messages.UserMessage) -> None: ...

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 - Qt's name

    def update_blocker(self) -> None: ...

    def refresh_cases(self, search: str | None = None) -> None: ...

    def export_pdf(self) -> Any: ...

    def close(self) -> bool: ...
