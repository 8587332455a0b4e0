"""Square face crops with the same face scale and position for every data set.

The frame is UTKFace crop_part1's own (the whole 200x200 image, no padding), because its faces already
fill the frame and padding would invent pixels. CelebA's box is chosen so that its faces land at the same
place. Boxes were fitted from dlib 68-point landmarks (HOG detector, ``shape_predictor_68_face_landmarks``;
CelebA upsampled 4x for detection), eye centre = mean of the six eye-contour points:

=================================  =================  =================
measured in source pixels           UTKFace (114/120)  CelebA (116/120)
=================================  =================  =================
image size (w x h)                  200 x 200          89 x 109
left eye centre (x, y)              59.0, 60.0         34.7, 56.4
right eye centre (x, y)             137.5, 59.9        54.0, 56.4
inter-ocular distance (IOD)         78.6 +- 4.9        19.3 +- 1.4
mouth centre (x, y)                 98.3, 141.2        44.2, 77.6
=================================  =================  =================

So in the UTKFace frame the eye midpoint is at (0.491, 0.300) of the side and IOD is 0.393 of the side;
the CelebA box of side 19.3 / 0.393 = 49 px placed at (20, 42) puts its faces at the same spot.
Re-measured on the 128x128 outputs of :func:`load_face` (100 random photos each, dlib on a 2x upscale):
UTKFace eye midpoint (62.6, 38.4) +- (1.2, 1.6), IOD 50.4 +- 3.7, mouth y 90.7 (98 detected);
CelebA eye midpoint (63.8, 37.7) +- (0.9, 1.2), IOD 50.6 +- 3.6, mouth y 92.6 (95 detected).
``tests/test_data_crops.py`` re-checks this on 16 photos of each.

The crop is tight (forehead to chin, ear to ear): hair colour and texture, bangs, glasses, beards and
earrings are visible; necklaces and ties are not, so captions do not mention them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfgnet_desk.data.datasets import FaceRecord
from tfgnet_desk.imaging import load_image, resize

# dataset -> (x0, y0, side) in source pixels
CROP_BOXES: dict[str, tuple[int, int, int]] = {
    "utkface": (0, 0, 200),
    "celeba10k": (20, 42, 49),
}
# Where the face sits in every crop (fractions of the side), measured as above.
EYE_MIDPOINT = (0.491, 0.300)
INTER_OCULAR = 0.393


def crop_box(dataset: str, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The (x0, y0, side) box for ``dataset``, scaled if the image is not at the reference size."""
    ref = {"utkface": (200, 200), "celeba10k": (109, 89)}[dataset]
    x0, y0, side = CROP_BOXES[dataset]
    sy, sx = shape[0] / ref[0], shape[1] / ref[1]
    if abs(sx - 1) < 1e-6 and abs(sy - 1) < 1e-6:
        return x0, y0, side
    s = min(sx, sy)
    return int(round(x0 * sx)), int(round(y0 * sy)), int(round(side * s))


def crop_face(img: np.ndarray, dataset: str, size: int = 128) -> np.ndarray:
    """Cut the data set's face box out of ``img`` and resize it to ``size`` x ``size``."""
    x0, y0, side = crop_box(dataset, img.shape)
    crop = img[y0 : y0 + side, x0 : x0 + side]
    if crop.shape[0] != side or crop.shape[1] != side:
        raise ValueError(f"{dataset} image of shape {img.shape} is too small for its crop box")
    return resize(crop, size)


def load_face(record: FaceRecord | Path | str, size: int = 128, dataset: str | None = None) -> np.ndarray:
    """A square RGB uint8 face crop of ``size`` x ``size`` for ``record``, framed like every other.

    ``record`` may also be a path, then ``dataset`` names its data set.
    """
    if isinstance(record, FaceRecord):
        path, dataset = record.path, record.dataset
    else:
        path = Path(record)
        if dataset is None:
            raise ValueError("dataset is required when a path is given")
    return crop_face(load_image(path), dataset, size)
