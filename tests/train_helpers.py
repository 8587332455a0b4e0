"""Small configs shared by the training tests (tests/test_train_*.py): 32 px synthetic faces."""

from __future__ import annotations

from pathlib import Path

SMALL_RESTORER = {
    "img_size": 32,
    "nf": 8,
    "ch_mult": [1, 2, 2],
    "res_blocks": 1,
    "attn_resolutions": [8],
    "codebook_size": 16,
    "emb_dim": 8,
    "dim_embd": 16,
    "n_head": 2,
    "n_layers": 1,
    "dim_mlp": 32,
    "connect_list": ["16"],
    "norm_groups": 4,
}
SMALL_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 2,
    "up_block_types": ["UpDecoderBlock2D"] * 2,
    "block_out_channels": [8, 8],
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 4,
    "sample_size": 32,
    "scaling_factor": 1.0,
}
SMALL_ENCODERS = {
    "vision": {
        "image_size": 32,
        "patch_size": 8,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "projection_dim": 32,
        "hidden_act": "gelu",
    },
    "texts": [
        {
            "vocab_size": 49408,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "projection_dim": 32,
            "hidden_act": "gelu",
            "bos_token_id": 49406,
            "eos_token_id": 49407,
            "pad_token_id": 49407,
        }
    ],
    "text_hidden_state": -1,
}
SMALL_UNET = {
    "block_out_channels": [8, 16],
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
    "layers_per_block": 1,
    "attention_head_dim": [1, 1],
    "norm_num_groups": 4,
    "cross_attention_dim": 32,
    "sample_size": 16,
}


def small_config(stage: str, **over):
    from tfgnet_desk.train.config import TrainConfig

    params: dict = {"synthetic_n": 8}
    if stage in ("codebook", "transformer", "fidelity"):
        params.update(restorer=SMALL_RESTORER, disc_start=1, disc_layers=2, disc_ndf=8)
    if stage == "vae":
        params.update(vae=SMALL_VAE)
    if stage == "clip":
        params.update(encoders=SMALL_ENCODERS, max_length=16)
    if stage == "joint":
        params.update(
            test_config=True,
            sample_steps=2,
            model={
                "restorer": SMALL_RESTORER,
                "vae": SMALL_VAE,
                "unet": SMALL_UNET,
                "encoders": SMALL_ENCODERS,
            },
        )
    params.update(over.pop("params", {}))
    base = dict(
        stage=stage,
        batch_size=4,
        lr=2e-3,
        warmup_steps=0,
        max_steps=4,
        sample_every=0,
        log_every=1,
        image_size=32,
        checkpoint_minutes=100.0,
        schedule="constant",
        params=params,
    )
    base.update(over)
    return TrainConfig.from_dict(base)


def run(cfg, out: Path, source=None, **opts):
    from tfgnet_desk.train.data import SyntheticFaces
    from tfgnet_desk.train.loop import RunOptions, run_training

    src = source or SyntheticFaces(n=int(cfg.params.get("synthetic_n", 8)), size=cfg.image_size, seed=0)
    return run_training(cfg, src, RunOptions(out_root=out, quiet=True, threads=1, **opts))
