"""Tiny Stable-Diffusion-shaped model folders for the CPU demo and the tests.

They hold what a Stable Diffusion 1.5 folder holds for neurocine's decoder, at CPU size:
``unet/`` (a ``UNet2DConditionModel`` conditioned on 32-wide states, the width of ``tiny-clip``'s
text states) and ``scheduler/`` (Stable Diffusion 1.5's noise schedule), and

- ``tiny-sd``: also ``vae/``; both pre-trained text-to-image on captioned drawings of the
  simulated world at 32² (:mod:`neurocine_toolbox.simulate.world_diffusion`; about 5 minutes on
  two CPU cores, once per cache);
- ``tiny-sd-random``: random UNet weights and no VAE (``neurocine fit --stage vae`` trains one):
  for tests, where drawing well does not matter.
"""

import json
from pathlib import Path

import torch

#: Stable Diffusion 1.5's training noise schedule (its ``scheduler/scheduler_config.json``).
SD15_SCHEDULE = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
                 "beta_schedule": "scaled_linear", "prediction_type": "epsilon", "clip_sample": False,
                 "set_alpha_to_one": False, "steps_offset": 1}

#: The tiny UNet: three levels (16², 8², 4² latents for 64² frames), attention at the two
#: coarser ones (attention at 16² made a video training step 4.7× slower on a CPU: 2.3 s, not 0.49 s).
TINY_UNET = {"sample_size": 16, "in_channels": 4, "out_channels": 4, "layers_per_block": 1,
             "block_out_channels": (32, 64, 64),
             "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
             "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
             "cross_attention_dim": 32, "attention_head_dim": 8, "norm_num_groups": 8}


#: The pre-trained ``tiny-sd``: frame size, and its VAE (4× downsampling, no attention).
TINY_RESOLUTION = 32
TINY_VAE = {"block_out_channels": (16, 32, 32), "layers_per_block": 1, "latent_channels": 4,
            "mid_block_attention": False}


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


def build_tiny_sd(folder, seed=0, trained=True):
    """Write ``folder/unet`` and ``folder/scheduler`` (and, when ``trained``, ``folder/vae``).

    Parameters
    ----------
    folder : str or Path
    seed : int
    trained : bool
        Pre-train the UNet and a VAE on the simulated world (``tiny-sd``); else random
        weights and no VAE (``tiny-sd-random``).
    """
    from diffusers import DDPMScheduler, UNet2DConditionModel

    folder = Path(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**TINY_UNET)
    if trained:
        from ..simulate.world_diffusion import pretrain_world_diffusion
        from .pretrained import load_clip

        vae = small_vae(**TINY_VAE, sample_size=TINY_RESOLUTION)
        scheduler = DDPMScheduler.from_config({k: v for k, v in SD15_SCHEDULE.items() if k != "set_alpha_to_one"})
        pretrain_world_diffusion(unet, vae, load_clip("tiny-clip"), scheduler, size=TINY_RESOLUTION, seed=seed)
        vae.save_pretrained(folder / "vae")
    unet.save_pretrained(folder / "unet")
    # As Stable Diffusion 1.5's folder has it: each scheduler class takes the keys it knows.
    (folder / "scheduler").mkdir(parents=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(
        json.dumps({"_class_name": "PNDMScheduler", "skip_prk_steps": True, **SD15_SCHEDULE}, indent=2))


def build_tiny_sd_random(folder, seed=0):
    """``tiny-sd-random``: :func:`build_tiny_sd` without pre-training (and without a VAE)."""
    build_tiny_sd(folder, seed, trained=False)
