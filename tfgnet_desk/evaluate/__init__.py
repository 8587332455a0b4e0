"""Evaluation of TFGNet and its baselines: ``python -m tfgnet_desk.evaluate`` (paper section 4.1).

The package is split by responsibility:
- ``cases``: reading a Face500-style benchmark folder (one sub-folder per case);
- ``metrics``: PSNR, SSIM, Fréchet distance (FID, FID-id), LPIPS, CLIP-I / CLIP-T, DINO, Face Sim, each
  to its reference definition, with pluggable feature backbones and honest labels;
- ``methods``: the rows of the tables (bicubic, restorer, text-only, tfgnet, ablations, and the two
  reference rows clean-source and random-same-gender);
- ``metrics.analyst`` / ``metrics.faces``: what an analyst needs (identity against the evidence, best of
  K, faceres identity, attribute / gender / age agreement, diversity) and where each image's face is;
- ``flip``: the flip test (an attribute stated vs removed, same seed);
- ``scoring``: one case scored, every face located and embedded once; ``runner``: the loop over cases
  (progress bar, skip-and-report of broken cases, per-case seeds, time budget, timings);
- ``report`` / ``report_analyst``: CSV and Markdown tables shaped like the paper's and the analyst's,
  comparison figure, per-case JSON, metadata.
- ``paired``: the paired difference of two rows over one or more runs' per-case records (split runs
  made with ``--start``), with its 95 % interval: ``python -m tfgnet_desk.evaluate.paired``.

Importing this package is light; torch and friends load inside the functions that need them.
"""
