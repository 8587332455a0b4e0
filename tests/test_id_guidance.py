"""Identity guidance (model/id_guidance.py): the step it takes, the noise it hands the scheduler, and
its place in a pipeline request and its record."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tfgnet_desk.model.id_guidance import IdentityGuide, default_scale, guided_eps

torch.set_num_threads(1)


def _guide(scale: float, reference: torch.Tensor | None = None) -> IdentityGuide:
    """A guide whose 'decoder' is the identity and whose 'encoder' is a fixed random linear map."""
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(16, 4 * 4 * 4, generator=g)
    ref = reference if reference is not None else torch.randn(1, 16, generator=g)
    return IdentityGuide(
        decode=lambda z: z,
        embed=lambda x: x.flatten(1) @ weight.T,
        reference=ref,
        scale=scale,
    )


def test_a_step_raises_the_similarity_to_the_reference_and_scale_zero_is_off():
    x0 = torch.randn(3, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    guide = _guide(0.2)
    before = guide.loss(x0)
    after = guide.loss(guide(x0))
    assert torch.all(after < before), (before, after)
    assert torch.equal(_guide(0.0)(x0), x0)


def test_the_step_is_normalised_to_the_scale():
    x0 = torch.randn(2, 4, 4, 4, generator=torch.Generator().manual_seed(2))
    for scale in (0.05, 0.5):
        moved = _guide(scale)(x0)
        rms = (moved - x0).pow(2).mean(dim=(1, 2, 3)).sqrt()
        assert torch.allclose(rms, torch.full_like(rms, scale), rtol=1e-4)


def test_guided_eps_agrees_with_the_moved_clean_latent():
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False
    )
    g = torch.Generator().manual_seed(3)
    latents, eps = torch.randn(2, 4, 4, 4, generator=g), torch.randn(2, 4, 4, 4, generator=g)
    guide = _guide(0.3)
    t = 501
    a = sched.alphas_cumprod[t]
    x0 = (latents - (1 - a).sqrt() * eps) / a.sqrt()
    new_eps = guided_eps(sched, latents, eps, t, guide)
    x0_new = (latents - (1 - a).sqrt() * new_eps) / a.sqrt()
    assert torch.allclose(x0_new, guide(x0), atol=1e-4)
    assert not torch.allclose(new_eps, eps)


def test_profile_defaults_are_off_for_the_full_profile():
    assert default_scale("full") == 0.0
    assert default_scale("unknown") == 0.0
    assert default_scale("tiny") >= 0.0


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    from tfgnet_desk.model.testing import save_random_model
    from tfgnet_desk.pipeline import TFGNetPipeline

    folder = save_random_model(tmp_path_factory.mktemp("idg") / "tiny", seed=0)
    return TFGNetPipeline.from_pretrained(folder, device="cpu", identity_encoder=None)


def _request(**kw):
    from tfgnet_desk.pipeline import GenerationRequest

    rng = np.random.default_rng(0)
    img = np.kron(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8), np.ones((16, 16, 1), np.uint8))
    return GenerationRequest(images=[img], prompt="a man", n_candidates=1, steps=3, seed=5, **kw)


def test_pipeline_applies_records_and_reproduces_identity_guidance(pipe):
    from tfgnet_desk.pipeline import GenerationRequest

    off = pipe(_request(identity_guidance=0.0))
    on = pipe(_request(identity_guidance=1.0))
    again = pipe(_request(identity_guidance=1.0))
    assert off.provenance["request"]["identity_guidance"] == 0.0
    assert on.provenance["request"]["identity_guidance"] == 1.0
    assert not np.array_equal(off.candidates[0].image, on.candidates[0].image)
    assert np.array_equal(on.candidates[0].image, again.candidates[0].image)
    # the default is resolved and recorded as a number
    dflt = pipe(_request())
    assert dflt.provenance["request"]["identity_guidance"] == default_scale(pipe.model.config.profile)
    # a record from before identity guidance existed reproduces with it off
    rec = _request(identity_guidance=1.0).to_record()
    del rec["identity_guidance"]
    again = GenerationRequest.from_record(rec, images=[], prompt="a man", resolved={})
    assert again.identity_guidance == 0.0


def test_out_of_range_identity_guidance_is_refused():
    with pytest.raises(ValueError, match="identity_guidance"):
        _request(identity_guidance=-1.0).validate()
