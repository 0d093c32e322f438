"""Dependent prior noise (NeuroCine eq. 7): one sampler for training and for sampling.

For the frames ``j`` of one clip, ``ε_j = √β · ε_s + √(1 − β) · ε_i^j``, with ``ε_s`` shared by
all frames of the clip and ``ε_i^j`` independent. Every element has unit variance; two frames of
one clip correlate by β; different clips are independent. β = 0 gives ordinary i.i.d. noise
(exactly ``torch.randn`` of the same generator). Draws are made on the generator's device and
moved, so a CPU generator gives the same noise for a CUDA run.
"""

import math

import torch
from diffusers.utils.torch_utils import randn_tensor


def dependent_noise(shape, beta, generator=None, device=None, dtype=torch.float32):
    """Draw noise for clips of latents ``[B, C, F, H, W]`` whose frames share a fraction β.

    Parameters
    ----------
    shape : tuple of int
        ``(B, C, F, H, W)``: frames on the third axis.
    beta : float
        Share of variance common to the frames of a clip, in [0, 1] (Table 1's best: 0.25).
    generator : torch.Generator or list of torch.Generator, optional
        One generator, or one per clip (so that a clip's noise does not depend on its batch).
    device : torch.device, optional
    dtype : torch.dtype

    Returns
    -------
    Tensor of ``shape``
    """
    if len(shape) != 5:
        raise ValueError(f"dependent noise is drawn for [B, C, F, H, W] latents, not {tuple(shape)}")
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must lie in [0, 1], not {beta}")
    if isinstance(generator, (list, tuple)):
        if len(generator) != shape[0]:
            raise ValueError(f"{len(generator)} generators for {shape[0]} clips")
        return torch.cat([dependent_noise((1, *shape[1:]), beta, g, device, dtype) for g in generator])
    independent = randn_tensor(tuple(shape), generator=generator, device=device, dtype=dtype)
    if beta == 0.0:
        return independent
    b, c, _, h, w = shape
    shared = randn_tensor((b, c, 1, h, w), generator=generator, device=device, dtype=dtype)
    return math.sqrt(beta) * shared + math.sqrt(1.0 - beta) * independent
