"""Metrics with their chance levels, intervals and p-values.

``retrieval`` (the encoder's fMRI→image / →caption retrieval), ``ssim`` and ``clip_similarity``
(decoded clips against their own and other clips' truth), all on the statistics of
``time_series_statistics`` (block bootstrap within runs, circular-shift null), whose honesty
``calibration`` measures on simulated null data. ``pixel_metrics`` (per-frame SSIM under the
MinD-Video, 2-D gray and NEURONS protocols, and PSNR) scores clips that ``clip_files`` reads
from the peers' published gifs or from folders of clips.
"""
