"""Discrete codebook learning (paper 3.1): the VQ autoencoder, its quantiser and its losses.

The module names follow the published VQGAN/CodeFormer layout (``encoder.blocks.N``,
``quantize.embedding.weight``, ``generator.blocks.N``) so that a CodeFormer checkpoint's tensors land
in the same places; the code is written for this project.

Code-level loss, paper eq. 2::

    L_code^feat = ||sg(Z_H) - Z_C||^2 + alpha * ||Z_H - sg(Z_C)||^2,   alpha = 0.5

The first term moves the codebook entries towards the encoder output (the "codebook" or "embedding"
term); the second, weighted by alpha, keeps the encoder committed to its codes (the "commitment" term).
VQGAN/CodeFormer write the same loss as ``mean((sg(z_q) - z)^2) + beta * mean((z_q - sg(z))^2)`` with
beta = 0.25, i.e. their beta weights the *codebook* term and the commitment term has weight 1. We
follow the paper: weight 1 on the codebook term, alpha on the commitment term. Squared norms are
averaged over elements (as VQGAN does) so that the loss does not scale with the code grid size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tfgnet_desk.model.discriminator import generator_adversarial_loss

if TYPE_CHECKING:  # pragma: no cover
    from tfgnet_desk.model.restorer import RestorerConfig


# ------------------------------------------------------------------------------------------------
# Building blocks (names as in VQGAN so that state-dict keys line up)
# ------------------------------------------------------------------------------------------------
def group_norm(channels: int, groups: int = 32) -> nn.GroupNorm:
    """GroupNorm as VQGAN uses it (32 groups, eps 1e-6); fewer groups when there are fewer channels."""
    return nn.GroupNorm(num_groups=min(groups, channels), num_channels=channels, eps=1e-6, affine=True)


class ResBlock(nn.Module):
    """Pre-activation residual block: GN-swish-conv3x3 twice, 1x1 ``conv_out`` shortcut on width change."""

    def __init__(self, in_channels: int, out_channels: int | None = None, groups: int = 32) -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.norm1 = group_norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.norm2 = group_norm(out_channels, groups)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        if in_channels != out_channels:
            self.conv_out = nn.Conv2d(in_channels, out_channels, 1, 1, 0)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        if self.in_channels != self.out_channels:
            x = self.conv_out(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head spatial self-attention with 1x1-conv q, k, v and output projection (residual)."""

    def __init__(self, channels: int, groups: int = 32) -> None:
        super().__init__()
        self.norm = group_norm(channels, groups)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        n = self.norm(x)
        q = self.q(n).flatten(2).transpose(1, 2)  # b, hw, c
        k = self.k(n).flatten(2).transpose(1, 2)
        v = self.v(n).flatten(2).transpose(1, 2)
        out = F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1)).squeeze(1)
        out = out.transpose(1, 2).reshape(b, c, h, w)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    """Stride-2 3x3 conv after padding right/bottom by one (VQGAN's asymmetric padding)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 2, 0)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Nearest-neighbour x2 followed by a 3x3 conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Encoder(nn.Module):
    """Image -> Z (emb_dim channels at img_size / 2**(len(ch_mult)-1)).

    ``level_output[res]`` is the index of the last residual block at resolution ``res`` (the point where
    CodeFormer taps encoder features for its fuse layers: after the second residual block, or before the
    attention layer at the code resolution).
    """

    def __init__(
        self,
        in_channels: int,
        nf: int,
        emb_dim: int,
        ch_mult: Sequence[int],
        res_blocks: int,
        resolution: int,
        attn_resolutions: Sequence[int],
        groups: int = 32,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, nf, 3, 1, 1)]
        self.level_output: dict[int, int] = {}
        res = resolution
        ch = nf
        for level, mult in enumerate(ch_mult):
            out_ch = nf * mult
            for _ in range(res_blocks):
                blocks.append(ResBlock(ch, out_ch, groups))
                self.level_output[res] = len(blocks) - 1
                ch = out_ch
                if res in attn_resolutions:
                    blocks.append(AttnBlock(ch, groups))
            if level != len(ch_mult) - 1:
                blocks.append(Downsample(ch))
                res //= 2
        # non-local block at the code resolution, then projection to the code dimension
        blocks += [ResBlock(ch, ch, groups), AttnBlock(ch, groups), ResBlock(ch, ch, groups)]
        blocks += [group_norm(ch, groups), nn.Conv2d(ch, emb_dim, 3, 1, 1)]
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class Generator(nn.Module):
    """HQ decoder: Z_C -> image in [-1, 1] (unbounded output, as VQGAN).

    ``level_fuse[res]`` is where CodeFormer fuses encoder features: after the first residual block of
    each upsampled level, and after the last residual block at the code resolution.
    """

    def __init__(
        self,
        nf: int,
        emb_dim: int,
        ch_mult: Sequence[int],
        res_blocks: int,
        img_size: int,
        attn_resolutions: Sequence[int],
        groups: int = 32,
    ) -> None:
        super().__init__()
        ch = nf * ch_mult[-1]
        res = img_size // 2 ** (len(ch_mult) - 1)
        code_res = res
        blocks: list[nn.Module] = [nn.Conv2d(emb_dim, ch, 3, 1, 1)]
        blocks += [ResBlock(ch, ch, groups), AttnBlock(ch, groups), ResBlock(ch, ch, groups)]
        self.level_fuse: dict[int, int] = {}
        for level in reversed(range(len(ch_mult))):
            out_ch = nf * ch_mult[level]
            for r in range(res_blocks):
                blocks.append(ResBlock(ch, out_ch, groups))
                if r == 0 or res == code_res:
                    self.level_fuse[res] = len(blocks) - 1
                ch = out_ch
                if res in attn_resolutions:
                    blocks.append(AttnBlock(ch, groups))
            if level != 0:
                blocks.append(Upsample(ch))
                res *= 2
        blocks += [group_norm(ch, groups), nn.Conv2d(ch, 3, 3, 1, 1)]
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return x


# ------------------------------------------------------------------------------------------------
# Quantiser
# ------------------------------------------------------------------------------------------------
class Quantized(NamedTuple):
    """Output of :class:`VectorQuantizer`: straight-through Z_C (B, d, h, w), indices (B, h, w), loss."""

    z_q: Tensor
    indices: Tensor
    loss: Tensor


def code_level_loss(z_h: Tensor, z_c: Tensor, alpha: float = 0.5) -> Tensor:
    """Paper eq. 2: ``mean((sg(Z_H) - Z_C)^2) + alpha * mean((Z_H - sg(Z_C))^2)``.

    ``z_h`` is the encoder output, ``z_c`` the (non straight-through) codebook vectors chosen for it.
    Term 1 trains the codebook, term 2 (weight alpha) the encoder (commitment).
    """
    codebook_term = torch.mean((z_h.detach() - z_c) ** 2)
    commitment_term = torch.mean((z_h - z_c.detach()) ** 2)
    return codebook_term + alpha * commitment_term


class VectorQuantizer(nn.Module):
    """Nearest-entry quantiser: each d-vector of Z_H is replaced by its L2-nearest codebook entry.

    The gradient passes straight through to the encoder (z_q = sg(e) + z - sg(z)); the codebook is
    trained by the code-level loss. The codebook is ``embedding`` (an ``nn.Embedding``), as in VQGAN.
    """

    def __init__(self, codebook_size: int, emb_dim: int, alpha: float = 0.5) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.emb_dim = emb_dim
        self.alpha = alpha
        self.embedding = nn.Embedding(codebook_size, emb_dim)
        if not self.embedding.weight.is_meta:
            nn.init.uniform_(self.embedding.weight, -1.0 / codebook_size, 1.0 / codebook_size)

    def distances(self, z: Tensor) -> Tensor:
        """Squared L2 distances (B, h*w, C) from every d-vector of ``z`` (B, d, h, w) to every entry."""
        flat = z.flatten(2).transpose(1, 2)  # B, hw, d
        e = self.embedding.weight
        return (flat**2).sum(-1, keepdim=True) + (e**2).sum(-1) - 2.0 * flat @ e.t()

    def lookup(self, indices: Tensor, shape: Sequence[int] | None = None) -> Tensor:
        """Codebook vectors of ``indices``: (B, d, h, w) when ``shape`` = (B, h, w[, d]), else (..., d)."""
        vectors = F.embedding(indices.long(), self.embedding.weight)
        if shape is None:
            return vectors
        b, h, w = shape[0], shape[1], shape[2]
        return vectors.reshape(b, h, w, self.emb_dim).permute(0, 3, 1, 2).contiguous()

    def forward(self, z: Tensor) -> Quantized:
        b, _, h, w = z.shape
        indices = self.distances(z).argmin(dim=-1).reshape(b, h, w)
        z_c = self.lookup(indices, (b, h, w))
        loss = code_level_loss(z, z_c, self.alpha)
        # straight-through estimator: value exactly Z_C, gradient passed to Z_H unchanged
        z_q = z_c.detach() + (z - z.detach())
        return Quantized(z_q, indices, loss)


# ------------------------------------------------------------------------------------------------
# Autoencoder
# ------------------------------------------------------------------------------------------------
class VQOutput(NamedTuple):
    """Output of :meth:`VQAutoEncoder.forward`: reconstruction I_re, code indices, code-level loss."""

    recon: Tensor
    indices: Tensor
    code_loss: Tensor


class VQAutoEncoder(nn.Module):
    """Stage-1 model (paper 3.1): HQ encoder -> nearest-entry codebook -> HQ decoder (``generator``).

    Arguments follow CodeFormer's ``VQAutoEncoder(img_size, nf, ch_mult, quantizer, res_blocks,
    attn_resolutions, codebook_size, emb_dim)`` minus the quantiser choice (always nearest-entry).
    """

    def __init__(
        self,
        img_size: int = 512,
        nf: int = 64,
        ch_mult: Sequence[int] = (1, 2, 2, 4, 4, 8),
        res_blocks: int = 2,
        attn_resolutions: Sequence[int] = (16,),
        codebook_size: int = 1024,
        emb_dim: int = 256,
        alpha: float = 0.5,
        norm_groups: int = 32,
    ) -> None:
        super().__init__()
        self.img_size = img_size
        self.code_size = img_size // 2 ** (len(ch_mult) - 1)
        self.emb_dim = emb_dim
        self.encoder = Encoder(3, nf, emb_dim, ch_mult, res_blocks, img_size, attn_resolutions, norm_groups)
        self.quantize = VectorQuantizer(codebook_size, emb_dim, alpha)
        self.generator = Generator(nf, emb_dim, ch_mult, res_blocks, img_size, attn_resolutions, norm_groups)

    @classmethod
    def from_config(cls, config: RestorerConfig) -> VQAutoEncoder:
        """The stage-1 autoencoder matching a restorer config (same encoder, codebook and decoder)."""
        return cls(**config.vq_kwargs())

    def encode(self, x: Tensor) -> Quantized:
        """HQ image (B, 3, H, W) in [-1, 1] -> (straight-through Z_C, indices (B, h, w), code-level loss)."""
        return self.quantize(self.encoder(x))

    def decode(self, z_q: Tensor) -> Tensor:
        return self.generator(z_q)

    def decode_indices(self, indices: Tensor, shape: Sequence[int] | None = None) -> Tensor:
        """Decode code indices (B, h, w) or (B, h*w) with ``shape`` = (B, h, w) into images."""
        if shape is None:
            if indices.dim() != 3:
                raise ValueError("decode_indices needs shape=(B, h, w) for flat indices")
            shape = indices.shape
        return self.generator(self.quantize.lookup(indices, shape))

    def forward(self, x: Tensor) -> VQOutput:
        z_q, indices, loss = self.encode(x)
        return VQOutput(self.generator(z_q), indices, loss)


# ------------------------------------------------------------------------------------------------
# Stage-1 loss (paper eq. 3)
# ------------------------------------------------------------------------------------------------
def codebook_loss(
    hq: Tensor,
    recon: Tensor,
    code_loss: Tensor,
    *,
    perceptual: Callable[[Tensor, Tensor], Tensor] | None = None,
    fake_logits: Tensor | None = None,
    l1_weight: float = 1.0,
    perceptual_weight: float = 1.0,
    adversarial_weight: float | Tensor = 0.1,
    code_weight: float = 1.0,
    gan_kind: str = "nonsaturating",
) -> tuple[Tensor, dict[str, float]]:
    """L_codebook = w1*L_1 + wp*L_per + wa*L_adv + wc*L_code^feat (paper eq. 3, weights exposed).

    ``perceptual`` is a :class:`~tfgnet_desk.model.perceptual.PerceptualLoss` (or any callable
    ``(recon, hq) -> scalar``); ``fake_logits`` is the discriminator's output on ``recon`` (the
    generator-side adversarial term; the discriminator's own loss is
    :func:`~tfgnet_desk.model.discriminator.discriminator_loss`). ``adversarial_weight`` may be a tensor
    from :func:`~tfgnet_desk.model.discriminator.adaptive_weight`. Returns the total and its parts.
    """
    l1 = F.l1_loss(recon, hq)
    total = l1_weight * l1 + code_weight * code_loss
    parts = {"l1": float(l1.detach()), "code": float(code_loss.detach())}
    if perceptual is not None and perceptual_weight > 0:
        per = perceptual(recon, hq)
        total = total + perceptual_weight * per
        parts["perceptual"] = float(per.detach())
    if fake_logits is not None:
        adv = generator_adversarial_loss(fake_logits, gan_kind)
        total = total + adversarial_weight * adv
        parts["adversarial"] = float(adv.detach())
    parts["total"] = float(total.detach())
    return total, parts
