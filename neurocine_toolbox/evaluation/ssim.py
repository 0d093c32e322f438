"""SSIM of the MinD-Video protocol (the one NeuroCine reports), for many clip pairs at once.

The protocol: scikit-image ``structural_similarity(pred, gt, data_range=255, channel_axis=-1)``
on RGB uint8 frames (7×7 uniform window, sample covariance, the map cropped by 3 pixels, mean
over channels), averaged over a clip's frames. :func:`frame_ssim` calls scikit-image itself;
:func:`pair_ssim` computes the same numbers with a compiled loop over all cores
(:mod:`._ssim_kernel`), and a test holds the two equal.
"""

import numpy as np

PROTOCOL = "SSIM, MinD-Video protocol (RGB uint8, data_range 255, 7x7 window), mean over frames"


def frame_ssim(a, b):
    """SSIM of two uint8 RGB frames ``[H, W, 3]`` by scikit-image (the reference)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, data_range=255, channel_axis=-1))


def _check_clips(name, clips):
    clips = np.asarray(clips)
    if clips.dtype != np.uint8 or clips.ndim != 5:
        raise ValueError(f"{name} must be uint8 clips [N, frames, H, W, channels], not {clips.dtype} {clips.shape}")
    if min(clips.shape[2:4]) < 7:
        raise ValueError(f"{name} frames of {clips.shape[2]}x{clips.shape[3]} are smaller than the 7x7 SSIM window")
    return np.ascontiguousarray(clips)


def pair_ssim(decoded, truth, first, second, chunk=2048, progress=None):
    """Mean SSIM over frames of ``decoded[first[p]]`` against ``truth[second[p]]`` for every pair p.

    Parameters
    ----------
    decoded, truth : uint8 ``[N, F, H, W, C]``
        Clips of equal shape (C = 3 for the protocol).
    first, second : array_like of int ``[P]``
        Indices into ``decoded`` and ``truth``.
    chunk : int
        Pairs per call of the compiled loop (between progress updates).
    progress : callable, optional
        Called with the number of pairs done after each chunk.

    Returns
    -------
    ndarray ``[P]``
    """
    from ._ssim_kernel import pair_frame_ssim

    decoded, truth = _check_clips("decoded clips", decoded), _check_clips("true clips", truth)
    if decoded.shape[1:] != truth.shape[1:]:
        raise ValueError(f"decoded clips {decoded.shape} and true clips {truth.shape} differ in shape")
    first = np.asarray(first, dtype=np.int64).ravel()
    second = np.asarray(second, dtype=np.int64).ravel()
    if first.shape != second.shape:
        raise ValueError("first and second must have one index per pair")
    for name, index, size in (("first", first, len(decoded)), ("second", second, len(truth))):
        if index.size and (index.min() < 0 or index.max() >= size):
            raise ValueError(f"{name} indexes clips outside 0 … {size - 1}")
    out = np.empty(len(first))
    for start in range(0, len(first), chunk):
        stop = min(start + chunk, len(first))
        out[start:stop] = pair_frame_ssim(decoded, truth, first[start:stop], second[start:stop]).mean(axis=1)
        if progress is not None:
            progress(stop - start)
    return out
