"""Metrics of paper section 4.1, each implemented to its reference definition.

Pure-numpy metrics (``pixel``, ``frechet``) import nothing heavy; the network-backed ones (``lpips``,
``inception``, ``clip_scores``, ``dino``) import torch lazily and take their weights from local
safetensors files found by ``backbones.find_metric_weights``.
"""
