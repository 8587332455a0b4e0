"""Issue 14 items 5 and 7: the analyst's name is asked once (the New case dialog, while the settings have
none), saved in the settings, written as each new case's analyst and recorded as the actor of every
audited action; and a candidate has one label in the window, the PDF, ``case show`` and ``generate``."""

from __future__ import annotations

from types import SimpleNamespace

from test_cases_store import fake_result, make_image

from tfgnet_desk.cases import CaseStore
from tfgnet_desk.cases.store import default_actor
from tfgnet_desk.settings import Settings


def test_the_analyst_is_a_setting_and_the_stores_actor(tmp_path):
    s = Settings(home=tmp_path, models_dir=tmp_path / "m", analyst="  J.   Doe ")
    assert s.analyst == "J. Doe"
    s.save()
    assert Settings.load(tmp_path).analyst == "J. Doe"
    with CaseStore(s) as store:
        assert store.actor == "J. Doe"
        cid = store.create_case("A case")
        assert {e.actor for e in store.audit_trail(cid)} == {"J. Doe"}
    with CaseStore(s, actor="bob") as store:  # the CLI's --actor still wins
        assert store.actor == "bob"
    with CaseStore(s.with_(analyst="")) as store:
        assert store.actor == default_actor()


def test_the_case_cli_takes_the_analyst_from_the_settings(tmp_path, capsys):
    from tfgnet_desk.cli import main

    Settings(home=tmp_path, models_dir=tmp_path / "m", analyst="J. Doe").save()
    assert main(["case", "--home", str(tmp_path), "new", "From the CLI"]) == 0
    assert main(["case", "--home", str(tmp_path), "new", "Named", "--analyst", "K. Roe"]) == 0
    with CaseStore(Settings.load(tmp_path)) as store:
        cases = {c["title"]: c for c in store.list_cases()}
        assert cases["From the CLI"]["analyst"] == "J. Doe" and cases["Named"]["analyst"] == "K. Roe"
        assert {e.actor for e in store.audit_trail(cases["Named"]["id"])} == {"J. Doe"}


def test_the_settings_dialog_edits_the_analyst(qtbot, tmp_path):
    from tfgnet_desk.gui.widgets.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Settings(home=tmp_path, models_dir=tmp_path / "m", analyst="A. Old"))
    qtbot.addWidget(dialog)
    assert dialog.analyst.text() == "A. Old"
    dialog.analyst.setText("B. New")
    assert dialog.result_settings().analyst == "B. New"


def test_the_new_case_dialog_asks_the_analyst_only_while_none_is_set(qtbot):
    from tfgnet_desk.gui.new_case import NewCaseDialog

    asking = NewCaseDialog("Case 1", ask_analyst=True)
    qtbot.addWidget(asking)
    assert asking.analyst is not None
    asking.analyst.setText(" J.  Doe ")
    assert asking.values() == ("Case 1", "J. Doe")
    asking.title.setText("  ")
    assert not asking.buttons.button(asking.buttons.StandardButton.Ok).isEnabled()
    quiet = NewCaseDialog("Case 2", ask_analyst=False)
    qtbot.addWidget(quiet)
    assert quiet.analyst is None and quiet.values() == ("Case 2", "")


def test_a_name_given_once_is_the_case_analyst_and_the_actor_of_every_action(
    qtbot, window, tmp_path, monkeypatch
):
    from tfgnet_desk.gui.new_case import NewCaseDialog

    w = window
    assert w.settings.analyst == ""

    def fill_and_accept(dialog):  # what the analyst types in the modal dialog (no event loop needed)
        assert dialog.analyst is not None, "the name was not asked"
        dialog.title.setText("Kiosk robbery")
        dialog.analyst.setText("J. Doe")
        return 1

    monkeypatch.setattr(NewCaseDialog, "exec", fill_and_accept)
    cid = w.new_case_dialog() or w.case_id
    assert cid is not None and w.store.get_case(cid)["analyst"] == "J. Doe"
    assert Settings.load(w.settings.home).analyst == "J. Doe"  # saved: asked once
    w.rename_case(cid, "Kiosk robbery, Main St")
    w.store.evidence.import_file(cid, make_image(tmp_path / "crop.png"))
    assert {e.actor for e in w.store.audit_trail(cid)} == {"J. Doe"}

    def accept_without_asking(dialog):
        assert dialog.analyst is None, "the name was asked again"
        dialog.title.setText("Second case")
        return 1

    monkeypatch.setattr(NewCaseDialog, "exec", accept_without_asking)
    w.apply_settings(w.settings.with_(analyst="K. Roe"), save=False)  # the Settings dialog's path
    w.new_case_dialog()
    second = w.case_id
    assert second != cid and w.store.get_case(second)["analyst"] == "K. Roe"
    assert {e.actor for e in w.store.audit_trail(second)} == {"K. Roe"}


def test_a_candidate_has_one_label_in_the_window_the_report_case_show_and_generate(
    qtbot, window, tmp_path, capsys
):
    from PySide6.QtCore import Qt

    from tfgnet_desk.cli import main as case_main
    from tfgnet_desk.generate_cli import _best_line
    from tfgnet_desk.report.content import build_content, picked_label

    w = window
    cid = w.create_case("Labels")
    eid = w.store.evidence.import_file(cid, make_image(tmp_path / "crop.png", size=(60, 70)))
    run = w.store.runs.record(cid, [eid], fake_result(n=4, seed=40))
    cand = w.store.candidates.of_run(run)[2]
    w.store.candidates.set_pick(cand["id"])
    w.open_case(cid)
    qtbot.waitUntil(lambda: len(w.candidates.cards) == 4, timeout=10_000)
    card = next(c for c in w.candidates.cards.values() if c.index == cand["idx"])
    item = next(
        w.candidates.list.item(i)
        for i in range(w.candidates.list.count())
        if w.candidates.list.item(i).data(Qt.ItemDataRole.UserRole) == card.key
    )
    window_label = item.text().split()[0]
    assert window_label == "#3"
    html = build_content(w.store, cid, "now").html
    assert picked_label(1, cand["idx"]) == f"Run 1, candidate {window_label}" and picked_label(1, 2) in html
    assert f"<b>SYNTHETIC</b> {window_label} seed {cand['seed']}" in html  # the run's grid
    capsys.readouterr()
    case_main(["case", "--home", str(w.settings.home), "show", str(cid)])
    assert f"candidate {cand['id']} {window_label} seed {cand['seed']}" in capsys.readouterr().out

    # generate's summary line names the best candidate the same way (it said '#2' for the third)
    score = SimpleNamespace(calibrated=0.9, backend="dlib-resnet")
    low = SimpleNamespace(calibrated=0.1, backend="dlib-resnet")
    result = SimpleNamespace(
        candidates=[
            SimpleNamespace(index=i, scores={"evidence": score if i == 2 else low}) for i in range(4)
        ],
        restored=[],
    )
    assert f"vs evidence: {window_label} 0.900 dlib-resnet" in _best_line(result)
