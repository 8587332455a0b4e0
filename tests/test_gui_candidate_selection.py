"""Issue 14, item 10: selecting a candidate marks it with a frame, never by tinting the face itself."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")


def _grid_with_one_grey_candidate(qtbot):
    from tfgnet_desk.gui.app import load_style_sheet
    from tfgnet_desk.gui.widgets.candidate_grid import CandidateCard, CandidateGrid

    grid = CandidateGrid()
    grid.setStyleSheet(load_style_sheet())  # the app's sheet, on this widget only
    qtbot.addWidget(grid)
    grid.resize(700, 420)
    grid.show()
    grey = np.full((128, 128, 3), 128, np.uint8)
    grid.add_card(CandidateCard(key="c0", index=0, seed=7, image=grey))
    qtbot.waitExposed(grid)
    return grid


def _icon_centre_and_rim(grid):
    lst = grid.list
    rect = lst.visualItemRect(lst.item(0))
    img = lst.viewport().grab().toImage()
    cx, cy = rect.center().x(), rect.top() + 8 + 64  # the icon is at the top of the card
    centre = img.pixelColor(cx, cy)
    rim = img.pixelColor(rect.left() + 1, rect.center().y())
    return (centre.red(), centre.green(), centre.blue()), (rim.red(), rim.green(), rim.blue())


def test_a_selected_candidate_keeps_its_own_pixels_and_gets_a_frame(qtbot):
    grid = _grid_with_one_grey_candidate(qtbot)
    centre_before, rim_before = _icon_centre_and_rim(grid)
    assert centre_before == (128, 128, 128)
    grid.select_keys(["c0"])
    qtbot.wait(50)
    centre_after, rim_after = _icon_centre_and_rim(grid)
    assert centre_after == (128, 128, 128), "the selection tinted the face"
    assert rim_after != rim_before, "the selection is not marked around the card"
