"""The paper's degradation pipeline (TFGNet, appendix A.1), seeded and reproducible.

Steps, in the paper's order, each parameter drawn uniformly from the paper's range:

1. Gaussian blur, sigma in [1, 10] (pixels of the 512x512 HQ image; kernel 6 sigma + 1, reflect border);
2. downsample by a factor in [1, 10] (continuous): bilinear resize to ``round(hq_size / factor)``;
3. Gaussian noise, sigma in [1, 15] on the 0-255 scale, independent per pixel and channel, drawn from its
   own generator seeded with ``noise_seed`` (stored, so the exact noise can be regenerated);
4. JPEG compression, integer quality in [30, 90] (inclusive, OpenCV's libjpeg, 4:2:0);
5. resize to ``lq_size`` x ``lq_size`` (128 by default; area-averaged when shrinking, bilinear when
   enlarging).

The ranges are in pixels of a 512 HQ image, as in the paper ("All HQ images ... have a fixed resolution
of 512x512"). So the source is first resized to ``hq_size`` x ``hq_size`` (default 512; bicubic up,
area down): "blur 10" then means what it means in the paper whatever the source size. Pass square
face crops (``tfgnet_desk.data.load_face``); a non-square source is stretched.

``degrade`` samples the parameters (in the order blur, factor, noise, quality, noise seed) from the
given ``numpy.random.Generator`` or seed and returns them in a frozen :class:`DegradationParams`;
``apply_degradation(img, params)`` reproduces the same LQ image bit for bit.

Surveillance tier (not in the paper; ``build-benchmark --tier surveillance``): a CCTV-like loss of
identity at a drawn face size. The source (a square face crop in the shared framing of
:mod:`tfgnet_desk.data.crops`) is resized to ``hq_size`` as above, then

1. shrunk (area-averaged) to ``face_width_px`` x ``face_width_px``, an integer drawn uniformly in
   [12, 32]. **Face width** is the side of the shared face crop (tight, ear to ear): the inter-ocular
   distance is ``INTER_OCULAR`` = 0.393 of it, so 12-32 px is an eye distance of 4.7-12.6 px (dlib's
   jaw width, landmark 0 to 16, is 0.89 +- 0.06 of it on the 500 seed-0 benchmark faces);
2. Gaussian sensor noise, sigma in [2, 8] on the 0-255 scale, from its own generator (``noise_seed``);
3. JPEG, integer quality in [40, 75] (inclusive);
4. framed back, bicubic, to ``lq_size`` x ``lq_size``, as a CCTV viewer enlarges a region: the face
   fills the frame exactly as in the A.1 output.

Parameters are drawn in the order face width, noise sigma, quality, noise seed
(:func:`sample_surveillance_params`) and kept in a :class:`SurveillanceParams`;
``apply_surveillance(img, params)`` reproduces the LQ image bit for bit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from tfgnet_desk.imaging import import_cv2, resize

BLUR_SIGMA_RANGE = (1.0, 10.0)
DOWNSAMPLE_RANGE = (1.0, 10.0)
NOISE_SIGMA_RANGE = (1.0, 15.0)
JPEG_QUALITY_RANGE = (30, 90)  # inclusive
DEFAULT_LQ_SIZE = 128
DEFAULT_HQ_SIZE = 512


class _ParamsRecord:
    """Dict round trip of a parameter record (a frozen dataclass): unknown keys ignored on the way
    back, each value cast to its field's type (int or float), missing fields with defaults take them."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        values = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                values[f.name] = (int if f.type in ("int", int) else float)(data[f.name])
        return cls(**values)


@dataclass(frozen=True)
class DegradationParams(_ParamsRecord):
    """Every sampled value of one A.1 degradation, enough to reproduce it exactly."""

    blur_sigma: float
    downsample_factor: float
    noise_sigma: float
    jpeg_quality: int
    noise_seed: int
    hq_size: int = DEFAULT_HQ_SIZE
    lq_size: int = DEFAULT_LQ_SIZE


def _as_generator(rng: int | np.random.Generator) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be an int seed or a numpy Generator, not {type(rng).__name__}")


def sample_params(
    rng: int | np.random.Generator, lq_size: int = DEFAULT_LQ_SIZE, hq_size: int = DEFAULT_HQ_SIZE
) -> DegradationParams:
    """Draw one set of A.1 parameters."""
    g = _as_generator(rng)
    return DegradationParams(
        blur_sigma=float(g.uniform(*BLUR_SIGMA_RANGE)),
        downsample_factor=float(g.uniform(*DOWNSAMPLE_RANGE)),
        noise_sigma=float(g.uniform(*NOISE_SIGMA_RANGE)),
        jpeg_quality=int(g.integers(JPEG_QUALITY_RANGE[0], JPEG_QUALITY_RANGE[1] + 1)),
        noise_seed=int(g.integers(0, 2**31 - 1)),
        hq_size=int(hq_size),
        lq_size=int(lq_size),
    )


def _check_rgb_uint8(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 (H, W, 3) image, got {arr.dtype} {arr.shape}")
    return arr


def _add_noise(x: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Gaussian noise on the 0-255 scale from its own seeded generator; rounded and clipped to uint8."""
    noise = np.random.default_rng(seed).normal(0.0, sigma, x.shape)
    return np.clip(np.rint(x.astype(np.float32) + noise.astype(np.float32)), 0, 255).astype(np.uint8)


def _jpeg_roundtrip(x: np.ndarray, quality: int) -> np.ndarray:
    """Encode RGB uint8 ``x`` as JPEG at ``quality`` (OpenCV's libjpeg, 4:2:0) and decode it again."""
    cv2 = import_cv2()
    ok, buf = cv2.imencode(".jpg", x[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])  # BGR
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 BGR
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]


def apply_degradation(
    img: np.ndarray,
    params: DegradationParams,
    lq_size: int | None = None,
    hq_size: int | None = None,
) -> np.ndarray:
    """Degrade RGB uint8 ``img`` with fixed ``params``; returns the LQ image (``lq_size`` square, uint8).

    ``lq_size``/``hq_size`` default to the values stored in ``params``.
    """
    cv2 = import_cv2()
    lq = int(lq_size or params.lq_size)
    hq = int(hq_size or params.hq_size)
    arr = _check_rgb_uint8(img)
    x = resize(arr, hq).astype(np.float32)
    # 1. Gaussian blur (sigma in HQ pixels); kernel covers +-3 sigma.
    k = 2 * int(np.ceil(3 * params.blur_sigma)) + 1
    x = cv2.GaussianBlur(
        x, (k, k), sigmaX=params.blur_sigma, sigmaY=params.blur_sigma, borderType=cv2.BORDER_REFLECT_101
    )
    # 2. Downsample by the factor.
    small = max(1, int(round(hq / params.downsample_factor)))
    x = cv2.resize(x, (small, small), interpolation=cv2.INTER_LINEAR)
    # 3. Gaussian noise on the 0-255 scale, from its own seeded generator.
    x = _add_noise(x, params.noise_sigma, params.noise_seed)
    # 4. JPEG.
    x = _jpeg_roundtrip(x, params.jpeg_quality)
    # 5. Resize to the LQ size.
    interp = cv2.INTER_AREA if small > lq else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(np.ascontiguousarray(x), (lq, lq), interpolation=interp))


def degrade(
    img: np.ndarray,
    rng: int | np.random.Generator,
    lq_size: int = DEFAULT_LQ_SIZE,
    hq_size: int = DEFAULT_HQ_SIZE,
) -> tuple[np.ndarray, DegradationParams]:
    """Sample A.1 parameters from ``rng`` (a seed or a Generator) and degrade ``img`` with them."""
    params = sample_params(rng, lq_size=lq_size, hq_size=hq_size)
    return apply_degradation(img, params), params


# --- Surveillance tier (see the module docstring) ---------------------------------------------------

SURVEILLANCE_FACE_WIDTH_RANGE = (12, 32)  # inclusive, pixels of face width (the shared crop's side)
SURVEILLANCE_NOISE_SIGMA_RANGE = (2.0, 8.0)
SURVEILLANCE_JPEG_QUALITY_RANGE = (40, 75)  # inclusive


@dataclass(frozen=True)
class SurveillanceParams(_ParamsRecord):
    """Every sampled value of one surveillance-tier degradation, enough to reproduce it exactly."""

    face_width_px: int
    noise_sigma: float
    jpeg_quality: int
    noise_seed: int
    hq_size: int = DEFAULT_HQ_SIZE
    lq_size: int = DEFAULT_LQ_SIZE


def sample_surveillance_params(
    rng: int | np.random.Generator, lq_size: int = DEFAULT_LQ_SIZE, hq_size: int = DEFAULT_HQ_SIZE
) -> SurveillanceParams:
    """Draw one set of surveillance-tier parameters (face width, noise sigma, quality, noise seed)."""
    g = _as_generator(rng)
    lo, hi = SURVEILLANCE_FACE_WIDTH_RANGE
    return SurveillanceParams(
        face_width_px=int(g.integers(lo, hi + 1)),
        noise_sigma=float(g.uniform(*SURVEILLANCE_NOISE_SIGMA_RANGE)),
        jpeg_quality=int(
            g.integers(SURVEILLANCE_JPEG_QUALITY_RANGE[0], SURVEILLANCE_JPEG_QUALITY_RANGE[1] + 1)
        ),
        noise_seed=int(g.integers(0, 2**31 - 1)),
        hq_size=int(hq_size),
        lq_size=int(lq_size),
    )


def apply_surveillance(img: np.ndarray, params: SurveillanceParams) -> np.ndarray:
    """Degrade the RGB uint8 face crop ``img`` with fixed surveillance ``params`` (``lq_size`` square)."""
    cv2 = import_cv2()
    x = resize(_check_rgb_uint8(img), params.hq_size)
    small = resize(x, params.face_width_px)  # area-averaged, as a sensor integrates light
    small = _add_noise(small, params.noise_sigma, params.noise_seed)
    small = np.ascontiguousarray(_jpeg_roundtrip(small, params.jpeg_quality))
    lq = params.lq_size
    return np.ascontiguousarray(cv2.resize(small, (lq, lq), interpolation=cv2.INTER_CUBIC))


def degrade_surveillance(
    img: np.ndarray,
    rng: int | np.random.Generator,
    lq_size: int = DEFAULT_LQ_SIZE,
    hq_size: int = DEFAULT_HQ_SIZE,
) -> tuple[np.ndarray, SurveillanceParams]:
    """Sample surveillance-tier parameters from ``rng`` and degrade the face crop ``img`` with them."""
    params = sample_surveillance_params(rng, lq_size=lq_size, hq_size=hq_size)
    return apply_surveillance(img, params), params
