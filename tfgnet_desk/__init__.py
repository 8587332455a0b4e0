"""tfgnet-desk: TFGNet (target face generation from low-quality images via textual guidance) for analysts.

Heavy dependencies (torch, diffusers, dlib, PySide6) are imported lazily by the modules that need them,
so that importing this package is cheap.
"""

import os

# OpenMP threads that spin while waiting starve the GUI thread and any other process on a small machine
# (measured here: 2-thread convolutions ~80x slower on a busy 2-core CPU). Must be set before torch loads;
# a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
