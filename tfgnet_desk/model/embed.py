"""CLIP image and text encoders (paper 3.3) for both profiles, and the CLIP tokenizer.

Both profiles use the same `transformers` classes; only the configs differ:
- ``tiny``: a small ``CLIPVisionModelWithProjection`` (64 px, 8 px patches) and one small
  ``CLIPTextModelWithProjection`` (128 wide, the full 49,408-token CLIP BPE vocabulary so that any
  prompt tokenises exactly as in the full profile). Trained by this project (``train`` stage ``clip``).
- ``full``: CLIP ViT-L/14's vision tower (the image encoder PhotoMaker v1 builds on) and SDXL base 1.0's
  two text encoders (CLIP ViT-L/14 text, 768 wide, and OpenCLIP bigG text, 1280 wide, with projection).
  Prompt embeddings are the two penultimate hidden states concatenated (2048 wide); the pooled prompt
  embedding is the second encoder's projected end-of-text feature (1280), as SDXL's pipeline does.

The tokenizer is built from the bundled BPE file (``resources/bpe_simple_vocab_16e6.txt.gz``); nothing is
downloaded. transformers 5 needs the in-memory form ``CLIPTokenizer(vocab=dict, merges=list)``.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from tfgnet_desk.package_data import resource

if TYPE_CHECKING:
    import torch
    from transformers import CLIPTokenizer

BPE_PATH = resource("bpe_simple_vocab_16e6.txt.gz")
VOCAB_SIZE = 49408
MAX_LENGTH = 77
# OpenAI CLIP's image normalisation (pixel values in [0, 1]).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


# --------------------------------------------------------------------------------------- tokenizer
def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte -> printable unicode table (the BPE's base alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


@lru_cache(maxsize=1)
def clip_vocab_and_merges() -> tuple[dict[str, int], list[str]]:
    """The 49,408-entry CLIP vocabulary and its 48,894 merges, exactly as OpenAI's simple tokenizer."""
    with gzip.open(BPE_PATH, "rt", encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    base = list(_bytes_to_unicode().values())
    tokens = base + [b + "</w>" for b in base] + ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    if len(tokens) != VOCAB_SIZE:
        raise RuntimeError(f"CLIP vocabulary has {len(tokens)} tokens, expected {VOCAB_SIZE}")
    return {t: i for i, t in enumerate(tokens)}, merges


@lru_cache(maxsize=4)
def clip_tokenizer(max_length: int = MAX_LENGTH) -> CLIPTokenizer:
    """The CLIP BPE tokenizer (same ids as openai/clip-vit-large-patch14), built offline."""
    from transformers import CLIPTokenizer

    vocab, merges = clip_vocab_and_merges()
    tok = CLIPTokenizer(vocab=dict(vocab), merges=[tuple(m.split()) for m in merges])
    tok.model_max_length = max_length
    return tok


def tokenize(prompts: list[str], max_length: int = MAX_LENGTH) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask ``(B, max_length)``, padded with end-of-text as CLIP does."""
    enc = clip_tokenizer(max_length)(
        list(prompts), padding="max_length", max_length=max_length, truncation=True, return_tensors="pt"
    )
    return enc["input_ids"], enc["attention_mask"]


# ----------------------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class EncoderSpec:
    """Serialisable description of the CLIP encoders of one profile.

    ``vision`` and each entry of ``texts`` are keyword arguments of ``CLIPVisionConfig`` /
    ``CLIPTextConfig``; ``text_hidden_state`` selects which hidden state forms the prompt embedding
    (-1 last, -2 penultimate as SDXL).
    """

    vision: dict[str, Any]
    texts: tuple[dict[str, Any], ...]
    text_hidden_state: int = -1

    @property
    def image_size(self) -> int:
        return int(self.vision["image_size"])

    @property
    def prompt_dim(self) -> int:
        """Width of the prompt embedding (the UNet's cross-attention dimension)."""
        return sum(int(t["hidden_size"]) for t in self.texts)

    @property
    def pooled_dim(self) -> int:
        return int(self.texts[-1]["projection_dim"])

    @property
    def image_embed_dim(self) -> int:
        return int(self.vision["projection_dim"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "vision": dict(self.vision),
            "texts": [dict(t) for t in self.texts],
            "text_hidden_state": self.text_hidden_state,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderSpec:
        return cls(
            vision=dict(d["vision"]),
            texts=tuple(dict(t) for t in d["texts"]),
            text_hidden_state=int(d.get("text_hidden_state", -1)),
        )


def tiny_spec() -> EncoderSpec:
    """CPU-sized encoders: vision ~1.3 M parameters, text ~7.1 M (6.3 M of them the token table).

    The vision tower reads 64x64 (8 px patches, 64 tokens): the training faces carry no more detail
    than that (CelebA's face box is 49 px), and it keeps a training step affordable on 2 cores.
    """
    vision = dict(
        image_size=64,
        patch_size=8,
        hidden_size=160,
        intermediate_size=640,
        num_hidden_layers=4,
        num_attention_heads=4,
        projection_dim=128,
        hidden_act="gelu",
    )
    text = dict(
        vocab_size=VOCAB_SIZE,
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        max_position_embeddings=MAX_LENGTH,
        projection_dim=128,
        hidden_act="gelu",
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )
    return EncoderSpec(vision=vision, texts=(text,), text_hidden_state=-1)


def full_spec() -> EncoderSpec:
    """CLIP ViT-L/14 vision tower + SDXL base 1.0's two text encoders (configs as published)."""
    vision = dict(
        image_size=224,
        patch_size=14,
        hidden_size=1024,
        intermediate_size=4096,
        num_hidden_layers=24,
        num_attention_heads=16,
        projection_dim=768,
        hidden_act="quick_gelu",
    )
    text_l = dict(
        vocab_size=VOCAB_SIZE,
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        max_position_embeddings=MAX_LENGTH,
        projection_dim=768,
        hidden_act="quick_gelu",
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=1,
    )
    text_g = dict(
        vocab_size=VOCAB_SIZE,
        hidden_size=1280,
        intermediate_size=5120,
        num_hidden_layers=32,
        num_attention_heads=20,
        max_position_embeddings=MAX_LENGTH,
        projection_dim=1280,
        hidden_act="gelu",
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=1,
    )
    return EncoderSpec(vision=vision, texts=(text_l, text_g), text_hidden_state=-2)


def spec_for(profile: str) -> EncoderSpec:
    if profile == "tiny":
        return tiny_spec()
    if profile == "full":
        return full_spec()
    raise ValueError(f"unknown profile {profile!r}")


# ---------------------------------------------------------------------------------------- builders
def build_image_encoder(spec: EncoderSpec):
    """The ID image encoder of ``spec.vision``: a randomly initialised ``CLIPVisionModelWithProjection``,
    or the faceres-backed :class:`~tfgnet_desk.model.id_encoder.FaceResIDEncoder` when the entry names
    that backbone (its projection is fitted or loaded by the caller)."""
    from tfgnet_desk.model.id_encoder import FaceResIDConfig, FaceResIDEncoder, is_faceres_spec

    if is_faceres_spec(spec.vision):
        return FaceResIDEncoder(FaceResIDConfig.from_dict(spec.vision))
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    return CLIPVisionModelWithProjection(CLIPVisionConfig(**spec.vision))


def is_clip_vision(image_encoder) -> bool:
    """True for a CLIP vision tower (the metrics that pair it with the text encoder need one)."""
    from tfgnet_desk.model.id_encoder import FaceResIDEncoder

    return not isinstance(image_encoder, FaceResIDEncoder)


def build_text_encoders(spec: EncoderSpec) -> list:
    """One text encoder per entry of ``spec.texts``; the last has a projection (it gives the pooled
    embedding), earlier ones are plain ``CLIPTextModel`` as SDXL's ``text_encoder``."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    n = len(spec.texts)
    return [
        (CLIPTextModelWithProjection if i == n - 1 else CLIPTextModel)(CLIPTextConfig(**t))
        for i, t in enumerate(spec.texts)
    ]


# ---------------------------------------------------------------------------------------- encoding
def preprocess_images(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """``(B, 3, H, W)`` in [-1, 1] -> CLIP pixel values at ``image_size`` (bicubic, CLIP-normalised)."""
    import torch
    import torch.nn.functional as F

    x = (images.float() + 1.0) / 2.0
    if x.shape[-1] != image_size or x.shape[-2] != image_size:
        x = F.interpolate(
            x, size=(image_size, image_size), mode="bicubic", align_corners=False, antialias=True
        ).clamp(0, 1)
    mean = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def image_features(image_encoder, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pooled (B, H), projected embedding (B, P))`` of ID images in [-1, 1], for either encoder."""
    if not is_clip_vision(image_encoder):
        return image_encoder(images)
    size = int(image_encoder.config.image_size)
    pixels = preprocess_images(images, size).to(dtype=next(image_encoder.parameters()).dtype)
    pooled = image_encoder.vision_model(pixel_values=pixels).pooler_output
    return pooled, image_encoder.visual_projection(pooled)


def encode_images(image_encoder, images: torch.Tensor) -> torch.Tensor:
    """Projected image embeddings ``(B, projection_dim)`` of images in [-1, 1]."""
    return image_features(image_encoder, images)[1]


@dataclass
class PromptEmbedding:
    """What the text side hands to fusion and the UNet."""

    input_ids: torch.Tensor  # (B, L) token ids of the first tokenizer (class-word search)
    attention_mask: torch.Tensor  # (B, L)
    hidden: torch.Tensor  # (B, L, prompt_dim) per-token embedding (concatenated encoders)
    pooled: torch.Tensor  # (B, pooled_dim) projected end-of-text embedding of the last encoder


def encode_prompt_ids(
    text_encoders: list, input_ids: torch.Tensor, attention_mask: torch.Tensor, hidden_state: int = -1
) -> PromptEmbedding:
    """Run every text encoder on the same token ids (SDXL's two tokenizers share CLIP's BPE)."""
    import torch

    hiddens = []
    pooled = None
    for enc in text_encoders:
        out = enc(input_ids=input_ids.to(enc.device), output_hidden_states=hidden_state != -1)
        h = out.last_hidden_state if hidden_state == -1 else out.hidden_states[hidden_state]
        hiddens.append(h)
        pooled = getattr(out, "text_embeds", None)
    return PromptEmbedding(
        input_ids=input_ids, attention_mask=attention_mask, hidden=torch.cat(hiddens, dim=-1), pooled=pooled
    )


def encode_prompts(
    text_encoders: list, prompts: list[str], hidden_state: int = -1, max_length: int = MAX_LENGTH
) -> PromptEmbedding:
    ids, mask = tokenize(prompts, max_length)
    return encode_prompt_ids(text_encoders, ids, mask, hidden_state)


def count_parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())
