"""The converters against the published checkpoint layouts (CodeFormer, PhotoMaker's ID encoder and its
SDXL LoRA), as shapes on the meta device: what convert.py expects is what the authors published."""

from __future__ import annotations

import pytest
import torch

from tfgnet_desk.model_folders import convert

# ------------------------------------------------------------------------------------------------
# Published layouts, written out from the public sources (not from this project's modules):
# CodeFormer basicsr/archs/vqgan_arch.py + codeformer_arch.py; PhotoMaker photomaker/model.py
# (PhotoMakerIDEncoder = transformers CLIPVisionModelWithProjection ViT-L/14 + visual_projection_2 +
# FuseModule(2048)); its LoRA in diffusers' attention-processor names over SDXL's transformer blocks.
# ------------------------------------------------------------------------------------------------


def _conv(p, cin, cout, k, bias=True):
    d = {f"{p}.weight": (cout, cin, k, k)}
    if bias:
        d[f"{p}.bias"] = (cout,)
    return d


def _vec(p, c, bias=True):
    return {f"{p}.weight": (c,), **({f"{p}.bias": (c,)} if bias else {})}


def _lin(p, cin, cout, bias=True):
    return {f"{p}.weight": (cout, cin), **({f"{p}.bias": (cout,)} if bias else {})}


def _res(p, cin, cout):
    d = {
        **_vec(f"{p}.norm1", cin),
        **_conv(f"{p}.conv1", cin, cout, 3),
        **_vec(f"{p}.norm2", cout),
        **_conv(f"{p}.conv2", cout, cout, 3),
    }
    if cin != cout:
        d.update(_conv(f"{p}.conv_out", cin, cout, 1))
    return d


def _attn(p, c):
    d = _vec(f"{p}.norm", c)
    for n in ("q", "k", "v", "proj_out"):
        d.update(_conv(f"{p}.{n}", c, c, 1))
    return d


def codeformer_shapes() -> dict[str, tuple]:
    """CodeFormer(dim_embd=512, n_head=8, n_layers=9, codebook_size=1024, latent_size=256,
    connect_list=['32','64','128','256']) on VQAutoEncoder(512, 64, [1,2,2,4,4,8], 'nearest', 2, [16])."""
    nf, ch_mult, res, attn_res, emb = 64, (1, 2, 2, 4, 4, 8), 512, (16,), 256
    s: dict[str, tuple] = {}
    blocks: list[tuple] = [("conv", 3, nf)]
    in_mult = (1, *ch_mult)
    cur = res
    for i, m in enumerate(ch_mult):
        cin, cout = nf * in_mult[i], nf * m
        for _ in range(2):
            blocks.append(("res", cin, cout))
            cin = cout
            if cur in attn_res:
                blocks.append(("attn", cin))
        if i != len(ch_mult) - 1:
            blocks.append(("down", cin))
            cur //= 2
    blocks += [("res", cin, cin), ("attn", cin), ("res", cin, cin), ("gn", cin), ("conv", cin, emb)]
    for i, b in enumerate(blocks):
        s.update(_block(f"encoder.blocks.{i}", b))
    s["quantize.embedding.weight"] = (1024, emb)
    cin = nf * ch_mult[-1]
    gen: list[tuple] = [("conv", emb, cin), ("res", cin, cin), ("attn", cin), ("res", cin, cin)]
    cur = res // 2 ** (len(ch_mult) - 1)
    for i in reversed(range(len(ch_mult))):
        cout = nf * ch_mult[i]
        for _ in range(2):
            gen.append(("res", cin, cout))
            cin = cout
            if cur in attn_res:
                gen.append(("attn", cin))
        if i != 0:
            gen.append(("up", cin))
            cur *= 2
    gen += [("gn", cin), ("conv", cin, 3)]
    for i, b in enumerate(gen):
        s.update(_block(f"generator.blocks.{i}", b))
    s["position_emb"] = (256, 512)
    s.update(_lin("feat_emb", 256, 512))
    for n in range(9):
        p = f"ft_layers.{n}"
        s.update(
            {
                f"{p}.self_attn.in_proj_weight": (1536, 512),
                f"{p}.self_attn.in_proj_bias": (1536,),
                **_lin(f"{p}.self_attn.out_proj", 512, 512),
                **_lin(f"{p}.linear1", 512, 1024),
                **_lin(f"{p}.linear2", 1024, 512),
                **_vec(f"{p}.norm1", 512),
                **_vec(f"{p}.norm2", 512),
            }
        )
    s.update({**_vec("idx_pred_layer.0", 512), **_lin("idx_pred_layer.1", 512, 1024, bias=False)})
    channels = {"16": 512, "32": 256, "64": 256, "128": 128, "256": 128, "512": 64}
    for size in ("32", "64", "128", "256"):
        c, p = channels[size], f"fuse_convs_dict.{size}"
        s.update(_res(f"{p}.encode_enc", 2 * c, c))
        for br in ("scale", "shift"):
            s.update({**_conv(f"{p}.{br}.0", c, c, 3), **_conv(f"{p}.{br}.2", c, c, 3)})
    return s


def _block(p, b):
    kind = b[0]
    if kind == "conv":
        return _conv(p, b[1], b[2], 3)
    if kind == "res":
        return _res(p, b[1], b[2])
    if kind == "attn":
        return _attn(p, b[1])
    if kind == "gn":
        return _vec(p, b[1])
    return _conv(f"{p}.conv", b[1], b[1], 3)  # down / up


def photomaker_id_encoder_shapes() -> dict[str, tuple]:
    h, inter, layers, patch, proj = 1024, 4096, 24, 14, 768
    s = {
        "vision_model.embeddings.class_embedding": (h,),
        "vision_model.embeddings.patch_embedding.weight": (h, 3, patch, patch),
        "vision_model.embeddings.position_embedding.weight": ((224 // patch) ** 2 + 1, h),
        "vision_model.embeddings.position_ids": (1, (224 // patch) ** 2 + 1),  # saved by older transformers
        **_vec("vision_model.pre_layrnorm", h),
        **_vec("vision_model.post_layernorm", h),
        "visual_projection.weight": (proj, h),
        "visual_projection_2.weight": (1280, h),
    }
    for i in range(layers):
        p = f"vision_model.encoder.layers.{i}"
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            s.update(_lin(f"{p}.self_attn.{n}", h, h))
        s.update(
            {
                **_vec(f"{p}.layer_norm1", h),
                **_vec(f"{p}.layer_norm2", h),
                **_lin(f"{p}.mlp.fc1", h, inter),
                **_lin(f"{p}.mlp.fc2", inter, h),
            }
        )
    d = 2048
    s.update(
        {
            **_vec("fuse_module.mlp1.layernorm", 2 * d),
            **_lin("fuse_module.mlp1.fc1", 2 * d, d),
            **_lin("fuse_module.mlp1.fc2", d, d),
            **_vec("fuse_module.mlp2.layernorm", d),
            **_lin("fuse_module.mlp2.fc1", d, d),
            **_lin("fuse_module.mlp2.fc2", d, d),
            **_vec("fuse_module.layer_norm", d),
        }
    )
    return s


def sdxl_lora_shapes(rank: int = 64) -> dict[str, tuple]:
    """PhotoMaker v1 lora_weights names: unet.<block>.attnN.processor.to_X_lora.{down,up}.weight."""
    blocks = []
    for a in range(2):
        blocks += [(f"down_blocks.1.attentions.{a}", 640, 2), (f"down_blocks.2.attentions.{a}", 1280, 10)]
    blocks.append(("mid_block.attentions.0", 1280, 10))
    for a in range(3):
        blocks += [(f"up_blocks.0.attentions.{a}", 1280, 10), (f"up_blocks.1.attentions.{a}", 640, 2)]
    s = {}
    for path, d, depth in blocks:
        for t in range(depth):
            for attn in ("attn1", "attn2"):
                for proj in ("to_q", "to_k", "to_v", "to_out"):
                    cin = 2048 if attn == "attn2" and proj in ("to_k", "to_v") else d
                    p = f"unet.{path}.transformer_blocks.{t}.{attn}.processor.{proj}_lora"
                    s[f"{p}.down.weight"] = (rank, cin)
                    s[f"{p}.up.weight"] = (d, rank)
    return s


def _meta(shapes: dict[str, tuple]) -> dict[str, torch.Tensor]:
    return {k: torch.empty(v, device="meta") for k, v in shapes.items()}


def test_codeformer_published_layout_is_what_the_converter_expects():
    published = codeformer_shapes()
    assert sum(torch.Size(v).numel() for v in published.values()) == 94_112_707
    convert.check_state(_meta(published), convert.restorer_shapes(), "codeformer.pth")
    broken = dict(published)
    broken["feat_emb.weight"] = (512, 128)
    del broken["position_emb"]
    broken["extra.weight"] = (1,)
    with pytest.raises(convert.ConversionError) as err:
        convert.check_state(_meta(broken), convert.restorer_shapes(), "codeformer.pth")
    msg = str(err.value)
    assert "position_emb" in msg and "extra.weight" in msg and "feat_emb.weight (512, 128)" in msg


def test_photomaker_published_id_encoder_splits_into_image_encoder_and_fusion():
    ckpt = {"id_encoder": _meta(photomaker_id_encoder_shapes()), "lora_weights": _meta(sdxl_lora_shapes())}
    image, fusion, lora = convert.split_photomaker(ckpt)
    exp_image, exp_fusion = convert.photomaker_shapes()
    convert.check_state(convert._drop_buffers(image, exp_image), exp_image, "id_encoder")
    convert.check_state(fusion, exp_fusion, "fusion")
    pairs = convert.normalise_lora(lora)
    assert len(pairs) == 70 * 2 * 4  # 70 SDXL transformer blocks, 2 attentions, q/k/v/out
    assert "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_out.0.weight" in pairs
    with pytest.raises(convert.ConversionError, match="id_encoder"):
        convert.split_photomaker({"lora_weights": {}})


@pytest.mark.slow
def test_photomaker_lora_targets_exist_in_the_sdxl_unet():
    """Builds SDXL's UNet on the meta device (~15 s here): every LoRA pair fits an attention weight."""
    pairs = convert.normalise_lora(_meta(sdxl_lora_shapes()))
    convert.check_lora(pairs, convert.unet_shapes())
    wrong = dict(pairs)
    k = next(iter(wrong))
    wrong[k] = (torch.empty(64, 7, device="meta"), wrong[k][1])
    with pytest.raises(convert.ConversionError, match="do not fit"):
        convert.check_lora(wrong, convert.unet_shapes())


def test_lora_formats_are_normalised_alike():
    down, up = torch.ones(2, 4), torch.ones(3, 2)
    forms = [
        {
            "unet.a.attn1.processor.to_q_lora.down.weight": down,
            "unet.a.attn1.processor.to_q_lora.up.weight": up,
        },
        {"unet.a.attn1.to_q.lora.down.weight": down, "unet.a.attn1.to_q.lora.up.weight": up},
        {"a.attn1.to_q.lora_A.weight": down, "a.attn1.to_q.lora_B.weight": up},
    ]
    for f in forms:
        assert list(convert.normalise_lora(f)) == ["a.attn1.to_q.weight"]
    with pytest.raises(convert.ConversionError, match="partner"):
        convert.normalise_lora({"unet.a.attn1.to_q.lora.down.weight": down})
