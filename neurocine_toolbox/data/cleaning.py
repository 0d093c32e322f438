"""Clean one run's fMRI: remove a polynomial trend and z-score each grayordinate."""

import numpy as np


def polynomial_basis(n_timepoints, order):
    """Orthonormal basis ``[n_timepoints, order + 1]`` of polynomials up to ``order``.

    Legendre polynomials on [-1, 1], orthonormalised by QR so the projection is exact and
    numerically stable.
    """
    x = np.linspace(-1.0, 1.0, n_timepoints)
    vander = np.polynomial.legendre.legvander(x, order)
    q, _ = np.linalg.qr(vander)
    return q


def detrend(data, order=4):
    """Remove a polynomial trend of ``order`` from each column of ``data`` [time, voxels].

    Returns
    -------
    ndarray
        float32 residuals.
    """
    data = np.asarray(data, dtype=np.float64)
    basis = polynomial_basis(data.shape[0], order)
    return (data - basis @ (basis.T @ data)).astype(np.float32)


def zscore(data):
    """Z-score each column over time; columns with zero variance stay 0.

    Returns
    -------
    zscored : ndarray
        float32.
    constant : ndarray of bool
        Columns that had no variance.
    """
    data = np.asarray(data, dtype=np.float32)
    mean = data.mean(axis=0, dtype=np.float64)
    std = data.std(axis=0, dtype=np.float64)
    constant = ~(std > 1e-8 * np.maximum(1.0, np.abs(mean)))
    scale = np.where(constant, 1.0, std)
    out = ((data - mean) / scale).astype(np.float32)
    out[:, constant] = 0.0
    return out, constant


def clean_run(data, order=4):
    """Detrend and z-score one run; NaN or constant columns become 0.

    Parameters
    ----------
    data : ndarray
        ``[time, voxels]`` of one run, already trimmed to the TRs used.
    order : int
        Polynomial order of the trend (Wen 2018: 4).

    Returns
    -------
    cleaned : ndarray
        float32 ``[time, voxels]``.
    bad : ndarray of bool
        Columns that had NaNs or no variance (now all 0).
    """
    data = np.asarray(data, dtype=np.float32)
    nan = ~np.isfinite(data).all(axis=0)
    if nan.any():
        data = data.copy()
        data[:, nan] = 0.0
    cleaned, constant = zscore(detrend(data, order))
    return cleaned, nan | constant
