"""Losses of both encoder stages, as small pure functions of tensors.

- :func:`contrastive_ce`: the batch contrastive cross-entropy CE[a, b] of NeuroCine's eqs. 2–3
  (CLIP's symmetric InfoNCE: row i of ``a`` should pick row i of ``b`` among the batch, and back).
- :func:`masked_mse`: MAE's reconstruction loss on hidden patches only.
- :func:`dc_mae_loss`: DC-MAE (Sun et al. 2023b) = reconstruction + self-contrast between each
  reconstruction and the input + cross-contrast between the reconstructions of two masks.
- :func:`encoder_contrastive_loss`: NeuroCine's eq. 3.
"""

import torch
import torch.nn.functional as F


def contrastive_ce(a, b, temperature):
    """Symmetric batch contrastive cross-entropy between paired rows of ``a`` and ``b``.

    Parameters
    ----------
    a, b : Tensor ``[N, ...]``
        Paired samples (flattened after the first axis); they are L2-normalised here.
    temperature : float
        Softmax temperature τ of the cosine-similarity logits.

    Returns
    -------
    Tensor
        ``(CE(S, I) + CE(Sᵀ, I)) / 2`` with ``S = â b̂ᵀ / τ``.
    """
    a = F.normalize(a.flatten(1).float(), dim=-1)
    b = F.normalize(b.flatten(1).float(), dim=-1)
    logits = a @ b.T / temperature
    target = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def masked_mse(reconstruction, target, mask, patch_size):
    """Mean squared error over the hidden patches only.

    Parameters
    ----------
    reconstruction, target : Tensor ``[N, n_voxels]``
    mask : Tensor ``[N, n_patches]``
        1 where a patch was hidden.
    patch_size : int
    """
    per_patch = ((reconstruction - target) ** 2).unflatten(1, (-1, patch_size)).mean(-1)
    return (per_patch * mask).sum() / mask.sum().clamp(min=1)


def dc_mae_loss(target, first, second, patch_size, temperature, weights=(1.0, 1.0, 1.0)):
    """DC-MAE loss of two masked reconstructions of the same batch.

    Parameters
    ----------
    target : Tensor ``[N, n_voxels]``
    first, second : MaskedReconstruction
        The autoencoder's outputs under two independent masks.
    patch_size : int
    temperature : float
        InfoNCE temperature (paper: 0.1).
    weights : (float, float, float)
        Weights of reconstruction, self-contrast and cross-contrast.

    Returns
    -------
    total : Tensor
    parts : dict of float
        ``reconstruction``, ``self_contrast``, ``cross_contrast`` (detached values).
    """
    rec = (masked_mse(first.reconstruction, target, first.mask, patch_size)
           + masked_mse(second.reconstruction, target, second.mask, patch_size)) / 2
    self_c = (contrastive_ce(first.reconstruction, target, temperature)
              + contrastive_ce(second.reconstruction, target, temperature)) / 2
    cross = contrastive_ce(first.reconstruction, second.reconstruction, temperature)
    total = weights[0] * rec + weights[1] * self_c + weights[2] * cross
    parts = {"reconstruction": rec.item(), "self_contrast": self_c.item(), "cross_contrast": cross.item()}
    return total, parts


def encoder_contrastive_loss(embeds, embeds_spa, embeds_tem, text, image, settings):
    """NeuroCine's eq. 3.

    ``L = μ_spa·CE[E(v), E(v_spa)] + μ_tem·CE[E(v), E(v_tem)] + μ_text·CE[E(v), e_txt]
    + μ_image·CE[E(v), e_img]``; a term whose weight is 0 is not computed (its input may be None).

    Parameters
    ----------
    embeds, embeds_spa, embeds_tem : Tensor ``[N, d]``
        Pooled encoder outputs of the windows, spatially masked and temporally interpolated.
    text, image : Tensor ``[N, d]``
        CLIP text and image embeddings paired with each window.
    settings : dict
        ``mu_spa``, ``mu_tem``, ``mu_text``, ``mu_image``, ``temperature``.

    Returns
    -------
    total : Tensor
    parts : dict of float
    """
    tau = settings["temperature"]
    terms = {"spatial": (settings["mu_spa"], embeds_spa), "temporal": (settings["mu_tem"], embeds_tem),
             "text": (settings["mu_text"], text), "image": (settings["mu_image"], image)}
    total = embeds.new_zeros(())
    parts = {}
    for name, (weight, other) in terms.items():
        if weight:
            loss = contrastive_ce(embeds, other, tau)
            total = total + weight * loss
            parts[name] = loss.item()
    return total, parts


def diffusion_target(prediction_type, latents, noise, alphas_cumprod, timesteps):
    """What the UNet learns to predict: the noise (``epsilon``) or the velocity (``v_prediction``).

    Parameters
    ----------
    prediction_type : {"epsilon", "v_prediction"}
        The scheduler's (Stable Diffusion 1.5: epsilon).
    latents, noise : Tensor ``[B, C, F, h, w]``
    alphas_cumprod : Tensor ``[T]``
    timesteps : LongTensor ``[B]``

    Returns
    -------
    Tensor like ``latents``
    """
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        alpha = alphas_cumprod.to(latents.device)[timesteps].to(latents.dtype)
        shape = (-1,) + (1,) * (latents.ndim - 1)
        return alpha.sqrt().view(shape) * noise - (1 - alpha).sqrt().view(shape) * latents
    raise ValueError(f"unknown prediction type '{prediction_type}'")


def vae_loss(reconstruction, target, kl, kl_weight):
    """Pixel MSE plus a small KL term (the autoencoder stays close to a Gaussian latent).

    Returns
    -------
    loss : Tensor
    parts : dict of float
    """
    mse = F.mse_loss(reconstruction.float(), target.float())
    kl = kl.float().mean()
    return mse + kl_weight * kl, {"mse": mse.item(), "kl": kl.item()}
