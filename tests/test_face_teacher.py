"""faceres as a teacher: the warp onto its crop, the losses, gradients, frozen weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tfgnet_desk.data.crops import EYE_MIDPOINT, INTER_OCULAR
from tfgnet_desk.faces.align import arcface_template
from tfgnet_desk.model.face_teacher import FaceResTeacher, crop_to_arcface_theta


def _dot_image(size: int, points: list[tuple[float, float]]) -> torch.Tensor:
    """A black (-1) image with white 3x3 dots at ``points`` (fractions of the side)."""
    img = -torch.ones(1, 3, size, size)
    for fx, fy in points:
        x, y = int(fx * size), int(fy * size)
        img[..., y - 1 : y + 2, x - 1 : x + 2] = 1.0
    return img


def test_warp_puts_the_training_frame_eyes_on_the_arcface_eyes():
    mx, my = EYE_MIDPOINT
    eyes = [(mx - INTER_OCULAR / 2, my), (mx + INTER_OCULAR / 2, my)]
    img = _dot_image(256, eyes)
    theta = crop_to_arcface_theta()
    grid = F.affine_grid(theta, [1, 3, 224, 224], align_corners=False)
    out = F.grid_sample((img + 1) / 2, grid, align_corners=False)[0, 0].numpy()
    want = arcface_template(224)[:2]
    for wx, wy in want:
        patch = out[int(wy) - 3 : int(wy) + 4, int(wx) - 3 : int(wx) + 4]
        assert patch.max() > 0.5, f"no eye dot near ({wx:.0f}, {wy:.0f})"
    assert out[112, 5] < 0.1 and out[200, 112] < 0.1  # away from the eyes: black


@pytest.fixture(scope="module")
def teacher() -> FaceResTeacher:
    return FaceResTeacher(size=112)


def test_losses_are_zero_for_the_same_image_and_grow_with_change(teacher):
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    same = teacher(target.clone(), target)
    assert float(same["identity"]) == pytest.approx(0.0, abs=1e-5)
    assert float(same["perceptual"]) == pytest.approx(0.0, abs=1e-6)
    noisy = (target + 0.5 * torch.randn(2, 3, 64, 64, generator=g)).clamp(-1, 1)
    other = teacher(noisy, target)
    assert float(other["identity"]) > 1e-3 and float(other["perceptual"]) > 1e-3


def test_gradients_reach_the_prediction_and_not_the_teacher(teacher):
    target = torch.zeros(1, 3, 64, 64)
    pred = torch.full((1, 3, 64, 64), 0.3, requires_grad=True)
    losses = teacher(pred, target)
    (losses["identity"] + losses["perceptual"]).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    teacher.train()
    assert not teacher.graph.training


def test_attribute_logits_match_the_numpy_probes(teacher):
    from tfgnet_desk.faces.attributes import AttributeProbes

    probes = AttributeProbes.load()
    t = FaceResTeacher(size=112, probes=probes)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        logits = t.attribute_logits(x)
        feats = t.features(x)["identity"].numpy()
    p = probes.predict(feats)
    want = np.stack([p[a] for a in probes.attributes], axis=1)
    np.testing.assert_allclose(torch.sigmoid(logits).numpy(), want, atol=1e-4)
    with pytest.raises(ValueError):
        teacher.attribute_logits(x)
