"""Issue 14, item 9: candidates large enough to compare. Tiles scale with the window and never clip their
captions; the compare view zooms (wheel, +/-, fit, 1:1) and pans (drag), enlarges nearest-neighbour,
has a before/after divider between the evidence's face and a candidate, and shows any two candidates side
by side with their scores, each still marked SYNTHETIC. No model: cards are drawn faces."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QLabel

from tfgnet_desk.gui.testing import synthetic_face

RED, BLUE, GREY = (200, 30, 30), (30, 30, 200), (128, 128, 128)


def _card(i: int, image=None, scores=None):
    from tfgnet_desk.gui.widgets.candidate_grid import CandidateCard

    score = {"evidence": {"raw": 0.9 - i / 10, "calibrated": 0.5 - i / 10, "backend": "dlib-resnet"}}
    image = synthetic_face(128, seed=i) if image is None else image
    return CandidateCard(f"c{i}", i, 100 + i, image, score if scores is None else scores)


def _checker(n: int = 4) -> np.ndarray:
    """An n x n image of alternating red and blue pixels."""
    img = np.zeros((n, n, 3), np.uint8)
    for y in range(n):
        for x in range(n):
            img[y, x] = RED if (x + y) % 2 == 0 else BLUE
    return img


def _pixels(widget, rect=None) -> set[tuple[int, int, int]]:
    image = widget.grab().toImage()
    r = rect or image.rect()
    return {
        (c.red(), c.green(), c.blue())
        for y in range(int(r.top()), int(r.bottom()))
        for x in range(int(r.left()), int(r.right()))
        for c in [image.pixelColor(x, y)]
    }


def _view(qtbot, image, size=(240, 240)):
    from tfgnet_desk.gui.widgets.zoom_view import ZoomView

    view = ZoomView()
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    view.set_image(image)
    return view


def test_an_enlarged_image_shows_its_pixels_nearest_neighbour(qtbot):
    view = _view(qtbot, _checker())
    view.zoom_to(40.0)  # 4 px -> 160 screen px: each pixel a 40 x 40 block
    inner = view.image_rect().adjusted(1, 1, -1, -1)
    assert _pixels(view, inner) == {RED, BLUE}, "smoothing mixed the pixels"
    view.fit()
    assert view.fit_mode and view.current_scale() == pytest.approx(60.0)  # 240 / 4
    assert _pixels(view, view.image_rect().adjusted(1, 1, -1, -1)) == {RED, BLUE}
    assert "nearest-neighbour" in view.zoom_text()


def test_zoom_by_keys_and_wheel_fit_one_to_one_and_pan_by_drag(qtbot):
    from tfgnet_desk.gui.widgets.zoom_view import STEP

    view = _view(qtbot, synthetic_face(64))
    fit = view.current_scale()
    qtbot.keyClick(view, Qt.Key.Key_Plus)
    assert not view.fit_mode and view.current_scale() == pytest.approx(fit * STEP)
    qtbot.keyClick(view, Qt.Key.Key_Minus)
    assert view.current_scale() == pytest.approx(fit)
    qtbot.keyClick(view, Qt.Key.Key_1)
    assert view.current_scale() == 1.0 and view.image_rect().width() == 64
    qtbot.keyClick(view, Qt.Key.Key_0)
    assert view.fit_mode and view.current_scale() == pytest.approx(fit)
    # the wheel zooms about the cursor: the image point under it stays there
    at = QPointF(60, 80)
    under = view.to_image(at)
    wheel = QWheelEvent(
        at,
        view.mapToGlobal(at),
        QPoint(0, 0),
        QPoint(0, 240),  # two notches
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view, wheel)
    assert view.current_scale() == pytest.approx(fit * STEP**2)
    after = view.to_image(at)
    assert abs(after.x() - under.x()) < 0.5 and abs(after.y() - under.y()) < 0.5
    # a drag moves the image with the mouse
    left = view.image_rect().left()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(120, 120))
    qtbot.mouseMove(view, QPoint(150, 110))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(150, 110))
    assert view.image_rect().left() == pytest.approx(left + 30, abs=1)


def test_before_after_divider_shows_evidence_left_and_candidate_right(qtbot):
    from tfgnet_desk.gui.widgets.compare_dialog import BeforeAfter

    evidence = np.full((40, 40, 3), RED, np.uint8)  # a small crop, drawn at the candidate's place and size
    card = _card(0, np.full((128, 128, 3), BLUE, np.uint8))
    pane = BeforeAfter([card], 0, evidence, None)
    qtbot.addWidget(pane)
    pane.resize(400, 400)
    pane.show()
    qtbot.waitExposed(pane)
    view = pane.view
    rect = view.image_rect()
    assert view.after is not None and view.split == 0.5
    image = view.grab().toImage()
    y = int(rect.top() + rect.height() * 0.25)  # above the divider's handle
    x = view.split_x()
    assert image.pixelColor(x - 4, y).getRgb()[:3] == RED
    assert image.pixelColor(x + 4, y).getRgb()[:3] == BLUE
    # the slider moves the divider ...
    pane.slider.setValue(250)
    assert view.split == pytest.approx(0.25)
    image = view.grab().toImage()
    assert image.pixelColor(view.split_x() + 4, y).getRgb()[:3] == BLUE
    assert image.pixelColor(view.split_x() - 4, y).getRgb()[:3] == RED
    # ... and dragging the divider moves the slider
    start = QPoint(view.split_x(), y)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, QPoint(round(0.75 * view.width()), y))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(round(0.75 * view.width()), y))
    assert view.split == pytest.approx(0.75, abs=0.01) and pane.slider.value() == pytest.approx(750, abs=10)
    assert view.image_rect() == rect  # a divider drag does not pan
    assert "SYNTHETIC" in pane.findChild(QLabel, "compareSplitSynthetic").text()


def test_face_square_keeps_the_evidence_pixels_around_the_box():
    from tfgnet_desk.gui.widgets.compare_dialog import face_square

    crop = synthetic_face(100)
    face = face_square(crop, (30, 20, 70, 80))  # 40 x 60 box -> 72 x 72 square
    assert face.shape == (72, 72, 3)
    assert (face[6:66, 16:56] == crop[20:80, 30:70]).all()  # unaltered, no resampling
    edge = face_square(crop, (0, 0, 50, 50))  # the square reaches past the crop: grey there
    assert (edge[0, 0] == GREY).all() and (edge[-1, -1] == crop[54, 54]).all()


def test_side_by_side_any_two_candidates_with_scores_zoomed_together(qtbot):
    from tfgnet_desk.gui.widgets.compare_dialog import CompareDialog

    cards = [_card(i) for i in range(3)]
    dialog = CompareDialog(
        cards[0], cards[1], synthetic_face(80, seed=9), None, cards=cards, evidence_box=(10, 10, 70, 70)
    )
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    side = dialog.side
    assert side.choices[0].currentText().startswith("Candidate #1")
    second = side.choices[1]
    assert second.objectName() == "compareChoice2" and second.count() == 3
    second.setCurrentIndex(2)  # any two: the third candidate in place of the second
    assert dialog.cards == (cards[0], cards[2])
    text = dialog.findChild(QLabel, "compareScores2").text()
    assert "vs evidence: 0.30 (raw 0.70) [dlib-resnet]" in text
    for col in (1, 2):
        assert "SYNTHETIC" in dialog.findChild(QLabel, f"compareSynthetic{col}").text()
    one, two = side.views
    one.zoom_to(6.0)
    assert two.current_scale() == pytest.approx(6.0) and not two.fit_mode  # they zoom together
    one.pan(20, 0)
    assert two.centre == one.centre
    dialog.tabs.setCurrentWidget(dialog.split)
    dialog._zoom(type(dialog.split.view).one_to_one)
    assert dialog.split.view.current_scale() == 1.0 and "100 %" in dialog.zoom_label.text()
    dialog.close()


def test_candidate_tiles_scale_with_the_window_and_show_whole_captions(qtbot):
    from tfgnet_desk.gui.widgets.candidate_grid import CandidateGrid

    grid = CandidateGrid()
    qtbot.addWidget(grid)
    refs = {"reference": {"raw": 0.8, "calibrated": -0.05, "backend": "dlib-resnet"}}
    for i in range(4):
        card = _card(i)
        card.scores.update(refs)  # three caption lines: number and seed, vs evidence, vs reference photo
        grid.add_card(card)
    sides = []
    for size in ((700, 330), (1300, 560), (1800, 900)):
        grid.resize(*size)
        grid.show()
        qtbot.waitExposed(grid)
        qtbot.waitUntil(lambda: grid.list.iconSize().width() == grid.tile, timeout=2000)
        sides.append(grid.tile)
        viewport = grid.list.viewport().rect()
        for i in range(grid.list.count()):  # the first row's cells are whole, captions included
            rect = grid.list.visualItemRect(grid.list.item(i))
            if rect.top() < viewport.height() // 2:
                assert viewport.contains(rect), (size, i, rect, viewport)
        fm = grid.list.fontMetrics()
        assert grid.list.gridSize().height() >= grid.tile + 3 * fm.lineSpacing()
        longest = max(
            fm.horizontalAdvance(line) for c in grid.cards.values() for line in c.label().split("\n")
        )
        assert grid.list.gridSize().width() > longest
    assert sides[0] < sides[1] < sides[2], sides  # larger window, larger tiles
    assert sides[2] > 128
