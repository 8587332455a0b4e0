"""File > Models… (issue 14 item 15): list the components the app knows, verify one with progress,
import a folder or checkpoint through the importer with a clear error on bad input; the missing-model
message points to the dialog instead of the command line's "pass --model"."""

from __future__ import annotations

import json
from pathlib import Path

from tfgnet_desk.gui.testing import SignalRecorder


def _metric_snapshot(root: Path) -> Path:
    """A folder as the Hugging Face cache holds dino-vits16 (a config and one weight file)."""
    root.mkdir(parents=True)
    (root / "config.json").write_text(json.dumps({"model_type": "vit", "patch_size": 16, "hidden_size": 384}))
    (root / "model.safetensors").write_bytes(b"\0" * 4096)
    return root


def _open(qtbot, w):
    w.actions["models"].trigger()
    dialog = w._models_dialog
    assert dialog.isVisible()
    qtbot.waitUntil(lambda: not dialog.busy() and bool(dialog.rows), timeout=30_000)
    return dialog


def _wait(qtbot, dialog) -> None:
    qtbot.waitUntil(lambda: not dialog.busy() and dialog.progress.isHidden(), timeout=30_000)


def _state(dialog, name: str) -> str:
    return next(r.state for r in dialog.rows if r.name == name)


def test_models_dialog_lists_verifies_and_imports(qtbot, window, tmp_path):
    w = window
    dialog = _open(qtbot, w)
    names = [r.name for r in dialog.rows]
    assert {"tiny", "full", "faceres", "dino-vits16"} <= set(names)
    assert dialog.table.rowCount() == len(names)
    assert _state(dialog, "dino-vits16") == "missing"
    assert "import it here" in next(r.todo for r in dialog.rows if r.name == "dino-vits16")
    assert str(w.settings.models_dir) in dialog.folder_label.text()

    # import a folder: through the importer, on the worker thread, into the settings' model folder
    changed = SignalRecorder(dialog.models_changed)
    dialog.import_path(_metric_snapshot(tmp_path / "hub" / "dino"))
    _wait(qtbot, dialog)
    assert dialog.status.text().startswith("Imported dino-vits16"), dialog.status.text()
    assert dialog.error.isHidden() and changed.calls
    dest = w.settings.models_dir / "metrics" / "dino-vits16"
    assert (dest / "MANIFEST.json").is_file()
    assert _state(dialog, "dino-vits16") == "present" and dialog.selected_name() == "dino-vits16"

    # verify the selected one: every file hashed, with progress
    steps = SignalRecorder(dialog.progressed)
    dialog.verify_button.click()
    _wait(qtbot, dialog)
    assert _state(dialog, "dino-vits16") == "verified", dialog.status.text()
    assert steps.calls and all(total == 2 for _done, total, _text in steps.calls)
    assert "Verifying dino-vits16" in steps.calls[0][2]
    (dest / "model.safetensors").write_bytes(b"\1" * 4096)  # same size, other bytes
    dialog.verify("dino-vits16")
    _wait(qtbot, dialog)
    assert _state(dialog, "dino-vits16") == "failed"
    assert dialog.error.isVisible() and "model.safetensors" in dialog.error.text()


def test_models_dialog_refuses_bad_input_with_a_clear_message(qtbot, window, tmp_path):
    dialog = _open(qtbot, window)
    junk = tmp_path / "notes.txt"
    junk.write_text("not a model")
    dialog.import_path(junk)
    _wait(qtbot, dialog)
    assert dialog.error.isVisible()
    text = dialog.error.text()
    assert text.startswith("Import failed: ") and "notes.txt" in text and "Traceback" not in text
    dialog.import_path(tmp_path / "nowhere")
    _wait(qtbot, dialog)
    assert "does not exist" in dialog.error.text()
    empty = tmp_path / "empty"
    empty.mkdir()
    dialog.as_name.setCurrentText("dino-vits16")
    dialog.import_path(empty, dialog._as_name())
    _wait(qtbot, dialog)
    assert "Import failed" in dialog.error.text() and "lacks" in dialog.error.text()
    assert not (window.settings.models_dir / "metrics" / "dino-vits16").exists()


def test_a_missing_model_points_to_the_models_dialog_not_the_command_line(qtbot, settings):
    from tfgnet_desk.gui.testing import fixed_box_detector, open_window
    from tfgnet_desk.gui.widgets.settings_dialog import SettingsDialog

    full = settings.with_(profile="full")
    w = open_window(full, detector=fixed_box_detector)
    qtbot.addWidget(w)
    message = w.message_bar.message
    assert message is not None and message.title == "Model missing"
    shown = f"{message.text} {message.todo}"
    assert "Models…" in shown and "save_pretrained" not in shown and "--model" not in shown
    assert w.message_bar.action.text() == "Models…"
    w.message_bar.action.click()
    assert w._models_dialog.isVisible()
    qtbot.waitUntil(lambda: not w._models_dialog.busy(), timeout=30_000)
    # the Settings dialog says the same about a folder that does not exist
    dialog = SettingsDialog(full, w)
    qtbot.addWidget(dialog)
    assert "does not exist" in dialog.summary.text()
    assert "--model" not in dialog.summary.text() and "Models…" in dialog.summary.text()
    w.close()
    qtbot.waitUntil(lambda: w._closed and not w.backend.isRunning(), timeout=30_000)
