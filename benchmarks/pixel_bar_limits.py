"""What issue 11's pixel bar asks of a decoder, measured on an evaluated run: its limits.

On a run that ``neurocine decode`` and ``neurocine evaluate --baseline ridge`` have written
(``decoded-test/frames.npz`` and ``decoded-test/baselines/``), scores with ``evaluate``'s own
functions (SSIM mindvideo-rgb, frame and clip 50-way with the tiny classifiers, block-bootstrap
intervals, paired differences), beside the mean-clip and ridge baselines:

- ``decoded``: the run's clips as decoded;
- ``oracle``: each test clip's truth through the run's VAE, the best any decoder that draws
  through this VAE can output. If its SSIM interval overlaps the mean clip's, no such decoder
  can have non-overlapping intervals on this test split;
- ``flat``: every frame replaced by the flat colour of the decoded frame's median (a diagnostic,
  not a decoder): what SSIM gives for no structure at all;
- ``mean of K samples``: the pixel mean of ``--samples`` decodes per window, each with its own
  seed (the first is the run's own): the posterior mean, which minimises the expected squared
  error if the decoder's samples are calibrated;
- ``SDEdit from the truth's layout`` (an oracle) and ``from the fMRI's layout``: the run's pipeline
  started at the run's strength from a coarse clip, each frame's 4x4 grid of cell colours (the
  simulated brain's retinotopic grid) upsampled bilinearly; the truth's cells, or the cells a
  reduced-rank ridge (``PerceptionRidge``, penalty by cross-validation over training movies)
  predicts from the test window. Does the decoder follow a layout, and does the fMRI give one?

It also splits each SSIM map (the 7x7 windows of the protocol, per channel, averaged) into the
windows where the truth is flat (local s.d. below 1 grey level, the background) and the rest (the
shape), and prints the smallest two-sided p-value that sign flips over the test runs can give.

Usage::

    python benchmarks/pixel_bar_limits.py DERIVATIVES --name tiny-perception-sdedit --samples 8 --json limits.json
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch


def ssim_by_region(pred, truth):
    """Mean SSIM (mindvideo-rgb maps) over the truth's flat windows and over the rest."""
    from scipy.ndimage import uniform_filter
    from skimage.metrics import structural_similarity

    flat_scores, shape_scores = [], []
    for p, t in zip(pred.reshape(-1, *pred.shape[2:]), truth.reshape(-1, *truth.shape[2:])):
        _, full = structural_similarity(p, t, data_range=255, channel_axis=-1, full=True)
        tf = t.astype(float)
        local_var = uniform_filter(tf ** 2, size=(7, 7, 1)) - uniform_filter(tf, size=(7, 7, 1)) ** 2
        flat = np.sqrt(np.maximum(local_var, 0)).mean(axis=-1) < 1.0
        inner = (slice(3, -3), slice(3, -3))  # windows wholly inside the frame, as the protocol's mean
        score, flat = full.mean(axis=-1)[inner], flat[inner]
        flat_scores.append(score[flat])
        shape_scores.append(score[~flat])
    return float(np.concatenate(flat_scores).mean()), float(np.concatenate(shape_scores).mean())


def cell_colours(clips, grid=4):
    """Each frame's mean colour in a ``grid`` x ``grid`` grid of cells: float32 ``[N, F, grid, grid, 3]``."""
    n, f, h, w, c = clips.shape
    return clips.astype(np.float32).reshape(n, f, grid, h // grid, grid, w // grid, c).mean(axis=(3, 5))


def coarse_clips(cells, size):
    """Cell colours upsampled bilinearly to ``size`` x ``size`` uint8 frames."""
    n, f, g, _, c = cells.shape
    x = torch.from_numpy(np.ascontiguousarray(cells.reshape(n * f, g, g, c))).permute(0, 3, 1, 2)
    up = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return up.permute(0, 2, 3, 1).reshape(n, f, size, size, c).clamp(0, 255).round().byte().numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("derivatives")
    parser.add_argument("--subject", default="01")
    parser.add_argument("--name", required=True)
    parser.add_argument("--samples", type=int, default=8, help="samples per window for the posterior mean")
    parser.add_argument("--json")
    args = parser.parse_args()

    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.data.clips import frames_to_tensor, mean_training_window, tensor_to_frames
    from neurocine_toolbox.data.clips import clip_frame_indices
    from neurocine_toolbox.data.dataset import split_window_starts, windows_at
    from neurocine_toolbox.data.store import open_store, store_path
    from neurocine_toolbox.evaluation.evaluate import (EvaluationModels, clips_to_latents, evaluation_cache_dir,
                                                       latents_to_clips)
    from neurocine_toolbox.evaluation.metrics_table import score_metrics
    from neurocine_toolbox.pipelines.decode_split import decode_windows, load_pipeline
    from neurocine_toolbox.training.perception_ridge import PerceptionRidge

    root = Path(args.derivatives) / f"sub-{args.subject}" / "models" / args.name
    config = load_config(path=root / "config.yaml")
    decoded = np.load(root / "decoded-test" / "frames.npz")
    truth, runs, rows = decoded["truth"], decoded["runs"], decoded["rows"]
    baselines_dir = root / "decoded-test" / "baselines"
    if not (baselines_dir / "ridge.npz").is_file():
        raise SystemExit(f"{baselines_dir}: no ridge baseline; run `neurocine evaluate --baseline ridge` first")
    baselines = {"mean_clip": np.load(baselines_dir / "mean_clip.npz")["mean_clip"],
                 "ridge": np.load(baselines_dir / "ridge.npz")["clips"]}
    window, lag = int(config["data"]["window"]), int(config["data"]["lag"])
    decoder, sampling = config["decoder"], config["sampling"]
    frames, resolution = int(decoder["frames"]), int(decoder["resolution"])

    pipe = load_pipeline(root / "decoder-fmri" / "model", "cpu", torch.float32)
    pipe.set_progress_bar_config(disable=True)
    oracle = latents_to_clips(pipe.vae, clips_to_latents(pipe.vae, truth))
    with open_store(store_path(args.derivatives, args.subject, "test")) as store:
        fmri = windows_at(store.fmri, rows, window, lag)
    negative = mean_training_window(store_path(args.derivatives, args.subject, "train"), window, lag)
    seed, batch = int(config["seed"]), int(sampling["batch_size"])

    def sample(seed_k, init_latents=None):
        return np.concatenate([decode_windows(pipe, fmri, list(range(i, min(i + batch, len(fmri)))), config, negative,
                                              seed=seed_k, init_latents=init_latents)
                               for i in range(0, len(fmri), batch)])

    samples = [decoded["decoded"]] + [sample(seed + 1000 * k) for k in range(1, args.samples)]
    with open_store(store_path(args.derivatives, args.subject, "train")) as store:
        starts = split_window_starts(store, window, lag, "train")
        train_fmri = windows_at(store.fmri, starts, window, lag)
        index = clip_frame_indices(store.frames_per_tr, frames)
        train_clips = tensor_to_frames(frames_to_tensor(store.frames[starts][:, index], resolution))
        train_movies = store.stimulus[starts]
    layout = PerceptionRidge(rank=64).fit(train_fmri, cell_colours(train_clips), train_movies)
    predicted_cells, true_cells = layout.predict(fmri), cell_colours(truth)
    layout_r2 = 1 - (((predicted_cells - true_cells) ** 2).sum()
                     / ((true_cells - cell_colours(train_clips).mean(axis=0)) ** 2).sum())
    posterior_mean = np.rint(np.mean(np.stack(samples), axis=0, dtype=np.float32)).astype(np.uint8)
    flat = np.broadcast_to(np.median(decoded["decoded"], axis=(2, 3), keepdims=True), truth.shape).astype(np.uint8)
    variants = {"decoded": decoded["decoded"], "oracle (truth through the VAE)": oracle,
                "flat (decoded median colour)": np.ascontiguousarray(flat),
                f"mean of {args.samples} samples": posterior_mean,
                "SDEdit from the truth's layout (oracle)": sample(seed, clips_to_latents(pipe.vae, coarse_clips(true_cells, resolution))),
                "SDEdit from the fMRI's layout": sample(seed, clips_to_latents(pipe.vae, coarse_clips(predicted_cells, resolution)))}

    section = config["evaluation"]
    models = EvaluationModels(section, section.get("clip_model") or config["embedding"]["clip_model"],
                              evaluation_cache_dir(), progress=False)
    wanted = {("ssim", "mindvideo-rgb", None), ("frame_nway", "peers", 50), ("clip_nway", "peers", 50)}
    n_runs = len(np.unique(runs))
    result = {"run": str(root), "n_clips": int(len(truth)), "n_runs": n_runs,
              "smallest_two_sided_p": 2 / 2 ** n_runs, "variants": {}}
    result["layout_test_r2"] = float(layout_r2)
    print(f"{len(truth)} test clips in {n_runs} runs; 95 % block-bootstrap intervals; the smallest two-sided "
          f"p-value sign flips over {n_runs} runs can give: {result['smallest_two_sided_p']:.3g}")
    print(f"4x4 cell colours from the fMRI (ridge, alpha {layout.alpha_:g}): test R² {layout_r2:.3f}")
    for name, clips in variants.items():
        scores = score_metrics(clips, truth, runs, metrics=("ssim", "frame_nway", "clip_nway"), baselines=baselines,
                               models=models, n_way=(50,), n_trials=int(section["n_trials"]),
                               n_boot=int(section["n_boot"]), seed=seed)
        flat_ssim, shape_ssim = ssim_by_region(clips, truth)
        out = {"ssim_truth_flat_windows": flat_ssim, "ssim_shape_windows": shape_ssim, "rows": {}}
        print(f"\n{name}: SSIM in the truth's flat windows {flat_ssim:.3f}, in its shape windows {shape_ssim:.3f}")
        for row in scores["rows"]:
            if (row["name"], row["protocol"], row["n_way"]) not in wanted:
                continue
            key = f"{row['name']}:{row['protocol']}" + (f":{row['n_way']}" if row["n_way"] else "")
            out["rows"][key] = row
            line = f"  {key:<22} {row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
            for baseline in ("mean_clip", "ridge"):
                low, high = row["baselines_ci95"][baseline]
                versus = row["versus_baselines"][baseline]
                overlap = "overlap" if low <= row["ci_high"] and row["ci_low"] <= high else "apart"
                line += (f" | {baseline} {row['baselines'][baseline]:.3f} [{low:.3f}, {high:.3f}] {overlap},"
                         f" paired {versus['difference']:+.3f} [{versus['ci95'][0]:+.3f}, {versus['ci95'][1]:+.3f}]")
            print(line)
        result["variants"][name] = out
    for name, clips in (("mean_clip", np.broadcast_to(baselines["mean_clip"], truth.shape)), ("ridge", baselines["ridge"])):
        flat_ssim, shape_ssim = ssim_by_region(np.ascontiguousarray(clips), truth)
        result[f"{name}_ssim_truth_flat_windows"], result[f"{name}_ssim_shape_windows"] = flat_ssim, shape_ssim
        print(f"\n{name}: SSIM in the truth's flat windows {flat_ssim:.3f}, in its shape windows {shape_ssim:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
