"""NeuroCine's fMRI augmentations for contrastive fine-tuning (Sun et al. 2024, §3.1).

Both take a batch of windows ``[N, n, V]`` (n TRs of V columns) and a ``torch.Generator``, so a
step's augmentation depends only on the seed it is given.
"""

import torch


def spatial_mask(windows, gamma, generator, valid=None):
    """Set a fraction ``gamma`` of each window's positions to zero, the same in all its TRs.

    Parameters
    ----------
    windows : Tensor ``[N, n, V]``
    gamma : float
        γ_spa, the fraction of positions masked (paper: 0.2).
    generator : torch.Generator
    valid : BoolTensor ``[V]``, optional
        Columns that hold real voxels; padding columns are never counted or chosen.

    Returns
    -------
    Tensor
        A masked copy; positions differ across the batch.
    """
    n_windows, _, n_columns = windows.shape
    candidates = torch.arange(n_columns) if valid is None else torch.nonzero(valid.cpu()).flatten()
    n_masked = int(round(gamma * len(candidates)))
    keep = torch.ones(n_windows, n_columns, dtype=windows.dtype)
    if n_masked:
        order = torch.argsort(torch.rand(n_windows, len(candidates), generator=generator), dim=1)
        keep.scatter_(1, candidates[order[:, :n_masked]], 0.0)
    return windows * keep.to(windows.device)[:, None, :]


def interpolation_weights(n):
    """Matrix ``A [n, n]`` of eq. 1: ``A[i, j] = 1 − |i−j|/n`` for j ≠ i, 0 on the diagonal."""
    i = torch.arange(n)
    weights = 1.0 - (i[:, None] - i[None, :]).abs().float() / n
    weights.fill_diagonal_(0.0)
    return weights


def temporal_interpolate(windows, gamma, generator):
    """Replace TRs of each window by the distance-weighted sum of its other TRs (eq. 1).

    Each TR ``i`` of a window of ``n`` is replaced, with probability ``gamma``, by
    ``Σ_{j≠i} (1 − |i−j|/n) · v_j`` computed from the original TRs. The weights are the paper's
    and are not renormalised (for n = 2 a replaced TR is half its neighbour).

    Parameters
    ----------
    windows : Tensor ``[N, n, V]``
    gamma : float
        γ_tem, the expected fraction of TRs replaced (paper: 1/3).
    generator : torch.Generator

    Returns
    -------
    Tensor
    """
    n_windows, n, _ = windows.shape
    chosen = torch.rand(n_windows, n, generator=generator) < gamma
    interpolated = torch.einsum("ij,bjv->biv", interpolation_weights(n).to(windows), windows)
    return torch.where(chosen.to(windows.device)[:, :, None], interpolated, windows)
