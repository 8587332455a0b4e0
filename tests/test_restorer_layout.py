"""The full restorer's parameter layout is CodeFormer's: the published shapes, checked on the meta device."""

from __future__ import annotations

import torch

from tfgnet_desk.model.restorer import (
    CodeFormerRestorer,
    RestorerConfig,
)

CF_ENCODER = [
    ("conv", 3, 64, 3),
    ("res", 64, 64),
    ("res", 64, 64),
    ("down", 64),  # 512
    ("res", 64, 128),
    ("res", 128, 128),
    ("down", 128),  # 256
    ("res", 128, 128),
    ("res", 128, 128),
    ("down", 128),  # 128
    ("res", 128, 256),
    ("res", 256, 256),
    ("down", 256),  # 64
    ("res", 256, 256),
    ("res", 256, 256),
    ("down", 256),  # 32
    ("res", 256, 512),
    ("attn", 512),
    ("res", 512, 512),
    ("attn", 512),  # 16
    ("res", 512, 512),
    ("attn", 512),
    ("res", 512, 512),
    ("gn", 512),
    ("conv", 512, 256, 3),
]


CF_GENERATOR = [
    ("conv", 256, 512, 3),
    ("res", 512, 512),
    ("attn", 512),
    ("res", 512, 512),
    ("res", 512, 512),
    ("attn", 512),
    ("res", 512, 512),
    ("attn", 512),
    ("up", 512),  # 16
    ("res", 512, 256),
    ("res", 256, 256),
    ("up", 256),  # 32
    ("res", 256, 256),
    ("res", 256, 256),
    ("up", 256),  # 64
    ("res", 256, 128),
    ("res", 128, 128),
    ("up", 128),  # 128
    ("res", 128, 128),
    ("res", 128, 128),
    ("up", 128),  # 256
    ("res", 128, 64),
    ("res", 64, 64),
    ("gn", 64),
    ("conv", 64, 3, 3),  # 512
]


CF_FUSE_ENCODER = {"512": 2, "256": 5, "128": 8, "64": 11, "32": 14, "16": 18}


CF_FUSE_GENERATOR = {"16": 6, "32": 9, "64": 12, "128": 15, "256": 18, "512": 21}


def _conv(prefix: str, cin: int, cout: int, k: int) -> dict[str, tuple]:
    return {f"{prefix}.weight": (cout, cin, k, k), f"{prefix}.bias": (cout,)}


def _norm(prefix: str, c: int) -> dict[str, tuple]:
    return {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,)}


def _res(prefix: str, cin: int, cout: int) -> dict[str, tuple]:
    keys = {
        **_norm(f"{prefix}.norm1", cin),
        **_conv(f"{prefix}.conv1", cin, cout, 3),
        **_norm(f"{prefix}.norm2", cout),
        **_conv(f"{prefix}.conv2", cout, cout, 3),
    }
    if cin != cout:
        keys.update(_conv(f"{prefix}.conv_out", cin, cout, 1))
    return keys


def _block(prefix: str, spec: tuple) -> dict[str, tuple]:
    kind = spec[0]
    if kind == "conv":
        return _conv(prefix, spec[1], spec[2], spec[3])
    if kind == "res":
        return _res(prefix, spec[1], spec[2])
    if kind == "gn":
        return _norm(prefix, spec[1])
    if kind in ("down", "up"):
        return _conv(f"{prefix}.conv", spec[1], spec[1], 3)
    c = spec[1]  # attn
    return {
        **_norm(f"{prefix}.norm", c),
        **{k: v for n in ("q", "k", "v", "proj_out") for k, v in _conv(f"{prefix}.{n}", c, c, 1).items()},
    }


def codeformer_published_shapes() -> dict[str, tuple]:
    shapes: dict[str, tuple] = {}
    for i, spec in enumerate(CF_ENCODER):
        shapes.update(_block(f"encoder.blocks.{i}", spec))
    shapes["quantize.embedding.weight"] = (1024, 256)
    for i, spec in enumerate(CF_GENERATOR):
        shapes.update(_block(f"generator.blocks.{i}", spec))
    shapes["position_emb"] = (256, 512)
    shapes.update({"feat_emb.weight": (512, 256), "feat_emb.bias": (512,)})
    for n in range(9):
        p = f"ft_layers.{n}"
        shapes.update(
            {
                f"{p}.self_attn.in_proj_weight": (1536, 512),
                f"{p}.self_attn.in_proj_bias": (1536,),
                f"{p}.self_attn.out_proj.weight": (512, 512),
                f"{p}.self_attn.out_proj.bias": (512,),
                f"{p}.linear1.weight": (1024, 512),
                f"{p}.linear1.bias": (1024,),
                f"{p}.linear2.weight": (512, 1024),
                f"{p}.linear2.bias": (512,),
                **_norm(f"{p}.norm1", 512),
                **_norm(f"{p}.norm2", 512),
            }
        )
    shapes.update({**_norm("idx_pred_layer.0", 512), "idx_pred_layer.1.weight": (1024, 512)})
    for size, ch in (("32", 256), ("64", 256), ("128", 128), ("256", 128)):
        p = f"fuse_convs_dict.{size}"
        shapes.update(_res(f"{p}.encode_enc", 2 * ch, ch))
        for branch in ("scale", "shift"):
            shapes.update({**_conv(f"{p}.{branch}.0", ch, ch, 3), **_conv(f"{p}.{branch}.2", ch, ch, 3)})
    return shapes


def test_full_config_matches_codeformer_layout_on_meta_device():
    with torch.device("meta"):
        model = CodeFormerRestorer(RestorerConfig.full())
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    published = codeformer_published_shapes()
    assert sorted(set(published) - set(ours)) == []
    assert sorted(set(ours) - set(published)) == []
    wrong = {k: (ours[k], published[k]) for k in published if ours[k] != published[k]}
    assert wrong == {}
    n_params = sum(p.numel() for p in model.parameters())
    hand_count = sum(int(torch.Size(s).numel()) for s in published.values())
    assert n_params == hand_count == 94_112_707
    assert abs(n_params - 94.1e6) / 94.1e6 < 0.01  # CodeFormer's reported ~94 M
    assert model.fuse_encoder_block == CF_FUSE_ENCODER
    assert model.fuse_generator_block == CF_FUSE_GENERATOR
    # a state dict of that layout loads strictly (what the checkpoint converter relies on)
    with torch.device("meta"):
        other = CodeFormerRestorer(RestorerConfig.full())
    other.load_state_dict(model.state_dict(), strict=True, assign=True)
