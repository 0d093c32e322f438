"""The compiled loop behind :func:`neurocine_toolbox.evaluation.ssim.pair_ssim` (numba).

Hand-written, not scikit-image, because scoring Wen 2018's 1,195 test clips against 50 other
clips each is 367,000 frame pairs: ``structural_similarity`` took 20–24 ms a pair on 2 cores
(2 hours; days for the full N × N matrix decode used before), and the same arithmetic as separate numpy or torch operations is memory-bound
(the 7×7 box sums of one frame pair alone took 4 ms in torch on 2 cores). One fused loop per
frame pair keeps everything in cache: 0.4 ms a pair on 2 busy cores (docs/benchmarks.md).

What it computes is scikit-image's ``structural_similarity(x, y, data_range=255,
channel_axis=-1)`` on uint8 frames, term by term: 7×7 uniform windows, sample covariance
(N − 1 = 48), K1 = 0.01, K2 = 0.03, the map cropped by 3 pixels (where the window lies inside
the frame, so scikit-image's reflected borders never enter), mean over pixels and channels.
Window sums of x, y, x², y², xy are exact integers (int32: at most 49 · 255² = 3,186,225),
and so are the numerators ``49·Σxy − Σx·Σy`` (< 2³¹) that scikit-image forms in floating
point: the result equals scikit-image's to about 1e-15.
"""

import numpy as np
from numba import njit, prange

WINDOW = 7

# error_model="numpy": no ZeroDivisionError checks, which would stop the loops from vectorising.
# Slices instead of offset indices (c[k + 3 * C]) for the same reason.


@njit(cache=True, error_model="numpy")
def _add_row(x_row, y_row, sx, sy, sxx, syy, sxy, sign):
    for k in range(sx.shape[0]):
        a = np.int32(x_row[k])
        b = np.int32(y_row[k])
        sx[k] += sign * a
        sy[k] += sign * b
        sxx[k] += sign * (a * a)
        syy[k] += sign * (b * b)
        sxy[k] += sign * (a * b)


@njit(cache=True, error_model="numpy")
def _row_ssim(sx, sy, sxx, syy, sxy, acc, channels, width_out):
    """Add one output row's SSIM values to ``acc`` from the column sums of a 7-row band."""
    c1 = (0.01 * 255.0) ** 2
    c2 = (0.03 * 255.0) ** 2
    k1 = 2.0 / 2401.0  # 2 / 49²: 2·μx·μy from Σx·Σy
    k2 = 1.0 / 2401.0
    k3 = 2.0 / 2352.0  # 2 / (49 · 48): sample covariance from 49·Σxy − Σx·Σy
    k4 = 1.0 / 2352.0
    n = np.int32(WINDOW * WINDOW)
    w, c = width_out, channels
    x0, x1, x2, x3, x4, x5, x6 = sx[:w], sx[c:c + w], sx[2 * c:2 * c + w], sx[3 * c:3 * c + w], \
        sx[4 * c:4 * c + w], sx[5 * c:5 * c + w], sx[6 * c:6 * c + w]
    y0, y1, y2, y3, y4, y5, y6 = sy[:w], sy[c:c + w], sy[2 * c:2 * c + w], sy[3 * c:3 * c + w], \
        sy[4 * c:4 * c + w], sy[5 * c:5 * c + w], sy[6 * c:6 * c + w]
    u0, u1, u2, u3, u4, u5, u6 = sxx[:w], sxx[c:c + w], sxx[2 * c:2 * c + w], sxx[3 * c:3 * c + w], \
        sxx[4 * c:4 * c + w], sxx[5 * c:5 * c + w], sxx[6 * c:6 * c + w]
    v0, v1, v2, v3, v4, v5, v6 = syy[:w], syy[c:c + w], syy[2 * c:2 * c + w], syy[3 * c:3 * c + w], \
        syy[4 * c:4 * c + w], syy[5 * c:5 * c + w], syy[6 * c:6 * c + w]
    p0, p1, p2, p3, p4, p5, p6 = sxy[:w], sxy[c:c + w], sxy[2 * c:2 * c + w], sxy[3 * c:3 * c + w], \
        sxy[4 * c:4 * c + w], sxy[5 * c:5 * c + w], sxy[6 * c:6 * c + w]
    for k in range(w):
        mx = np.int32(x0[k] + x1[k] + x2[k] + x3[k] + x4[k] + x5[k] + x6[k])
        my = np.int32(y0[k] + y1[k] + y2[k] + y3[k] + y4[k] + y5[k] + y6[k])
        mxx = np.int32(u0[k] + u1[k] + u2[k] + u3[k] + u4[k] + u5[k] + u6[k])
        myy = np.int32(v0[k] + v1[k] + v2[k] + v3[k] + v4[k] + v5[k] + v6[k])
        mxy = np.int32(p0[k] + p1[k] + p2[k] + p3[k] + p4[k] + p5[k] + p6[k])
        cross = np.int32(mx * my)
        a1 = np.float64(cross) * k1 + c1
        b1 = np.float64(np.int32(mx * mx + my * my)) * k2 + c1
        a2 = np.float64(np.int32(n * mxy - cross)) * k3 + c2
        b2 = np.float64(np.int32(np.int32(n * mxx - mx * mx) + np.int32(n * myy - my * my))) * k4 + c2
        acc[k] += a1 * a2 / (b1 * b2)


@njit(cache=True, parallel=True, nogil=True, error_model="numpy")
def pair_frame_ssim(decoded, truth, first, second):
    """``out[p, f]``: SSIM of ``decoded[first[p], f]`` and ``truth[second[p], f]``.

    ``decoded``, ``truth``: C-contiguous uint8 ``[N, F, H, W, C]``; ``first``, ``second``: int64.
    """
    n_pairs = first.shape[0]
    n_frames, height, width, channels = decoded.shape[1:]
    row = width * channels
    width_out = (width - WINDOW + 1) * channels
    out = np.zeros((n_pairs, n_frames))
    for task in prange(n_pairs * n_frames):
        p = task // n_frames
        f = task % n_frames
        x = decoded[first[p], f].reshape(height, row)
        y = truth[second[p], f].reshape(height, row)
        sx = np.zeros(row, np.int32)
        sy = np.zeros(row, np.int32)
        sxx = np.zeros(row, np.int32)
        syy = np.zeros(row, np.int32)
        sxy = np.zeros(row, np.int32)
        acc = np.zeros(width_out)
        for r in range(WINDOW):
            _add_row(x[r], y[r], sx, sy, sxx, syy, sxy, np.int32(1))
        for top in range(height - WINDOW + 1):
            if top > 0:  # slide the 7-row band down by one row
                _add_row(x[top - 1], y[top - 1], sx, sy, sxx, syy, sxy, np.int32(-1))
                _add_row(x[top + WINDOW - 1], y[top + WINDOW - 1], sx, sy, sxx, syy, sxy, np.int32(1))
            _row_ssim(sx, sy, sxx, syy, sxy, acc, channels, width_out)
        out[p, f] = acc.sum() / ((height - WINDOW + 1) * width_out)
    return out
