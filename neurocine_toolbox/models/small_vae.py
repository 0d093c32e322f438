"""A small ``AutoencoderKL`` and the posterior means of images under a VAE.

Used by the ``vae`` training stage (the tiny preset without a pretrained VAE) and by the
pre-training of the tiny Stable Diffusion (:mod:`neurocine_toolbox.tiny_models.diffusion`).
"""

import torch


def small_vae(block_out_channels, layers_per_block, latent_channels, mid_block_attention, sample_size):
    """A small ``AutoencoderKL`` (one down/up block per width in ``block_out_channels``)."""
    from diffusers import AutoencoderKL

    channels = tuple(int(c) for c in block_out_channels)
    return AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=channels,
                         down_block_types=("DownEncoderBlock2D",) * len(channels),
                         up_block_types=("UpDecoderBlock2D",) * len(channels),
                         layers_per_block=int(layers_per_block), latent_channels=int(latent_channels),
                         mid_block_add_attention=bool(mid_block_attention),
                         norm_num_groups=min(32, channels[0]), sample_size=int(sample_size))


@torch.no_grad()
def posterior_means(vae, images, batch=256):
    """The VAE's posterior means of ``images`` (float, in [−1, 1]), encoded in batches, on the CPU."""
    device = next(vae.parameters()).device
    return torch.cat([vae.encode(images[i:i + batch].to(device, vae.dtype)).latent_dist.mean.float().cpu()
                      for i in range(0, len(images), batch)])
