"""A tiny Stable-Diffusion-shaped model folder (``tiny-sd``) for the CPU demo and the tests.

It holds what a Stable Diffusion 1.5 folder holds for neurocine's decoder, at CPU size and with
random weights: ``unet/`` (a ``UNet2DConditionModel`` conditioned on 32-wide states, the width of
``tiny-clip``'s text states) and ``scheduler/`` (Stable Diffusion 1.5's noise schedule). It has no
``vae/``: ``neurocine fit --stage vae`` trains a small ``AutoencoderKL`` on the training frames.
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


def build_tiny_sd(folder, seed=0):
    """Write ``folder/unet`` (seeded random weights) and ``folder/scheduler``.

    Parameters
    ----------
    folder : str or Path
    seed : int
    """
    from diffusers import UNet2DConditionModel

    folder = Path(folder)
    torch.manual_seed(seed)
    UNet2DConditionModel(**TINY_UNET).save_pretrained(folder / "unet")
    # As Stable Diffusion 1.5's folder has it: each scheduler class takes the keys it knows.
    (folder / "scheduler").mkdir(parents=True)
    (folder / "scheduler" / "scheduler_config.json").write_text(
        json.dumps({"_class_name": "PNDMScheduler", "skip_prk_steps": True, **SD15_SCHEDULE}, indent=2))
