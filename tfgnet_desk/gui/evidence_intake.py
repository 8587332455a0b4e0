"""Evidence coming into the window: the file dialogs and the clipboard, the analyst's face box saved with
its item, and an analysed item arriving (``AnalysisWorker.loaded``): shown in the strip with its face box,
or unticked with the reason it has none (no face found, or its face search cancelled); a reference photo
goes beside the strip. Items of a case the analyst has left meanwhile are dropped (they are stored with
their case)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from tfgnet_desk.gui import messages
from tfgnet_desk.gui.analysis import LoadedEvidence
from tfgnet_desk.gui.widgets.evidence_panel import EvidenceItem

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.gui.main_window import MainWindow

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp);;All files (*)"


def open_evidence_dialog(w: MainWindow) -> None:
    files, _ = QFileDialog.getOpenFileNames(w, "Open evidence crops", str(Path.home()), IMAGE_FILTER)
    if files:
        w.add_evidence_files([Path(f) for f in files])


def open_reference_dialog(w: MainWindow) -> None:
    file, _ = QFileDialog.getOpenFileName(w, "Open a reference photo", str(Path.home()), IMAGE_FILTER)
    if file:
        w.add_reference(Path(file))


def paste(w: MainWindow) -> None:
    """The clipboard's image (or image file) as evidence; a message when it holds none."""
    mime = QGuiApplication.clipboard().mimeData()
    if mime is None or not w.evidence.accept_mime(mime):
        w.show_message(
            messages.UserMessage(
                messages.BAD_FILE,
                "Nothing to paste",
                "The clipboard holds no image or image file.",
                "Copy an image (or an image file) first, then Ctrl+V.",
                level="warning",
            )
        )


def save_face_box(w: MainWindow, key: str, box) -> None:
    """The analyst's face box of an item, saved with it in the case store."""
    item = w.evidence.items.get(key)
    if item is not None and item.store_id is not None and w.store is not None:
        try:
            w.store.evidence.set_face_box(item.store_id, list(box) if box else None)
        except Exception as exc:  # noqa: BLE001
            w.show_message(messages.explain(exc, "saving the face box"))
    if box is not None and w.message_bar.kind() == messages.NO_FACE:
        w.message_bar.clear()
    w.update_blocker()


def other_case(w: MainWindow, ev: LoadedEvidence) -> bool:
    """True when ``ev`` belongs to a case the analyst has left while it loaded."""
    if w.store is None or ev.evidence_id is None:
        return False
    return w.store.evidence.get(ev.evidence_id)["case_id"] != w.case_id


def show_loaded(w: MainWindow, ev: LoadedEvidence) -> None:
    if ev.purpose == "reference":
        if not other_case(w, ev):
            w.evidence.set_reference(ev.image, ev.display)
            w.reference_id = ev.evidence_id
        return
    if other_case(w, ev):
        return
    key = f"e{ev.evidence_id}" if ev.evidence_id is not None else f"t{ev.token}"
    if key in w.evidence.items:
        w.evidence.strip.setCurrentRow(list(w.evidence.items).index(key))
        return
    # "whole-crop" means no detector found a face: the analyst draws the box before the crop is used
    found = ev.detected_box if ev.method != "whole-crop" else None
    box = ev.stored_box or found
    use, store_id = box is not None, ev.evidence_id
    item = EvidenceItem(key, ev.name, ev.image, box, found, ev.method, use, store_id, display=ev.display)
    w.evidence.add_item(item)
    if box is None and ev.method == messages.NOT_ANALYSED:
        w.show_message(messages.not_analysed_message(ev.name))
    elif box is None:
        w.show_message(messages.no_face_message(ev.name))
    elif w.message_bar.kind() in (messages.BAD_FILE, messages.NO_FACE):
        w.message_bar.clear()
