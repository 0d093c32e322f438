"""Explore issue 11's low-level pathway on a trained run: SDEdit from ridge-reconstructed latents.

(``--start mean`` starts every window from the mean training clip's latents instead: how much of
the gain is the start being an average scene rather than the fMRI's?)

For a run that ``neurocine decode`` has decoded (``decoded-test/frames.npz``), a ridge regression
from the training windows' fMRI to their clips' VAE latents (the evaluation's ridge baseline,
``evaluate.ridge_latents``: penalties by cross-validation over training movies, training windows only) predicts each
test window's latents; the run's pipeline then denoises from them, noised to each ``--strength``
(SDEdit; 1 is the plain decode), with decode's own settings, seeds and guidance negative (the mean
training window). Every variant, the ridge clip itself and the mean training clip are scored by
SSIM (MinD-Video protocol) against the truth, with block-bootstrap intervals and paired
differences to the plain decode.

Usage::

    python benchmarks/sdedit_from_ridge.py demo-output/bids/derivatives/neurocine --name tiny \\
        --strength 1 0.8 0.6 0.4 --json sdedit.json
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("derivatives")
    parser.add_argument("--subject", default="01")
    parser.add_argument("--name", default="tiny")
    parser.add_argument("--strength", type=float, nargs="+", default=[1.0, 0.8, 0.6, 0.4])
    parser.add_argument("--start", choices=["ridge", "mean"], default="ridge",
                        help="start from the ridge-predicted latents, or from the mean training clip's")
    parser.add_argument("--guidance", type=float, help="guidance scale (default: the run's sampling.guidance_scale)")
    parser.add_argument("--json")
    args = parser.parse_args()

    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.data.clips import mean_training_window
    from neurocine_toolbox.data.dataset import windows_at
    from neurocine_toolbox.data.store import open_store, store_path
    from neurocine_toolbox.evaluation.evaluate import clips_to_latents, latents_to_clips, mean_clip, ridge_latents
    from neurocine_toolbox.evaluation.pixel_metrics import ssim_per_frame
    from neurocine_toolbox.evaluation.time_series_statistics import paired_difference, summarise
    from neurocine_toolbox.pipelines import NeuroCinePipeline
    from neurocine_toolbox.pipelines.decode_split import decode_windows

    derivatives = Path(args.derivatives)
    root = derivatives / f"sub-{args.subject}" / "models" / args.name
    config = load_config(path=root / "config.yaml")
    decoded = np.load(root / "decoded-test" / "frames.npz")
    rows, runs, truth = decoded["rows"], decoded["runs"], decoded["truth"]
    window, lag = config["data"]["window"], config["data"]["lag"]
    sampling = config["sampling"]
    train_store, test_store = store_path(derivatives, args.subject, "train"), store_path(derivatives, args.subject, "test")

    pipeline = NeuroCinePipeline.from_pretrained(root / "decoder-fmri" / "model")
    pipeline.set_progress_bar_config(disable=True)
    vae = pipeline.vae
    with open_store(test_store) as store:
        test = windows_at(store.fmri, rows, window, lag)
    start = time.perf_counter()
    init, _, ridge = ridge_latents(root, config, train_store, test_store, rows, progress=False)
    ridge_s = time.perf_counter() - start
    ridge_clips = latents_to_clips(vae, init)
    negative = mean_training_window(train_store, window, lag)
    baseline_clip = mean_clip(config, train_store, root / "decoded-test" / "baselines" / "mean_clip.npz")
    if args.start == "mean":  # the mean training clip's latents, the same for every window
        init = clips_to_latents(vae, baseline_clip[None]).expand(len(test), -1, -1, -1, -1).contiguous()
    guidance = float(args.guidance if args.guidance is not None else sampling["guidance_scale"])

    seed = int(config["seed"])
    variants, timings = {}, {}
    for strength in args.strength:
        start = time.perf_counter()
        batch = int(sampling["batch_size"])
        clips = [decode_windows(pipeline, test, list(range(i, min(i + batch, len(test)))), config, negative,
                                init_latents=init, strength=strength, guidance_scale=guidance)
                 for i in range(0, len(test), batch)]
        variants[f"{args.start} {strength:g}" if strength < 1 else "plain decode"] = np.concatenate(clips)
        timings[strength] = time.perf_counter() - start
    variants["ridge clip"] = ridge_clips

    def through_vae(clips):
        """Encode and decode with the run's VAE: what any latent-space method can reach at best."""
        return latents_to_clips(vae, clips_to_latents(vae, clips))

    variants["truth through the VAE"] = through_vae(truth)
    variants["mean clip through the VAE"] = np.broadcast_to(through_vae(baseline_clip[None]), truth.shape)
    variants["mean training clip"] = np.broadcast_to(baseline_clip, truth.shape)

    scores = {name: ssim_per_frame(np.ascontiguousarray(clips), truth, "mindvideo-rgb").mean(axis=1)
              for name, clips in variants.items()}
    plain = scores.get("plain decode")
    result = {"start": args.start, "guidance_scale": guidance, "ridge_alpha": float(ridge["alpha"]), "ridge_fit_s": ridge_s,
              "decode_s": {str(k): v for k, v in timings.items()}, "n_clips": int(len(rows)), "rows": {}}
    print(f"{len(rows)} test clips; SSIM (mindvideo-rgb) against the truth, 95 % block-bootstrap interval")
    for name, values in scores.items():
        summary = summarise(values, runs, seed=seed)
        row = {"ssim": summary["estimate"], "interval": summary["ci95"]}
        line = f"  {name:<20} {summary['estimate']:.3f} [{summary['ci95'][0]:.3f}, {summary['ci95'][1]:.3f}]"
        if plain is not None and name != "plain decode":
            diff = paired_difference(values, plain, runs, seed=seed)
            row["minus_plain"] = {"mean": diff["estimate"], "interval": diff["ci95"], "p": diff["p_value"]}
            line += (f"   − plain {diff['estimate']:+.3f} [{diff['ci95'][0]:+.3f}, {diff['ci95'][1]:+.3f}]"
                     f" p={diff['p_value']:.3g}")
        print(line)
        result["rows"][name] = row
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
