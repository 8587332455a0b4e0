"""Drive the desktop app offscreen and save screenshots of its main states into docs/screenshots/.

States: ``01-empty`` (fresh window), ``02-evidence`` (a case with evidence crops, face box and a typed
description), ``03-generating`` (a run in progress), ``04-candidates`` (a finished run, one picked),
``05-compare`` (two candidates side by side, zoomed in to their pixels), ``06-settings`` (settings with
the model view), ``07-before-after`` (the evidence's face and a candidate either side of the divider),
``08-models`` (File > Models..., a component verified), ``09-upscaled`` (the compare view with the
evidence's face upscaled by Real-ESRGAN x4plus beside it, labelled a third-party enhancement).

Under a real X server (``Xvfb :99 -screen 0 1366x768x24`` with ``openbox``), ``--size 1366x768 --screen
--prefix x11-1366x768-`` maximises the window to that screen and saves the whole screen, window manager
frame included, as the analyst sees it.

The evidence is a drawn, synthetic face (``tfgnet_desk.gui.testing.synthetic_face``), never a photo from
the face data sets. The model is the embedded one (``models/tiny``) when present; otherwise a random-weight
tiny model is written to a temporary folder (its candidates are noise, and the window says so).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--steps 25] [--model FOLDER]
    DISPLAY=:99 QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshots.py --size 1366x768 --screen \
        --prefix x11-1366x768-
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _wait(app, condition, timeout_ms: int = 300_000) -> None:
    """Run the event loop until ``condition()`` holds (the driver waits; the app itself never does)."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    if condition():
        return
    clock = QElapsedTimer()
    clock.start()
    loop = QEventLoop()
    poll = QTimer()
    poll.setInterval(50)
    poll.timeout.connect(lambda: (condition() or clock.elapsed() > timeout_ms) and loop.quit())
    poll.start()
    loop.exec()
    poll.stop()
    if not condition():
        raise TimeoutError("the app did not reach the expected state in time")


SCREEN = False  # --screen: save the whole screen (window manager frame included), not the widget
PREFIX = ""


def _save(widget, out: Path, name: str) -> Path:
    from PySide6.QtWidgets import QApplication

    path = out / f"{PREFIX}{name}.png"
    QApplication.processEvents()
    if SCREEN:  # let the X server and the window manager draw the last changes first
        import time

        until = time.monotonic() + 0.5
        while time.monotonic() < until:
            QApplication.processEvents()
            time.sleep(0.02)
        QApplication.primaryScreen().grabWindow(0).save(str(path))
    else:
        widget.grab().save(str(path))
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: models/tiny)")
    parser.add_argument(
        "--size", default="", help="WxH: maximise to a screen of this size (default 1360x880)"
    )
    parser.add_argument("--screen", action="store_true", help="save the whole screen, not the widget")
    parser.add_argument("--prefix", default="", help="put before every file name")
    args = parser.parse_args(argv)
    global SCREEN, PREFIX
    SCREEN, PREFIX = args.screen, args.prefix
    args.out.mkdir(parents=True, exist_ok=True)

    from tfgnet_desk.gui.app import ensure_application
    from tfgnet_desk.gui.testing import SignalRecorder, open_window, write_synthetic_face
    from tfgnet_desk.settings import SHIPPED_MODELS, Settings

    tmp = Path(tempfile.mkdtemp(prefix="tfgnet-shots-"))
    model = args.model or SHIPPED_MODELS / "tiny"
    if not (model / "MANIFEST.json").is_file():
        from tfgnet_desk.model.testing import save_random_model

        print(f"no model in {model}: using a random-weight tiny model (candidates will be noise)")
        model = save_random_model(tmp / "models" / "tiny")
    models_dir = model.parent
    if model.name != "tiny":
        os.symlink(model, tmp / "tiny")
        models_dir = tmp
    settings = Settings(home=tmp / "home", models_dir=models_dir, data_dir=None)
    app = ensure_application()
    w = open_window(settings, preload=True)
    if args.size:
        w.showMaximized()
        _wait(app, lambda: w.isMaximized() or w.width() > 1000, 5000)
    else:
        w.resize(1360, 880)
    for title in ("Case 0398 — parking garage", "Case 0411 — kiosk"):
        w.create_case(title)
    w.case_id = None
    w.candidates.clear()
    w.evidence.clear()
    w.description.set_text("")
    w.case_list.list.clearSelection()
    w.message_bar.clear()
    _wait(app, lambda: w.isVisible())
    _save(w, args.out, "01-empty")

    w.create_case("Case 0412 — bank lobby")
    crops = [write_synthetic_face(tmp / "in" / f"frame{i}.png", 128, seed=40 + i) for i in range(2)]
    w.add_evidence_files(crops)
    _wait(app, lambda: len(w.evidence.items) == 2)
    # a reference photo (also drawn): stored with the case, candidates get a second score against it
    w.add_reference(write_synthetic_face(tmp / "in" / "reference.png", 160, seed=41))
    _wait(app, lambda: w.evidence.reference is not None)
    w.description.edit.setPlainText("a man, thick eyebrows, wears glasses, short black hair")
    w.controls.n_candidates.setValue(args.candidates)
    w.controls.steps.setValue(args.steps)
    w.controls.seed.setValue(1234)
    w.evidence.strip.setCurrentRow(0)
    _wait(app, lambda: w.model_label.text().startswith("model ready") or "missing" in w.model_label.text())
    _save(w, args.out, "02-evidence")

    progressed = SignalRecorder(w.backend.progress)
    w.runs.generate()
    _wait(
        app,
        lambda: (
            any(s == "generate" and step >= max(1, total // 3) for _t, s, step, total in progressed.calls)
            or not w.runs.is_running()
        ),
    )
    _save(w, args.out, "03-generating")
    _wait(app, lambda: not w.runs.is_running(), 600_000)
    keys = w.candidates.ordered_keys()
    if keys:
        w.candidates.select_keys([keys[0]])
        w.candidates.toggle_pick()
        w.candidates.note.setText("closest to the witness description")
        w.candidates._emit_note()
    _save(w, args.out, "04-candidates")

    if len(keys) >= 2:
        w.candidates.select_keys(keys[:2])
        w.runs.compare_selected()
        dialog = w.runs._compare
        if args.size:
            width, height = (int(v) for v in args.size.split("x"))
            dialog.resize(min(1400, width - 80), min(900, height - 90))
            dialog.move(40, 30)
        else:
            dialog.resize(1000, 620)
        _wait(app, dialog.isVisible)
        target = dialog.size()
        _wait(app, lambda: dialog.size() == target and dialog.side.views[0].width() > 200, 5000)
        one = dialog.side.views[0]
        one.zoom_to(one.fit_scale() * 1.7)  # both candidates zoom together, pixels as blocks
        _save(dialog, args.out, "05-compare")
        panel = dialog.side.enhancement
        if panel is not None and panel.toggle.isEnabled():
            panel.toggle.setChecked(True)  # the real Real-ESRGAN x4plus in its child: seconds on a CPU
            _wait(app, lambda: panel.is_shown() or not panel.running, 300_000)
            _save(dialog, args.out, "09-upscaled")
            panel.toggle.setChecked(False)
        dialog.tabs.setCurrentWidget(dialog.split)
        dialog.split.slider.setValue(420)
        view = dialog.split.view
        _wait(app, lambda: view.width() > 200)
        view.zoom_to(view.fit_scale() * 1.6)
        _save(dialog, args.out, "07-before-after")
        dialog.close()

    from tfgnet_desk.gui.widgets.settings_dialog import SettingsDialog

    dialog = SettingsDialog(w.settings, w)
    dialog.show()
    dialog.start_verify()
    _wait(app, dialog.verify.isEnabled)
    _save(dialog, args.out, "06-settings")
    dialog.close()

    from tfgnet_desk.gui.widgets.models_dialog import open_models_dialog

    models = open_models_dialog(w)
    if models.selected_name() is not None:
        models.verify(models.selected_name())
        _wait(app, lambda: not models.busy())
    _save(models, args.out, "08-models")
    models.close()
    w.close()
    _wait(app, lambda: w._closed, 30_000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
