"""An analysed evidence item arriving in the window (``AnalysisWorker.loaded``): shown in the strip with
its face box, or unticked with the reason it has none (no face found, or its face search cancelled); a
reference photo goes beside the strip. Items of a case the analyst has left meanwhile are dropped (they
are stored with their case)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tfgnet_desk.gui import messages
from tfgnet_desk.gui.analysis import LoadedEvidence
from tfgnet_desk.gui.widgets.evidence_panel import EvidenceItem

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.gui.main_window import MainWindow


def other_case(w: MainWindow, ev: LoadedEvidence) -> bool:
    """True when ``ev`` belongs to a case the analyst has left while it loaded."""
    if w.store is None or ev.evidence_id is None:
        return False
    return w.store.get_evidence(ev.evidence_id)["case_id"] != w.case_id


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
    elif w.message_bar.message and w.message_bar.message.kind in (messages.BAD_FILE, messages.NO_FACE):
        w.message_bar.clear()
