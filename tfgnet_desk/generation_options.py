"""The generation options that ``generate`` and ``evaluate`` share: one wording, one meaning.

``add_generation_options`` adds ``--strength``, ``--fidelity``, ``--restore-fusion``,
``--candidate-fusion`` and ``--identity-guidance``. Defaults are left to the pipeline
(``pipeline.resolve_defaults``) unless a CLI passes its own ``strength`` default; the help says
where each default comes from.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

STRENGTH = (
    "how far candidates may move away from the restored face, in (0, 1]: 1.0 = drawn from pure noise "
    "(the paper's setting), lower = more of the restored evidence kept"
)
FIDELITY = (
    "the restorer's fidelity weight w in [0, 1] (CodeFormer's CFT): 0 = the codebook's face prior "
    "alone, 1 = closest to the evidence (default: the model's measured default, in its config.json)"
)
RESTORE_FUSION = (
    "keep the evidence's low frequencies in the restored face: Gaussian sigma in pixels, 0 = off "
    "(default: the profile's; tiny 2)"
)
CANDIDATE_FUSION = (
    "keep the restored face's low frequencies in each candidate: Gaussian sigma in pixels, 0 = off "
    "(default: the profile's; tiny 4)"
)

IDENTITY_GUIDANCE = (
    "pull every denoising step towards the restored face's identity (the model's own image encoder), "
    "step size in [0, 4], 0 = off (default: the profile's measured one)"
)


def add_generation_options(
    p: argparse.ArgumentParser,
    *,
    strength_default: float | None = None,
    strength_type: Callable[[str], Any] = float,
    strength_help: str = "",
) -> None:
    """Add the five shared options to ``p``. ``strength_type`` lets ``evaluate`` take a list."""
    default = f"(default {strength_default})" if strength_default is not None else "(default: the pipeline's)"
    p.add_argument(
        "--strength",
        type=strength_type,
        default=strength_default,
        help=f"{STRENGTH}{strength_help} {default}",
    )
    p.add_argument("--fidelity", type=float, default=None, metavar="W", help=FIDELITY)
    p.add_argument("--restore-fusion", type=float, default=None, metavar="SIGMA", help=RESTORE_FUSION)
    p.add_argument("--candidate-fusion", type=float, default=None, metavar="SIGMA", help=CANDIDATE_FUSION)
    p.add_argument("--identity-guidance", type=float, default=None, metavar="SCALE", help=IDENTITY_GUIDANCE)
