"""Moved to :mod:`tfgnet_desk.enhance.realesrgan` (the window's upscaled tile uses it too); this name stays
so that scripts and pickles that import ``tfgnet_desk.evaluate.realesrgan`` keep working."""

from __future__ import annotations

from tfgnet_desk.enhance.realesrgan import *  # noqa: F403
from tfgnet_desk.enhance.realesrgan import (  # noqa: F401
    MODEL,
    MODULE,
    PACKAGE,
    PRE_PAD,
    TAG_FLOAT16,
    TAG_FLOAT32,
    WEIGHTS_LICENCE,
    NcnnConv,
    NcnnFormatError,
    NcnnLayer,
    RealESRGANUnavailable,
    RRDBNet,
    load_convs,
    load_x4plus,
    model_files,
    parse_param,
    provenance,
    read_ncnn_convs,
    upscale_x4,
)
