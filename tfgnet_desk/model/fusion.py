"""Stacked ID embedding (paper 3.4-3.5) and the pseudo-text MLP (paper 3.6).

Names and shapes follow PhotoMaker v1's ID encoder so that its public checkpoint can be imported: the
CLIP vision tower's pooled output goes through CLIP's own ``visual_projection`` (1024 -> 768, held by the
image encoder in ``embed.py``) and a second ``visual_projection_2`` (1024 -> 1280, held here); the two
are concatenated into a 2048-wide ID embedding e^i, as wide as SDXL's prompt embedding. The
``fuse_module`` (``mlp1``, ``mlp2``, ``layer_norm``) fuses the class word's text feature with each e^i;
the N fused vectors replace the class word's token, so the prompt grows from L to L+N-1 tokens (eq. 7).

The tiny profile runs the same graph at width 128. Its single text encoder is as wide as the CLIP image
projection, so the second projection has width 0 and is left out (``projection_2_dim == 0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


class ClassWordError(ValueError):
    """The prompt names no class word, so there is no token for the identity embedding to replace."""


QUOTE_LIMIT = 80  # characters of a prompt an error message repeats


def quote_prompt(prompt: str, limit: int = QUOTE_LIMIT) -> str:
    """The prompt quoted for a one-line message: at most ``limit`` characters, then an ellipsis."""
    short = prompt if len(prompt) <= limit else prompt[: limit - 1] + "\u2026"
    return repr(short)


def default_class_words() -> tuple[str, ...]:
    """The caption vocabulary's class words (``data.captions.CLASS_WORDS``), lower-case: the words the
    model was trained to bind the identity to."""
    from tfgnet_desk.data.captions import CLASS_WORDS

    return tuple(str(w).lower() for w in CLASS_WORDS)


@dataclass(frozen=True)
class FusionConfig:
    """Widths of the ID projection and fuse MLP. ``embed_dim`` equals the UNet's cross-attention width."""

    vision_hidden: int  # CLIP vision tower width (pooled output)
    image_embed_dim: int  # CLIP's own visual_projection output
    embed_dim: int  # fused width M = prompt embedding width
    pseudo_text_tokens: int = 4  # tokens produced by the pseudo-text MLP (paper 3.6)

    @property
    def projection_2_dim(self) -> int:
        return self.embed_dim - self.image_embed_dim

    def __post_init__(self) -> None:
        if self.projection_2_dim < 0:
            raise ValueError(
                f"image embedding ({self.image_embed_dim}) is wider than the prompt ({self.embed_dim})"
            )

    def to_dict(self) -> dict[str, int]:
        return {
            "vision_hidden": self.vision_hidden,
            "image_embed_dim": self.image_embed_dim,
            "embed_dim": self.embed_dim,
            "pseudo_text_tokens": self.pseudo_text_tokens,
        }

    @classmethod
    def from_dict(cls, d: dict) -> FusionConfig:
        return cls(
            **{k: int(d[k]) for k in ("vision_hidden", "image_embed_dim", "embed_dim") if k in d},
            pseudo_text_tokens=int(d.get("pseudo_text_tokens", 4)),
        )


class MLP(nn.Module):
    """LayerNorm -> Linear -> GELU -> Linear (+ residual), PhotoMaker's ``MLP`` (same parameter names)."""

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int, use_residual: bool = True) -> None:
        super().__init__()
        if use_residual and in_dim != out_dim:
            raise ValueError("a residual MLP needs in_dim == out_dim")
        self.layernorm = nn.LayerNorm(in_dim)
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, out_dim)
        self.use_residual = use_residual
        self.act_fn = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc2(self.act_fn(self.fc1(self.layernorm(x))))
        return y + x if self.use_residual else y


class FuseModule(nn.Module):
    """The fusion MLP of paper 3.4: class-word text feature + image embedding e^i -> fused ê^i."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.mlp1 = MLP(embed_dim * 2, embed_dim, embed_dim, use_residual=False)
        self.mlp2 = MLP(embed_dim, embed_dim, embed_dim, use_residual=True)
        self.layer_norm = nn.LayerNorm(embed_dim)

    def forward(self, class_embeds: torch.Tensor, id_embeds: torch.Tensor) -> torch.Tensor:
        """``class_embeds`` and ``id_embeds`` broadcast to (..., D); returns (..., D)."""
        class_embeds = class_embeds.expand_as(id_embeds)
        x = self.mlp1(torch.cat([class_embeds, id_embeds.to(class_embeds.dtype)], dim=-1)) + class_embeds
        return self.layer_norm(self.mlp2(x))


class IDFusion(nn.Module):
    """Second ID projection + fuse module; turns CLIP image features and a prompt into t* (eq. 7-8)."""

    def __init__(self, config: FusionConfig) -> None:
        super().__init__()
        self.config = config
        p2 = config.projection_2_dim
        self.visual_projection_2 = nn.Linear(config.vision_hidden, p2, bias=False) if p2 > 0 else None
        self.fuse_module = FuseModule(config.embed_dim)

    def id_embedding(self, pooled: torch.Tensor, image_embeds: torch.Tensor) -> torch.Tensor:
        """e^i: CLIP's projected embedding (B, P) concatenated with ``visual_projection_2(pooled)``."""
        if self.visual_projection_2 is None:
            return image_embeds
        return torch.cat([image_embeds, self.visual_projection_2(pooled.to(image_embeds.dtype))], dim=-1)

    def forward(
        self,
        prompt_embeds: torch.Tensor,
        class_token_index: torch.Tensor | Sequence[int] | int,
        id_embeds: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fuse each of N ID embeddings (B, N, D) with the class word's feature; stack them in its place."""
        b, length, _ = prompt_embeds.shape
        idx = _as_index(class_token_index, b, length, prompt_embeds.device)
        class_embeds = prompt_embeds[torch.arange(b, device=prompt_embeds.device), idx][
            :, None, :
        ]  # (B, 1, D)
        fused = self.fuse_module(class_embeds, id_embeds)
        return stack_id_embedding(prompt_embeds, idx, fused, attention_mask)


class PseudoTextMLP(nn.Module):
    """Paper 3.6: a CLIP image embedding -> ``num_tokens`` pseudo-text tokens in the prompt space.

    Training images have no captions; these tokens stand in for the words of a caption and are combined
    with the stacked ID embedding to condition the UNet during joint training.
    """

    def __init__(self, in_dim: int, out_dim: int, num_tokens: int) -> None:
        super().__init__()
        self.num_tokens = num_tokens
        self.out_dim = out_dim
        self.layernorm = nn.LayerNorm(in_dim)
        self.fc1 = nn.Linear(in_dim, out_dim)
        self.act_fn = nn.GELU()
        self.fc2 = nn.Linear(out_dim, out_dim * num_tokens)
        self.norm_out = nn.LayerNorm(out_dim)

    def forward(self, image_embeds: torch.Tensor) -> torch.Tensor:
        """(B, in_dim) -> (B, num_tokens, out_dim)."""
        x = self.fc2(self.act_fn(self.fc1(self.layernorm(image_embeds))))
        return self.norm_out(x.view(x.shape[0], self.num_tokens, self.out_dim))


def _as_index(index: torch.Tensor | Sequence[int] | int, batch: int, length: int, device) -> torch.Tensor:
    idx = torch.as_tensor(index, dtype=torch.long, device=device).reshape(-1)
    if idx.numel() == 1 and batch > 1:
        idx = idx.expand(batch)
    if idx.numel() != batch:
        raise ValueError(f"need one class-token index per prompt ({batch}), got {idx.numel()}")
    if bool(((idx < 0) | (idx >= length)).any()):
        raise ValueError(f"class-token index {idx.tolist()} outside the prompt of {length} tokens")
    return idx


def stack_id_embedding(
    prompt_embeds: torch.Tensor,
    class_token_index: torch.Tensor | Sequence[int] | int,
    id_embeds: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace the class word's token by the N stacked ID vectors: (B, L, D) -> (B, L+N-1, D).

    ``id_embeds`` (B, N, D) are the fused vectors ê^1..ê^N (s* of eq. 7); they land at positions
    ``index .. index+N-1``; the tokens after the class word move N-1 places right. The returned mask
    (B, L+N-1) is ``attention_mask`` with the class word's entry repeated N times (all ones when no mask
    is given), so padding stays masked exactly where it was.
    """
    if id_embeds.dim() != 3 or id_embeds.shape[0] != prompt_embeds.shape[0]:
        raise ValueError(
            f"id_embeds must be (B, N, D) with B={prompt_embeds.shape[0]}, got {tuple(id_embeds.shape)}"
        )
    if id_embeds.shape[-1] != prompt_embeds.shape[-1]:
        raise ValueError(
            f"ID width {id_embeds.shape[-1]} differs from the prompt width {prompt_embeds.shape[-1]}"
        )
    b, length, _ = prompt_embeds.shape
    n = id_embeds.shape[1]
    if n < 1:
        raise ValueError("need at least one ID embedding (N >= 1)")
    idx = _as_index(class_token_index, b, length, prompt_embeds.device)
    if attention_mask is None:
        attention_mask = torch.ones(b, length, dtype=torch.long, device=prompt_embeds.device)
    out_embeds, out_mask = [], []
    for i in range(b):
        k = int(idx[i])
        out_embeds.append(
            torch.cat(
                [prompt_embeds[i, :k], id_embeds[i].to(prompt_embeds.dtype), prompt_embeds[i, k + 1 :]], dim=0
            )
        )
        out_mask.append(
            torch.cat(
                [attention_mask[i, :k], attention_mask[i, k : k + 1].expand(n), attention_mask[i, k + 1 :]],
                dim=0,
            )
        )
    return torch.stack(out_embeds), torch.stack(out_mask)


def class_word_token_ids(tokenizer, class_words: Sequence[str]) -> dict[str, list[int]]:
    """Token ids of each class word as it appears inside a prompt (no start/end tokens)."""
    out: dict[str, list[int]] = {}
    for w in class_words:
        ids = tokenizer(w, add_special_tokens=False)["input_ids"]
        if ids:
            out[w] = list(ids)
    return out


def find_class_token(
    input_ids: torch.Tensor | Sequence[Sequence[int]],
    tokenizer,
    class_words: Sequence[str] | None = None,
    prompts: Sequence[str] | None = None,
) -> torch.Tensor:
    """Index of the class word's token in each tokenised prompt (the first class word in the prompt).

    A class word that spans several BPE tokens is located by its token sequence and represented by its
    last token. Raises :class:`ClassWordError` naming the vocabulary when a prompt has none.
    """
    words = tuple(class_words) if class_words is not None else default_class_words()
    table = class_word_token_ids(tokenizer, words)
    ids = (
        torch.as_tensor(input_ids).tolist()
        if isinstance(input_ids, torch.Tensor)
        else [list(r) for r in input_ids]
    )
    result = []
    for row_i, row in enumerate(ids):
        best: int | None = None
        for seq in table.values():
            k = len(seq)
            for start in range(len(row) - k + 1):
                if row[start : start + k] == seq:
                    if best is None or start + k - 1 < best:
                        best = start + k - 1
                    break
        if best is None:
            text = f" {quote_prompt(prompts[row_i])}" if prompts is not None else ""
            raise ClassWordError(
                f"the prompt{text} has no class word; name the person with one of: {', '.join(words)} "
                "(TFGNet puts the identity embedding in that word's place)"
            )
        result.append(best)
    return torch.tensor(result, dtype=torch.long)
