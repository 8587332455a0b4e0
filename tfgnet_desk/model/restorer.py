"""Transformer restorer (paper 3.2): LQ encoder -> Z_L -> transformer -> code indices -> Z_C -> HQ decoder.

``CodeFormerRestorer`` keeps the parameter names and shapes of CodeFormer's published network
(``encoder.blocks.N``, ``quantize.embedding.weight``, ``generator.blocks.N``, ``position_emb``,
``feat_emb``, ``ft_layers.N``, ``idx_pred_layer``, ``fuse_convs_dict``), so that with
``RestorerConfig.full()`` the ``params_ema`` state dict of ``codeformer.pth`` loads with
``strict=True``. The code is this project's own.

Besides the paper's path it has CodeFormer's controllable feature transformation (CFT): fuse blocks
that modulate the decoder with LQ-encoder features, weighted by the fidelity weight ``w``
(``w=0``: pure codebook output, the paper's restorer; larger ``w``: closer to the input).

``image_skip`` (off in CodeFormer's published configuration, so its weights still load) adds an image-space
path for the tiny profile: at ``w > 0`` the output is ``(1 - w) * decoder + w * (lq + residual)``, the
residual predicted by ``skip_head`` (zero-initialised) from the decoder's last features, which carry the
codebook prior and the fused evidence. At ``w = 1`` an untrained head returns the input itself, so training
starts from the evidence and learns what to add (VDSR-style residual learning), instead of having to
learn, through the CFT modulation alone, how to copy it: measured, that took hundreds of steps to gain
a point of identity on this CPU (MODEL_CARD.md).

Ablations (paper Table 3) are config flags:
- ``use_codebook=False``: no quantisation; the (transformer-refined, if enabled) LQ features go to the
  decoder directly. With the transformer on, a linear head ``feat_out`` maps its tokens back to the
  code dimension (this key exists only in that ablation); ``logits`` is ``None``.
- ``use_transformer=False``: each LQ feature vector is replaced by its nearest codebook entry; the
  returned ``logits`` are the negative squared distances, so :func:`transformer_loss` still applies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tfgnet_desk.model.vq import Encoder, Generator, ResBlock, VectorQuantizer, VQAutoEncoder, group_norm


# ------------------------------------------------------------------------------------------------
# Config
# ------------------------------------------------------------------------------------------------
@dataclass
class RestorerConfig:
    """Sizes of the codebook autoencoder and the transformer restorer (defaults = CodeFormer's)."""

    img_size: int = 512  # restorer input/output size (LQ crops are resized to it)
    nf: int = 64  # base width of encoder/decoder
    ch_mult: tuple[int, ...] = (1, 2, 2, 4, 4, 8)  # width multipliers per level; len-1 downsamplings
    res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (16,)
    codebook_size: int = 1024  # C
    emb_dim: int = 256  # d, the code dimension
    dim_embd: int = 512  # transformer width
    n_head: int = 8
    n_layers: int = 9
    dim_mlp: int = 1024  # transformer MLP width (CodeFormer: 2 * dim_embd)
    connect_list: tuple[str, ...] = ("32", "64", "128", "256")  # resolutions with CFT fuse blocks
    norm_groups: int = 32
    alpha: float = 0.5  # code-level loss commitment weight (paper eq. 2)
    use_codebook: bool = True  # ablation switch (Table 3)
    use_transformer: bool = True  # ablation switch (Table 3)
    # Evidence skip (not in CodeFormer; the tiny profile's fidelity path): at w > 0 the output is
    # (1 - w) * decoder + w * (input + residual), the residual a zero-initialised head on the decoder's
    # last features. See CodeFormerRestorer.
    image_skip: bool = False

    def __post_init__(self) -> None:
        self.ch_mult = tuple(int(m) for m in self.ch_mult)
        self.attn_resolutions = tuple(int(r) for r in self.attn_resolutions)
        self.connect_list = tuple(str(s) for s in self.connect_list)
        levels = len(self.ch_mult)
        if self.img_size % 2 ** (levels - 1):
            raise ValueError(f"img_size {self.img_size} is not divisible by 2**{levels - 1}")
        for s in self.connect_list:
            if int(s) not in self.resolutions or int(s) == self.code_size:
                raise ValueError(
                    f"connect_list entry {s!r} is not a decoder resolution above the code grid "
                    f"({self.resolutions[:-1]})"
                )
        for m in self.ch_mult:
            if (self.nf * m) % min(self.norm_groups, self.nf * m):
                raise ValueError(f"width {self.nf * m} is not divisible by {self.norm_groups} norm groups")
        if self.dim_embd % self.n_head:
            raise ValueError(f"dim_embd {self.dim_embd} is not divisible by n_head {self.n_head}")

    @classmethod
    def full(cls) -> RestorerConfig:
        """CodeFormer's published architecture: 512x512, 1024 x 256-d codes on 16x16, 9 x 512 transformer."""
        return cls()

    @classmethod
    def tiny(cls) -> RestorerConfig:
        """The same graph for a 2-core CPU: 128x128, widths 32-64-64-96, 512 x 64-d codes on 16x16,
        a 4 x 256 transformer, CFT at 32 and 64 (5.46 M parameters)."""
        return cls(
            img_size=128,
            nf=32,
            ch_mult=(1, 2, 2, 3),
            res_blocks=2,
            attn_resolutions=(16,),
            codebook_size=512,
            emb_dim=64,
            dim_embd=256,
            n_head=8,
            n_layers=4,
            dim_mlp=512,
            connect_list=("32", "64"),
        )

    @property
    def code_size(self) -> int:
        """Side m = n of the code grid."""
        return self.img_size // 2 ** (len(self.ch_mult) - 1)

    @property
    def latent_size(self) -> int:
        """Number of code tokens m * n."""
        return self.code_size**2

    @property
    def resolutions(self) -> list[int]:
        """Feature resolutions from the image down to the code grid."""
        return [self.img_size // 2**i for i in range(len(self.ch_mult))]

    def channels(self, resolution: int) -> int:
        """Feature width at a resolution (CodeFormer's ``channels`` table)."""
        return self.nf * self.ch_mult[self.resolutions.index(int(resolution))]

    def vq_kwargs(self) -> dict[str, Any]:
        """Constructor arguments of the matching :class:`VQAutoEncoder`."""
        return dict(
            img_size=self.img_size,
            nf=self.nf,
            ch_mult=self.ch_mult,
            res_blocks=self.res_blocks,
            attn_resolutions=self.attn_resolutions,
            codebook_size=self.codebook_size,
            emb_dim=self.emb_dim,
            alpha=self.alpha,
            norm_groups=self.norm_groups,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RestorerConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown RestorerConfig keys: {unknown}")
        return cls(**d)


# ------------------------------------------------------------------------------------------------
# Transformer and fuse blocks
# ------------------------------------------------------------------------------------------------
class TransformerSALayer(nn.Module):
    """Pre-norm self-attention block (paper eq. 4) with an MLP; position added to queries and keys."""

    def __init__(self, embed_dim: int, nhead: int = 8, dim_mlp: int = 2048, dropout: float = 0.0) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(embed_dim, nhead, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(embed_dim, dim_mlp)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_mlp, embed_dim)
        self.norm1 = nn.LayerNorm(embed_dim)
        self.norm2 = nn.LayerNorm(embed_dim)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x: Tensor, pos: Tensor | None = None) -> Tensor:
        h = self.norm1(x)
        qk = h if pos is None else h + pos
        x = x + self.dropout1(self.self_attn(qk, qk, h, need_weights=False)[0])
        h = self.linear2(self.dropout(F.gelu(self.linear1(self.norm2(x)))))
        return x + self.dropout2(h)


class FuseSFTBlock(nn.Module):
    """CFT fuse block: ``dec + w * (dec * scale(e) + shift(e))``, e = ResBlock([enc, dec]).

    The last convs of ``scale`` and ``shift`` start at zero so that an untrained block is the identity.
    """

    def __init__(self, in_ch: int, out_ch: int, groups: int = 32) -> None:
        super().__init__()
        self.encode_enc = ResBlock(2 * in_ch, out_ch, groups)
        self.scale = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, padding=1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1),
        )
        self.shift = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, padding=1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1),
        )
        for seq in (self.scale, self.shift):
            if not seq[2].weight.is_meta:
                nn.init.zeros_(seq[2].weight)
                nn.init.zeros_(seq[2].bias)

    def forward(self, enc_feat: Tensor, dec_feat: Tensor, w: float = 1.0) -> Tensor:
        e = self.encode_enc(torch.cat([enc_feat, dec_feat], dim=1))
        return dec_feat + w * (dec_feat * self.scale(e) + self.shift(e))


# ------------------------------------------------------------------------------------------------
# Restorer
# ------------------------------------------------------------------------------------------------
class CodeFormerRestorer(nn.Module):
    """LQ face (B, 3, S, S) in [-1, 1], S = ``config.img_size`` -> restored face, code logits, Z_L."""

    def __init__(self, config: RestorerConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or RestorerConfig.tiny()
        groups = cfg.norm_groups
        self.encoder = Encoder(
            3, cfg.nf, cfg.emb_dim, cfg.ch_mult, cfg.res_blocks, cfg.img_size, cfg.attn_resolutions, groups
        )
        if cfg.use_codebook:
            self.quantize = VectorQuantizer(cfg.codebook_size, cfg.emb_dim, cfg.alpha)
        self.generator = Generator(
            cfg.nf, cfg.emb_dim, cfg.ch_mult, cfg.res_blocks, cfg.img_size, cfg.attn_resolutions, groups
        )
        if cfg.use_transformer:
            self.position_emb = nn.Parameter(torch.zeros(cfg.latent_size, cfg.dim_embd))
            self.feat_emb = nn.Linear(cfg.emb_dim, cfg.dim_embd)
            self.ft_layers = nn.Sequential(
                *[TransformerSALayer(cfg.dim_embd, cfg.n_head, cfg.dim_mlp) for _ in range(cfg.n_layers)]
            )
            if cfg.use_codebook:
                self.idx_pred_layer = nn.Sequential(
                    nn.LayerNorm(cfg.dim_embd), nn.Linear(cfg.dim_embd, cfg.codebook_size, bias=False)
                )
            else:
                self.feat_out = nn.Linear(cfg.dim_embd, cfg.emb_dim)  # ablation only
        self.fuse_convs_dict = nn.ModuleDict(
            {s: FuseSFTBlock(cfg.channels(int(s)), cfg.channels(int(s)), groups) for s in cfg.connect_list}
        )
        if cfg.image_skip:
            ch = cfg.nf * cfg.ch_mult[0]
            self.skip_head = nn.Sequential(group_norm(ch, groups), nn.SiLU(), nn.Conv2d(ch, 3, 3, padding=1))
            if not self.skip_head[2].weight.is_meta:
                nn.init.zeros_(self.skip_head[2].weight)
                nn.init.zeros_(self.skip_head[2].bias)
        # block indices where encoder features are tapped / decoder features are fused (by resolution)
        self.fuse_encoder_block = {str(r): i for r, i in self.encoder.level_output.items()}
        self.fuse_generator_block = {str(r): i for r, i in self.generator.level_fuse.items()}

    # -- stages --------------------------------------------------------------------------------------
    def _encode(self, lq: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        size = self.config.img_size
        if lq.shape[-2:] != (size, size):
            raise ValueError(
                f"restorer expects {size}x{size} input, got {tuple(lq.shape[-2:])}; use restore() to resize"
            )
        taps = {self.fuse_encoder_block[s]: s for s in self.config.connect_list}
        feats: dict[str, Tensor] = {}
        x = lq
        for i, block in enumerate(self.encoder.blocks):
            x = block(x)
            if i in taps:
                feats[taps[i]] = x
        return x, feats

    def _tokens(self, lq_feat: Tensor) -> Tensor:
        x = self.feat_emb(lq_feat.flatten(2).transpose(1, 2))  # B, hw, dim_embd
        pos = self.position_emb.unsqueeze(0)
        for layer in self.ft_layers:
            x = layer(x, pos)
        return x

    def predict_logits(self, lq: Tensor) -> tuple[Tensor, Tensor]:
        """Stage-2 training path (no decoder): logits (B, h*w, C) over code entries and Z_L (B, d, h, w)."""
        lq_feat, _ = self._encode(lq)
        return self._logits(lq_feat), lq_feat

    def _logits(self, lq_feat: Tensor) -> Tensor:
        if not self.config.use_codebook:
            raise ValueError("no code logits without a codebook (use_codebook=False)")
        if self.config.use_transformer:
            return self.idx_pred_layer(self._tokens(lq_feat))
        return -self.quantize.distances(lq_feat)

    def forward(self, lq: Tensor, w: float = 0.0) -> tuple[Tensor, Tensor | None, Tensor]:
        """Returns ``(restored (B,3,S,S), logits (B, h*w, C) or None, lq_feat Z_L (B, d, h, w))``."""
        cfg = self.config
        lq_feat, enc_feats = self._encode(lq)
        b, _, h, wd = lq_feat.shape
        logits: Tensor | None = None
        if cfg.use_codebook and cfg.use_transformer:
            logits = self._logits(lq_feat)
            quant = self.quantize.lookup(logits.argmax(dim=-1), (b, h, wd))
        elif cfg.use_codebook:  # ablation: nearest-code lookup of Z_L
            logits = self._logits(lq_feat)
            quant = self.quantize(lq_feat).z_q
        elif cfg.use_transformer:  # ablation: continuous transformer features, no quantisation
            quant = self.feat_out(self._tokens(lq_feat)).transpose(1, 2).reshape(b, cfg.emb_dim, h, wd)
        else:
            quant = lq_feat
        fuse_at = {self.fuse_generator_block[s]: s for s in cfg.connect_list}
        x = quant
        last = len(self.generator.blocks) - 2  # the final norm and conv_out follow the last features
        feat = x
        for i, block in enumerate(self.generator.blocks):
            if i == last:
                feat = x
            x = block(x)
            if w > 0 and i in fuse_at:
                s = fuse_at[i]
                x = self.fuse_convs_dict[s](enc_feats[s].detach(), x, w)
        if cfg.image_skip and w > 0:
            x = (1.0 - w) * x + w * (lq + self.skip_head(feat))
        return x, logits, lq_feat

    @torch.no_grad()
    def restore(self, lq: Tensor, w: float = 0.0) -> Tensor:
        """Inference: LQ faces in [-1, 1] (any square size; resized bicubically to ``img_size``) ->
        restored faces in [-1, 1] at ``img_size``. Runs in eval mode and restores the previous mode."""
        was_training = self.training
        self.eval()
        try:
            size = self.config.img_size
            if lq.shape[-2:] != (size, size):
                lq = F.interpolate(lq, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)
            return self.forward(lq, w=w)[0].clamp(-1.0, 1.0)
        finally:
            self.train(was_training)

    # -- training set-up ---------------------------------------------------------------------------
    def _set_trainable(self, trainable: set[str]) -> None:
        for name, module in self.named_children():
            for p in module.parameters():
                p.requires_grad_(name in trainable)
        if hasattr(self, "position_emb"):
            self.position_emb.requires_grad_("position_emb" in trainable)

    def freeze_for_transformer_stage(self) -> None:
        """Paper 3.2: codebook, HQ decoder (and CFT fuse blocks) frozen; LQ encoder and transformer train."""
        self._set_trainable(
            {"encoder", "position_emb", "feat_emb", "ft_layers", "idx_pred_layer", "feat_out"}
        )

    def freeze_for_fidelity_stage(self, train_generator: bool = False) -> None:
        """CodeFormer-style CFT stage: only the fuse blocks and the evidence skip head (optionally also the
        decoder) train."""
        self._set_trainable({"fuse_convs_dict", "skip_head"} | ({"generator"} if train_generator else set()))

    def init_from_codebook(self, vq: VQAutoEncoder) -> None:
        """Copy stage-1 weights: HQ encoder -> LQ encoder (its initialisation), codebook, HQ decoder.

        Tensors are copied, not shared, so that the restorer saves cleanly to safetensors.
        """
        self.encoder.load_state_dict(vq.encoder.state_dict())
        self.generator.load_state_dict(vq.generator.state_dict())
        if self.config.use_codebook:
            self.quantize.load_state_dict(vq.quantize.state_dict())


# ------------------------------------------------------------------------------------------------
# Stage-2 targets and loss (paper eqs. 5-6)
# ------------------------------------------------------------------------------------------------
@torch.no_grad()
def code_targets(vq: VQAutoEncoder, hq: Tensor) -> tuple[Tensor, Tensor]:
    """Ground-truth code indices (B, h*w) and codebook features Z_C (B, d, h, w) of HQ faces."""
    _, indices, _ = vq.encode(hq)
    return indices.flatten(1), vq.quantize.lookup(indices, indices.shape)


def transformer_loss(
    logits: Tensor, target_indices: Tensor, z_lq: Tensor, z_codebook: Tensor, beta: float = 0.5
) -> Tensor:
    """L_transformer = beta * CE(logits, s) + mean((Z_L - sg(Z_C))^2) (paper eq. 6, beta = 0.5).

    ``logits`` (B, h*w, C); ``target_indices`` (B, h*w) or (B, h, w); ``z_lq`` Z_L and ``z_codebook``
    Z_C (B, d, h, w). The cross-entropy is averaged over code positions (the paper writes a sum) and
    the squared L2 over elements, so the two terms keep their balance at any grid size. (CodeFormer's
    stage-2 config uses the same weights: entropy_loss_weight 0.5, feat_loss_weight 1.0.)
    """
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target_indices.reshape(-1).long())
    l2 = torch.mean((z_lq - z_codebook.detach()) ** 2)
    return beta * ce + l2
