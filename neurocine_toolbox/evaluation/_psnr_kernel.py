"""The compiled loop behind :func:`.pixel_metrics.psnr_per_frame` (numba).

Sums of squared differences as exact int64 per frame pair, which is what scikit-image's float64
mean of integer squares computes (every partial sum is an integer below 2⁵³). numpy needs an
int32 copy of the differences and an int64 one for the sum: twice as slow and ~1 GiB per 256 frames.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True, nogil=True, error_model="numpy")
def frame_squared_error(pred, truth):
    """``out[n, f]``: sum over pixels and channels of ``(pred[n, f] - truth[n, f])²`` (uint8 ``[N, F, H, W, C]``)."""
    n_clips, n_frames = pred.shape[:2]
    out = np.zeros((n_clips, n_frames), np.int64)
    for task in prange(n_clips * n_frames):
        n = task // n_frames
        f = task % n_frames
        a = pred[n, f].ravel()
        b = truth[n, f].ravel()
        total = np.int64(0)
        for k in range(a.shape[0]):
            d = np.int32(a[k]) - np.int32(b[k])
            total += d * d
        out[n, f] = total
    return out
