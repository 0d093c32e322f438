"""``tiny-sd`` and ``tiny-sd-random``: Stable-Diffusion-shaped folders for the CPU demo and the tests.

They hold what a Stable Diffusion 1.5 folder holds for neurocine's decoder, at CPU size:
``unet/`` (a ``UNet2DConditionModel`` conditioned on 32-wide states, the width of ``tiny-clip``'s
text states) and ``scheduler/`` (Stable Diffusion 1.5's noise schedule), and

- ``tiny-sd``: also ``vae/``; both pre-trained text-to-image on captioned drawings of the
  simulated world at 32² (:mod:`.world_diffusion`; about 3 minutes on two CPU cores, once per
  cache);
- ``tiny-sd-natural``: as ``tiny-sd``, pre-trained on captioned frames of the natural world
  (shapes in front of photographs, :mod:`.world_natural`) and conditioned on
  ``tiny-clip-natural``'s text states;
- ``tiny-sd-random``: random UNet weights and no VAE (``neurocine fit --stage vae`` trains one):
  for tests, where drawing well does not matter.
"""

import json
from pathlib import Path

import torch

from ..models.pretrained import build_tiny, load_clip
from ..models.small_vae import small_vae
from . import builtin_model
from .world_diffusion import pretrain_world_diffusion
from .world_natural import check_world

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
#: The CLIP whose text states condition each world's pre-trained UNet (the store's text states
#: must come from the same one: the ``tiny`` and ``tiny-natural`` presets pair them).
TEXT_ENCODERS = {"shapes": "tiny-clip", "natural": "tiny-clip-natural"}
#: Pre-training steps of each world's VAE and UNet. ``tiny-sd`` (the demo's) trains fewer since
#: version 6, so that the demo fits in 10 minutes on two cores (docs/benchmarks.md, "The demo");
#: ``tiny-sd-natural`` keeps the steps its benchmark results were measured with.
PRETRAIN_STEPS = {"shapes": {"vae_steps": 800, "unet_steps": 500},
                  "natural": {"vae_steps": 1800, "unet_steps": 2000}}


@builtin_model(version=6, duration="~3 min on 2 CPU cores",
               what="pre-training a VAE and UNet on drawings of the simulated world")
def build_tiny_sd(folder, seed=0, trained=True, progress=False, world="shapes", name="tiny-sd"):
    """Write ``folder/unet`` and ``folder/scheduler`` (and, when ``trained``, ``folder/vae``).

    Parameters
    ----------
    folder : str or Path
    seed : int
    trained : bool
        Pre-train the UNet and a VAE on the simulated world (``tiny-sd``); else random
        weights and no VAE (``tiny-sd-random``).
    progress : bool
        Show progress bars over the pre-training steps (and over ``tiny-clip``'s training, when
        it must be built first: its text states condition the UNet).
    world : str
        ``"shapes"`` (``tiny-sd``, conditioned on ``tiny-clip``) or ``"natural"``
        (``tiny-sd-natural``, pre-trained on captioned natural frames and conditioned on
        ``tiny-clip-natural``).
    name : str
        For the progress bars.
    """
    from diffusers import DDPMScheduler, UNet2DConditionModel

    folder = Path(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**TINY_UNET)
    if trained:
        vae = small_vae(**TINY_VAE, sample_size=TINY_RESOLUTION)
        scheduler = DDPMScheduler.from_config({k: v for k, v in SD15_SCHEDULE.items() if k != "set_alpha_to_one"})
        # Built (if need be) after the VAE's initialisation, which must draw the same random
        # numbers whether or not tiny-clip was cached.
        clip = TEXT_ENCODERS[check_world(world)]
        build_tiny(clip, progress=progress)
        pretrain_world_diffusion(unet, vae, load_clip(clip), scheduler, size=TINY_RESOLUTION, seed=seed,
                                 progress=progress, world=world, name=name, **PRETRAIN_STEPS[world])
        vae.save_pretrained(folder / "vae")
    unet.save_pretrained(folder / "unet")
    # As Stable Diffusion 1.5's folder has it: each scheduler class takes the keys it knows.
    (folder / "scheduler").mkdir(parents=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(
        json.dumps({"_class_name": "PNDMScheduler", "skip_prk_steps": True, **SD15_SCHEDULE}, indent=2))


@builtin_model(version=1, duration="~5 min on 2 CPU cores",
               what="pre-training a VAE and UNet on frames of the natural world (shapes in front of photographs)")
def build_tiny_sd_natural(folder, seed=0, progress=False):
    """``tiny-sd-natural``: :func:`build_tiny_sd` pre-trained on captioned natural frames at 32².

    Its UNet is conditioned on ``tiny-clip-natural``'s text states (built first if need be).
    """
    build_tiny_sd(folder, seed, trained=True, progress=progress, world="natural", name="tiny-sd-natural")


@builtin_model(version=4, duration="a few seconds", what="random UNet weights, no VAE")
def build_tiny_sd_random(folder, seed=0, progress=False):
    """``tiny-sd-random``: :func:`build_tiny_sd` without pre-training (and without a VAE)."""
    build_tiny_sd(folder, seed, trained=False, progress=progress)
