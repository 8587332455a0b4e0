"""Render packaging/linux/tfgnet-desk.svg to the 256x256 PNG beside it (run once after editing the SVG).

Uses Qt's SVG renderer offscreen; the PNG is committed so that installing needs no renderer.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "linux"


def main(size: int = 256) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(HERE / "tfgnet-desk.svg"))
    if not renderer.isValid():
        print("the SVG icon does not parse", file=sys.stderr)
        return 1
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    out = HERE / "tfgnet-desk.png"
    if not image.save(str(out)):
        return 1
    print(out)
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
