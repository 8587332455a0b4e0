"""Latent generator (paper 3.5): per-candidate seeds, cancel, strength, guidance, samplers, shapes."""

from __future__ import annotations

import threading

import pytest
import torch

from tfgnet_desk.model.generator import (
    Cancelled,
    Conditioning,
    LatentGenerator,
    build_unet,
    build_vae,
    make_scheduler,
    null_condition,
    sdxl_time_ids,
    timesteps_for,
)
from tfgnet_desk.model.testing import full_layout_tiny_config, tiny_test_config

torch.set_num_threads(1)


def _make(config) -> LatentGenerator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet, vae = build_unet(config.generator).eval(), build_vae(config.generator).eval()
    return LatentGenerator(unet, vae, config.generator.scheduler)


@pytest.fixture(scope="module")
def gen() -> LatentGenerator:
    return _make(tiny_test_config())


@pytest.fixture(scope="module")
def cond() -> Conditioning:
    g = torch.Generator().manual_seed(1)
    return Conditioning(embeds=torch.randn(1, 78, 128, generator=g), mask=torch.ones(1, 78, dtype=torch.long))


def _count_unet_calls(gen: LatentGenerator) -> tuple[list[int], object]:
    calls: list[int] = []
    handle = gen.unet.register_forward_hook(lambda m, args, out: calls.append(int(args[0].shape[0])))
    return calls, handle


def test_shapes_and_range(gen, cond):
    out = gen.sample(cond, [0, 1, 2], steps=2, guidance=3.0)
    assert out.shape == (3, 3, 128, 128)
    assert out.min() >= -1 and out.max() <= 1
    assert gen.vae_scale_factor == 4
    lat = gen.encode(out[:1])
    assert lat.shape == (1, 4, 32, 32)
    assert gen.decode(lat).shape == (1, 3, 128, 128)


def test_same_seed_identical_different_seed_differs(gen, cond):
    a = gen.sample(cond, [5, 6], steps=2)
    b = gen.sample(cond, [5, 6], steps=2)
    assert torch.equal(a, b)
    assert not torch.equal(a[0], a[1])
    # one generator per candidate: with batch_size=1, candidate "seed 6" does not depend on the others
    one = gen.sample(cond, [5, 6], steps=2, batch_size=1)
    c = gen.sample(cond, [6], steps=2, batch_size=1)
    assert torch.equal(c[0], one[1])
    assert torch.allclose(one, a, atol=1e-4)  # batching changes nothing but rounding


@pytest.mark.parametrize("batch_size", [None, 1])
def test_cancel_stops_within_one_step(gen, cond, batch_size):
    cancel = threading.Event()
    calls, handle = _count_unet_calls(gen)
    seen: list[int] = []

    def callback(done: int, total: int) -> None:
        seen.append(done)
        if len(seen) == 2:
            cancel.set()

    try:
        with pytest.raises(Cancelled):
            gen.sample(cond, [0, 1], steps=6, callback=callback, cancel=cancel, batch_size=batch_size)
    finally:
        handle.remove()
    assert len(seen) == 2
    assert len(calls) == 2  # no UNet call after the cancel was seen


def test_guidance_batches_unconditional_and_conditional(gen, cond):
    calls, handle = _count_unet_calls(gen)
    try:
        gen.sample(cond, [0], steps=2, guidance=1.0)
        gen.sample(cond, [0], steps=2, guidance=4.0)
    finally:
        handle.remove()
    assert calls == [1, 1, 2, 2]
    calls, handle = _count_unet_calls(gen)
    try:
        gen.sample(cond, [0, 1, 2], steps=1, guidance=4.0)
    finally:
        handle.remove()
    assert calls == [6]  # three candidates x (unconditional, conditional) in one call
    u = null_condition(cond)
    assert torch.count_nonzero(u.embeds) == 0 and u.embeds.shape == cond.embeds.shape


def test_strength_runs_the_last_steps_from_the_init_image(gen, cond):
    totals: list[int] = []
    init = torch.zeros(1, 3, 128, 128)
    a = gen.sample(cond, [0], steps=4, strength=0.5, init_image=init, callback=lambda d, t: totals.append(t))
    assert totals == [2, 2]
    b = gen.sample(cond, [0], steps=4, strength=0.5, init_image=init + 0.5)
    assert not torch.equal(a, b)  # the init image matters
    with pytest.raises(ValueError, match="init_image"):
        gen.sample(cond, [0], steps=4, strength=0.5)
    with pytest.raises(ValueError, match="strength"):
        gen.sample(cond, [0], steps=4, strength=0.0, init_image=init)


def test_timesteps_for_strength():
    sched = make_scheduler("ddim", tiny_test_config().generator.scheduler)
    assert len(timesteps_for(sched, 10, 1.0, "cpu")) == 10
    assert len(timesteps_for(sched, 10, 0.3, "cpu")) == 3
    assert len(timesteps_for(sched, 10, 0.01, "cpu")) == 1  # at least one step


def test_dpm_solver_sampler(gen, cond):
    a = gen.sample(cond, [3], steps=3, sampler="dpm++")
    b = gen.sample(cond, [3], steps=3, sampler="dpm++")
    c = gen.sample(cond, [3], steps=3, sampler="ddim")
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="unknown sampler"):
        gen.sample(cond, [3], steps=2, sampler="euler-ish")


def test_sdxl_added_conditioning_is_required_and_used():
    cfg = full_layout_tiny_config()
    gen = _make(cfg)
    d = cfg.clip.prompt_dim
    cond = Conditioning(embeds=torch.randn(1, 77, d), mask=None)
    with pytest.raises(ValueError, match="added conditioning"):
        gen.sample(cond, [0], steps=1)
    cond.pooled = torch.randn(1, cfg.clip.pooled_dim)
    cond.time_ids = sdxl_time_ids(128)
    a = gen.sample(cond, [0], steps=2)
    cond.time_ids = sdxl_time_ids(256)
    b = gen.sample(cond, [0], steps=2)
    assert a.shape == (1, 3, 128, 128) and not torch.equal(a, b)
