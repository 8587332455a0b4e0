"""Architecture rules from DESIGN.md that a test can enforce."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "tfgnet_desk"
QT_ALLOWED = {"gui", "report"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_gui_and_report_import_qt():
    offenders = []
    for path in PKG.rglob("*.py"):
        top = path.relative_to(PKG).parts[0]
        if top in QT_ALLOWED:
            continue
        if _imports(path) & {"PySide6", "PyQt5", "PyQt6", "shiboken6"}:
            offenders.append(str(path.relative_to(PKG)))
    assert offenders == [], f"Qt imported outside gui/ and report/: {offenders}"


def test_no_module_over_600_lines():
    long = [str(p.relative_to(PKG)) for p in PKG.rglob("*.py") if len(p.read_text().splitlines()) > 600]
    assert long == [], f"split these modules: {long}"


def test_package_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, tfgnet_desk, tfgnet_desk.settings, tfgnet_desk.cli; "
        "print(','.join(m for m in ('torch','diffusers','dlib','PySide6') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported at package import: {out.stdout}"
