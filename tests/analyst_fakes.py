"""Fakes for the analyst's metrics tests: an identity encoder over 2-d embeddings, a faceres stand-in with
attribute probes, landmarks and a locator (numbers chosen by hand)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ------------------------------------------------------------------------------------------------ fakes


class FakeEnc:
    """Identity encoder over 2-d embeddings; centring on ``mean``."""

    name = "fake-id"

    def __init__(self, mean=(0.0, 0.0)) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)

    def similarity(self, a, b):
        from tfgnet_desk.faces.identity import cosine

        return cosine(a, b)  # 0 for a zero vector

    def calibrated_similarity(self, a, b):
        return self.similarity(np.asarray(a) - self.mean, np.asarray(b) - self.mean)


def fake_face(probes: dict[str, float], p_male: float = 0.9, age: float = 30.0, identity=(1.0, 0.0)) -> dict:
    return {
        "identity": np.asarray(identity, dtype=np.float64),
        "p_male": p_male,
        "age": age,
        "probes": probes,
    }


@dataclass(frozen=True)
class FakeOut:
    identity: np.ndarray
    p_male: np.ndarray
    age: np.ndarray


class FakeNet:
    """faceres stand-in: identity = the mean colour of the aligned face's centre (3-d); P(male) and age from
    its brightness."""

    name = "faceres"
    mean = np.zeros(3)

    def __init__(self) -> None:
        self.batches: list[int] = []

    def analyse_aligned(self, faces):
        f = np.asarray(faces, dtype=np.float64)
        self.batches.append(len(f))
        centre = f[:, 80:144, 80:144]  # inside the face, whatever the alignment's black border
        ident = centre.reshape(len(f), -1, 3).mean(1) + 1.0
        m = centre.mean(axis=(1, 2, 3))
        return FakeOut(ident.astype(np.float32), (m / 255).astype(np.float32), (m / 4).astype(np.float32))

    def centred_cosine(self, a, b):
        a, b = np.asarray(a) - self.mean, np.asarray(b) - self.mean
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


class FakeProbes:
    """P(eyeglasses), P(beard), P(smiling) = the face's mean red, green, blue / 255."""

    attributes = ("eyeglasses", "beard", "smiling", "young", "male")
    val_auc = {"eyeglasses": 0.9}

    def predict(self, identity):
        x = (np.asarray(identity, dtype=np.float64) - 1.0) / 255.0
        return {
            "eyeglasses": x[:, 0],
            "beard": x[:, 1],
            "smiling": x[:, 2],
            "young": x[:, 0],
            "male": x[:, 1],
        }


def fake_landmarks() -> np.ndarray:
    """68 landmarks of a face filling a 128 px image: dlib's mean face (points 17-67) and a jaw arc."""
    from tfgnet_desk.faces.align import _dlib_mean68

    t = np.linspace(np.pi, 0, 17)
    jaw = np.stack([64 + 44 * np.cos(t), 60 + 50 * np.sin(t)], 1)
    return np.concatenate([jaw, _dlib_mean68(128, 0.25)]).astype(np.float64)


class FakeLocator:
    """Every image has the same landmarks; the evidence has none when ``evidence`` is None."""

    def __init__(self, evidence: str | None = "meta-landmarks") -> None:
        self.evidence = evidence

    def locate(self, img):
        from tfgnet_desk.evaluate.metrics.faces import detection_from_landmarks

        return detection_from_landmarks(fake_landmarks(), method="framing-box")

    def locate_evidence(self, img, meta):
        return (self.locate(img), self.evidence) if self.evidence else (None, "none")
