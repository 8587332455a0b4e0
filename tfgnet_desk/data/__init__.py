"""Face data: records over ../shared/data, identity-disjoint splits, face crops, captions, benchmark.

Public API (see each module): :class:`FaceRecord`, :func:`load_records`, :func:`make_splits`,
:class:`Splits`, :func:`load_face`, :func:`caption_for`, :data:`CLASS_WORDS`, :func:`build_benchmark`.
CLI: ``python -m tfgnet_desk.data {splits,build-benchmark,degrade}``.
"""

from tfgnet_desk.data.captions import CLASS_WORDS, caption_for, class_word_for, find_class_word
from tfgnet_desk.data.crops import CROP_BOXES, crop_face, load_face
from tfgnet_desk.data.datasets import DATASETS, DataError, FaceRecord, load_records, resolve_data_root
from tfgnet_desk.data.splits import DEFAULT_SPLIT_FILE, POOLS, Splits, check_disjoint, make_splits


def build_benchmark(*args, **kwargs):
    """See :func:`tfgnet_desk.data.benchmark.build_benchmark` (imported lazily: it pulls in OpenCV)."""
    from tfgnet_desk.data.benchmark import build_benchmark as _build

    return _build(*args, **kwargs)


__all__ = [
    "CLASS_WORDS",
    "caption_for",
    "class_word_for",
    "find_class_word",
    "build_benchmark",
    "CROP_BOXES",
    "DATASETS",
    "DEFAULT_SPLIT_FILE",
    "POOLS",
    "DataError",
    "FaceRecord",
    "Splits",
    "check_disjoint",
    "crop_face",
    "load_face",
    "load_records",
    "make_splits",
    "resolve_data_root",
]
