"""Stacked ID embedding (paper 3.4-3.5): class-word detection, L+N-1 tokens, PhotoMaker v1 shapes."""

from __future__ import annotations

import pytest
import torch

from tfgnet_desk.model.fusion import (
    ClassWordError,
    FusionConfig,
    IDFusion,
    PseudoTextMLP,
    default_class_words,
    find_class_token,
    stack_id_embedding,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tokenizer():
    from tfgnet_desk.model.embed import clip_tokenizer

    return clip_tokenizer()


def _ids(tokenizer, prompt: str) -> torch.Tensor:
    return tokenizer([prompt], padding="max_length", max_length=77, truncation=True, return_tensors="pt")[
        "input_ids"
    ]


@pytest.mark.parametrize("n", [1, 2, 5])
def test_stack_replaces_class_token_with_n_vectors(n):
    g = torch.Generator().manual_seed(0)
    b, length, d = 2, 10, 8
    prompt = torch.randn(b, length, d, generator=g)
    fused = torch.randn(b, n, d, generator=g)
    idx = torch.tensor([3, 6])
    mask = torch.ones(b, length, dtype=torch.long)
    mask[:, 8:] = 0  # padding at the end stays padding
    out, out_mask = stack_id_embedding(prompt, idx, fused, mask)
    assert out.shape == (b, length + n - 1, d)
    assert out_mask.shape == (b, length + n - 1)
    for i, k in enumerate(idx.tolist()):
        assert torch.equal(out[i, :k], prompt[i, :k])  # before the class word: unchanged
        assert torch.equal(out[i, k : k + n], fused[i])  # the fused vectors exactly in its place
        assert torch.equal(out[i, k + n :], prompt[i, k + 1 :])  # after: shifted by N-1
        assert out_mask[i].sum() == mask[i].sum() + n - 1
        assert torch.equal(out_mask[i, k + n :], mask[i, k + 1 :])


def test_stack_rejects_bad_shapes():
    prompt = torch.zeros(1, 5, 4)
    with pytest.raises(ValueError, match="width"):
        stack_id_embedding(prompt, 1, torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="outside"):
        stack_id_embedding(prompt, 7, torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"\(B, N, D\)"):
        stack_id_embedding(prompt, 1, torch.zeros(2, 4))


def test_fusion_puts_fused_vectors_at_class_place():
    torch.manual_seed(0)
    cfg = FusionConfig(vision_hidden=12, image_embed_dim=8, embed_dim=16)
    fusion = IDFusion(cfg).eval()
    prompt = torch.randn(1, 7, 16)
    id_embeds = torch.randn(1, 3, 16)
    out, mask = fusion(prompt, [2], id_embeds)
    expected = fusion.fuse_module(prompt[:, 2:3], id_embeds)
    assert out.shape == (1, 9, 16)
    assert torch.equal(out[0, 2:5], expected[0])
    assert torch.equal(out[0, 5:], prompt[0, 3:])
    assert mask.tolist() == [[1] * 9]
    # e^i = [CLIP projection, visual_projection_2(pooled)] is as wide as the prompt
    e = fusion.id_embedding(torch.randn(3, 12), torch.randn(3, 8))
    assert e.shape == (3, 16)


def test_fusion_without_second_projection_when_widths_match():
    fusion = IDFusion(FusionConfig(vision_hidden=12, image_embed_dim=16, embed_dim=16))
    assert fusion.visual_projection_2 is None
    x = torch.randn(2, 16)
    assert torch.equal(fusion.id_embedding(torch.randn(2, 12), x), x)


def test_photomaker_v1_names_and_shapes_full_profile():
    """Parameter names/shapes of PhotoMaker v1's id_encoder (minus the CLIP tower held by embed.py)."""
    with torch.device("meta"):
        fusion = IDFusion(FusionConfig(vision_hidden=1024, image_embed_dim=768, embed_dim=2048))
    shapes = {k: tuple(v.shape) for k, v in fusion.state_dict().items()}
    assert shapes["visual_projection_2.weight"] == (1280, 1024)
    assert "visual_projection_2.bias" not in shapes
    assert shapes["fuse_module.mlp1.layernorm.weight"] == (4096,)
    assert shapes["fuse_module.mlp1.fc1.weight"] == (2048, 4096)
    assert shapes["fuse_module.mlp1.fc2.weight"] == (2048, 2048)
    assert shapes["fuse_module.mlp2.fc1.weight"] == (2048, 2048)
    assert shapes["fuse_module.mlp2.fc2.weight"] == (2048, 2048)
    assert shapes["fuse_module.layer_norm.weight"] == (2048,)
    assert len(shapes) == 1 + 2 * 6 + 2


def test_find_class_token(tokenizer):
    ids = _ids(tokenizer, "a photo of a man with glasses")
    assert find_class_token(ids, tokenizer, ("man", "woman")).tolist() == [5]  # <start> a photo of a man
    # "woman" is its own token: a prompt about a woman must not match "man"
    ids = _ids(tokenizer, "A smiling Woman, short hair")
    k = int(find_class_token(ids, tokenizer, ("man", "woman"))[0])
    assert tokenizer.decode([int(ids[0, k])]).strip() == "woman"
    # the first class word wins
    ids = _ids(tokenizer, "a girl next to a man")
    k = int(find_class_token(ids, tokenizer, ("man", "girl"))[0])
    assert tokenizer.decode([int(ids[0, k])]).strip() == "girl"


def test_multi_token_class_word_uses_its_last_token(tokenizer):
    word = "zorblaxian"
    pieces = tokenizer(word, add_special_tokens=False)["input_ids"]
    assert len(pieces) > 1
    ids = _ids(tokenizer, f"a {word} with a beard")
    k = int(find_class_token(ids, tokenizer, (word,))[0])
    assert ids[0, k].item() == pieces[-1]
    assert ids[0, k - len(pieces) + 1 : k + 1].tolist() == pieces


def test_missing_class_word_is_a_clear_error(tokenizer):
    ids = _ids(tokenizer, "a face with glasses")
    with pytest.raises(ClassWordError, match="no class word.*man"):
        find_class_token(ids, tokenizer, ("man", "woman"), prompts=["a face with glasses"])


def test_missing_class_word_error_quotes_at_most_80_characters_of_the_prompt(tokenizer):
    """A 20,000-character prompt must not become a 20 KB error line."""
    prompt = "tall " * 4000
    ids = _ids(tokenizer, prompt)
    with pytest.raises(ClassWordError) as err:
        find_class_token(ids, tokenizer, ("man", "woman"), prompts=[prompt])
    message = str(err.value)
    assert "'tall tall" in message and "\u2026'" in message
    assert len(message) < 80 + 200


def test_default_vocabulary_comes_from_captions(monkeypatch):
    """The model's class words are the caption vocabulary's (no second list to drift from it)."""
    import tfgnet_desk.data.captions as captions

    assert default_class_words() == tuple(w.lower() for w in captions.CLASS_WORDS)
    assert {"man", "woman"} <= set(default_class_words())
    monkeypatch.setattr(captions, "CLASS_WORDS", ("Man", "Androgyne"))
    assert default_class_words() == ("man", "androgyne")


def test_pseudo_text_mlp_shape():
    mlp = PseudoTextMLP(16, 16, num_tokens=4)
    out = mlp(torch.randn(3, 16))
    assert out.shape == (3, 4, 16)
    out.sum().backward()
    assert mlp.fc1.weight.grad is not None
