"""Time the video diffusion decoder: Stable Diffusion 1.5's architecture, random weights.

The UNet is built from SD 1.5's ``unet/config.json`` (written out below, seeded random
weights; nothing is downloaded) and inflated to video with ``VideoUNet.from_unet_2d``
(pseudo-3D convolutions, temporal attention, sparse-causal self-attention, as the config's
``decoder`` section says); the VAE has SD 1.5's ``AutoencoderKL`` architecture; the noise
schedule is SD 1.5's (DDPM for training, DDIM for sampling). The fMRI encoder is small by
default (``--encoder small``: depth 2, width 256) to keep memory down, or the paper's
(``--encoder paper``: depth 24, width 1024).

Two measurements, on CUDA when available, else the CPU:

- **train**: stage B's (``decoder-fmri``) step through ``training.loop.run_training`` with the
  real step function (dependent prior noise, β = 0.25; DDPM ``add_noise``; MSE on ε; condition
  dropout to the negative window), on random latents of 6 frames at 256×256 (32×32 latents).
  The optimiser (AdamW) updates the config's ``decoder_fmri.trainable`` UNet groups (spatial
  self-attention, cross-attention, temporal layers) and, as ``decoder_fmri.train_encoder``
  says, the encoder. Seconds per step (median, min and max over the timed steps, after warm-up
  steps) and samples per second.
- **decode**: latency of one clip (batch 1, 6 frames, 256×256) through ``NeuroCinePipeline``:
  fMRI encoder, DDIM with classifier-free guidance 12.5 (the UNet runs on a batch of 2), VAE
  decoding. At ``--decode-steps`` (50 and 200) on CUDA. On the CPU, where 200 steps take very
  long, the pipeline is timed at a few steps (``--extrapolate-from``, 3 and 6) and
  ``time = fixed + per_step × steps`` is fitted to give *extrapolated* 50- and 200-step
  latencies, labelled as such (``--no-decode-extrapolate`` runs the real steps).

Attention runs through PyTorch's ``scaled_dot_product_attention`` (SDPA): diffusers'
``AttnProcessor2_0`` for cross-attention and the temporal layers, and neurocine's
sparse-causal processor, which calls SDPA too.

Peak memory: ``torch.cuda.max_memory_allocated`` on CUDA (reset before each measurement).
On the CPU, the peak RSS (``getrusage``'s ``ru_maxrss``) after resetting the process's
high-water mark before each measurement (Linux ``/proc/self/clear_refs``); where that reset is
refused, the peak RSS is the whole process's (model building included: the 2D and the inflated
UNet are held at once), and the JSON says so. Either way the weights resident at the start of a
measurement count. ``--only train`` / ``--only decode`` measure one part per process.

Precision: ``--precision fp32|bf16|fp16`` (default bf16 on CUDA, fp32 on the CPU). Training
uses accelerate's autocast with fp32 weights (``training.mixed_precision``); decoding casts the
pipeline's weights to that type, as inference usually does.

Usage::

    python benchmarks/decoder_step.py --json decoder-cpu.json     # CPU: batch 1, extrapolated decode
    python benchmarks/decoder_step.py --only decode               # one part per process (clean peak RSS)
    python benchmarks/decoder_step.py --batch 24 --encoder paper --json decoder-gpu.json   # GPU
    python benchmarks/decoder_step.py --batch 24 --encoder paper --gradient-checkpointing
    python benchmarks/decoder_step.py --smoke                     # tiny models, seconds: does it run?
"""

import argparse
import csv
import inspect
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import accelerate
import diffusers
import torch
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from torch.utils.data import Dataset

from neurocine_toolbox.config import load_config
from neurocine_toolbox.models.fmri_encoder import FMRIEncoder
from neurocine_toolbox.models.video_unet import VideoUNet, select_parameters
from neurocine_toolbox.pipelines.neurocine_pipeline import NeuroCinePipeline
from neurocine_toolbox.training.decoder_stages import FMRIConditionedUNet, _fmri_condition, diffusion_step
from neurocine_toolbox.training.encoder_stages import encoder_kwargs
from neurocine_toolbox.training.loop import StageSettings, run_training

#: Stable Diffusion 1.5's ``unet/config.json`` (stable-diffusion-v1-5/stable-diffusion-v1-5).
#: Its ``attention_head_dim`` 8 is, by a historical misnomer, the number of heads.
SD15_UNET = {
    "sample_size": 64, "in_channels": 4, "out_channels": 4, "center_input_sample": False,
    "flip_sin_to_cos": True, "freq_shift": 0,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "downsample_padding": 1,
    "mid_block_scale_factor": 1, "act_fn": "silu", "norm_num_groups": 32, "norm_eps": 1e-5,
    "cross_attention_dim": 768, "attention_head_dim": 8,
}

#: Stable Diffusion 1.5's ``vae/config.json``.
SD15_VAE = {
    "in_channels": 3, "out_channels": 3, "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4, "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2, "act_fn": "silu", "latent_channels": 4, "norm_num_groups": 32,
    "sample_size": 512, "scaling_factor": 0.18215,
}

#: Stable Diffusion 1.5's noise schedule (its ``scheduler/scheduler_config.json``, read by the
#: DDPM and DDIM schedulers as ``load_noise_scheduler`` does).
SD15_SCHEDULE = {
    "num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon", "clip_sample": False, "set_alpha_to_one": False, "steps_offset": 1,
}

# --smoke: the same block types, tiny widths (a VAE factor of 8 as SD's, so 64×64 gives 8×8 latents).
SMOKE_UNET = dict(SD15_UNET, sample_size=8, block_out_channels=[32, 64], layers_per_block=1,
                  down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                  up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"], cross_attention_dim=64)
SMOKE_VAE = dict(SD15_VAE, block_out_channels=[32, 32, 32, 32], layers_per_block=1, sample_size=64)

#: ``--encoder small`` (and the smoke run's): overrides of the paper's encoder size.
ENCODER_SIZES = {"paper": {}, "small": {"depth": 2, "embed_dim": 256, "num_heads": 4},
                 "smoke": {"depth": 1, "embed_dim": 32, "num_heads": 2}}

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
ACCELERATE_PRECISION = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}


class RandomClips(Dataset):
    """Cached-latent clips and fMRI windows of stage B's shapes, random values."""

    def __init__(self, n, latent_shape, window, columns):
        g = torch.Generator().manual_seed(0)
        self.latents = torch.randn(n, *latent_shape, generator=g)
        self.fmri = torch.randn(n, window, columns, generator=g)

    def __len__(self):
        return len(self.latents)

    def __getitem__(self, i):
        return {"latents": self.latents[i], "fmri": self.fmri[i]}


def scheduler(cls):
    """A DDPM or DDIM scheduler with SD 1.5's schedule (keys the class does not take left out)."""
    accepted = inspect.signature(cls.__init__).parameters
    return cls.from_config({k: v for k, v in SD15_SCHEDULE.items() if k in accepted})


def build_models(unet_config, vae_config, encoder_config, decoder, seed):
    """The inflated video UNet, the VAE and the fMRI encoder, seeded random weights.

    Parameters
    ----------
    unet_config, vae_config, encoder_config : dict
        ``UNet2DConditionModel``, ``AutoencoderKL`` and ``FMRIEncoder`` arguments.
    decoder : dict
        The config's ``decoder`` section (which video layers to add).
    seed : int

    Returns
    -------
    unet : VideoUNet
    vae : diffusers.AutoencoderKL
    encoder : FMRIEncoder
    unet2d_parameters : int
        Parameters of the 2D UNet before inflation.
    """
    torch.manual_seed(seed)
    unet2d = UNet2DConditionModel.from_config(unet_config)
    unet2d_parameters = sum(p.numel() for p in unet2d.parameters())
    unet = VideoUNet.from_unet_2d(unet2d, temporal_conv=bool(decoder["temporal_conv"]),
                                  temporal_attention=bool(decoder["temporal_attention"]),
                                  sparse_causal=bool(decoder["sparse_causal"]))
    del unet2d
    vae = AutoencoderKL.from_config(vae_config)
    encoder = FMRIEncoder(**encoder_config)
    return unet, vae, encoder, unet2d_parameters


def place(modules, device, dtype):
    """Move models to ``device`` and cast them to ``dtype`` where they differ."""
    for module in modules:
        module.to(device)
        if module.dtype != dtype:
            # diffusers warns at every cast about fp32 modules, even when a model lists none.
            verbosity = diffusers.utils.logging.get_verbosity()
            diffusers.utils.logging.set_verbosity_error()
            module.to(dtype)
            diffusers.utils.logging.set_verbosity(verbosity)


def count(module):
    return sum(p.numel() for p in module.parameters())


def reset_peak_memory(cuda):
    """Start a measurement's peak memory; returns its scope (``part`` or ``process``)."""
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return "part"
    try:  # Linux ≥ 4.0: the RSS high-water mark (and so ru_maxrss) restarts from the current RSS
        Path("/proc/self/clear_refs").write_text("5")
        return "part"
    except OSError:
        return "process"


def peak_memory_gib(cuda):
    if cuda:
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30


def resident_gib():
    """The process's current RSS (Linux), or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 2**30
    except OSError:
        pass
    return None


def measure_training(unet, encoder, vae_factor, config, args, cuda):
    """Time stage B's optimiser steps; the figures of the ``train`` part.

    Parameters
    ----------
    unet : VideoUNet
    encoder : FMRIEncoder
    vae_factor : int
        Pixels per latent (SD's VAE: 8).
    config : dict
        The resolved config (its ``decoder_fmri`` and ``training`` sections are used).
    args : argparse.Namespace
    cuda : bool

    Returns
    -------
    dict
    """
    section = config["decoder_fmri"]
    total = args.warmup + args.steps
    training = dict(config["training"], checkpoint_every=10**9, log_every=1, keep_checkpoints=1,
                    gradient_checkpointing=args.gradient_checkpointing,
                    mixed_precision=ACCELERATE_PRECISION[args.precision], gradient_accumulation_steps=1)
    settings = StageSettings.from_config(dict(section, steps=total, batch_size=args.batch, warmup_steps=0))
    latent = args.resolution // vae_factor
    window = config["data"]["window"]
    dataset = RandomClips(args.batch * total, (unet.in_channels, args.frames, latent, latent), window, args.columns)
    parameters = [p for _, p in select_parameters(unet, list(section["trainable"]))]
    trainable_unet = sum(p.numel() for p in parameters)
    encoder.requires_grad_(bool(section["train_encoder"]))
    if section["train_encoder"]:
        parameters += list(encoder.parameters())
    model = FMRIConditionedUNet(unet, encoder)
    negative = torch.zeros(window, args.columns)  # the mean window of z-scored data
    step = diffusion_step(scheduler(DDPMScheduler), float(args.beta),
                          _fmri_condition(negative, float(section["condition_dropout"])))
    figures = {"batch": args.batch, "frames": args.frames, "resolution": args.resolution,
               "latent_size": latent, "warmup_steps": args.warmup, "timed_steps": args.steps,
               "beta": args.beta, "condition_dropout": float(section["condition_dropout"]),
               "trainable_groups": list(section["trainable"]), "train_encoder": bool(section["train_encoder"]),
               "trainable_unet_parameters_millions": trainable_unet / 1e6,
               "trainable_parameters_millions": sum(p.numel() for p in parameters) / 1e6,
               "gradient_checkpointing": args.gradient_checkpointing, "precision": args.precision,
               "optimizer": "AdamW"}
    figures["peak_memory_scope"] = reset_peak_memory(cuda)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        try:
            run_training(stage_dir=Path(tmp), model=model, parameters=parameters, dataset=dataset, step_fn=step,
                         settings=settings, training=training, seed=args.seed, progress=False)
        except torch.cuda.OutOfMemoryError as err:  # keep the decode figures; say what failed
            figures.update(error=f"CUDA out of memory: {str(err).splitlines()[0]}",
                           peak_memory_gib=peak_memory_gib(cuda))
            return figures
        figures["wall_seconds"] = time.perf_counter() - started
        figures["peak_memory_gib"] = peak_memory_gib(cuda)
        with open(Path(tmp) / "metrics.csv", newline="") as f:
            elapsed = [float(r["seconds"]) for r in csv.DictReader(f)]
    # ``seconds`` is cumulative at the end of each step: differences are the steps' durations.
    per_step = [b - a for a, b in zip(elapsed, elapsed[1:])][args.warmup - 1:]
    seconds = statistics.median(per_step)
    figures.update(seconds_per_step=per_step, seconds_per_step_median=seconds,
                   seconds_per_step_min=min(per_step), seconds_per_step_max=max(per_step),
                   samples_per_second=args.batch / seconds)
    return figures


def fit_line(points):
    """Least-squares ``seconds = fixed + per_step × steps`` through ``[(steps, seconds), …]``."""
    mean_s = statistics.fmean(s for s, _ in points)
    mean_t = statistics.fmean(t for _, t in points)
    per_step = (sum((s - mean_s) * (t - mean_t) for s, t in points)
                / sum((s - mean_s) ** 2 for s, _ in points))
    return mean_t - per_step * mean_s, per_step


def measure_decoding(unet, vae, encoder, args, cuda, device):
    """Latency of one clip through ``NeuroCinePipeline``; the figures of the ``decode`` part.

    Parameters
    ----------
    unet : VideoUNet
    vae : diffusers.AutoencoderKL
    encoder : FMRIEncoder
    args : argparse.Namespace
    cuda : bool
    device : torch.device

    Returns
    -------
    dict
    """
    pipe = NeuroCinePipeline(vae=vae, unet=unet, scheduler=scheduler(DDIMScheduler), fmri_encoder=encoder)
    place((vae, unet, encoder), device, DTYPES[args.precision])
    pipe.set_progress_bar_config(disable=True)
    windows = torch.randn(1, encoder.config.window_size, args.columns, generator=torch.Generator().manual_seed(1))

    def run(steps):
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        pipe(windows, num_inference_steps=steps, guidance_scale=args.guidance, beta=args.beta,
             generator=torch.Generator().manual_seed(args.seed), num_frames=args.frames,
             height=args.resolution, width=args.resolution)
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - started

    figures = {"clips": 1, "frames": args.frames, "resolution": args.resolution, "guidance_scale": args.guidance,
               "unet_batch": 2 if args.guidance > 1 else 1, "beta": args.beta, "scheduler": "DDIM", "eta": 0.0,
               "precision": args.precision, "extrapolate": args.decode_extrapolate,
               "warmup_calls": args.decode_warmup, "repeats": args.decode_repeats,
               "target_steps": args.decode_steps}
    figures["peak_memory_scope"] = reset_peak_memory(cuda)
    with torch.inference_mode():
        for _ in range(args.decode_warmup):  # untimed 1-step calls: first-call allocations, kernel selection
            run(1)
        timed = args.extrapolate_from if args.decode_extrapolate else args.decode_steps
        runs = {steps: [] for steps in timed}
        for _ in range(args.decode_repeats):  # rounds over the step counts, so that drift hits all alike
            for steps in timed:
                runs[steps].append(run(steps))
    figures["peak_memory_gib"] = peak_memory_gib(cuda)
    measured = [(steps, statistics.median(times)) for steps, times in runs.items()]
    figures["measured"] = [{"steps": s, "seconds": t, "runs": runs[s]} for s, t in measured]
    if args.decode_extrapolate:
        fixed, per_step = fit_line(measured)
        figures.update(fit_fixed_seconds=fixed, fit_seconds_per_step=per_step,
                       extrapolated=[{"steps": s, "seconds": fixed + per_step * s} for s in args.decode_steps])
        if per_step <= 0 or fixed < 0:  # a busy machine can disturb points only a few steps apart
            figures["warning"] = "implausible fit (negative time per step or fixed time): rerun, or use more repeats"
    return figures


def steps_list(text):
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"comma-separated step counts ≥ 1, not '{text}'")
    return values


def print_table(figures):
    settings = figures["settings"]
    print(f"Video decoder, SD 1.5 architecture{' (SMOKE: tiny models)' if settings['smoke'] else ''}, random weights; "
          f"{figures['device']}, {settings['precision']}, SDPA attention, {figures['threads']} CPU threads")
    p = figures["parameters_millions"]
    print(f"  parameters: UNet {p['unet_2d']:.1f} M 2D -> {p['video_unet']:.1f} M video, VAE {p['vae']:.1f} M, "
          f"fMRI encoder ({'smoke' if settings['smoke'] else settings['encoder']}) {p['fmri_encoder']:.1f} M")
    train = figures.get("train")
    if train:
        print(f"  train (stage B step): batch {train['batch']} x {train['frames']} frames x {train['resolution']}^2"
              f", trainable {train['trainable_parameters_millions']:.1f} M"
              f"{', gradient checkpointing' if train['gradient_checkpointing'] else ''}")
        if "error" in train:
            print(f"    FAILED: {train['error']}")
        else:
            print(f"    {train['seconds_per_step_median']:.3f} s/step (min {train['seconds_per_step_min']:.3f}, "
                  f"max {train['seconds_per_step_max']:.3f}, {len(train['seconds_per_step'])} steps) = "
                  f"{train['samples_per_second']:.3f} samples/s; peak memory {train['peak_memory_gib']:.2f} GiB")
    decode = figures.get("decode")
    if decode:
        print(f"  decode: 1 clip, {decode['frames']} frames x {decode['resolution']}^2, DDIM, guidance "
              f"{decode['guidance_scale']} (UNet batch {decode['unet_batch']}); peak memory "
              f"{decode['peak_memory_gib']:.2f} GiB")
        print(f"    {'steps':>6}  {'seconds':>9}  kind")
        for row in decode["measured"]:
            print(f"    {row['steps']:>6}  {row['seconds']:>9.2f}  measured")
        if decode.get("extrapolated"):
            for row in decode["extrapolated"]:
                print(f"    {row['steps']:>6}  {row['seconds']:>9.2f}  EXTRAPOLATED")
            print(f"    (fit over the measured points: {decode['fit_fixed_seconds']:.2f} s fixed + "
                  f"{decode['fit_seconds_per_step']:.3f} s/step)")
            if "warning" in decode:
                print(f"    WARNING: {decode['warning']}")
    scopes = {part["peak_memory_scope"] for part in (train, decode) if part}
    if not figures["cuda"]:
        print("  (peak memory: " + ("the whole process's peak RSS, model building included)" if "process" in scopes
                                    else "peak RSS during each part, the resident weights included)"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, help="Training clips per step (default: 1 on the CPU; "
                        "the paper's 24 is for a GPU).")
    parser.add_argument("--encoder", choices=["small", "paper"], default="small",
                        help="fMRI encoder size: small (depth 2, width 256) or the paper's (depth 24, width 1024).")
    parser.add_argument("--columns", type=int, default=4192, help="Voxel columns (262 patches of 16).")
    parser.add_argument("--frames", type=int, help="Frames per clip (default: the config's, 6).")
    parser.add_argument("--resolution", type=int, help="Frame size in pixels (default: the config's, 256).")
    parser.add_argument("--precision", choices=sorted(DTYPES), help="Default: bf16 on CUDA, fp32 on the CPU.")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed first training steps (at least 1).")
    parser.add_argument("--steps", type=int, default=5, help="Timed training steps.")
    parser.add_argument("--decode-steps", type=steps_list, default=[50, 200],
                        help="DDIM steps whose latency is reported (comma-separated; default 50,200).")
    parser.add_argument("--decode-extrapolate", action=argparse.BooleanOptionalAction,
                        help="Time a few steps and extrapolate to --decode-steps (default: on for the CPU).")
    parser.add_argument("--extrapolate-from", type=steps_list, default=[3, 6],
                        help="DDIM steps timed for the extrapolation (default 3,6).")
    parser.add_argument("--decode-warmup", type=int, default=1, help="Untimed 1-step pipeline calls first.")
    parser.add_argument("--decode-repeats", type=int, default=1,
                        help="Pipeline calls per timed step count; the median is reported.")
    parser.add_argument("--guidance", type=float, help="Guidance scale (default: the config's, 12.5).")
    parser.add_argument("--beta", type=float, help="Dependent prior noise β (default: the config's, 0.25).")
    parser.add_argument("--only", choices=["train", "decode"], help="Measure one part only.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true",
                        help="Tiny UNet/VAE/encoder, 64x64, 1 step each: checks that the script runs.")
    parser.add_argument("--json", help="Also write the figures to this JSON file.")
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    config = load_config()  # the paper's settings
    decoder = config["decoder"]
    args.batch = args.batch or 1
    args.frames = args.frames or int(decoder["frames"])
    args.resolution = args.resolution or int(decoder["resolution"])
    args.guidance = float(config["sampling"]["guidance_scale"] if args.guidance is None else args.guidance)
    args.beta = float(decoder["beta"] if args.beta is None else args.beta)
    args.precision = args.precision or ("bf16" if cuda else "fp32")
    if args.decode_extrapolate is None:
        args.decode_extrapolate = not cuda
    if args.smoke:
        args.resolution, args.columns, args.warmup, args.steps = 64, 64, 1, 1
        args.decode_steps = [1] if not args.decode_extrapolate else args.decode_steps
        args.extrapolate_from, args.decode_repeats, args.decode_warmup = [1, 2], 3, 3
    if args.precision == "fp16" and not cuda:
        parser.error("fp16 needs CUDA (the CPU takes fp32 or bf16)")
    if args.decode_repeats < 1:
        parser.error("--decode-repeats must be at least 1")
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1 (step times are differences of logged times)")
    if args.decode_extrapolate and len(set(args.extrapolate_from)) < 2:
        parser.error("--extrapolate-from needs two different step counts")
    if args.resolution % 8:
        parser.error("--resolution must be a multiple of 8 (the VAE's factor)")

    size = "smoke" if args.smoke else args.encoder
    encoder_config = dict(encoder_kwargs(config, args.columns), **ENCODER_SIZES[size])
    unet_config = SMOKE_UNET if args.smoke else SD15_UNET
    encoder_config["out_dim"] = unet_config["cross_attention_dim"]  # its states feed the cross-attention
    unet, vae, encoder, unet2d_parameters = build_models(
        unet_config, SMOKE_VAE if args.smoke else SD15_VAE, encoder_config, decoder, args.seed)
    figures = {
        "device": torch.cuda.get_device_name() if cuda else "cpu", "cuda": cuda,
        "torch": torch.__version__, "torch_cuda": torch.version.cuda, "diffusers": diffusers.__version__,
        "accelerate": accelerate.__version__, "threads": torch.get_num_threads(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "attention": "torch scaled_dot_product_attention (SDPA)",
        "attention_processors": sorted({type(p).__name__ for p in unet.unet.attn_processors.values()}),
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "unet_config": unet_config, "vae_config": SMOKE_VAE if args.smoke else SD15_VAE,
        "scheduler_config": SD15_SCHEDULE, "encoder_config": encoder_config,
        "video_layers": {k: bool(decoder[k]) for k in ("temporal_conv", "temporal_attention", "sparse_causal")},
        "parameters_millions": {"unet_2d": unet2d_parameters / 1e6, "video_unet": count(unet) / 1e6,
                                "vae": count(vae) / 1e6, "fmri_encoder": count(encoder) / 1e6},
        "resident_after_build_gib": resident_gib(),
    }
    # Decoding first: on the CPU, without the high-water reset, its peak is then not the training's.
    if args.only != "train":
        figures["decode"] = measure_decoding(unet, vae, encoder, args, cuda, device)
    if args.only != "decode":
        # Training keeps fp32 weights (accelerate autocasts); stage B holds no VAE on the device.
        place((unet, encoder), device, torch.float32)
        vae.to("cpu")
        vae_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        figures["train"] = measure_training(unet, encoder, vae_factor, config, args, cuda)
    print_table(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
