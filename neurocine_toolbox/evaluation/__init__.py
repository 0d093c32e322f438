"""Scores of decoded clips and of the encoder, with chance levels and honest intervals.

``retrieval`` (the encoder's fMRI→image / →caption retrieval), ``ssim`` and ``clip_similarity``
(decoded clips against their own and other clips' truth), all on the statistics of
``time_series_statistics`` (block bootstrap within runs, circular-shift null, block sign flips),
whose honesty ``calibration`` measures on simulated null data.

``neurocine evaluate`` (``evaluate``) puts the field's metrics in one table (``metrics_table``):
``pixel_metrics`` (per-frame SSIM under the MinD-Video, 2-D gray and NEURONS protocols, and
PSNR), ``nway`` (N-way top-K classification, the peers' protocol and a strict one) on the
outputs of ``classifiers`` (ViT per frame, VideoMAE per clip, cached on disk) and
``temporal_consistency``, beside the ``baselines`` (shuffled, mean clip, ridge). ``clip_files``
reads clips from the peers' published gifs or from folders of clips.
"""
