"""NeuroCine's fMRI augmentations for contrastive fine-tuning (Sun et al. 2024, §3.1).

Each takes a ``torch.Generator``, so a step's augmentation depends only on the seed it is
given; draws are made on the generator's device and moved (:mod:`..utils.device_random`).

Spatial masking comes in two spaces (``contrastive.spatial_mask_space``):

- ``voxels``: :func:`spatial_mask` zeroes a fraction γ_spa of a window's voxel columns before the
  patch embedding;
- ``tokens``: :func:`token_mask` draws a mask that zeroes a fraction γ_spa of each patch token's
  embedding channels (the paper's words: "set γ_spa·b values in the fourth dimension of shape b to
  zero", b the embedding width); the encoder applies it after the patch embedding.

In both, the positions are the same for every TR of a window and differ across the batch.
"""

import torch

from ..utils.device_random import rand

SPATIAL_MASK_SPACES = ("voxels", "tokens")


def _lowest(scores, count):
    """A 0/1 mask, 0 at the ``count`` lowest scores of the last axis (a uniform random subset)."""
    keep = torch.ones_like(scores)
    if count:
        keep.scatter_(-1, torch.argsort(scores, dim=-1)[..., :count], 0.0)
    return keep


def spatial_mask(windows, gamma, generator, valid=None):
    """Set a fraction ``gamma`` of each window's voxel columns to zero, the same in all its TRs.

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
    keep[:, candidates] = _lowest(rand((n_windows, len(candidates)), generator), n_masked).to(windows.dtype)
    return windows * keep.to(windows.device)[:, None, :]


def token_mask(n_windows, n_tokens, width, gamma, generator, device=None, dtype=torch.float32):
    """A multiplicative mask ``[N, P, b]`` zeroing ``round(γ·b)`` channels of every patch token.

    The encoder multiplies each TR's patch embeddings by it (``FMRIEncoder(..., token_mask=)``):
    every TR of a window gets the same mask; tokens and windows get different channels.

    Parameters
    ----------
    n_windows, n_tokens, width : int
        Batch size, patches per TR, embedding width b.
    gamma : float
        γ_spa, the fraction of each token's channels set to zero.
    generator : torch.Generator
    device : torch.device, optional
    dtype : torch.dtype

    Returns
    -------
    Tensor ``[n_windows, n_tokens, width]`` of 0 and 1
    """
    # Drawn on the generator's device, sorted where the model runs (a GPU sorts 6 M scores at once).
    scores = rand((n_windows, n_tokens, width), generator, device)
    return _lowest(scores, int(round(gamma * width))).to(dtype)


def interpolation_weights(n):
    """Matrix ``A [n, n]`` of eq. 1: ``A[i, j] = 1 − |i−j|/n`` for j ≠ i, 0 on the diagonal."""
    i = torch.arange(n)
    weights = 1.0 - (i[:, None] - i[None, :]).abs().float() / n
    weights.fill_diagonal_(0.0)
    return weights


def interpolation_choice(n_windows, n, gamma, generator):
    """Which TRs to replace ``[N, n]`` (bool): each with probability γ, at least one per window.

    Each TR is picked independently with probability γ (the paper's γ_tem); a window where none
    was picked is drawn again, so every augmented window differs from the original and the L_tem
    positive pair is never the window itself. For w = 2 this gives one TR replaced with
    probability 2(1−γ)/(2−γ) and both with γ/(2−γ): 0.8 / 0.2 at γ = 1/3 and 2/3 / 1/3 at
    γ = 1/2, so the paper's rows with γ_tem 1/3 and 1/2 still train differently.
    """
    if gamma <= 0:
        raise ValueError("temporal interpolation needs gamma_tem > 0 (set mu_tem to 0 to leave it out)")
    # "Draw again until at least one TR is picked", sampled directly (bounded work for any γ):
    # the number picked from the binomial (n, γ) given at least one, then which ones, uniformly.
    k = torch.arange(1, n + 1, dtype=torch.float64)
    log_weights = (torch.lgamma(torch.tensor(n + 1.0, dtype=torch.float64)) - torch.lgamma(k + 1)
                   - torch.lgamma(n - k + 1) + torch.special.xlogy(k, torch.tensor(gamma, dtype=torch.float64))
                   + torch.special.xlog1py(n - k, torch.tensor(-gamma, dtype=torch.float64)))
    cumulative = torch.cumsum(torch.softmax(log_weights, dim=0), dim=0)
    counts = 1 + torch.searchsorted(cumulative, rand((n_windows,), generator, dtype=torch.float64)).clamp(max=n - 1)
    order = torch.argsort(torch.argsort(rand((n_windows, n), generator), dim=1), dim=1)  # a random rank per TR
    return order < counts[:, None]


def temporal_interpolate(windows, gamma, generator):
    """Replace TRs of each window by the distance-weighted sum of its other TRs (eq. 1).

    TRs are chosen by :func:`interpolation_choice` (each with probability ``gamma``, at least one
    per window); TR ``i`` becomes ``Σ_{j≠i} (1 − |i−j|/n) · v_j``, computed from the original TRs.
    The weights are the paper's and are not renormalised (for n = 2 a replaced TR is half its
    neighbour).

    Parameters
    ----------
    windows : Tensor ``[N, n, V]``
        ``n`` ≥ 2.
    gamma : float
        γ_tem, the probability that a TR is replaced (paper: 1/3).
    generator : torch.Generator

    Returns
    -------
    Tensor
    """
    n_windows, n, _ = windows.shape
    if n < 2:
        raise ValueError("temporal interpolation needs windows of at least 2 TRs (data.window)")
    chosen = interpolation_choice(n_windows, n, gamma, generator)
    interpolated = torch.einsum("ij,bjv->biv", interpolation_weights(n).to(windows), windows)
    return torch.where(chosen.to(windows.device)[:, :, None], interpolated, windows)
