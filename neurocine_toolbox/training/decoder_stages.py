"""Phase 2 stages: a small VAE (tiny preset only), then the video UNet conditioned on text, then on fMRI.

Each stage trains with :func:`training.loop.run_training` (the loop of phase 1) and writes its
``<stage_dir>/model/`` atomically:

- ``vae``: an ``AutoencoderKL`` trained on the training frames, when no pretrained VAE is
  configured; its ``scaling_factor`` is set so that cached latents have unit variance;
- ``decoder-text`` (stage A): Stable Diffusion's UNet inflated to video (:class:`VideoUNet`),
  fine-tuned on the training clips with the CLIP text states of their captions (the store's;
  they are SD 1.5's text-encoder output, so the frozen text encoder is never run);
- ``decoder-fmri`` (stage B): the fMRI encoder replaces the text encoder; the selected UNet
  modules and the encoder are fine-tuned together. Its ``model/`` is a whole
  :class:`~neurocine_toolbox.pipelines.NeuroCinePipeline`.

Both UNet stages noise latents with dependent prior noise (eq. 7). The latents of the training
clips are computed once by the frozen VAE (its posterior mean) and cached in the run folder.
"""

import json
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import Dataset

from ..data.clips import ClipDataset, clip_frame_indices, frames_to_tensor, mean_training_window
from ..data.store import open_store
from ..errors import NeurocineError
from ..models.diffusion_components import load_noise_scheduler, load_unet_2d, load_vae
from ..models.fmri_encoder import FMRIEncoder
from ..models.prior_noise import dependent_noise
from ..models.small_vae import posterior_means, small_vae
from ..models.video_unet import VideoUNet, select_parameters
from ..utils.atomic import atomic_path
from ..utils.processes import process_state
from ..utils.device_random import rand, randint
from ..utils.progress import progress_bar
from ..utils.seeds import step_seed
from .encoder_stages import save_model
from .loop import StageSettings, run_training
from .losses import diffusion_target, vae_loss

log = logging.getLogger("neurocine")


def _device():
    return process_state().device


# --- stage vae ---------------------------------------------------------------------------------


class FrameImages(Dataset):
    """Every stored training frame, resized, in memory: float ``[3, R, R]`` in [−1, 1].

    The frames of the validation movies a training store marks are left out: they are held out
    of all training.
    """

    def __init__(self, path, resolution, chunk=64):
        with open_store(path) as store:
            data = store.distinct_frames
            keep = np.setdiff1d(np.arange(store.n_frame_rows), store.frame_rows[store.validation])
            parts = [frames_to_tensor(data[keep[i:i + chunk]], resolution).flatten(0, 1).half()
                     for i in range(0, len(keep), chunk)]
        self.images = torch.cat(parts)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index].float()


def build_vae(section, resolution):
    """A small ``AutoencoderKL`` from the config's ``vae`` section."""
    factor = 2 ** (len(section["block_out_channels"]) - 1)
    if resolution % factor:
        raise NeurocineError(f"decoder.resolution {resolution} is not a multiple of the VAE's factor {factor}")
    return small_vae(section["block_out_channels"], section["layers_per_block"], section["latent_channels"],
                     section["mid_block_attention"], resolution)


class VAEReconstruction(nn.Module):
    """Encode, sample the posterior, decode: the VAE's training pass as one ``forward``.

    Several processes wrap the trained module in DDP, which synchronises gradients only for
    what runs through ``forward`` (calling ``vae.encode`` on the wrapper would bypass it).
    """

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, images, generator=None):
        posterior = self.vae.encode(images).latent_dist
        reconstruction = self.vae.decode(posterior.sample(generator=generator)).sample
        return reconstruction, posterior.kl()


def vae_step(kl_weight):
    """Reconstruct through a sample of the posterior drawn with the step's generator; MSE + KL."""

    def step(model, images, generator):
        reconstruction, kl = model(images, generator=generator)
        return vae_loss(reconstruction, images, kl, kl_weight)

    return step


def vae_stage(stage_dir, train_store, config, *, resume=False, progress=True):
    """Train the small VAE of the tiny preset on the training frames.

    Returns
    -------
    Path
        The ``AutoencoderKL`` folder.
    """
    section = config["vae"]
    resolution = int(config["decoder"]["resolution"])
    dataset = FrameImages(train_store, resolution)
    torch.manual_seed(step_seed(config["seed"], 0, 2))
    model = VAEReconstruction(build_vae(section, resolution))
    model, _ = run_training(stage_dir=stage_dir, model=model, parameters=list(model.parameters()), dataset=dataset,
                            step_fn=vae_step(float(section["kl_weight"])), settings=StageSettings.from_config(section),
                            training=config["training"], seed=config["seed"], resume=resume, progress=progress)
    vae = model.vae.eval()
    scale = 1.0 / float(posterior_means(vae, dataset.images.float()).std())
    vae.register_to_config(scaling_factor=scale)
    log.info("vae: latents scaled by %.4f to unit variance", scale)
    return save_model(vae, Path(stage_dir) / "model")


# --- latents of the training clips -------------------------------------------------------------


@torch.no_grad()
def encode_clips(vae, path, frames, resolution, batch=32, progress=True):
    """Posterior-mean latents of every stored clip, scaled: ``[n_frame_rows, C, F, h, w]`` float16."""
    device = next(vae.parameters()).device
    with open_store(path) as store:
        data = store.distinct_frames
        index = clip_frame_indices(store.frames_per_tr, frames)
        n = store.n_frame_rows
        per_call = max(1, batch // frames)
        out = []
        bar = progress_bar(total=n, desc="latents", unit="clip", enabled=progress)
        for start in range(0, n, per_call):
            clips = frames_to_tensor(data[start:start + per_call][:, index], resolution)  # [b, F, 3, R, R]
            flat = clips.flatten(0, 1).to(device, vae.dtype)
            latents = vae.encode(flat).latent_dist.mean * vae.config.scaling_factor
            latents = latents.reshape(len(clips), frames, *latents.shape[1:]).transpose(1, 2)
            out.append(latents.half().cpu().contiguous())
            bar.update(len(clips))
        bar.close()
    return torch.cat(out).contiguous()


def cached_latents(root, vae, vae_name, train_store, config, progress=True):
    """The training clips' latents, computed once per run folder and VAE (main process), then read."""
    decoder = config["decoder"]
    key = {"vae": str(vae_name), "frames": int(decoder["frames"]), "resolution": int(decoder["resolution"]),
           "store": str(Path(train_store).resolve()), "store_mtime": Path(train_store).stat().st_mtime_ns}
    path = Path(root) / "latents-train.safetensors"
    state = process_state()
    if state.is_main_process:
        fresh = False
        if path.is_file():
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:
                fresh = json.loads((f.metadata() or {}).get("key", "{}")) == key
        if not fresh:
            latents = encode_clips(vae, train_store, key["frames"], key["resolution"],
                                   int(decoder["latent_batch_size"]), progress)
            with atomic_path(path) as tmp:
                save_file({"latents": latents}, str(tmp), metadata={"key": json.dumps(key)})
    state.wait_for_everyone()
    return load_file(str(path))["latents"]


# --- stages A and B ----------------------------------------------------------------------------


def diffusion_step(scheduler, beta, condition):
    """One denoising-loss step on cached latents; ``condition(model, batch, generator)`` gives the UNet's output."""
    timesteps_total = scheduler.config.num_train_timesteps

    def step(model, batch, generator):
        latents = batch["latents"].float()
        n = latents.shape[0]
        timesteps = randint(0, timesteps_total, (n,), generator, latents.device)
        noise = dependent_noise(latents.shape, beta, generator, device=latents.device)
        noisy = scheduler.add_noise(latents, noise, timesteps)
        prediction = condition(model, batch, noisy, timesteps, generator)
        target = diffusion_target(scheduler.config.prediction_type, latents, noise, scheduler.alphas_cumprod, timesteps)
        loss = F.mse_loss(prediction.float(), target.float())
        return loss, {"mse": loss.item()}

    return step


def _text_condition(model, batch, noisy, timesteps, generator):
    return model(noisy, timesteps, batch["text_states"]).sample


class FMRIConditionedUNet(nn.Module):
    """The video UNet with the fMRI encoder in place of the text encoder (one module for accelerate)."""

    def __init__(self, unet, fmri_encoder):
        super().__init__()
        self.unet = unet
        self.fmri_encoder = fmri_encoder

    def forward(self, noisy, timesteps, fmri):
        return self.unet(noisy, timesteps, self.fmri_encoder(fmri).text_states).sample

    def enable_gradient_checkpointing(self):
        self.unet.enable_gradient_checkpointing()
        self.fmri_encoder.enable_gradient_checkpointing()


def _fmri_condition(negative, dropout):
    """Condition on the windows; a share ``dropout`` of them replaced by the negative (mean) window."""

    def condition(model, batch, noisy, timesteps, generator):
        fmri = batch["fmri"]
        if dropout > 0:
            drop = rand((len(fmri),), generator, fmri.device) < dropout
            fmri = torch.where(drop[:, None, None], negative.to(fmri), fmri)
        return model(noisy, timesteps, fmri)

    return condition


def _perception_reconstructor(root):
    """The run's fitted perception reconstructor (stage ``perception``: ridge or retrieval), or None."""
    from ..models.perception_reconstructor import PerceptionReconstructor
    from ..models.retrieval_reconstructor import RetrievalReconstructor

    folder = Path(root) / "perception" / "model"
    if not (folder / "config.json").is_file():
        return None
    classes = {c.__name__: c for c in (PerceptionReconstructor, RetrievalReconstructor)}
    kind = json.loads((folder / "config.json").read_text()).get("_class_name")
    if kind not in classes:
        raise NeurocineError(f"the perception stage holds a {kind}, not one of {', '.join(classes)}; fit it again",
                             folder)
    return classes[kind].from_pretrained(folder)


def decoder_vae(config, root):
    """The frozen VAE of the decoder stages and the name it is recorded under."""
    from ..models.diffusion_components import vae_location

    found = vae_location(config)
    if found is not None:
        name, subfolder = found
        return load_vae(name, subfolder), f"{name}/{subfolder}" if subfolder else name
    trained = Path(root) / "vae" / "model"
    if not (trained / "config.json").is_file():
        raise NeurocineError("no pretrained VAE is configured (decoder.vae, or decoder.pretrained's vae/) and "
                             "the VAE stage has not run: run `neurocine fit --stage vae` first", trained)
    return load_vae(str(trained), setting="decoder.vae"), str(trained)


def _check_text_width(store_path, unet):
    with open_store(store_path) as store:
        store.require_embeddings()
        width = store.clip_text_states.shape[-1]
    expected = unet.config.unet_config["cross_attention_dim"]
    if width != expected:
        raise NeurocineError(f"its CLIP text states have {width} dimensions but the UNet's cross-attention takes "
                             f"{expected}: embed with the CLIP model the UNet was trained with", store_path)


def _video_unet(config):
    decoder = config["decoder"]
    unet2d = load_unet_2d(decoder["pretrained"])
    return VideoUNet.from_unet_2d(unet2d, temporal_conv=bool(decoder["temporal_conv"]),
                                  temporal_attention=bool(decoder["temporal_attention"]),
                                  sparse_causal=bool(decoder["sparse_causal"]))


def _select(model, patterns, stage):
    try:
        return [p for _, p in select_parameters(model, list(patterns))]
    except ValueError as err:
        raise NeurocineError(f"{stage}.trainable: {err}")


def decoder_text_stage(stage_dir, root, train_store, config, *, resume=False, progress=True):
    """Stage A: the inflated UNet fine-tuned on the training clips and their captions' text states.

    Returns
    -------
    Path
        The :class:`VideoUNet` folder.
    """
    section = config["decoder_text"]
    torch.manual_seed(step_seed(config["seed"], 0, 2))
    unet = _video_unet(config)
    _check_text_width(train_store, unet)
    vae, vae_name = decoder_vae(config, root)
    latents = cached_latents(root, vae.to(_device()).eval(), vae_name, train_store, config, progress)
    del vae
    dataset = ClipDataset(train_store, latents, config["data"]["window"], config["data"]["lag"], with_text=True)
    scheduler = load_noise_scheduler(config["decoder"]["pretrained"])
    parameters = _select(unet, section["trainable"], "decoder_text")
    unet, _ = run_training(stage_dir=stage_dir, model=unet, parameters=parameters, dataset=dataset,
                           step_fn=diffusion_step(scheduler, float(config["decoder"]["beta"]), _text_condition),
                           settings=StageSettings.from_config(section), training=config["training"],
                           seed=config["seed"], resume=resume, progress=progress)
    unet.requires_grad_(True)
    return save_model(unet, Path(stage_dir) / "model")


def decoder_fmri_stage(stage_dir, root, train_store, config, *, resume=False, progress=True, unet_from=None,
                       train_subjects=None):
    """Stage B: the fMRI encoder replaces the text encoder; both fine-tuned; the whole pipeline saved.

    ``unet_from``: a UNet folder to start from instead of stage A's (a fine-tune starts from the
    stage B UNet of the run it fine-tunes); ``train_subjects``: train on these subjects' windows only.

    Returns
    -------
    Path
        The :class:`~neurocine_toolbox.pipelines.NeuroCinePipeline` folder.
    """
    from ..pipelines import NeuroCinePipeline

    section = config["decoder_fmri"]
    root = Path(root)
    text_unet, encoder_dir = root / "decoder-text" / "model", root / "encoder" / "model"
    for folder, stage in ((text_unet, "decoder-text"), (encoder_dir, "encoder")):
        if not (folder / "config.json").is_file():
            raise NeurocineError(f"stage decoder-fmri starts from the {stage} stage's model: run "
                                 f"`neurocine fit --stage {stage}` first", folder)
    unet = VideoUNet.from_pretrained(unet_from or text_unet)
    encoder = FMRIEncoder.from_pretrained(encoder_dir)
    cross = unet.config.unet_config["cross_attention_dim"]
    if encoder.config.out_dim != cross:
        raise NeurocineError(f"the fMRI encoder gives states {encoder.config.out_dim} wide but the UNet's "
                             f"cross-attention takes {cross} (set encoder.out_dim)", encoder_dir)
    vae, vae_name = decoder_vae(config, root)
    latents = cached_latents(root, vae.to(_device()).eval(), vae_name, train_store, config, progress)
    window, lag = config["data"]["window"], config["data"]["lag"]
    negative = torch.from_numpy(mean_training_window(train_store, window, lag))
    dataset = ClipDataset(train_store, latents, window, lag, with_text=False, subjects=train_subjects)
    model = FMRIConditionedUNet(unet, encoder)
    parameters = _select(unet, section["trainable"], "decoder_fmri")
    encoder.requires_grad_(bool(section["train_encoder"]))
    if section["train_encoder"]:
        parameters += list(encoder.parameters())
    scheduler = load_noise_scheduler(config["decoder"]["pretrained"])
    condition = _fmri_condition(negative, float(section["condition_dropout"]))
    model, _ = run_training(stage_dir=stage_dir, model=model, parameters=parameters, dataset=dataset,
                            step_fn=diffusion_step(scheduler, float(config["decoder"]["beta"]), condition),
                            settings=StageSettings.from_config(section), training=config["training"],
                            seed=config["seed"], resume=resume, progress=progress)
    model.requires_grad_(True)
    pipeline = NeuroCinePipeline(vae=vae.cpu(), unet=model.unet, fmri_encoder=model.fmri_encoder,
                                 scheduler=load_noise_scheduler(config["decoder"]["pretrained"], "ddim"),
                                 perception_reconstructor=_perception_reconstructor(root))
    return save_model(pipeline, Path(stage_dir) / "model")
