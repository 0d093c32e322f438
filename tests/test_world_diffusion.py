"""Pre-training the tiny Stable Diffusion on the simulated world (a few steps: it learns, it is saved)."""

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel

from neurocine_toolbox.models.pretrained import load_clip
from neurocine_toolbox.models.small_vae import small_vae
from neurocine_toolbox.tiny_models.diffusion import SD15_SCHEDULE, TINY_UNET, TINY_VAE
from neurocine_toolbox.tiny_models.world_diffusion import pretrain_world_diffusion


def test_world_pretraining_lowers_both_losses_and_scales_the_latents(capsys):
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**TINY_UNET)
    vae = small_vae(**TINY_VAE, sample_size=32)
    scheduler = DDPMScheduler.from_config({k: v for k, v in SD15_SCHEDULE.items() if k != "set_alpha_to_one"})
    before = {k: v.clone() for k, v in unet.state_dict().items()}
    losses = pretrain_world_diffusion(unet, vae, load_clip("tiny-clip"), scheduler, size=32, n_pairs=64,
                                      vae_steps=40, unet_steps=40, progress=True)
    assert len(losses["vae"]) == 40 and len(losses["unet"]) == 40
    assert sum(losses["vae"][-5:]) < sum(losses["vae"][:5])  # the autoencoder learns
    assert sum(losses["unet"][-10:]) < sum(losses["unet"][:10])  # so does the denoiser
    assert vae.config.scaling_factor != 0.18215  # set from this VAE's own latents
    assert any(not torch.equal(before[k], v) for k, v in unet.state_dict().items())
    bars = capsys.readouterr().err  # a progress bar over each model's steps
    assert "tiny-sd: VAE" in bars and "tiny-sd: UNet" in bars and "/40 " in bars


def test_the_vae_also_learns_blurred_frames_and_averages_of_frames():
    import numpy as np

    from neurocine_toolbox.tiny_models.world_clip import synthetic_pairs
    from neurocine_toolbox.tiny_models.world_diffusion import blurred_and_averaged

    frames, _ = synthetic_pairs(40, 32, 0)
    extra = blurred_and_averaged(frames, 10, seed=1)
    assert extra.shape == (20, 32, 32, 3) and extra.dtype == np.uint8

    def roughness(images):  # mean absolute difference between neighbouring pixels
        return np.abs(np.diff(images.astype(float), axis=2)).mean()

    assert roughness(extra[:10]) < 0.6 * roughness(frames)  # blurred
    # Averages of 2-8 frames: each shape at a fraction of its contrast.
    assert extra[10:].std(axis=(1, 2, 3)).mean() < 0.8 * frames.std(axis=(1, 2, 3)).mean()
