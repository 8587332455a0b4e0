"""Face data: records over ../shared/data, identity-disjoint splits, face crops, captions, benchmark.

Public API (see each module): :class:`FaceRecord`, :func:`load_records`, :func:`make_splits`,
:class:`Splits`, :func:`load_face`, :func:`caption_for`, :data:`CLASS_WORDS`, :func:`build_benchmark`.
CLI: ``python -m tfgnet_desk.data {splits,build-benchmark,degrade}``.
"""

from tfgnet_desk.data.crops import CROP_BOXES, crop_face, load_face
from tfgnet_desk.data.datasets import DATASETS, DataError, FaceRecord, load_records, resolve_data_root
from tfgnet_desk.data.splits import DEFAULT_SPLIT_FILE, POOLS, Splits, check_disjoint, make_splits

__all__ = [
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
