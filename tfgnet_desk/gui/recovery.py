"""At start (and when the data folder changes), what ``Workspace.recover`` found that an application that
was killed left behind, said in the window: runs left 'running' became 'interrupted' with the candidates
they stored, and candidates the store could not take wait under ``home/pending``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tfgnet_desk.gui import messages

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.gui.main_window import MainWindow


def report_interrupted_runs(w: MainWindow) -> None:
    """Runs left 'running' by an application that was killed keep their stored candidates and become
    'interrupted'; candidates that the store could not take wait under ``home/pending``. Say so."""
    found = w.workspace.recover()
    lines = []
    if found.held_elsewhere:
        lines.append(
            "Another tfgnet-desk window is using this data folder; runs it has in progress are left "
            "alone (close it before starting runs here)."
        )
    if found.error is not None:
        w.show_message(messages.explain(found.error, "checking for interrupted runs"))
    if found.interrupted_runs:
        lines.append(
            f"{len(found.interrupted_runs)} run(s) stopped when the application did; their candidates are "
            "kept in the case and the runs are marked 'interrupted'."
        )
    if found.pending:
        pending = w.workspace.home / "pending"
        lines.append(
            f"{len(found.pending)} candidate image(s) the store could not take are kept in {pending}."
        )
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
