"""The stimulus features of the encoding model, per frame and HRF-convolved per volume.

Blocks of features (names in :func:`feature_names`):

- ``colour``: mean red, green and blue of the frame (0-1);
- ``retinotopy``: luminance contrast of a ``grid`` x ``grid`` grid of cells, i.e. each cell's
  mean luminance (Rec. 601 weights) minus the frame's; they sum to zero over the grid;
- ``class``: one-hot of the clip's visual class;
- ``motion``: velocity ``speed * cos(direction)``, ``speed * sin(direction)`` and ``speed``,
  in frame widths per second, screen axes (x right, y up). Direction alone is fixed per
  class, so un-scaled cos/sin would be a linear function of the class one-hot.
"""

import numpy as np

from .classes import CLASSES

BLOCKS = ("colour", "retinotopy", "class", "motion")
LUMA = np.array([0.299, 0.587, 0.114])  # Rec. 601


def feature_names(n_classes, grid):
    """Feature names in column order, and the block index of each."""
    names, blocks = [], []
    for block, block_names in (
        ("colour", ["mean_red", "mean_green", "mean_blue"]),
        ("retinotopy", [f"contrast_r{r}c{c}" for r in range(grid) for c in range(grid)]),
        ("class", [f"class_{vc.name}" for vc in CLASSES[:n_classes]]),
        ("motion", ["motion_x", "motion_y", "speed"]),
    ):
        names += block_names
        blocks += [BLOCKS.index(block)] * len(block_names)
    return names, np.array(blocks, np.int8)


def frame_features(frames, clip, n_classes, grid):
    """Features of a batch of frames of one clip.

    Parameters
    ----------
    frames : ndarray, uint8 ``[n, H, W, 3]``
        Frames as drawn (before video compression); H and W divisible by ``grid``.
    clip : Clip
        The clip they belong to (class and velocity).

    Returns
    -------
    ndarray, float32 ``[n, n_features]``
    """
    n, h, w, _ = frames.shape
    ch, cw = h // grid, w // grid
    # Exact integer sums per grid cell and channel (rows first: contiguous and fast).
    bands = frames.reshape(n, grid, ch, w * 3).sum(axis=2, dtype=np.int32)
    cells = bands.reshape(n, grid, grid, cw, 3).sum(axis=3) / (255.0 * ch * cw)  # [n, g, g, 3]
    mean_rgb = cells.mean(axis=(1, 2))
    luma = cells.reshape(n, grid * grid, 3) @ LUMA
    contrast = luma - (mean_rgb @ LUMA)[:, None]
    onehot = np.zeros((n, n_classes), np.float32)
    onehot[:, clip.class_index] = 1.0
    vx, vy = clip.velocity()
    motion = np.broadcast_to(np.array([vx, vy, clip.speed], np.float32), (n, 3))
    return np.concatenate([mean_rgb, contrast, onehot, motion], axis=1).astype(np.float32)


def canonical_hrf(fps):
    """nilearn's Glover HRF sampled at the frame rate, scaled to unit sum (unit steady-state gain)."""
    from nilearn.glm.first_level.hemodynamic_models import glover_hrf

    return glover_hrf(t_r=1.0 / fps, oversampling=1, time_length=32.0)


def volume_regressors(frame_feats, fps, tr, n_samples):
    """Convolve per-frame features with the HRF and sample them every TR from the movie onset.

    Row ``k`` is the response expected at ``k * tr`` seconds after the movie's first frame
    (``k = 0 .. n_samples - 1``); the screen is taken to show nothing (all features 0)
    before and after the movie, so volumes acquired before the onset have all-zero
    regressors.

    Parameters
    ----------
    frame_feats : ndarray ``[n_frames, n_features]``
        Feature ``f`` holds during ``[f / fps, (f + 1) / fps)``.
    fps : float
    tr : float
    n_samples : int

    Returns
    -------
    ndarray, float32 ``[n_samples, n_features]``
    """
    from scipy.signal import fftconvolve

    hrf = canonical_hrf(fps)
    x = np.asarray(frame_feats, np.float64)
    conv = fftconvolve(x, hrf[:, None], mode="full", axes=0)
    times = np.arange(n_samples) * tr * fps  # in frames
    grid = np.arange(conv.shape[0])
    out = np.empty((n_samples, x.shape[1]), np.float64)
    for j in range(x.shape[1]):
        out[:, j] = np.interp(times, grid, conv[:, j], right=0.0)
    return out.astype(np.float32)
