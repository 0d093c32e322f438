"""A Stable Diffusion for the simulated world: text-to-image pre-training on captioned drawings.

The real decoder starts from Stable Diffusion 1.5, which already draws what a caption says. A
tiny UNet trained from random weights on the few hundred clips of a small dataset did not learn
to (docs/benchmarks.md): its clips were no closer to their own truth than to others', even when
conditioned on the true captions. So ``tiny-sd`` is pre-trained the way SD was, at CPU size: a
small ``AutoencoderKL`` and the UNet learn, on freshly drawn frames of the simulated classes at
random places, sizes and backgrounds (:func:`~.world_clip.synthetic_pairs`), to draw the frame a
caption describes, conditioned on ``tiny-clip``'s text states. Like SD it never sees the
dataset's own movies. Its VAE also learns blurred drawings and averages of several (as SD's VAE
has seen blurry photographs): the low-level pathway's clips are such averages, and a VAE that had
seen only sharp drawings decoded them into dark noise (docs/decoder.md). ``tiny-sd-natural`` is
pre-trained the same way on captioned frames of the natural world (``world="natural"``,
:mod:`.world_natural`), conditioned on ``tiny-clip-natural``'s text states.
"""

import numpy as np
import torch
import torch.nn.functional as F

from ..models.small_vae import posterior_means
from ..utils.device_random import rand, randint, randn
from ..utils.progress import progress_bar
from .world_clip import synthetic_pairs


def _batches(n, batch_size, steps, generator, desc, progress):
    for _ in progress_bar(range(steps), desc=desc, unit="step", enabled=progress):
        yield randint(0, n, (batch_size,), generator)


def blurred_and_averaged(frames, n, seed):
    """``n`` blurred frames and ``n`` averages of 2–8 frames, uint8 like ``frames`` ``[N, H, W, 3]``.

    The blur is Gaussian with σ from 0.5 to 3 pixels (of a 32² frame, scaled with the size).
    """
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    scale = frames.shape[1] / 32
    blurred = np.stack([gaussian_filter(frames[i].astype(np.float32), (s, s, 0)) for i, s in
                        zip(rng.integers(0, len(frames), n), rng.uniform(0.5, 3.0, n) * scale)])
    averaged = np.stack([frames[rng.integers(0, len(frames), k)].astype(np.float32).mean(axis=0)
                         for k in rng.integers(2, 9, n)])
    return np.rint(np.concatenate([blurred, averaged])).astype(np.uint8)


def train_world_vae(vae, images, *, steps=1800, batch_size=16, learning_rate=2e-3, kl_weight=1e-6, seed=0,
                    progress=False, name="tiny-sd"):
    """Train an ``AutoencoderKL`` in place on images in [−1, 1]; ``progress`` shows a bar over the steps.

    ``name`` labels the bar (``"tiny-sd: VAE"``).

    One-cycle learning rate (peak ``learning_rate``).

    Returns
    -------
    list of float
        The loss of every step.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, learning_rate, total_steps=steps, pct_start=0.05)
    losses = []
    vae.train()
    for index in _batches(len(images), batch_size, steps, generator, f"{name}: VAE", progress):
        batch = images[index]
        posterior = vae.encode(batch).latent_dist
        loss = F.mse_loss(vae.decode(posterior.sample(generator=generator)).sample, batch) \
            + kl_weight * posterior.kl().mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        schedule.step()
        losses.append(loss.item())
    vae.eval()
    return losses


def train_world_unet(unet, latents, states, scheduler, *, steps=2000, batch_size=32, learning_rate=1e-3,
                     condition_dropout=0.1, seed=0, progress=False, name="tiny-sd"):
    """Train a ``UNet2DConditionModel`` in place to denoise ``latents`` given text ``states``.

    ``progress`` shows a bar (``name: UNet``) over the steps.

    Returns
    -------
    list of float
        The loss of every step.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, learning_rate, total_steps=steps, pct_start=0.05)
    losses = []
    unet.train()
    for index in _batches(len(latents), batch_size, steps, generator, f"{name}: UNet", progress):
        clean, condition = latents[index], states[index]
        dropped = rand((len(index),), generator) < condition_dropout
        condition = torch.where(dropped[:, None, None], torch.zeros_like(condition), condition)
        noise = randn(clean.shape, generator)
        timesteps = randint(0, scheduler.config.num_train_timesteps, (len(index),), generator)
        loss = F.mse_loss(unet(scheduler.add_noise(clean, noise, timesteps), timesteps, condition).sample, noise)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        schedule.step()
        losses.append(loss.item())
    unet.eval()
    return losses


def pretrain_world_diffusion(unet, vae, clip, scheduler, *, size=32, n_pairs=6000, vae_steps=1800, unet_steps=2000,
                             seed=0, progress=False, world="shapes", name="tiny-sd"):
    """Pre-train ``vae`` and ``unet`` on captioned drawings of the simulated world, in place.

    Parameters
    ----------
    unet : diffusers.UNet2DConditionModel
        Cross-attention as wide as the CLIP's text states.
    vae : diffusers.AutoencoderKL
    clip : neurocine_toolbox.models.pretrained.ClipComponents
        Gives the text states (``tiny-clip``; ``tiny-clip-natural`` for the natural world).
    scheduler : diffusers.DDPMScheduler
    size : int
        Frame size of the drawings (the decoder's resolution).
    n_pairs, vae_steps, unet_steps, seed : int
    progress : bool
        Show progress bars over the VAE's and the UNet's steps.
    world : str
        ``"shapes"`` or ``"natural"``: what the captioned frames show
        (:func:`~.world_clip.synthetic_pairs`).
    name : str
        For the progress bars.

    Returns
    -------
    dict
        ``{"vae": losses, "unet": losses}``
    """
    frames, captions = synthetic_pairs(n_pairs, size, seed + 1, world=world)
    images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    with torch.no_grad():
        ids = clip.tokenizer(captions, padding="max_length", max_length=77, truncation=True,
                             return_tensors="pt")["input_ids"]
        states = torch.cat([clip.model.text_model(input_ids=ids[i:i + 512]).last_hidden_state
                            for i in range(0, len(ids), 512)])
    low_level = blurred_and_averaged(frames, n_pairs // 3, seed + 2)
    vae_images = torch.cat([images, torch.from_numpy(low_level).permute(0, 3, 1, 2).float() / 127.5 - 1.0])
    torch.manual_seed(seed)
    vae_losses = train_world_vae(vae, vae_images, steps=vae_steps, seed=seed, progress=progress, name=name)
    means = posterior_means(vae, images)
    vae.register_to_config(scaling_factor=1.0 / float(means.std()))  # unit-variance latents
    latents = means * vae.config.scaling_factor
    unet_losses = train_world_unet(unet, latents, states, scheduler, steps=unet_steps, seed=seed,
                                   progress=progress, name=name)
    return {"vae": vae_losses, "unet": unet_losses}
