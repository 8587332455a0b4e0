"""``TFGNet``: all of the paper's networks in one module, and its model-folder format.

Restorer (3.1-3.2) -> CLIP image/text encoders (3.3) -> fusion, stacked ID embedding (3.4) -> UNet/VAE
(3.5), plus the pseudo-text MLP for joint training (3.6). ``save_pretrained`` writes a diffusers-like
folder, one sub-folder per component::

    config.json                      TFGNetConfig (the source of truth for building the networks)
    restorer/        config.json  model.safetensors
    image_encoder/   config.json  model.safetensors       (CLIPVisionModelWithProjection, or the tiny
                                                           profile's faceres ID encoder: id_encoder.py)
    text_encoder/    config.json  model.safetensors       (text_encoder_2/ as well in the full profile)
    tokenizer/       vocab.json   merges.txt
    fusion/          config.json  model.safetensors       (visual_projection_2, fuse_module)
    pseudo_text/     config.json  model.safetensors
    unet/            config.json  diffusion_pytorch_model.safetensors   (diffusers' own file names, so
    vae/             config.json  diffusion_pytorch_model.safetensors    SDXL's folders drop in)
    scheduler/       scheduler_config.json
    MANIFEST.json                    sha256 / size / licence / source per file (model_folders/manifest.py)

``from_pretrained`` verifies the manifest before reading anything, refuses pickles, builds every
network from ``config.json`` with empty weights and assigns the safetensors tensors (strict: a missing
or extra tensor is an error).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tfgnet_desk.model import embed
from tfgnet_desk.model.config import TFGNetConfig
from tfgnet_desk.model.fusion import IDFusion, PseudoTextMLP, find_class_token
from tfgnet_desk.model.generator import (
    Conditioning,
    LatentGenerator,
    build_unet,
    build_vae,
    sdxl_time_ids,
)
from tfgnet_desk.model.restorer import CodeFormerRestorer
from tfgnet_desk.model_folders.manifest import (
    WeightsError,
    load_safetensors,
    require_verified,
    save_safetensors,
    write_manifest,
)

WEIGHTS = "model.safetensors"
DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"


def _text_dir(i: int) -> str:
    return "text_encoder" if i == 0 else f"text_encoder_{i + 1}"


class TFGNet(nn.Module):
    """The whole model. Attributes are the paper's parts; methods are the steps of generation."""

    def __init__(self, config: TFGNetConfig, empty: bool = False) -> None:
        super().__init__()
        self.config = config
        ctx = _empty_weights() if empty else contextlib.nullcontext()
        with ctx:
            self.restorer = CodeFormerRestorer(config.restorer)
            self.image_encoder = embed.build_image_encoder(config.clip)
            self.text_encoders = nn.ModuleList(embed.build_text_encoders(config.clip))
            self.fusion = IDFusion(config.fusion)
            self.pseudo_text = PseudoTextMLP(
                config.fusion.embed_dim, config.fusion.embed_dim, config.fusion.pseudo_text_tokens
            )
            self.unet = build_unet(config.generator)
            self.vae = build_vae(config.generator)
        self.tokenizer = embed.clip_tokenizer()
        self.folder: Path | None = None
        self.manifest_hash: str | None = None

    # ------------------------------------------------------------------------------- construction
    @classmethod
    def random(cls, config: TFGNetConfig | str = "tiny", seed: int = 0) -> TFGNet:
        """Randomly initialised model; the same seed gives the same weights (global RNG untouched)."""
        if isinstance(config, str):
            config = TFGNetConfig.preset(config)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = cls(config)
        return model.eval()

    @classmethod
    def on_meta(cls, config: TFGNetConfig | str = "full") -> TFGNet:
        """Shapes only, no memory: for parameter counts of the full profile."""
        if isinstance(config, str):
            config = TFGNetConfig.preset(config)
        with torch.device("meta"):
            return cls(config)

    def components(self) -> dict[str, nn.Module]:
        out: dict[str, nn.Module] = {"restorer": self.restorer, "image_encoder": self.image_encoder}
        for i, enc in enumerate(self.text_encoders):
            out[_text_dir(i)] = enc
        out.update(fusion=self.fusion, pseudo_text=self.pseudo_text, unet=self.unet, vae=self.vae)
        return out

    def parameter_counts(self) -> dict[str, int]:
        return {name: sum(p.numel() for p in m.parameters()) for name, m in self.components().items()}

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @property
    def generator(self) -> LatentGenerator:
        return LatentGenerator(
            self.unet, self.vae, self.config.generator.scheduler, self.config.generator.sampler
        )

    # ------------------------------------------------------------------------------------ text side
    def tokenize(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tokenizer(
            list(prompts),
            padding="max_length",
            max_length=embed.MAX_LENGTH,
            truncation=True,
            return_tensors="pt",
        )
        return enc["input_ids"], enc["attention_mask"]

    def encode_prompt(self, prompts: Sequence[str]) -> embed.PromptEmbedding:
        """t-hat: per-token prompt embedding (B, L, M) and the pooled embedding (paper 3.3)."""
        ids, mask = self.tokenize(prompts)
        return embed.encode_prompt_ids(
            list(self.text_encoders), ids.to(self.device), mask, self.config.clip.text_hidden_state
        )

    def class_token_index(
        self, input_ids: torch.Tensor, prompts: Sequence[str] | None = None
    ) -> torch.Tensor:
        """Position of the class word in each prompt (raises ClassWordError when there is none)."""
        return find_class_token(input_ids, self.tokenizer, self.config.class_words, prompts)

    # ----------------------------------------------------------------------------------- image side
    def image_features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ID image encoder on images in [-1, 1]: (pooled (B, H), projected embedding e (B, P)).

        The CLIP vision tower (paper 3.3), or in the tiny profile the faceres-backed ID encoder
        (``model/id_encoder.py``) with the same outputs."""
        return embed.image_features(self.image_encoder, images.to(self.device))

    def id_embeddings(self, images: torch.Tensor) -> torch.Tensor:
        """e^i for each ID image (B, 3, H, W) in [-1, 1] -> (B, M): PhotoMaker's two projections."""
        pooled, image_embeds = self.image_features(images)
        return self.fusion.id_embedding(pooled, image_embeds)

    def pseudo_text_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Paper 3.6: CLIP image embedding -> pseudo-text tokens (B, K, M) for caption-less training."""
        return self.pseudo_text(self.id_embeddings(images))

    # -------------------------------------------------------------------------------- conditioning
    def condition(
        self, prompt: str, id_images: torch.Tensor | None = None
    ) -> tuple[Conditioning, dict[str, Any]]:
        """t* for one prompt and N ID images (N, 3, H, W) in [-1, 1] (``None``: text only, no ID).

        Returns the UNet conditioning and facts for provenance (class word position, token counts).
        """
        text = self.encode_prompt([prompt])
        info: dict[str, Any] = {"prompt_tokens": int(text.hidden.shape[1])}
        embeds, mask = text.hidden, text.attention_mask.to(text.hidden.device)
        if id_images is not None:
            if id_images.dim() != 4 or id_images.shape[0] < 1:
                raise ValueError(f"id_images must be (N, 3, H, W) with N >= 1, got {tuple(id_images.shape)}")
            idx = self.class_token_index(text.input_ids, [prompt]).to(embeds.device)
            ids = self.id_embeddings(id_images)[None]  # (1, N, M)
            embeds, mask = self.fusion(embeds, idx, ids, torch.ones_like(mask))
            word_ids = text.input_ids[0, int(idx[0])].item()
            info.update(
                class_token_index=int(idx[0]),
                class_word=self.tokenizer.decode([word_ids]).strip(),
                n_id_images=int(id_images.shape[0]),
                stacked_tokens=int(embeds.shape[1]),
            )
        cond = Conditioning(embeds=embeds, mask=mask)
        if self.config.generator.uses_added_cond:
            cond.pooled = text.pooled
            cond.time_ids = sdxl_time_ids(self.config.image_size, device=embeds.device)
        return cond, info

    # -------------------------------------------------------------------------------------- folders
    def save_pretrained(
        self,
        folder: Path | str,
        dtype: torch.dtype | None = None,
        licence: str = "unspecified",
        source: str = "tfgnet-desk TFGNet.save_pretrained",
    ) -> Path:
        """Write the model folder (see module docstring) and its MANIFEST.json; returns the folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.config.to_json(folder / "config.json")
        for name, module in self.components().items():
            sub = folder / name
            sub.mkdir(exist_ok=True)
            fname = DIFFUSERS_WEIGHTS if name in ("unet", "vae") else WEIGHTS
            save_safetensors(module.state_dict(), sub / fname, dtype=dtype)
            _write_json(sub / "config.json", self._component_config(name, module))
        sched = folder / "scheduler"
        sched.mkdir(exist_ok=True)
        _write_json(
            sched / "scheduler_config.json",
            {"_class_name": "DDIMScheduler", **self.config.generator.scheduler},
        )
        tok = folder / "tokenizer"
        tok.mkdir(exist_ok=True)
        vocab, merges = embed.clip_vocab_and_merges()
        _write_json(tok / "vocab.json", vocab)
        (tok / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
        write_manifest(folder, licence=licence, source=source)
        return folder

    def _component_config(self, name: str, module: nn.Module) -> dict[str, Any]:
        if name in ("unet", "vae"):
            return {"_class_name": type(module).__name__, **_plain(dict(module.config))}
        if name == "restorer":
            return self.config.restorer.to_dict()
        if name == "fusion":
            return {"_class_name": "IDFusion", **self.config.fusion.to_dict()}
        if name == "pseudo_text":
            return {
                "_class_name": "PseudoTextMLP",
                "in_dim": self.config.fusion.embed_dim,
                "out_dim": self.config.fusion.embed_dim,
                "num_tokens": self.config.fusion.pseudo_text_tokens,
            }
        return module.config.to_dict()  # transformers CLIP configs

    @classmethod
    def from_pretrained(
        cls, folder: Path | str, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
    ) -> TFGNet:
        """Verify the folder's manifest, then build and load every component (never downloads)."""
        folder = Path(folder)
        report = require_verified(folder)
        try:
            config = TFGNetConfig.from_json(folder / "config.json")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WeightsError(f"{folder / 'config.json'} is not a valid TFGNet config: {exc}") from exc
        model = cls(config, empty=True)
        for name, module in model.components().items():
            fname = DIFFUSERS_WEIGHTS if name in ("unet", "vae") else WEIGHTS
            state = load_safetensors(folder / name / fname)
            try:
                module.load_state_dict(state, strict=True, assign=True)
            except RuntimeError as exc:
                raise WeightsError(
                    f"{folder / name / fname} does not fit the {name} of config.json: {exc}"
                ) from exc
        model.tokenizer = _load_tokenizer(folder / "tokenizer")
        model.to(device=device, dtype=dtype or torch.float32)
        if model.dtype == torch.float16 and model.vae.config.get("force_upcast", False):
            model.vae.to(torch.float32)  # SDXL's VAE overflows in fp16 (its config says force_upcast)
        model.folder = folder
        model.manifest_hash = report.manifest_hash
        return model.eval()


@contextlib.contextmanager
def _empty_weights():
    """Parameters on the meta device (filled by ``load_state_dict(assign=True)``); buffers stay real."""
    from accelerate import init_empty_weights

    with init_empty_weights(include_buffers=False):
        yield


def _load_tokenizer(folder: Path):
    """The folder's CLIP BPE tokenizer (vocab.json + merges.txt); the bundled one when absent."""
    vocab_path, merges_path = folder / "vocab.json", folder / "merges.txt"
    if not (vocab_path.is_file() and merges_path.is_file()):
        return embed.clip_tokenizer()
    from transformers import CLIPTokenizer

    vocab = json.loads(vocab_path.read_text(encoding="utf-8"))
    lines = merges_path.read_text(encoding="utf-8").splitlines()
    merges = [tuple(m.split()) for m in lines if m and not m.startswith("#version")]
    tok = CLIPTokenizer(vocab=vocab, merges=merges)
    tok.model_max_length = embed.MAX_LENGTH
    return tok


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items() if not k.startswith("_")}


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
