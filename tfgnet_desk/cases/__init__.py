"""Case store: cases, evidence, runs, candidates and an append-only, hash-chained audit log.

``from tfgnet_desk.cases import CaseStore``. Names are loaded lazily so that the CLI's parser stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CaseStore", "EvidenceError", "NotFound", "VerifyReport"]


def __getattr__(name: str) -> Any:
    if name in ("CaseStore", "NotFound"):
        from tfgnet_desk.cases import store

        return getattr(store, name)
    if name == "EvidenceError":
        from tfgnet_desk.cases.evidence import EvidenceError

        return EvidenceError
    if name == "VerifyReport":
        from tfgnet_desk.cases.verify import VerifyReport

        return VerifyReport
    raise AttributeError(name)
