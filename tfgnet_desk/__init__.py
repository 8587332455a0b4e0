"""tfgnet-desk: TFGNet (target face generation from low-quality images via textual guidance) for analysts.

Heavy dependencies (torch, diffusers, dlib, PySide6) are imported lazily by the modules that need them,
so that importing this package is cheap.
"""

__version__ = "0.1.0"
