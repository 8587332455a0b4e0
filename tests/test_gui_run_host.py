"""The run session sees the window only through ``RunHost``: what it uses is declared there, and the main
window provides all of it (issue 16: no reaching into the window's private state)."""

from __future__ import annotations

import ast
import inspect

from tfgnet_desk.gui import messages, run_session
from tfgnet_desk.gui.run_host import RunHost


def host_members() -> set[str]:
    names = set(getattr(RunHost, "__annotations__", {}))
    names |= {n for n, v in vars(RunHost).items() if not n.startswith("_") and callable(v)}
    names |= {n for n, v in vars(RunHost).items() if isinstance(v, property)}
    return names


def window_uses() -> set[str]:
    """Attribute names the session reads on the window: ``self.w.X``, ``w.X`` and ``window.X``."""
    tree = ast.parse(inspect.getsource(run_session))
    used = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        base = node.value
        if isinstance(base, ast.Name) and base.id in ("w", "window"):
            used.add(node.attr)
        elif isinstance(base, ast.Attribute) and base.attr == "w" and isinstance(base.value, ast.Name):
            if base.value.id == "self":
                used.add(node.attr)
    return used


def test_the_session_uses_only_what_run_host_declares():
    members = host_members()
    assert {"store", "case_id", "controls", "candidates", "update_blocker", "close_pending"} <= members
    undeclared = window_uses() - members
    assert not undeclared, f"run_session.py uses window attributes outside RunHost: {sorted(undeclared)}"
    assert not any(name.startswith("_") for name in window_uses())


def test_the_main_window_provides_every_member_of_run_host(window):
    missing = sorted(name for name in host_members() if not hasattr(window, name))
    assert not missing, f"MainWindow lacks {missing}"
    window.close_pending = False  # a plain attribute the session sets and clears
    window.update_blocker()  # no evidence yet: Generate is disabled and says why
    assert (
        window.controls.generate_blocker()
        and window.controls.generate_blocker() == window.controls.blocker.text()
    )
    window.message_bar.clear()
    assert window.message_bar.kind() is None
    window.show_message(
        messages.UserMessage(messages.INVALID_INPUT, "Cannot generate yet", "x", "y", "warning")
    )
    assert window.message_bar.kind() == messages.INVALID_INPUT
