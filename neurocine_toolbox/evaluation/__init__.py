"""Metrics with their chance levels, intervals and p-values.

``retrieval`` (the encoder's fMRI→image / →caption retrieval), ``ssim`` and ``clip_similarity``
(decoded clips against their own and other clips' truth), all on the statistics of
``time_series_statistics`` (block bootstrap within runs, circular-shift null), whose honesty
``calibration`` measures on simulated null data. ``nway`` scores N-way top-K classification
(the peers' protocol and a strict one) on the outputs of ``classifiers`` (ViT per frame,
VideoMAE per clip, cached on disk).
"""
