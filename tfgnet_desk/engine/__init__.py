"""The generation engine: the TFGNet pipeline and the face detector in a child process.

Why a process and not only a thread: dlib's face descriptor and detectors hold Python's GIL for
0.15-1 s per call, and the UNet's Python code takes the GIL between every operation, so model work on a
thread of the GUI process stalls the window however the threads are arranged. In a child process they
cannot, and a crash or an out-of-memory kill of the model takes down only the child: the window, the
analyst's typed description and every candidate already stored survive.

- :mod:`tfgnet_desk.engine.protocol`: the messages and how errors cross the process boundary.
- :mod:`tfgnet_desk.engine.child`: the child's serve loop (pipeline, detector).
- :mod:`tfgnet_desk.engine.client`: :class:`EngineProcess`, the parent's handle on one child.

Nothing here imports Qt; the GUI's backend worker (a QThread) relays the engine's events as signals.
"""

from __future__ import annotations

from tfgnet_desk.engine.client import EngineDied, EngineProcess

__all__ = ["EngineDied", "EngineProcess"]
