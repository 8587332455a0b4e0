"""Perceptual loss: VGG19 from the model folder (torchvision key names); report and fallback when absent."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tfgnet_desk.model.perceptual import (
    FALLBACK_NAME,
    PerceptualLoss,
    VGG19Features,
    pyramid_sobel_l1,
    sobel_gradients,
)

torch.set_num_threads(1)

# torchvision.models.vgg19().features: conv layers sit at these indices
TORCHVISION_VGG19_CONVS = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def _images(seed: int = 0, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(2, 3, size, size, generator=g) * 2 - 1
    return a, torch.rand(2, 3, size, size, generator=g) * 2 - 1


def test_missing_vgg19_is_reported_and_falls_back(tmp_path):
    with pytest.warns(UserWarning, match="VGG19 weights not found"):
        loss = PerceptualLoss(tmp_path)
    assert loss.backend == f"none: VGG19 weights not found in {tmp_path / 'vgg19' / 'model.safetensors'}"
    assert loss.fallback == FALLBACK_NAME == "pyramid-sobel-l1"
    a, b = _images()
    a.requires_grad_(True)
    value = loss(a, b)
    assert value.item() == pytest.approx(pyramid_sobel_l1(a, b).item())
    assert value.item() > 0 and loss(b, b).item() == 0
    value.backward()
    assert a.grad is not None and a.grad.abs().sum() > 0


def test_fallback_hand_values():
    # a horizontal ramp: Sobel x response is 8 * step inside, y response 0
    ramp = torch.arange(8.0).repeat(8, 1).reshape(1, 1, 8, 8)
    grads = sobel_gradients(ramp)
    assert torch.allclose(grads[0, 0, 2:-2, 2:-2], torch.full((4, 4), 8.0))
    assert torch.allclose(grads[0, 1], torch.zeros(8, 8))
    # a constant offset: every pyramid level has L1 = offset, gradients equal -> loss = offset
    x = torch.zeros(1, 3, 16, 16)
    assert pyramid_sobel_l1(x + 0.25, x).item() == pytest.approx(0.25)


def test_random_vgg19_saved_as_safetensors_loads(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = VGG19Features()
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    expected = {f"features.{i}.{p}" for i in TORCHVISION_VGG19_CONVS for p in ("weight", "bias")}
    assert set(state) == expected
    assert state["features.34.weight"].shape == (512, 512, 3, 3)
    state["classifier.0.weight"] = torch.zeros(4, 4)  # a torchvision file carries the classifier: ignored
    (tmp_path / "vgg19").mkdir()
    save_file(state, str(tmp_path / "vgg19" / "model.safetensors"))

    weights = {"conv1_2": 1.0, "conv2_2": 0.5}
    loss = PerceptualLoss(tmp_path, layer_weights=weights, warn=False)
    assert loss.backend == f"vgg19: {tmp_path / 'vgg19' / 'model.safetensors'}" and loss.fallback is None
    assert torch.equal(loss.net.features[7].weight, net.features[7].weight)
    assert all(not p.requires_grad for p in loss.net.parameters())
    a, b = _images()
    fa, fb = net(a), net(b)  # all five taps
    manual = 1.0 * F.mse_loss(fa[0], fb[0]) + 0.5 * F.mse_loss(fa[1], fb[1])
    assert loss(a, b).item() == pytest.approx(manual.item(), rel=1e-5)
    l1 = PerceptualLoss(tmp_path, layer_weights=weights, criterion="l1", warn=False)
    assert l1(a, b).item() == pytest.approx(
        (F.l1_loss(fa[0], fb[0]) + 0.5 * F.l1_loss(fa[1], fb[1])).item(), rel=1e-5
    )
    loss.train()
    assert not loss.net.training


def test_wrong_vgg19_file_is_refused(tmp_path):
    from safetensors.torch import save_file

    (tmp_path / "vgg19").mkdir()
    save_file({"features.0.weight": torch.zeros(8, 3, 3, 3)}, str(tmp_path / "vgg19" / "model.safetensors"))
    with pytest.raises(ValueError, match="not a torchvision-layout VGG19"):
        PerceptualLoss(tmp_path)


def test_pluggable_feature_network_and_bad_arguments():
    class TwoScales(nn.Module):
        def forward(self, x):
            return [x, F.avg_pool2d(x, 2)]

    loss = PerceptualLoss(feature_net=TwoScales(), layer_weights=[1.0, 2.0])
    assert loss.backend == "custom: TwoScales"
    a, b = _images()
    expected = F.mse_loss(a, b) + 2.0 * F.mse_loss(F.avg_pool2d(a, 2), F.avg_pool2d(b, 2))
    assert loss(a, b).item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="criterion"):
        PerceptualLoss(criterion="l3", warn=False)
    with pytest.raises(ValueError, match="unknown VGG19 layers"):
        PerceptualLoss(layer_weights={"conv9_9": 1.0}, warn=False)
