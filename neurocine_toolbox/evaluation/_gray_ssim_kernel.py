"""The compiled loops behind the two gray SSIM protocols of :mod:`.pixel_metrics` (numba).

Hand-written because scikit-image's ``structural_similarity`` with Gaussian weights takes about
25 ms a 256² frame, and the same arithmetic as batched ``scipy.ndimage.gaussian_filter`` calls
took 165 s for Wen 2018's 7,200 test frames on 2 busy cores (memory-bound: five full-size
float64 images filtered twice each). One loop per frame that filters a row band at a time
keeps everything in cache.

What it computes is scikit-image's, term by term, on ``rgb2gray`` frames (``x · (1/255)`` in
float64, then the weights 0.2125, 0.7154, 0.0721): Gaussian weights of σ = 1.5 truncated at
3.5 σ (11 taps, scipy's kernel), population covariance, C1 = 0.01², C2 = 0.03², the SSIM map
cropped by 5 pixels along every filtered axis. Inside that crop a window never reaches the
frame's edge, so scipy's reflected borders never enter and need no reproducing. Only the order
of additions differs from scipy's, so results agree with scikit-image to about 1e-15.

- ``gray_2d``: the 2-D filter (vertical then horizontal pass), crop of 5 rows and 5 columns.
- ``columnwise``: the vertical pass only and no column crop, then the mean over rows of each
  column and the mean of those column means: scikit-image's result when a 2-D gray frame is
  passed with ``channel_axis=-1`` (every column a one-dimensional "channel").
"""

import numpy as np
from numba import njit, prange

SIGMA = 1.5
TRUNCATE = 3.5
RADIUS = int(TRUNCATE * SIGMA + 0.5)  # 5, as scipy.ndimage and scikit-image round it
WINDOW = 2 * RADIUS + 1
C1 = 0.01 ** 2  # (K1 · data_range)², data_range 1
C2 = 0.03 ** 2


def gaussian_weights():
    """The 11 normalised taps scipy's ``gaussian_filter1d`` uses for σ = 1.5, truncate 3.5."""
    x = np.arange(-RADIUS, RADIUS + 1, dtype=np.float64)
    phi = np.exp(-0.5 / SIGMA ** 2 * x ** 2)
    return phi / phi.sum()


@njit(cache=True, error_model="numpy")
def _gray(frame, out):
    """``rgb2gray`` of a uint8 ``[H, W, 3]`` frame into float64 ``out[H, W]``."""
    scale = 1.0 / 255.0
    for i in range(frame.shape[0]):
        for j in range(frame.shape[1]):
            out[i, j] = (frame[i, j, 0] * scale) * 0.2125 + (frame[i, j, 1] * scale) * 0.7154 \
                + (frame[i, j, 2] * scale) * 0.0721


@njit(cache=True, error_model="numpy")
def _vertical(gx, gy, top, w, mx, my, mxx, myy, mxy):
    """Vertically filtered x, y, x², y², xy of output row ``top + RADIUS`` (all columns)."""
    width = gx.shape[1]
    for j in range(width):
        mx[j] = 0.0
        my[j] = 0.0
        mxx[j] = 0.0
        myy[j] = 0.0
        mxy[j] = 0.0
    for k in range(w.shape[0]):
        wk = w[k]
        a_row = gx[top + k]
        b_row = gy[top + k]
        for j in range(width):
            a = a_row[j]
            b = b_row[j]
            mx[j] += wk * a
            my[j] += wk * b
            mxx[j] += wk * (a * a)
            myy[j] += wk * (b * b)
            mxy[j] += wk * (a * b)


@njit(cache=True, error_model="numpy")
def _ssim(ux, uy, uxx, uyy, uxy):
    vx = uxx - ux * ux
    vy = uyy - uy * uy
    vxy = uxy - ux * uy
    return (2.0 * ux * uy + C1) * (2.0 * vxy + C2) / ((ux * ux + uy * uy + C1) * (vx + vy + C2))


@njit(cache=True, parallel=True, nogil=True, error_model="numpy")
def gray_frame_ssim(pred, truth, w, columnwise):
    """``out[n, f]``: gray SSIM of ``pred[n, f]`` against ``truth[n, f]``.

    ``pred``, ``truth``: uint8 ``[N, F, H, W, 3]``; ``w``: the taps of :func:`gaussian_weights`;
    ``columnwise``: the column-wise protocol instead of the 2-D one.
    """
    n_clips, n_frames, height, width = pred.shape[:4]
    radius = w.shape[0] // 2
    rows_out = height - 2 * radius
    out = np.zeros((n_clips, n_frames))
    for task in prange(n_clips * n_frames):
        n = task // n_frames
        f = task % n_frames
        gx = np.empty((height, width))
        gy = np.empty((height, width))
        _gray(pred[n, f], gx)
        _gray(truth[n, f], gy)
        mx = np.empty(width)
        my = np.empty(width)
        mxx = np.empty(width)
        myy = np.empty(width)
        mxy = np.empty(width)
        if columnwise:
            column_sums = np.zeros(width)
            for top in range(rows_out):
                _vertical(gx, gy, top, w, mx, my, mxx, myy, mxy)
                for j in range(width):
                    column_sums[j] += _ssim(mx[j], my[j], mxx[j], myy[j], mxy[j])
            out[n, f] = (column_sums / rows_out).mean()
        else:
            total = 0.0
            for top in range(rows_out):
                _vertical(gx, gy, top, w, mx, my, mxx, myy, mxy)
                for j in range(radius, width - radius):
                    ux = 0.0
                    uy = 0.0
                    uxx = 0.0
                    uyy = 0.0
                    uxy = 0.0
                    for k in range(w.shape[0]):
                        wk = w[k]
                        c = j - radius + k
                        ux += wk * mx[c]
                        uy += wk * my[c]
                        uxx += wk * mxx[c]
                        uyy += wk * myy[c]
                        uxy += wk * mxy[c]
                    total += _ssim(ux, uy, uxx, uyy, uxy)
            out[n, f] = total / (rows_out * (width - 2 * radius))
    return out
