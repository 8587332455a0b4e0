"""CLIP encoders and tokenizer (model/embed.py): offline tokenizer ids, shapes, full-profile sizes."""

from __future__ import annotations

import torch

from tfgnet_desk.model import embed as E


def test_tokenizer_matches_openai_clip_ids() -> None:
    ids, mask = E.tokenize(["a photo of a smiling woman"], max_length=16)
    # openai/clip-vit-large-patch14 ids for "<sot> a photo of a smiling woman <eot>".
    assert ids[0, :8].tolist() == [49406, 320, 1125, 539, 320, 9200, 2308, 49407]
    assert mask[0].sum().item() == 8
    assert ids.shape == (1, 16)
    assert len(E.clip_tokenizer()) == E.VOCAB_SIZE


def test_tiny_encoders_shapes_and_budget() -> None:
    torch.manual_seed(0)
    spec = E.tiny_spec()
    vision = E.build_image_encoder(spec)
    texts = E.build_text_encoders(spec)
    assert E.count_parameters(vision) + sum(E.count_parameters(t) for t in texts) < 11_000_000
    emb = E.encode_images(vision, torch.rand(2, 3, 96, 96) * 2 - 1)
    assert emb.shape == (2, spec.image_embed_dim)
    pe = E.encode_prompts(texts, ["a man", "a young woman with glasses"], max_length=20)
    assert pe.hidden.shape == (2, 20, spec.prompt_dim)
    assert pe.pooled.shape == (2, spec.pooled_dim)
    assert pe.attention_mask[0].sum().item() == 4


def test_spec_roundtrip() -> None:
    spec = E.tiny_spec()
    assert E.EncoderSpec.from_dict(spec.to_dict()) == spec


def test_full_spec_sizes_on_meta() -> None:
    spec = E.full_spec()
    assert spec.prompt_dim == 2048 and spec.pooled_dim == 1280
    with torch.device("meta"):
        vision = E.build_image_encoder(spec)
        texts = E.build_text_encoders(spec)
    # CLIP ViT-L/14 vision tower ~303 M; SDXL's text encoders ~123 M and ~695 M.
    assert abs(E.count_parameters(vision) - 303_966_208) / 303_966_208 < 0.01
    assert abs(E.count_parameters(texts[0]) - 123_060_480) < 1_000_000
    assert abs(E.count_parameters(texts[1]) - 694_659_840) < 1_000_000
    assert not hasattr(texts[0], "text_projection") and hasattr(texts[1], "text_projection")
