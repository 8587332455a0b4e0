"""Issue 14, item 10: selecting a candidate marks it with a frame, never by tinting the face itself."""

from __future__ import annotations

import numpy as np
import pytest

GREY = (128, 128, 128)


def _grid_with_one_grey_candidate(qtbot, size=(700, 420)):
    from tfgnet_desk.gui.app import load_style_sheet
    from tfgnet_desk.gui.widgets.candidate_grid import CandidateCard, CandidateGrid

    grid = CandidateGrid()
    grid.setStyleSheet(load_style_sheet())  # the app's sheet, on this widget only
    qtbot.addWidget(grid)
    grid.resize(*size)
    grid.show()
    grey = np.full((128, 128, 3), GREY, np.uint8)
    grid.add_card(CandidateCard(key="c0", index=0, seed=7, image=grey))
    qtbot.waitExposed(grid)
    return grid


def _cell(grid):
    """The card's cell as RGB rows (numpy), and the cell's rectangle."""
    from PySide6.QtGui import QImage

    lst = grid.list
    rect = lst.visualItemRect(lst.item(0))
    img = lst.viewport().grab().toImage().copy(rect).convertToFormat(QImage.Format.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return arr[:, : img.width() * 3].reshape(img.height(), img.width(), 3).copy(), rect


@pytest.mark.parametrize("size", [(700, 420), (1400, 800)])  # small and large tiles alike
def test_a_selected_candidate_keeps_its_own_pixels_and_gets_a_frame(qtbot, size):
    grid = _grid_with_one_grey_candidate(qtbot, size)
    before, _rect = _cell(grid)
    face = (before == GREY).all(axis=2)  # where the thumbnail is
    assert face.sum() >= 0.95 * grid.tile * grid.tile, "the thumbnail is not shown whole"
    grid.select_keys(["c0"])
    qtbot.wait(50)
    after, _ = _cell(grid)
    assert (after[face] == GREY).all(), "the selection tinted the face"
    assert not (after[~face] == before[~face]).all(), "the selection is not marked around the card"
    rim = after[after.shape[0] // 2, 1]
    assert tuple(rim) != tuple(before[before.shape[0] // 2, 1]), "no frame at the card's edge"
