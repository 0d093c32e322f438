"""How well a VAE reproduces a run's test clips, their blurred versions and the mean training clip.

Each set of clips is encoded (posterior means) and decoded by the VAE, and the result scored by
SSIM (MinD-Video protocol) against what went in: the ceiling of any latent-space decoder, and
whether the VAE can carry the blurry clips of the low-level pathway.

Usage::

    python benchmarks/vae_round_trip.py RUN_FOLDER [--vae FOLDER]

``RUN_FOLDER`` is ``sub-XX/models/NAME`` after ``neurocine decode`` and ``evaluate`` (for
``decoded-test/frames.npz`` and ``decoded-test/baselines/mean_clip.npz``); the VAE defaults to the
run's pipeline's.
"""

import argparse
from pathlib import Path

import numpy as np


def round_trip(vae, clips):
    """``clips`` uint8 ``[N, F, H, W, 3]`` through the VAE and back."""
    from neurocine_toolbox.evaluation.evaluate import clips_to_latents, latents_to_clips

    return latents_to_clips(vae, clips_to_latents(vae, clips))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--vae")
    args = parser.parse_args()
    from diffusers import AutoencoderKL
    from scipy.ndimage import gaussian_filter

    from neurocine_toolbox.evaluation.pixel_metrics import ssim_per_frame

    run = Path(args.run)
    vae = AutoencoderKL.from_pretrained(args.vae or run / "decoder-fmri" / "model" / "vae").eval()
    truth = np.load(run / "decoded-test" / "frames.npz")["truth"]
    mean = np.load(run / "decoded-test" / "baselines" / "mean_clip.npz")["mean_clip"]
    blurred = np.rint(gaussian_filter(truth.astype(np.float32), (0, 0, 2, 2, 0))).astype(np.uint8)
    for name, clips in (("true clips", truth), ("mean training clip", np.broadcast_to(mean, truth.shape).copy()),
                        ("true clips blurred (sigma 2 px)", blurred)):
        score = ssim_per_frame(round_trip(vae, clips), clips, "mindvideo-rgb").mean()
        print(f"{name}: SSIM (mindvideo-rgb) after the VAE round trip {score:.3f}")


if __name__ == "__main__":
    main()
