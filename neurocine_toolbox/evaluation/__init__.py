"""Metrics with their chance levels: retrieval (encoder), and later SSIM and classification."""
