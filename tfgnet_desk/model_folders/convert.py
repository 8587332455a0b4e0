"""Converters from the public checkpoints TFGNet's authors built on to this project's safetensors folders.

- CodeFormer's ``codeformer.pth`` (``params_ema``) -> ``restorer/`` (``CodeFormerRestorer`` with
  ``RestorerConfig.full()`` keeps CodeFormer's parameter names, so the tensors move over unchanged).
- PhotoMaker v1's ``photomaker-v1.bin``: ``id_encoder`` (a ``CLIPVisionModelWithProjection`` plus
  ``visual_projection_2`` and ``fuse_module``) -> ``image_encoder/`` + ``fusion/``; ``lora_weights``
  (rank-r updates of SDXL's attention projections) -> ``photomaker_lora/``, fused into the SDXL UNet
  (``W += scale * up @ down``) by :func:`fuse_lora` once the UNet is there.
- torchvision / pytorch-fid / LPIPS ``.pth`` files -> one ``.safetensors`` file each (keys unchanged;
  VGG19 keeps its ``features.*`` trunk).

Checkpoints are read with ``torch.load(weights_only=True)`` only: no code is ever unpickled. Every
converted state dict is checked name by name and shape by shape against the network it is meant for
(built on the meta device, so the check costs no memory) before anything is written, and every output
folder gets a MANIFEST.json naming the licence and the input file's sha256.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tfgnet_desk.model_folders.manifest import WeightsError, save_safetensors, sha256_file, write_manifest

WEIGHTS = "model.safetensors"
CODEFORMER_LICENCE = "S-Lab License 1.0 (CodeFormer; non-commercial use)"
PHOTOMAKER_LICENCE = "Apache-2.0 (PhotoMaker)"
# buffers that older transformers versions saved and newer ones rebuild (not parameters)
DROPPABLE = re.compile(r"(^|\.)position_ids$")


class ConversionError(WeightsError):
    """A checkpoint is not what it claims to be (wrong keys or shapes), or cannot be read safely."""


# ------------------------------------------------------------------------------------------- reading
def load_checkpoint(path: Path | str) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` on CPU: tensors and plain containers only, never code."""
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        raise ConversionError(
            f"{path} cannot be read as a weights-only checkpoint (it may hold code, which is never "
            f"unpickled, or be damaged): {str(exc).splitlines()[0]}"
        ) from exc
    if not isinstance(obj, dict):
        raise ConversionError(f"{path} holds a {type(obj).__name__}, not a state dict")
    return obj


def tensors_only(state: Mapping[str, Any], what: str) -> dict[str, Any]:
    import torch

    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ConversionError(f"{what}: entries that are not tensors: {bad[:5]}")
    return dict(state)


def shapes_of(module) -> dict[str, tuple[int, ...]]:
    """Parameter and persistent-buffer shapes of ``module`` (works on the meta device)."""
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def check_state(state: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]], what: str) -> None:
    """Raise :class:`ConversionError` naming missing, unexpected and wrongly shaped tensors."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k} {tuple(state[k].shape)} != {tuple(expected[k])}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k])
    ]
    if missing or unexpected or wrong:
        parts = [f"{what} does not match the expected layout:"]
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if items:
                parts.append(
                    f"{len(items)} {label} ({', '.join(items[:4])}{', ...' if len(items) > 4 else ''})"
                )
        raise ConversionError(" ".join(parts))


def _drop_buffers(state: Mapping[str, Any], expected: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k in expected or not DROPPABLE.search(k)}


def _meta(factory):
    import torch

    with torch.device("meta"):
        return factory()


def _write(
    folder: Path, state: Mapping[str, Any], config: dict[str, Any], licence: str, source: str, dtype=None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_safetensors(dict(state), folder / WEIGHTS, dtype=dtype)
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    write_manifest(folder, licence=licence, source=source)
    return folder


def _source(label: str, src: Path) -> str:
    return f"{label}: converted by tfgnet-desk from {src.name} (sha256 {sha256_file(src)})"


# ---------------------------------------------------------------------------------------- CodeFormer
def codeformer_state(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    """The restorer weights of a CodeFormer checkpoint (``params_ema``, else ``params``)."""
    for key in ("params_ema", "params"):
        if key in ckpt and isinstance(ckpt[key], Mapping):
            return tensors_only(ckpt[key], f"codeformer {key}")
    raise ConversionError(f"not a CodeFormer checkpoint: no 'params_ema' (keys: {sorted(ckpt)[:6]})")


def restorer_shapes(config=None) -> dict[str, tuple[int, ...]]:
    from tfgnet_desk.model.restorer import CodeFormerRestorer, RestorerConfig

    cfg = config or RestorerConfig.full()
    return shapes_of(_meta(lambda: CodeFormerRestorer(cfg)))


def convert_codeformer(src: Path | str, out_dir: Path | str, config=None, dtype=None) -> Path:
    """``codeformer.pth`` -> ``out_dir`` (``model.safetensors``, ``config.json``, MANIFEST.json).

    ``config``: the :class:`RestorerConfig` to check against (default ``full()``, CodeFormer's own).
    """
    from tfgnet_desk.model.restorer import RestorerConfig

    src = Path(src)
    cfg = config or RestorerConfig.full()
    state = codeformer_state(load_checkpoint(src))
    expected = restorer_shapes(cfg)
    state = _drop_buffers(state, expected)
    check_state(state, expected, f"{src.name} (params_ema)")
    return _write(
        Path(out_dir),
        state,
        cfg.to_dict(),
        CODEFORMER_LICENCE,
        _source("CodeFormer v0.1.0 restorer", src),
        dtype,
    )


# ---------------------------------------------------------------------------------------- PhotoMaker
ID_ENCODER_PREFIXES = ("vision_model.", "visual_projection.")
FUSION_PREFIXES = ("visual_projection_2.", "fuse_module.")
_LORA_PATTERNS = (
    # diffusers attention-processor format (PhotoMaker v1): <path>.processor.to_q_lora.down.weight
    re.compile(
        r"^(?:unet\.)?(?P<path>.+)\.processor\.(?P<proj>to_q|to_k|to_v|to_out)_lora\.(?P<side>down|up)\.weight$"
    ),
    # later diffusers format: <path>.to_q.lora.down.weight
    re.compile(
        r"^(?:unet\.)?(?P<path>.+)\.(?P<proj>to_q|to_k|to_v|to_out(?:\.0)?)\.lora\.(?P<side>down|up)\.weight$"
    ),
    # PEFT format: <path>.to_q.lora_A.weight / lora_B
    re.compile(
        r"^(?:unet\.)?(?:base_model\.model\.)?(?P<path>.+)\.(?P<proj>to_q|to_k|to_v|to_out(?:\.0)?)"
        r"\.lora_(?P<side>A|B)(?:\.default)?\.weight$"
    ),
)


def split_photomaker(ckpt: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``photomaker-v1.bin`` -> (image encoder state, fusion state, raw LoRA state)."""
    if "id_encoder" not in ckpt or "lora_weights" not in ckpt:
        raise ConversionError(
            "not a PhotoMaker v1 checkpoint: expected keys 'id_encoder' and 'lora_weights', "
            f"got {sorted(ckpt)[:6]}"
        )
    id_enc = tensors_only(ckpt["id_encoder"], "photomaker id_encoder")
    lora = tensors_only(ckpt["lora_weights"], "photomaker lora_weights")
    image, fusion, other = {}, {}, []
    for k, v in id_enc.items():
        if k.startswith(FUSION_PREFIXES):
            fusion[k] = v
        elif k.startswith(ID_ENCODER_PREFIXES):
            image[k] = v
        else:
            other.append(k)
    if other:
        raise ConversionError(f"photomaker id_encoder has unexpected entries: {other[:5]}")
    return image, fusion, lora


def normalise_lora(lora: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """LoRA pairs keyed by the UNet weight they update: ``{'<...>.attn1.to_q.weight': (down, up)}``."""
    downs: dict[str, Any] = {}
    ups: dict[str, Any] = {}
    unknown = []
    for k, v in lora.items():
        for pat in _LORA_PATTERNS:
            m = pat.match(k)
            if m:
                proj = m["proj"]
                proj = "to_out.0" if proj.startswith("to_out") else proj
                target = f"{m['path']}.{proj}.weight"
                (downs if m["side"] in ("down", "A") else ups)[target] = v
                break
        else:
            if not k.endswith(".alpha"):
                unknown.append(k)
    if unknown:
        raise ConversionError(f"LoRA entries in an unknown format: {unknown[:4]}")
    unpaired = sorted(set(downs) ^ set(ups))
    if unpaired:
        raise ConversionError(f"LoRA entries without their down/up partner: {unpaired[:4]}")
    return {k: (downs[k], ups[k]) for k in sorted(downs)}


def check_lora(pairs: Mapping[str, tuple[Any, Any]], unet_shapes: Mapping[str, tuple[int, ...]]) -> None:
    """Every LoRA pair must target an existing linear weight (out, in) with down (r, in), up (out, r)."""
    bad = []
    for target, (down, up) in pairs.items():
        shape = unet_shapes.get(target)
        if shape is None or len(shape) != 2:
            bad.append(f"{target} (no such linear weight in the UNet)")
        elif tuple(down.shape) != (down.shape[0], shape[1]) or tuple(up.shape) != (shape[0], down.shape[0]):
            bad.append(f"{target} down {tuple(down.shape)} up {tuple(up.shape)} vs weight {shape}")
    if bad:
        raise ConversionError(f"{len(bad)} LoRA updates do not fit the UNet: {', '.join(bad[:3])}")


def photomaker_shapes(tfg_config=None) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]:
    """Expected (image encoder, fusion) shapes of a TFGNet config (default: the full profile)."""
    from tfgnet_desk.model import embed
    from tfgnet_desk.model.config import TFGNetConfig
    from tfgnet_desk.model.fusion import IDFusion

    cfg = tfg_config or TFGNetConfig.full()
    image = shapes_of(_meta(lambda: embed.build_image_encoder(cfg.clip)))
    fusion = shapes_of(_meta(lambda: IDFusion(cfg.fusion)))
    return image, fusion


def unet_shapes(tfg_config=None) -> dict[str, tuple[int, ...]]:
    from tfgnet_desk.model.config import TFGNetConfig
    from tfgnet_desk.model.generator import build_unet

    cfg = tfg_config or TFGNetConfig.full()
    return shapes_of(_meta(lambda: build_unet(cfg.generator)))


def convert_photomaker(
    src: Path | str, full_dir: Path | str, tfg_config=None, dtype=None, check_unet: bool = True
) -> list[Path]:
    """``photomaker-v1.bin`` -> ``full_dir/image_encoder``, ``full_dir/fusion``, ``full_dir/photomaker_lora``.

    The LoRA is stored with normalised names (``<unet weight>.lora_down`` / ``.lora_up``); it changes
    nothing until :func:`fuse_lora` merges it into the UNet (``assemble.assemble_full``, once SDXL is in).
    """
    from tfgnet_desk.model.config import TFGNetConfig

    src, full_dir = Path(src), Path(full_dir)
    cfg = tfg_config or TFGNetConfig.full()
    image, fusion, lora = split_photomaker(load_checkpoint(src))
    exp_image, exp_fusion = photomaker_shapes(cfg)
    image = _drop_buffers(image, exp_image)
    check_state(image, exp_image, f"{src.name} id_encoder (CLIP vision tower)")
    check_state(fusion, exp_fusion, f"{src.name} id_encoder (visual_projection_2, fuse_module)")
    pairs = normalise_lora(lora)
    if check_unet:
        check_lora(pairs, unet_shapes(cfg))
    source = _source("PhotoMaker v1", src)
    from transformers import CLIPVisionConfig

    vision_config = CLIPVisionConfig(**cfg.clip.vision).to_dict()
    vision_config["architectures"] = ["CLIPVisionModelWithProjection"]
    out = [
        _write(full_dir / "image_encoder", image, vision_config, PHOTOMAKER_LICENCE, source, dtype),
        _write(
            full_dir / "fusion",
            fusion,
            {"_class_name": "IDFusion", **cfg.fusion.to_dict()},
            PHOTOMAKER_LICENCE,
            source,
            dtype,
        ),
    ]
    flat = {}
    for target, (down, up) in pairs.items():
        base = target[: -len(".weight")]
        flat[f"{base}.lora_down.weight"] = down
        flat[f"{base}.lora_up.weight"] = up
    rank = int(next(iter(pairs.values()))[0].shape[0]) if pairs else 0
    out.append(
        _write(
            full_dir / "photomaker_lora",
            flat,
            {"_class_name": "PhotoMakerLoRA", "rank": rank, "scale": 1.0, "targets": len(pairs)},
            PHOTOMAKER_LICENCE,
            source,
            dtype,
        )
    )
    return out


def read_lora(path: Path | str) -> dict[str, tuple[Any, Any]]:
    """Pairs from a ``photomaker_lora/model.safetensors`` written by :func:`convert_photomaker`."""
    from tfgnet_desk.model_folders.manifest import load_safetensors

    flat = load_safetensors(path)
    pairs = {}
    for k, down in flat.items():
        if k.endswith(".lora_down.weight"):
            base = k[: -len(".lora_down.weight")]
            pairs[f"{base}.weight"] = (down, flat[f"{base}.lora_up.weight"])
    return pairs


def fuse_lora(
    unet_file: Path | str, pairs: Mapping[str, tuple[Any, Any]], out_file: Path | str, scale: float = 1.0
) -> int:
    """Write ``out_file`` = the UNet with ``W += scale * up @ down`` for every pair; returns pairs fused.

    Tensors are read one at a time (safetensors ``safe_open``) and the update is computed in fp32, so
    the peak memory is the output state dict plus one tensor.
    """
    import torch
    from safetensors import safe_open

    unet_file, out_file = Path(unet_file), Path(out_file)
    out: dict[str, Any] = {}
    done = 0
    with safe_open(str(unet_file), framework="pt", device="cpu") as fh:
        keys = set(fh.keys())
        missing = sorted(set(pairs) - keys)
        if missing:
            raise ConversionError(f"LoRA targets missing from {unet_file}: {missing[:4]}")
        for k in fh.keys():
            t = fh.get_tensor(k)
            if k in pairs:
                down, up = pairs[k]
                delta = up.to(torch.float32) @ down.to(torch.float32)
                if tuple(delta.shape) != tuple(t.shape):
                    raise ConversionError(
                        f"LoRA update for {k} is {tuple(delta.shape)}, weight {tuple(t.shape)}"
                    )
                t = (t.to(torch.float32) + scale * delta).to(t.dtype)
                done += 1
            out[k] = t
    tmp = out_file.with_name(out_file.name + ".tmp")
    save_safetensors(out, tmp)
    tmp.replace(out_file)
    return done


# ------------------------------------------------------------------------------ plain .pth -> safetensors
def convert_plain(
    src: Path | str,
    out_file: Path | str,
    keep_prefix: str | None = None,
    expected: Mapping[str, tuple[int, ...]] | None = None,
    dtype=None,
) -> Path:
    """A flat ``.pth`` state dict -> one safetensors file (keys unchanged; optionally one prefix only)."""
    src, out_file = Path(src), Path(out_file)
    ckpt = load_checkpoint(src)
    if "state_dict" in ckpt and isinstance(ckpt["state_dict"], Mapping):
        ckpt = ckpt["state_dict"]
    state = tensors_only(ckpt, src.name)
    if keep_prefix is not None:
        state = {k: v for k, v in state.items() if k.startswith(keep_prefix)}
        if not state:
            raise ConversionError(f"{src.name} has no '{keep_prefix}*' tensors")
    if expected is not None:
        check_state(state, expected, src.name)
    save_safetensors(state, out_file, dtype=dtype)
    return out_file


def vgg19_shapes() -> dict[str, tuple[int, ...]]:
    from tfgnet_desk.model.perceptual import VGG19Features

    return shapes_of(_meta(VGG19Features))


def convert_vgg19(src: Path | str, out_file: Path | str) -> Path:
    """torchvision's ``vgg19-*.pth`` -> ``vgg19/model.safetensors`` (the ``features.*`` trunk only)."""
    return convert_plain(src, out_file, keep_prefix="features.", expected=vgg19_shapes())
