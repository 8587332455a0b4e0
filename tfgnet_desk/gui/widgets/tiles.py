"""How big the candidate tiles are, and how their captions fit under them.

Tiles scale with the pane (:func:`tile_layout`): as large as lets every candidate be seen at once, between
``MIN_TILE`` and ``MAX_TILE`` pixels, each cell with room for its whole caption. A caption is a few lines
("#3  seed 1236  ★ picked", "vs evidence 0.67 (raw 0.95)", ...), each made of segments; when a column is
too narrow for a line, the line is broken between its segments ("vs reference photo" over "0.72 (raw
0.96)"), never inside one, so that the four candidates of a run still fit one row on a 1366x768 screen.
Captions break only where that is what lets all candidates be seen; otherwise each line stays whole.

A thumbnail larger than the candidate is enlarged nearest-neighbour (no smoothing invents detail).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFontMetrics, QIcon, QPixmap

from tfgnet_desk.gui.images import to_qimage

MIN_TILE, MAX_TILE = 64, 384  # thumbnail side in pixels
CELL_PAD = 14  # around the thumbnail and caption in a cell (the selection frame, spacing)
CAPTION_PAD = 6  # caption width beyond its longest line (word wrap never needs to break a line)
# One caption line: the separator between its segments and the segments (broken apart when too wide).
CaptionLine = tuple[str, tuple[str, ...]]


def caption_text(lines: Sequence[CaptionLine], fm: QFontMetrics | None = None, width: int = 0) -> str:
    """The caption's text; with ``fm`` and ``width`` > 0, each line wider than ``width`` pixels is given
    one line per segment."""
    out: list[str] = []
    for sep, segments in lines:
        text = sep.join(segments)
        if fm is not None and width > 0 and fm.horizontalAdvance(text) > width:
            out.extend(segments)
        else:
            out.append(text)
    return "\n".join(out)


def caption_size(texts: Sequence[str], fm: QFontMetrics, min_rows: int = 3) -> QSize:
    """Room for the longest of ``texts`` unwrapped (at least ``min_rows`` lines)."""
    lines = [line for text in texts for line in text.split("\n")]
    rows = max([min_rows, *(len(text.split("\n")) for text in texts)])
    width = max([0, *(fm.horizontalAdvance(line) for line in lines)]) + CAPTION_PAD
    return QSize(width, rows * fm.lineSpacing() + 6)


def tile_layout(width: int, height: int, n: int, caption_at: Callable[[int], QSize]) -> tuple[int, int]:
    """``(side, wrap)`` for ``n`` cells (a thumbnail over a caption) in a ``width`` x ``height`` view.

    ``caption_at(w)``: the captions' size when lines wider than ``w`` pixels are broken (0: never
    broken). ``side`` is the largest thumbnail side that shows all cells without scrolling, within
    ``MIN_TILE`` and ``MAX_TILE``; ``wrap`` is the width the captions are broken at for it (0: whole
    lines). When even ``MIN_TILE`` cannot show them all, the largest side that shows one whole row of
    cells with unbroken captions (the other rows scroll), and ``wrap`` 0."""
    n = max(1, n)
    whole = caption_at(0)
    best, best_wrap, widest = 0, 0, 1
    for cols in range(1, n + 1):
        cell_w = width // cols
        caption, wrap = whole, 0
        if caption.width() + CELL_PAD > cell_w:
            wrap = cell_w - CELL_PAD - CAPTION_PAD
            caption = caption_at(wrap)
            if cols > 1 and caption.width() + CELL_PAD > cell_w:
                break  # more columns only get narrower than even the broken captions
        else:
            widest = cols
        rows = math.ceil(n / cols)
        side = min(cell_w - CELL_PAD, height // rows - caption.height() - CELL_PAD, MAX_TILE)
        if side >= MIN_TILE and side > best:
            best, best_wrap = side, wrap
    if best:
        return best, best_wrap
    one_row = min(width // widest - CELL_PAD, height - whole.height() - CELL_PAD)
    return max(MIN_TILE, min(MAX_TILE, one_row)), 0


def thumbnail(image: np.ndarray, side: int) -> QPixmap:
    """``image`` fitted into ``side`` x ``side``: nearest-neighbour when enlarged (each pixel a block, as it
    is), smoothed only when reduced."""
    pix = QPixmap.fromImage(to_qimage(image))
    if pix.width() == side and pix.height() <= side or pix.height() == side and pix.width() <= side:
        return pix
    smaller = side < max(pix.width(), pix.height())
    mode = Qt.TransformationMode.SmoothTransformation if smaller else Qt.TransformationMode.FastTransformation
    return pix.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, mode)


def face_icon(image: np.ndarray, side: int = MIN_TILE * 2) -> QIcon:
    """The candidate's thumbnail as an icon that looks the same selected or not: the style would
    otherwise tint a selected icon with the highlight colour, over the face. Selection is drawn as a
    frame around the card instead (``style.qss``, ``QListWidget#candidates::item:selected``)."""
    pix = thumbnail(image, side)
    icon = QIcon()
    for mode in (QIcon.Mode.Normal, QIcon.Mode.Selected, QIcon.Mode.Active):
        icon.addPixmap(pix, mode)
    return icon
