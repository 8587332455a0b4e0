"""Feature backbones for the learned metrics, found in local folders only (never downloaded).

Expected layout of a metric-weights folder (``--metric-weights DIR``; by default
``<models_dir>/metrics`` and then ``<evaluated model folder>/metrics``), each file in safetensors:

======================  ================================================  ==============================
sub-folder              files                                             used for
======================  ================================================  ==============================
``clip-vit-base-patch32``  ``config.json`` + ``model.safetensors`` (the     CLIP-I, CLIP-T (paper: CLIP
                        Hugging Face ``openai/clip-vit-base-patch32``      ViT-B/32)
                        layout, loaded with ``CLIPModel``)
``dino-vits16``         ``config.json`` + ``model.safetensors``           DINO (paper: DINO, ViT-S/16
                        (``facebook/dino-vits16``, ``ViTModel``; any      CLS token)
                        ``AutoModel`` ViT/DINOv2 config also loads)
``lpips-alex``          ``alexnet.safetensors`` (torchvision AlexNet      LPIPS (AlexNet, v0.1)
                        keys ``features.N.*``) + ``lpips_lin.safetensors``
                        (``lin0.model.1.weight`` .. ``lin4...``)
``inception-fid``       ``pt_inception-2015-12-05.safetensors``           FID (pool3, 2048-d)
                        (pytorch-fid's weights, torchvision key names)
======================  ================================================  ==============================

When a backbone is absent the metric falls back to the evaluated model's own tiny CLIP where that is
meaningful (CLIP-I, CLIP-T, FID on its image embedding, LPIPS's unweighted "baseline" form on its vision
tower's hidden states) and is labelled so, e.g. "CLIP-T (tiny-CLIP)"; DINO has no honest stand-in (a
tiny-CLIP DINO would repeat CLIP-I) and is reported as n/a with the folder that was searched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CLIP_DIR = "clip-vit-base-patch32"
DINO_DIR = "dino-vits16"
LPIPS_DIR = "lpips-alex"
INCEPTION_DIR = "inception-fid"
LPIPS_FILES = ("alexnet.safetensors", "lpips_lin.safetensors")
INCEPTION_FILE = "pt_inception-2015-12-05.safetensors"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def find_metric_weights(roots: list[Path], sub: str, files: tuple[str, ...]) -> Path | None:
    """The first ``root/sub`` that holds all ``files``, or None."""
    for root in roots:
        folder = Path(root) / sub
        if all((folder / f).is_file() for f in files):
            return folder
    return None


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _to_tensor01(images: list[np.ndarray]):
    import torch

    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0


def _resize_center_crop(x, resize: int, crop: int, mode: str = "bicubic"):
    """Shortest side to ``resize`` (antialiased), then a centre crop of ``crop`` (torch, (B,3,H,W))."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    s = resize / min(h, w)
    nh, nw = max(crop, round(h * s)), max(crop, round(w * s))
    x = F.interpolate(x, size=(nh, nw), mode=mode, align_corners=False, antialias=True).clamp(0, 1)
    top, left = (nh - crop) // 2, (nw - crop) // 2
    return x[..., top : top + crop, left : left + crop]


def _normalize(x, mean, std):
    import torch

    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


@dataclass
class CLIPBackbone:
    """Image and text embeddings in a shared space (unit-normalised), with the label shown in tables."""

    label: str
    image_fn: Any
    text_fn: Any

    def image_embeds(self, images: list[np.ndarray]) -> np.ndarray:
        return _normalise(self.image_fn(images))

    def text_embeds(self, texts: list[str]) -> np.ndarray:
        return _normalise(self.text_fn(texts))


def load_reference_clip(folder: Path) -> CLIPBackbone:
    """CLIP ViT-B/32 from a local Hugging Face folder; preprocessing as OpenAI's (224, bicubic, crop)."""
    import torch
    from transformers import CLIPModel

    from tfgnet_desk.model.embed import tokenize

    model = CLIPModel.from_pretrained(str(folder), use_safetensors=True, local_files_only=True).eval()
    size = int(model.config.vision_config.image_size)

    @torch.no_grad()
    def image_fn(images):
        x = _normalize(_resize_center_crop(_to_tensor01(images), size, size), CLIP_MEAN, CLIP_STD)
        return model.get_image_features(pixel_values=x).pooler_output.numpy()

    @torch.no_grad()
    def text_fn(texts):
        ids, mask = tokenize(list(texts))
        return model.get_text_features(input_ids=ids, attention_mask=mask).pooler_output.numpy()

    return CLIPBackbone(label="CLIP ViT-B/32", image_fn=image_fn, text_fn=text_fn)


def tiny_clip_backbone(image_encoder, text_encoder) -> CLIPBackbone:
    """The evaluated model's own small CLIP (image tower with projection, last text encoder)."""
    import torch

    from tfgnet_desk.model.embed import encode_images, tokenize

    @torch.no_grad()
    def image_fn(images):
        x = _to_tensor01(images) * 2.0 - 1.0
        return encode_images(image_encoder, x.to(image_encoder.device)).float().cpu().numpy()

    @torch.no_grad()
    def text_fn(texts):
        ids, mask = tokenize(list(texts), int(text_encoder.config.max_position_embeddings))
        out = text_encoder(input_ids=ids.to(text_encoder.device), attention_mask=mask.to(text_encoder.device))
        return out.text_embeds.float().cpu().numpy()

    return CLIPBackbone(label="tiny-CLIP", image_fn=image_fn, text_fn=text_fn)


@dataclass
class ImageFeatureBackbone:
    """A map images -> (N, D) features, with its label (DINO embeddings, FID features)."""

    label: str
    fn: Any
    normalise: bool = True

    def features(self, images: list[np.ndarray]) -> np.ndarray:
        f = np.asarray(self.fn(images), dtype=np.float64)
        return _normalise(f) if self.normalise else f


def load_dino(folder: Path) -> ImageFeatureBackbone:
    """DINO ViT-S/16 (or any ViT/DINOv2 ``AutoModel``): CLS token of the last layer, ImageNet preprocessing
    (resize 256, centre crop 224), as the DreamBooth/PhotoMaker DINO score."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder), use_safetensors=True, local_files_only=True).eval()

    @torch.no_grad()
    def fn(images):
        x = _normalize(_resize_center_crop(_to_tensor01(images), 256, 224), IMAGENET_MEAN, IMAGENET_STD)
        return model(pixel_values=x).last_hidden_state[:, 0].numpy()

    return ImageFeatureBackbone(label="DINO ViT-S/16", fn=fn)


def load_inception(folder: Path) -> ImageFeatureBackbone:
    """FID Inception pool3 features of images in [0, 1] (the network resizes to 299)."""
    import torch

    from tfgnet_desk.evaluate.metrics.inception import load_fid_inception

    net = load_fid_inception(folder / INCEPTION_FILE)

    @torch.no_grad()
    def fn(images):
        return net(_to_tensor01(images)).numpy()

    return ImageFeatureBackbone(label="Inception-v3 pool3", fn=fn, normalise=False)


def tiny_clip_fid_features(clip: CLIPBackbone) -> ImageFeatureBackbone:
    """FID fallback: the tiny CLIP's projected image embedding (not unit-normalised)."""
    return ImageFeatureBackbone(label="tiny-CLIP", fn=clip.image_fn, normalise=False)


@dataclass
class LPIPSBackbone:
    """Pairwise perceptual distance, images RGB uint8 -> (N,) distances."""

    label: str
    fn: Any

    def distances(self, a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
        return np.asarray(self.fn(a, b), dtype=np.float64)

    def distances_to(self, a: list[np.ndarray], target: np.ndarray) -> np.ndarray:
        """Distances of every image of ``a`` to one ``target``, whose features are computed once (both
        LPIPS forms broadcast a batch of one against the batch of ``a``)."""
        return np.asarray(self.fn(a, [target]), dtype=np.float64).reshape(len(a))


def load_lpips(folder: Path) -> LPIPSBackbone:
    import torch

    from tfgnet_desk.evaluate.metrics.lpips import load_lpips_alex, to_lpips_input

    model = load_lpips_alex(folder / LPIPS_FILES[0], folder / LPIPS_FILES[1])

    @torch.no_grad()
    def fn(a, b):
        return model(to_lpips_input(a), to_lpips_input(b)).numpy()

    return LPIPSBackbone(label="AlexNet", fn=fn)


def tiny_clip_lpips(image_encoder) -> LPIPSBackbone:
    """LPIPS's unweighted baseline form on the tiny CLIP vision tower's hidden states (patch tokens as
    spatial positions, every transformer block a layer)."""
    import torch

    from tfgnet_desk.evaluate.metrics.lpips import lpips_from_features
    from tfgnet_desk.model.embed import preprocess_images

    size = int(image_encoder.config.image_size)

    def feats(images):
        x = preprocess_images(_to_tensor01(images) * 2.0 - 1.0, size).to(image_encoder.device)
        out = image_encoder(pixel_values=x, output_hidden_states=True)
        # (B, tokens, C) -> (B, C, tokens, 1); drop the class token; skip the embedding layer
        return [h[:, 1:].float().transpose(1, 2).unsqueeze(-1) for h in out.hidden_states[1:]]

    @torch.no_grad()
    def fn(a, b):
        fa, fb = feats(a), feats(b)
        return lpips_from_features(fa, fb).cpu().numpy()

    return LPIPSBackbone(label="tiny-CLIP, unweighted", fn=fn)
