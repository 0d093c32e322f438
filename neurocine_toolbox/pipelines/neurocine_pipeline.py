"""``NeuroCinePipeline``: a diffusers pipeline from fMRI windows to video clips.

Steps, named as in the method: :meth:`~NeuroCinePipeline.check_inputs`,
:meth:`~NeuroCinePipeline.encode_fmri` (the fMRI encoder's states replace the text encoder's;
classifier-free guidance against a negative fMRI window), :meth:`~NeuroCinePipeline.prepare_latents`
(dependent prior noise, eq. 7), the denoising loop, :meth:`~NeuroCinePipeline.decode_latents`.
With a perception reconstructor (the low-level pathway) and ``strength`` below 1, the loop starts
part-way from the latents it reconstructs from the fMRI instead of from pure noise
(:meth:`~NeuroCinePipeline.start_from`, SDEdit).
"""

from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput
from einops import rearrange

from ..models.fmri_encoder import FMRIEncoder  # noqa: F401  (diffusers loads only imported modules' classes)
from ..models.perception_reconstructor import PerceptionReconstructor  # noqa: F401
from ..models.retrieval_reconstructor import RetrievalReconstructor  # noqa: F401
from ..models.prior_noise import dependent_noise
from ..models.video_unet import VideoUNet  # noqa: F401


@dataclass
class NeuroCinePipelineOutput(BaseOutput):
    """``frames``: uint8 ``[N, F, H, W, 3]`` (``output_type="np"``) or float ``[N, F, 3, H, W]`` in [0, 1] (``"pt"``)."""

    frames: object = None


class NeuroCinePipeline(DiffusionPipeline):
    """Decode video clips from fMRI windows.

    Parameters
    ----------
    vae : diffusers.AutoencoderKL
    unet : neurocine_toolbox.models.video_unet.VideoUNet
    scheduler : a diffusers scheduler (DDIM for the paper's sampling)
    fmri_encoder : neurocine_toolbox.models.fmri_encoder.FMRIEncoder
    perception_reconstructor : PerceptionReconstructor or RetrievalReconstructor, optional
        The low-level pathway: fMRI window → the latents of a clip (the ridge's blurry one, or
        the training clips the fMRI most resembles), where sampling starts when ``strength`` is
        below 1.
    """

    model_cpu_offload_seq = "fmri_encoder->perception_reconstructor->unet->vae"
    _optional_components = ["perception_reconstructor"]

    def __init__(self, vae, unet, scheduler, fmri_encoder, perception_reconstructor=None):
        super().__init__()
        self.register_modules(vae=vae, unet=unet, scheduler=scheduler, fmri_encoder=fmri_encoder,
                              perception_reconstructor=perception_reconstructor)

    @property
    def vae_scale_factor(self):
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def check_inputs(self, fmri_windows, negative_fmri, num_frames, height, width):
        """Return the windows (and negative) as float tensors ``[N, w, V]``, or raise ValueError."""
        windows = torch.as_tensor(np.asarray(fmri_windows) if not torch.is_tensor(fmri_windows) else fmri_windows)
        windows = self.fmri_encoder.check_input(windows.float())
        if not torch.isfinite(windows).all():
            raise ValueError("the fMRI windows contain NaN or infinite values")
        if negative_fmri is None:
            negative = torch.zeros_like(windows[:1])
        else:
            negative = torch.as_tensor(np.asarray(negative_fmri) if not torch.is_tensor(negative_fmri) else negative_fmri)
            negative = self.fmri_encoder.check_input(negative.float().reshape(-1, *windows.shape[1:]))
        if num_frames < 1 or num_frames > self.unet.config.max_frames:
            raise ValueError(f"num_frames must be 1 … {self.unet.config.max_frames}, not {num_frames}")
        factor = self.vae_scale_factor
        if height % factor or width % factor:
            raise ValueError(f"height and width must be multiples of {factor}, not {height}×{width}")
        return windows, negative

    def encode_fmri(self, windows, negative, do_guidance):
        """Conditioning states ``[N, 77, D]`` (negatives first when guiding, as diffusers does)."""
        device = self._execution_device
        dtype = self.unet.dtype
        states = self.fmri_encoder(windows.to(device, self.fmri_encoder.dtype)).text_states
        if do_guidance:
            negative_states = self.fmri_encoder(negative.to(device, self.fmri_encoder.dtype)).text_states
            negative_states = negative_states.expand(states.shape[0], -1, -1) if len(negative_states) == 1 else negative_states
            states = torch.cat([negative_states, states])
        return states.to(dtype)

    def prepare_latents(self, batch, num_frames, height, width, beta, generator):
        """Starting latents ``[N, C, F, h, w]``: dependent prior noise scaled for the scheduler.

        The latents stay in float32 whatever the models' dtype: the sampler's updates and the
        guidance sum (12.5 × a difference of two predictions) would lose ~2 % per step in bf16.
        """
        factor = self.vae_scale_factor
        shape = (batch, self.unet.in_channels, num_frames, height // factor, width // factor)
        latents = dependent_noise(shape, beta, generator, device=self._execution_device, dtype=torch.float32)
        return latents * self.scheduler.init_noise_sigma

    def start_from(self, init_latents, strength, beta, generator):
        """SDEdit's start (Meng et al. 2022): ``init_latents`` noised to the step ``strength`` of the way.

        Returns the starting latents and the timesteps left to run: the last ``round(strength ·
        steps)`` of the schedule (diffusers' img2img convention; 1 is pure noise, as without
        ``init_latents``). The noise is the same dependent prior noise (eq. 7).
        """
        timesteps = self.scheduler.timesteps
        n = min(len(timesteps), max(1, round(strength * len(timesteps))))
        timesteps = timesteps[len(timesteps) - n:]
        init = torch.as_tensor(init_latents, dtype=torch.float32, device=self._execution_device)
        noise = dependent_noise(tuple(init.shape), beta, generator, device=self._execution_device, dtype=torch.float32)
        return self.scheduler.add_noise(init, noise, timesteps[:1].repeat(len(init))), timesteps

    def decode_latents(self, latents, chunk=16):
        """Frames in [0, 1], float ``[N, F, 3, H, W]``."""
        frames = latents.shape[2]
        flat = rearrange(latents, "n c f h w -> (n f) c h w") / self.vae.config.scaling_factor
        images = torch.cat([self.vae.decode(part.to(self.vae.dtype)).sample for part in flat.split(chunk)])
        images = (images.float() / 2 + 0.5).clamp(0, 1)
        return rearrange(images, "(n f) c h w -> n f c h w", f=frames)

    @torch.no_grad()
    def __call__(self, fmri_windows, num_inference_steps=200, guidance_scale=12.5, beta=0.25, generator=None,
                 negative_fmri=None, num_frames=6, height=None, width=None, eta=0.0, output_type="np",
                 init_latents=None, strength=1.0):
        """Decode one clip per fMRI window.

        Parameters
        ----------
        fmri_windows : array or Tensor ``[N, w, V]``
        num_inference_steps : int
            Paper (MinD-Video's released settings): DDIM, 200.
        guidance_scale : float
            Classifier-free guidance (12.5); 1 turns it off.
        beta : float
            Dependent prior noise (eq. 7); 0 gives i.i.d. noise.
        generator : torch.Generator or list of torch.Generator, optional
            One per window makes each clip independent of how windows are batched.
        negative_fmri : array or Tensor ``[w, V]`` or ``[N, w, V]``, optional
            The unconditional input of guidance: the mean *training* fMRI window (``neurocine
            decode`` passes it). Zeros when not given (the per-run z-scored data's mean).
        num_frames : int
        height, width : int, optional
            Default: the UNet's sample size times the VAE's factor.
        eta : float
            DDIM's η (0: deterministic).
        output_type : {"np", "pt"}
        init_latents : array or Tensor ``[N, C, F, h, w]``, optional
            Scaled VAE latents of a clip to start from: noised to ``strength`` and denoised from
            there (SDEdit). Default: the perception reconstructor's latents of ``fmri_windows``.
        strength : float
            In (0, 1]: how far into the noise the start goes (1: pure noise, the paper's; the
            start plays no part). Below 1 it needs ``init_latents`` or a perception reconstructor.

        Returns
        -------
        NeuroCinePipelineOutput
        """
        height = height or self.unet.unet.config.sample_size * self.vae_scale_factor
        width = width or self.unet.unet.config.sample_size * self.vae_scale_factor
        windows, negative = self.check_inputs(fmri_windows, negative_fmri, num_frames, height, width)
        do_guidance = guidance_scale > 1.0
        states = self.encode_fmri(windows, negative, do_guidance)
        if not 0 < strength <= 1:
            raise ValueError(f"strength must be in (0, 1], not {strength}")
        self.scheduler.set_timesteps(num_inference_steps, device=self._execution_device)
        timesteps = self.scheduler.timesteps
        if init_latents is None and strength != 1:
            if self.perception_reconstructor is None:
                raise ValueError("strength below 1 needs init_latents or a perception reconstructor to start from")
            init_latents = self.perception_reconstructor(windows.to(self._execution_device))
        if init_latents is not None:
            expected = (len(windows), self.unet.in_channels, num_frames, height // self.vae_scale_factor,
                        width // self.vae_scale_factor)
            if tuple(init_latents.shape) != expected:
                raise ValueError(f"init_latents must be {list(expected)}, not {list(init_latents.shape)}")
        if init_latents is None or strength == 1:  # pure noise: the init latents play no part
            latents = self.prepare_latents(len(windows), num_frames, height, width, beta, generator)
        else:
            latents, timesteps = self.start_from(init_latents, strength, beta, generator)
        accepted = self.scheduler.step.__code__.co_varnames
        extra = {"eta": eta} if "eta" in accepted else {}
        if "generator" in accepted:  # DDIM with η > 0 draws noise at each step: from the clips' own generators
            extra["generator"] = generator
        for t in self.progress_bar(timesteps):
            model_input = torch.cat([latents] * 2) if do_guidance else latents
            model_input = self.scheduler.scale_model_input(model_input, t).to(self.unet.dtype)
            noise = self.unet(model_input, t, states).sample.float()
            if do_guidance:
                uncond, cond = noise.chunk(2)
                noise = uncond + guidance_scale * (cond - uncond)
            latents = self.scheduler.step(noise, t, latents, **extra).prev_sample
        frames = self.decode_latents(latents)
        self.maybe_free_model_hooks()
        if output_type == "np":
            frames = (frames.permute(0, 1, 3, 4, 2) * 255).round().to(torch.uint8).cpu().numpy()
        return NeuroCinePipelineOutput(frames=frames)
