"""The four candidates of a run fit one row of the window at 1366x768 (issue 14 item 14 follow-up: the
grid showed 3 of 4 per row because the captions' longest line set the column width)."""

from __future__ import annotations

from tfgnet_desk.gui.testing import synthetic_face


def _cards():
    from tfgnet_desk.gui.widgets.candidate_grid import CandidateCard

    for i in range(4):
        scores = {
            "evidence": {"raw": 0.95 - i / 100, "calibrated": 0.67 - i / 10, "backend": "dlib-resnet"},
            "reference": {"raw": 0.96, "calibrated": -0.05, "backend": "dlib-resnet"},
        }
        yield CandidateCard(f"c{i}", i, 1234 + i, synthetic_face(128, seed=i), scores, picked=i == 2)


def test_four_candidates_fit_one_row_of_a_1366x768_window(qtbot, window):
    from tfgnet_desk.gui.layout import DEFAULT_SIZE
    from tfgnet_desk.gui.widgets.tiles import MIN_TILE

    w = window
    w.create_case("Layout at 1366x768")
    w.resize(DEFAULT_SIZE)  # 1366x768 less a desktop panel and the window frame
    qtbot.waitUntil(lambda: w.size() == DEFAULT_SIZE, timeout=2000)
    grid = w.candidates
    for card in _cards():
        grid.add_card(card)
    qtbot.waitUntil(lambda: grid.list.iconSize().width() == grid.tile, timeout=2000)
    qtbot.wait(50)  # the list lays its items out after the resize
    items = [grid.list.item(i) for i in range(grid.list.count())]
    rects = [grid.list.visualItemRect(item) for item in items]
    viewport = grid.list.viewport().rect()
    assert len({r.top() for r in rects}) == 1, [(r.left(), r.top()) for r in rects]  # one row
    assert all(viewport.contains(r) for r in rects), (rects, viewport)  # each cell whole
    assert grid.tile >= MIN_TILE
    fm = grid.list.fontMetrics()
    cell = grid.list.gridSize()
    for item in items:  # every caption line fits its cell (broken between label and score if need be)
        lines = item.text().split("\n")
        assert max(fm.horizontalAdvance(line) for line in lines) < cell.width()
        assert cell.height() >= grid.tile + len(lines) * fm.lineSpacing()
        text = " ".join(lines)
        assert "vs evidence" in text and "vs reference photo -0.05 (raw 0.96)" in text
    picked = next(item for item in items if "★ picked" in item.text())
    assert picked.text().startswith("#3  seed 1236")


def test_captions_stay_whole_where_the_pane_is_wide_enough(qtbot):
    from tfgnet_desk.gui.widgets.candidate_grid import CandidateGrid

    grid = CandidateGrid()
    qtbot.addWidget(grid)
    for card in _cards():
        grid.add_card(card)
    grid.resize(1800, 700)
    grid.show()
    qtbot.waitExposed(grid)
    qtbot.waitUntil(lambda: grid.list.iconSize().width() == grid.tile, timeout=2000)
    assert grid.wrap == 0
    texts = [grid.list.item(i).text() for i in range(grid.list.count())]
    assert all("vs reference photo -0.05 (raw 0.96)" in t.split("\n") for t in texts)
