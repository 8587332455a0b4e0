"""Write the case report as a PDF with ``QPdfWriter`` and a paginated ``QTextDocument`` (works offscreen).

The document is laid out once at the page's body size; each page then draws its slice of the document
between a header (title, case id, reference) and a footer (case id, the audit chain's head as
``seq:hash`` to anchor the log outside the store, the leads statement in short, page i of n), so that the
case id, the anchor and the page number are on every page. Header and footer text that does not fit is
elided with an ellipsis, never overprinted; characters the report font cannot draw (emoji) are printed
as their code point, ``[U+1F600]``, instead of an empty box. The painter renders pictures losslessly
(``LosslessImageRendering``: Qt writes them Flate-compressed, never JPEG) and without smoothing; what
each picture is (own pixels, enlarged by pixel repetition) is decided in ``report/images.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tfgnet_desk.cases.audit import utc_now


def ensure_gui_app():
    """A Qt application (needed for fonts and painting); offscreen when there is no display.

    A ``QApplication`` rather than a bare ``QGuiApplication``: Qt allows one application object per
    process, and a window opened later in the same process (the desktop app, GUI tests) needs widgets.
    """
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QApplication(["tfgnet-desk-report"])
    return app


def printable(text: str, metrics: Any) -> str:
    """``text`` with every character ``metrics``' font cannot draw replaced by ``[U+XXXX]``."""
    out = []
    for ch in text:
        if ord(ch) < 128 or ch in "\n\t" or metrics.inFontUcs4(ord(ch)):
            out.append(ch)
        else:
            out.append(f"[U+{ord(ch):04X}]")
    return "".join(out)


def draw_line_pair(painter: Any, rect: Any, left: str, right: str, metrics: Any) -> None:
    """``right`` right-aligned (in full up to 60 % of the line), ``left`` left-aligned and elided to the
    room that remains."""
    from PySide6.QtCore import Qt

    gap = metrics.horizontalAdvance("    ")
    right = metrics.elidedText(right, Qt.TextElideMode.ElideMiddle, 0.6 * rect.width())
    room = max(0.0, rect.width() - metrics.horizontalAdvance(right) - gap)
    v = Qt.AlignmentFlag.AlignVCenter
    shown = metrics.elidedText(left, Qt.TextElideMode.ElideRight, room)
    painter.drawText(rect, Qt.AlignmentFlag.AlignLeft | v, shown)
    painter.drawText(rect, Qt.AlignmentFlag.AlignRight | v, right)


def write_case_report(store: Any, case_id: int, out_pdf: Path | str) -> Path:
    """Write the PDF report of ``case_id`` to ``out_pdf`` (atomically) and record it in the audit log."""
    ensure_gui_app()
    from PySide6.QtCore import QMarginsF, QRectF, QSizeF, QUrl
    from PySide6.QtGui import (
        QColor,
        QFont,
        QFontMetricsF,
        QPageLayout,
        QPageSize,
        QPainter,
        QPdfWriter,
        QPen,
        QTextDocument,
    )

    from tfgnet_desk.report.content import build_content

    out = Path(out_pdf)
    out.parent.mkdir(parents=True, exist_ok=True)
    generated_at = utc_now()
    store.log_event(case_id, "report.write", file=out.name, at=generated_at)
    head_seq, head_hash = store.audit_head(case_id)
    content = build_content(store, case_id, generated_at)
    case = content.case
    case_label = f"Case {case['id']} ({case['uid'][:8]})" + (
        f" - ref. {case['reference']}" if case["reference"] else ""
    )

    tmp = out.with_name(f".{out.name}.tmp")
    writer = QPdfWriter(str(tmp))
    writer.setResolution(150)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(15, 12, 15, 12),
            QPageLayout.Unit.Millimeter,
        )
    )
    writer.setTitle(f"Case report: {case['title']} ({case_label})")
    writer.setCreator("tfgnet-desk")

    doc = QTextDocument()
    doc.documentLayout().setPaintDevice(writer)
    doc.setDocumentMargin(0)
    base = QFont("DejaVu Sans")
    base.setPointSizeF(9)
    doc.setDefaultFont(base)
    for url, img in content.images.items():
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(url), img)
    doc.setHtml(printable(content.html, QFontMetricsF(base, writer)))

    painter = QPainter()
    if not painter.begin(writer):
        raise OSError(f"cannot write a PDF to {out}")
    # Pictures go into the PDF as Flate-compressed pixels, never as JPEG (the evidence stays unaltered);
    # no smoothing when Qt scales a picture onto the page.
    painter.setRenderHint(QPainter.RenderHint.LosslessImageRendering, True)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
    try:
        page = writer.pageLayout().paintRectPixels(writer.resolution())
        width, height = float(page.width()), float(page.height())
        dpi = writer.resolution()
        header_h, footer_h = 0.40 * dpi, 0.45 * dpi
        body = QRectF(0, header_h, width, height - header_h - footer_h)
        doc.setPageSize(QSizeF(body.width(), body.height()))
        keep_tables_on_one_page(doc, body.height())
        n_pages = doc.pageCount()
        small = QFont("DejaVu Sans")
        small.setPointSizeF(7.5)
        fm = QFontMetricsF(small, writer)
        title = printable(f"tfgnet-desk case report: {' '.join(str(case['title']).split())}", fm)
        label = printable(case_label, fm)
        for i in range(n_pages):
            if i:
                writer.newPage()
            painter.setFont(small)
            painter.setPen(QColor(60, 60, 60))
            draw_line_pair(painter, QRectF(0, 0, width, header_h * 0.7), title, label, fm)
            painter.setPen(QPen(QColor(150, 150, 150), 1))
            painter.drawLine(0, int(header_h * 0.8), int(width), int(header_h * 0.8))
            painter.save()
            painter.translate(body.left(), body.top() - i * body.height())
            doc.drawContents(painter, QRectF(0, i * body.height(), body.width(), body.height()))
            painter.restore()
            y = height - footer_h
            painter.setPen(QPen(QColor(150, 150, 150), 1))
            painter.drawLine(0, int(y + footer_h * 0.15), int(width), int(y + footer_h * 0.15))
            painter.setPen(QColor(60, 60, 60))
            painter.setFont(small)
            foot = QRectF(0, y + footer_h * 0.2, width, footer_h * 0.8)
            left = f"{label}  |  candidates are synthetic investigative leads, not identifications"
            right = f"audit head {head_seq}:{head_hash[:16]}  |  page {i + 1} of {n_pages}"
            draw_line_pair(painter, foot, left, right, fm)
    finally:
        painter.end()
    del writer
    os.replace(tmp, out)
    return out


def keep_tables_on_one_page(doc: Any, page_height: float, limit: float = 0.6, rounds: int = 60) -> int:
    """Move each top-level table with a picture in it (an evidence block, a row of the candidate grid, a
    picked candidate) that straddles a page boundary to the next page; returns how many were moved.

    Tables of text (parameters, hashes, the audit trail) split between rows as usual.
    """
    from PySide6.QtGui import QTextCursor, QTextFormat, QTextTable

    def has_picture(frame) -> bool:
        cur = frame.firstCursorPosition()
        cur.setPosition(frame.lastPosition(), QTextCursor.MoveMode.KeepAnchor)
        return "\ufffc" in cur.selectedText()  # the object replacement character stands for an image

    tables = [f for f in doc.rootFrame().childFrames() if isinstance(f, QTextTable) and has_picture(f)]
    moved = 0
    for _ in range(rounds):
        layout = doc.documentLayout()
        for frame in tables:
            rect = layout.frameBoundingRect(frame)
            if rect.height() > limit * page_height:
                continue
            if int(rect.top() // page_height) != int((rect.bottom() - 1) // page_height):
                fmt = frame.format()
                if fmt.pageBreakPolicy() & QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore:
                    continue
                fmt.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore)
                frame.setFormat(fmt)
                moved += 1
                break  # the layout below it changed: look again from the top
        else:
            return moved
    return moved
