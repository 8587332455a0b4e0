"""Training CLI: ``python -m tfgnet_desk.train STAGE --config FILE [...]`` (see ``cli.py``).

Stages: ``clip`` (tiny profile: contrastive + identity pre-training of the small CLIP encoders),
``vae`` (tiny profile: the small latent autoencoder), ``codebook`` (paper 3.1), ``transformer`` (3.2),
``joint`` (3.6). The same command runs data-parallel under ``accelerate launch``.
"""
