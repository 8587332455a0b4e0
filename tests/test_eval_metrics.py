"""Each evaluation metric against values computed by hand (paper 4.1 metrics, reference definitions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tfgnet_desk.evaluate.metrics.frechet import (
    feature_statistics,
    frechet_distance,
    frechet_distance_of_features,
    trace_sqrt_product,
)
from tfgnet_desk.evaluate.metrics.pixel import gaussian_window, luminance, psnr, ssim


def _rand_img(seed: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------------------------ PSNR
def test_psnr_known_value():
    a = np.full((16, 16, 3), 100, np.uint8)
    b = np.full((16, 16, 3), 105, np.uint8)
    # MSE = 25 -> 10 log10(255^2 / 25) = 20 log10(51)
    assert psnr(a, b) == pytest.approx(20 * math.log10(51), abs=1e-9)
    assert psnr(a, b) == pytest.approx(34.1514, abs=1e-4)


def test_psnr_one_channel_differs():
    a = np.zeros((8, 8, 3), np.uint8)
    b = a.copy()
    b[..., 0] = 30  # MSE over all channels = 900 / 3 = 300
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 300), abs=1e-9)


def test_psnr_identical_is_infinite_and_shape_checked():
    a = _rand_img(0)
    assert psnr(a, a) == math.inf
    with pytest.raises(ValueError):
        psnr(a, a[:16])


# ------------------------------------------------------------------------------------------------ SSIM
def test_gaussian_window():
    g = gaussian_window()
    assert g.shape == (11,) and g.sum() == pytest.approx(1.0)
    assert np.allclose(g, g[::-1])
    # ratio of centre to neighbour is exp(1 / (2 sigma^2)) with sigma 1.5
    assert g[5] / g[4] == pytest.approx(math.exp(1 / (2 * 1.5**2)))


def test_ssim_identical_is_one():
    a = _rand_img(1)
    assert 1.0 - ssim(a, a) == pytest.approx(0.0, abs=1e-12)
    assert 1.0 - ssim(a, a, channel="rgb") == pytest.approx(0.0, abs=1e-12)


def test_ssim_of_constant_images_matches_closed_form():
    # Constant images: all variances are 0, so SSIM = (2 mx my + C1) / (mx^2 + my^2 + C1) everywhere.
    a = np.full((20, 20, 3), 80, np.uint8)
    b = np.full((20, 20, 3), 120, np.uint8)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 80 * 120 + c1) / (80**2 + 120**2 + c1)
    assert ssim(a, b) == pytest.approx(expected, rel=1e-9)
    assert ssim(a, b, channel="rgb") == pytest.approx(expected, rel=1e-9)


def test_ssim_is_on_bt601_luminance():
    img = _rand_img(2)
    y = luminance(img)
    assert y[0, 0] == pytest.approx(0.299 * img[0, 0, 0] + 0.587 * img[0, 0, 1] + 0.114 * img[0, 0, 2])
    # a pure colour swap that keeps luma close still changes per-channel SSIM more than luminance SSIM
    noisy = np.clip(img.astype(int) + np.random.default_rng(3).integers(-20, 21, img.shape), 0, 255)
    assert 0.0 < ssim(img, noisy.astype(np.uint8)) < 1.0


def test_ssim_matches_scikit_image_gaussian_variant():
    skm = pytest.importorskip("skimage.metrics")
    a = luminance(_rand_img(4, 40))
    b = luminance(_rand_img(5, 40)) * 0.3 + a * 0.7
    ours = ssim(
        np.repeat(a[..., None], 3, 2).round().astype(np.uint8),
        np.repeat(b[..., None], 3, 2).round().astype(np.uint8),
    )
    ref = skm.structural_similarity(
        a.round(), b.round(), gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    # luminance of a grey image equals the grey value (weights sum to 1) up to float rounding
    assert ours == pytest.approx(ref, abs=1e-6)


# --------------------------------------------------------------------------------------------- Fréchet
def test_fid_of_a_set_with_itself_is_zero():
    f = np.random.default_rng(6).normal(size=(50, 8))
    assert frechet_distance_of_features(f, f) == pytest.approx(0.0, abs=1e-8)


def test_frechet_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    # d^2 = |mu1 - mu2|^2 + sum (sqrt(v1) - sqrt(v2))^2
    expected = 1.0 + 0.0 + 6.25 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 0.5) ** 2
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-12)


def test_frechet_one_dimensional():
    assert frechet_distance(np.array([0.0]), np.array([[4.0]]), np.array([3.0]), np.array([[1.0]])) == (
        pytest.approx(9.0 + (2.0 - 1.0) ** 2)
    )


def test_trace_sqrt_matches_scipy_sqrtm_on_full_covariances():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    s1, s2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    ref = np.trace(linalg.sqrtm(s1 @ s2)).real
    assert trace_sqrt_product(s1, s2) == pytest.approx(ref, rel=1e-8)


def test_frechet_handles_rank_deficient_covariances():
    rng = np.random.default_rng(8)
    f1, f2 = rng.normal(size=(5, 20)), rng.normal(size=(5, 20)) + 1.0  # N < D: singular covariances
    d = frechet_distance_of_features(f1, f2)
    assert np.isfinite(d) and d > 0


def test_feature_statistics_use_sample_covariance():
    f = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    mu, s = feature_statistics(f)
    assert np.allclose(mu, [1.0, 1.0])
    assert np.allclose(s, np.eye(2) * 4.0 / 3.0)  # ddof=1
    with pytest.raises(ValueError):
        feature_statistics(f[:1])


# ----------------------------------------------------------------------------------------------- LPIPS
def test_lpips_formula_by_hand():
    import torch

    from tfgnet_desk.evaluate.metrics.lpips import NetLinLayer, lpips_from_features

    f0 = [torch.tensor([3.0, 0.0]).view(1, 2, 1, 1)]
    f1 = [torch.tensor([0.0, 5.0]).view(1, 2, 1, 1)]
    # unit-normalised: (1, 0) and (0, 1); squared difference (1, 1); baseline sums channels -> 2
    assert float(lpips_from_features(f0, f1)) == pytest.approx(2.0, abs=1e-6)
    lin = NetLinLayer(2).eval()
    lin.model[1].weight.data = torch.tensor([0.25, 0.5]).view(1, 2, 1, 1)
    with torch.no_grad():
        assert float(lpips_from_features(f0, f1, [lin])) == pytest.approx(0.75, abs=1e-6)


def test_lpips_alex_is_zero_on_identical_images_and_loads_from_safetensors(tmp_path):
    import torch
    from safetensors.torch import save_file

    from tfgnet_desk.evaluate.metrics.lpips import LPIPSAlex, load_lpips_alex, to_lpips_input

    torch.manual_seed(0)
    model = LPIPSAlex().eval()
    for lin in model.lins:
        lin.model[1].weight.data.abs_()  # the published weights are non-negative
    alex = {k: v.contiguous() for k, v in model.net.state_dict().items()}
    save_file(alex, str(tmp_path / "alexnet.safetensors"))
    lins = {f"lin{k}.model.1.weight": l.model[1].weight.data.contiguous() for k, l in enumerate(model.lins)}
    save_file(lins, str(tmp_path / "lpips_lin.safetensors"))
    loaded = load_lpips_alex(tmp_path / "alexnet.safetensors", tmp_path / "lpips_lin.safetensors")
    a, b = to_lpips_input([_rand_img(9, 64)]), to_lpips_input([_rand_img(10, 64)])
    assert float(loaded(a, a)) == pytest.approx(0.0, abs=1e-7)
    d = float(loaded(a, b))
    assert d > 0 and d == pytest.approx(float(model(a, b)), rel=1e-6)


# ------------------------------------------------------------------------------------------- Inception
def test_fid_inception_shapes_and_safetensors_round_trip(tmp_path):
    import torch
    from safetensors.torch import save_file

    from tfgnet_desk.evaluate.metrics.inception import FID_FEATURE_DIM, FIDInceptionV3, load_fid_inception

    torch.manual_seed(0)
    torch.set_num_threads(1)
    net = FIDInceptionV3().eval()
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    # torchvision key names the published weights use
    assert "Mixed_7c.branch3x3dbl_3b.bn.running_var" in state and "Conv2d_1a_3x3.conv.weight" in state
    state["fc.weight"] = torch.zeros(1008, 2048)  # the classifier in the file is ignored
    save_file(state, str(tmp_path / "w.safetensors"))
    loaded = load_fid_inception(tmp_path / "w.safetensors")
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        f = loaded(x)
        assert f.shape == (1, FID_FEATURE_DIM)
        assert torch.allclose(f, net(x))
    n_params = sum(p.numel() for p in net.parameters())
    assert 21_700_000 < n_params < 21_850_000  # Inception-v3 without fc (~21.79 M)


# -------------------------------------------------------------------------------------- cosine metrics
class _FakeIdentity:
    name = "fake-id"

    def embed(self, img):
        if img.mean() < 1:  # a black image has "no face"
            raise ValueError("no face")
        return img.reshape(-1, 3).mean(0).astype(np.float64) + np.arange(3)

    def similarity(self, a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    def calibrated_similarity(self, a, b):
        return self.similarity(a - 50.0, b - 50.0)


def _suite():
    from tfgnet_desk.evaluate.metrics.backbones import CLIPBackbone, ImageFeatureBackbone
    from tfgnet_desk.evaluate.metrics.suite import MetricSuite

    def img_fn(images):
        return np.stack([im.reshape(-1, 3).mean(0) + 1.0 for im in images])

    def txt_fn(texts):
        return np.stack([np.array([len(t), 1.0, 2.0]) for t in texts])

    clip = CLIPBackbone("fake-clip", img_fn, txt_fn)
    return MetricSuite(
        identity={"fake-id": _FakeIdentity()},
        clip=clip,
        dino=ImageFeatureBackbone("fake-dino", img_fn),
        fid=ImageFeatureBackbone("fake-fid", img_fn, normalise=False),
    )


def test_cosine_metrics_of_an_image_with_itself_are_100():
    suite = _suite()
    t = _rand_img(11)
    scores = suite.score_outputs(t, "a man", {"same": t}, suite.target_features(t))["same"]
    for key in ("clip_i", "dino", "face_sim_fake-id", "face_cal_fake-id"):
        assert scores[key] == pytest.approx(100.0), key
    assert scores["psnr"] == math.inf and scores["ssim"] == pytest.approx(1.0)
    # CLIP-T is the cosine of the image embedding with the text embedding, by hand:
    e = t.reshape(-1, 3).mean(0) + 1.0
    te = np.array([5.0, 1.0, 2.0])
    assert scores["clip_t"] == pytest.approx(100 * e @ te / np.linalg.norm(e) / np.linalg.norm(te))


def test_face_not_found_is_none_not_zero_and_set_fid_of_identical_sets_is_zero():
    suite = _suite()
    methods = ["copy", "black"]
    for s in range(4):
        t = _rand_img(20 + s)
        outputs = {"copy": t, "black": np.zeros_like(t)}
        sc = suite.score_outputs(t, "a woman", outputs, suite.target_features(t))
        assert sc["black"]["face_sim_fake-id"] is None
    sets = suite.set_metrics(methods)
    assert sets["copy"]["fid"] == pytest.approx(0.0, abs=1e-8)
    assert sets["copy"]["fid_id_fake-id"] == pytest.approx(0.0, abs=1e-8)
    assert sets["black"]["fid_id_fake-id"] is None  # no identity embeddings at all
    assert sets["black"]["fid"] > 0
    labels = {c.key: c.label for c in suite.columns()}
    assert labels["clip_t"] == "CLIP-T (fake-clip) %" and labels["dino"] == "DINO (fake-dino) %"


def test_lpips_to_one_target_equals_the_repeated_target():
    import torch

    from tfgnet_desk.evaluate.metrics.backbones import LPIPSBackbone
    from tfgnet_desk.evaluate.metrics.lpips import LPIPSAlex, to_lpips_input

    torch.manual_seed(1)
    torch.set_num_threads(1)
    model = LPIPSAlex().eval()
    lp = LPIPSBackbone("alex", lambda a, b: model(to_lpips_input(a), to_lpips_input(b)).numpy())
    imgs, t = [_rand_img(30 + i, 64) for i in range(3)], _rand_img(40, 64)
    assert np.allclose(lp.distances_to(imgs, t), lp.distances(imgs, [t] * 3), rtol=1e-5, atol=1e-7)


def test_candidates_are_averaged_and_tiny_clip_fid_reuses_the_clip_pass():
    from tfgnet_desk.evaluate.metrics.backbones import CLIPBackbone, ImageFeatureBackbone
    from tfgnet_desk.evaluate.metrics.suite import MetricSuite

    calls = []

    def img_fn(images):
        calls.append(len(images))
        return np.stack([im.reshape(-1, 3).mean(0) + 1.0 for im in images])

    clip = CLIPBackbone("tiny-CLIP", img_fn, lambda texts: np.ones((len(texts), 3)))
    shared = MetricSuite(clip=clip, fid=ImageFeatureBackbone("tiny-CLIP", img_fn, normalise=False))
    apart = MetricSuite(
        clip=clip, fid=ImageFeatureBackbone("tiny-CLIP", lambda x: img_fn(x), normalise=False)
    )
    for s in range(3):
        t, a, b = _rand_img(50 + s), _rand_img(60 + s), _rand_img(70 + s)
        for suite in (shared, apart):
            sc = suite.score_outputs(t, "a man", {"one": a, "two": [b, a]}, suite.target_features(t))
            assert sc["two"]["psnr"] == pytest.approx((psnr(b, t) + psnr(a, t)) / 2)  # mean over candidates
            assert sc["two"]["ssim"] == pytest.approx((ssim(b, t) + ssim(a, t)) / 2)
    t, outputs = _rand_img(80), {"one": _rand_img(81), "two": [_rand_img(82), _rand_img(83)]}
    calls.clear()
    shared.score_outputs(t, "a man", outputs, shared.target_features(t))
    assert calls == [1, 3]  # one pass for the target, one for the three outputs: FID reuses them
    apart.score_outputs(t, "a man", outputs, apart.target_features(t))
    fa, fb = shared.set_metrics(["one", "two"]), apart.set_metrics(["one", "two"])
    assert fa["two"]["fid"] == pytest.approx(fb["two"]["fid"]) and fa["one"]["fid"] == pytest.approx(
        fb["one"]["fid"]
    )
    assert shared.set_counts(["two"])["two"]["fid"] == 4  # candidate 0 only: one sample per case
