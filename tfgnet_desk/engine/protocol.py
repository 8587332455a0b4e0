"""Messages between the GUI process and the engine child, and how exceptions cross between them.

Parent to child (tuples over a ``multiprocessing`` pipe):

- ``("preload", settings)``: load the pipeline for ``settings`` now.
- ``("run", token, settings, request)``: run a :class:`~tfgnet_desk.pipeline.GenerationRequest`.
- ``("detect", token, image)``: largest face box in an RGB image.
- ``("upscale", token, image)``: the image enlarged by a third-party upscaler (Real-ESRGAN x4plus, for
  the compare view's upscaled tile of the evidence; ``enhance/evidence_upscale.py``).
- ``("stop",)``: leave the serve loop.

Cancel is not a message: the child is busy during a run and reads no messages, so the parent sets a
shared ``multiprocessing.Event`` that the pipeline checks between diffusion steps.

Child to parent:

- ``("model_state", state, text)`` with state ``loading | ready | error``.
- ``("progress", token, stage, step, total)``.
- ``("candidate", token, candidate)``: a scored :class:`~tfgnet_desk.pipeline.Candidate` as it arrives.
- ``("finished", token, result)``: the :class:`~tfgnet_desk.pipeline.GenerationResult`.
- ``("cancelled", token)``, ``("failed", token, error_record)``.
- ``("detected", token, box_or_None, method)``, ``("detect_failed", token, error_record)``.
- ``("upscale_progress", token, done, total)``, then ``("upscaled", token, image, provenance)`` or
  ``("upscale_failed", token, error_record)``. An upscale is cancelled by terminating the child.
"""

from __future__ import annotations

import traceback
from typing import Any

# Message kinds (first tuple element).
PRELOAD, RUN, DETECT, UPSCALE, STOP = "preload", "run", "detect", "upscale", "stop"
MODEL_STATE, PROGRESS, CANDIDATE = "model_state", "progress", "candidate"
FINISHED, CANCELLED, FAILED = "finished", "cancelled", "failed"
DETECTED, DETECT_FAILED = "detected", "detect_failed"
UPSCALE_PROGRESS, UPSCALED, UPSCALE_FAILED = "upscale_progress", "upscaled", "upscale_failed"
END_OF_RUN = (FINISHED, CANCELLED, FAILED)

# Base classes an error keeps when it is rebuilt in the parent (what messages.explain() looks at).
_BASES: tuple[type[BaseException], ...] = (MemoryError, ValueError, FileNotFoundError, OSError)


def error_record(exc: BaseException) -> dict[str, Any]:
    """A picklable description of ``exc``: its class name, text, standard bases and traceback."""
    return {
        "type": type(exc).__name__,
        "text": str(exc),
        "bases": [b.__name__ for b in _BASES if isinstance(exc, b)],
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


class RemoteError(Exception):
    """Base of exceptions rebuilt from the child; ``remote_traceback`` holds the child's traceback."""

    remote_traceback: str = ""


def rebuild_exception(record: dict[str, Any]) -> BaseException:
    """An exception with the child's class name, text and standard bases, so that code classifying it by
    name or ``isinstance`` (the window's messages) treats it as it would the original."""
    bases = tuple(b for b in _BASES if b.__name__ in record.get("bases", ()))
    base = bases[0] if bases else RemoteError
    parents = (base,) if base is RemoteError else (base, RemoteError)
    cls = type(str(record.get("type", "RemoteError")), parents, {})
    exc = cls(record.get("text", ""))
    exc.remote_traceback = record.get("traceback", "")  # type: ignore[attr-defined]
    return exc


def describe(record: dict[str, Any]) -> str:
    """One line for the run's ``error`` column: ``TypeName: text``."""
    return f"{record.get('type', 'Error')}: {record.get('text', '')}".strip()
