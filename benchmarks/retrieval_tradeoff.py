"""Sharp against blurry on the validation split: what a retrieval run's clips trade, and what would win.

On a run whose perception stage is the retrieval reconstructor (``perception.method:
retrieval``), with only the **validation** windows (the test split is never read), every
library clip is decoded once by the run's VAE, and each variant below is scored by
``evaluate``'s own function (:func:`~neurocine_toolbox.evaluation.metrics_table.score_metrics`)
beside the flat, mean-clip, shuffled, latent-ridge and pixel-ridge baselines (the latter two fitted
on the training windows, as ``neurocine evaluate --split validation`` fits them):

- ``blend a``: ``a`` × the retrieved top-1 clip + (1 − ``a``) × the pixel mean of the top
  ``--k`` clips: from the mean of many retrieved clips (blurry, ``a`` = 0) to the top-1 clip
  (sharp, ``a`` = 1), the axis along which SSIM and PixCorr trade against the 50-way accuracies;
- ``library ceiling`` (an oracle): each window's library clip with the highest SSIM to its truth,
  the best any top-1 retrieval from this library can do;
- ``oracle pick q``: that best clip for a random share ``q`` of the windows, the retrieved top-1
  for the rest: how often retrieval would have to find it for the sharp clip to win.

It prints one markdown table (every value with its 95 % block-bootstrap interval, and its paired
difference from the pixel ridge with its interval and two-sided sign-flip p over the validation
windows' runs; every baseline's value and difference is in ``--json``) and the retrieved top-1's
median rank among the library clips by SSIM to the truth.

Usage::

    NEUROCINE_CACHE=… python benchmarks/retrieval_tradeoff.py DERIVATIVES --name tiny-natural-retrieval-lag3-seed0 \
        --json tradeoff.json
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

COLUMNS = (("ssim", "mindvideo-rgb", None, "SSIM"), ("pixcorr", "rgb-pearson", None, "PixCorr"),
           ("identification", "ssim:mindvideo-rgb", 2, "ident. SSIM"),
           ("identification", "pixcorr:rgb-pearson", 2, "ident. PixCorr"),
           ("frame_nway", "peers", 50, "frame 50-way"), ("clip_nway", "peers", 50, "clip 50-way"))


def validation_windows(derivatives, subject, config):
    """The validation windows' fMRI ``[N, w, V]``, rows, runs (the blocks of the paired tests, as
    ``neurocine evaluate`` takes them) and true clips ``uint8 [N, F, R, R, 3]``."""
    from neurocine_toolbox.data.clips import clip_frame_indices, frames_to_tensor, tensor_to_frames
    from neurocine_toolbox.data.dataset import split_window_starts, windows_at
    from neurocine_toolbox.data.store import open_store, store_path

    window, lag = int(config["data"]["window"]), int(config["data"]["lag"])
    frames, resolution = int(config["decoder"]["frames"]), int(config["decoder"]["resolution"])
    with open_store(store_path(derivatives, subject, "train")) as store:
        rows = split_window_starts(store, window, lag, "validation")
        fmri = windows_at(store.fmri, rows, window, lag)
        index = clip_frame_indices(store.frames_per_tr, frames)
        truth = tensor_to_frames(frames_to_tensor(store.frames[rows][:, index], resolution))
        runs = np.asarray(store.runs)[rows]
    return fmri, rows, runs, truth


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("derivatives", type=Path)
    parser.add_argument("--subject", default="01")
    parser.add_argument("--name", required=True, help="a run fitted with perception.method: retrieval")
    parser.add_argument("--k", type=int, default=40, help="retrieved clips averaged by the blends")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0],
                        help="the top-1 clip's weights a of the blends")
    parser.add_argument("--oracle-shares", type=float, nargs="+", default=[0.2, 0.5])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.data.store import store_path
    from neurocine_toolbox.evaluation.evaluate import (EvaluationModels, evaluation_cache_dir, latents_to_clips,
                                                       mean_clip, pixel_ridge_clips, ridge_clips)
    from neurocine_toolbox.evaluation.identification import pixcorr_matrix
    from neurocine_toolbox.evaluation.metrics_table import score_metrics
    from neurocine_toolbox.evaluation.ssim import pair_ssim
    from neurocine_toolbox.pipelines.decode_split import load_pipeline

    root = args.derivatives / f"sub-{args.subject}" / "models" / args.name
    config = load_config(path=root / "config.yaml")
    pipeline = load_pipeline(root / "decoder-fmri" / "model", "cpu", torch.float32)
    reconstructor = pipeline.perception_reconstructor
    if type(reconstructor).__name__ != "RetrievalReconstructor":
        raise SystemExit(f"{root}: its perception stage is not the retrieval reconstructor")
    fmri, rows, runs, truth = validation_windows(args.derivatives, args.subject, config)
    train = store_path(args.derivatives, args.subject, "train")
    cache = root / "decoded-validation" / "baselines"  # the baselines' caches, reused by a second run
    cache.mkdir(parents=True, exist_ok=True)
    baselines = {"mean_clip": mean_clip(config, train, cache / "tradeoff-mean.npz"),
                 "ridge": ridge_clips(root, config, train, train, rows, cache / "tradeoff-ridge.npz",
                                      split="validation", progress=False)[0],
                 "pixel_ridge": pixel_ridge_clips(config, train, train, rows, cache / "tradeoff-pixel.npz",
                                                  split="validation")[0]}

    library = latents_to_clips(pipeline.vae, reconstructor.library_latents.float())  # every library clip, once
    with torch.no_grad():
        top = torch.topk(reconstructor.scores(torch.as_tensor(fmri).float()), args.k, dim=1).indices.numpy()
    n, size = len(truth), len(library)
    pairs = np.repeat(np.arange(size), n), np.tile(np.arange(n), size)  # every library clip × every truth
    ssim_to_truth = pair_ssim(library, truth, *pairs).reshape(size, n).T
    best = ssim_to_truth.argmax(axis=1)
    retrieved = ssim_to_truth[np.arange(n), top[:, 0]]
    rank = int(np.median((ssim_to_truth > retrieved[:, None]).sum(axis=1)))
    pixcorr_best = pixcorr_matrix(library, truth).T.max(axis=1).mean()

    variants = {}
    as_float = library.astype(np.float32)
    for a in args.weights:
        blend = a * as_float[top[:, 0]] + (1 - a) * as_float[top].mean(axis=1)
        variants[f"blend a = {a:g}"] = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
    variants["library ceiling (oracle)"] = library[best]
    rng = np.random.default_rng(0)
    for q in args.oracle_shares:
        variants[f"oracle pick q = {q:g}"] = library[np.where(rng.random(n) < q, best, top[:, 0])]

    section = config["evaluation"]
    models = EvaluationModels(section, section.get("clip_model") or config["embedding"]["clip_model"],
                              evaluation_cache_dir(), progress=False)
    result = {"run": str(root), "split": "validation", "n_clips": int(n), "n_runs": int(len(np.unique(runs))),
              "k": args.k, "library_size": int(size), "median_rank_of_top1_by_ssim": rank,
              "library_best_pixcorr": float(pixcorr_best), "variants": {}}
    print(f"{n} validation windows in {result['n_runs']} runs; library {size} clips; the retrieved top-1 ranks "
          f"{rank} (median) among them by SSIM to the truth. Each cell: value [95 % block-bootstrap interval]; "
          f"− pixel ridge, paired [interval], two-sided sign-flip p.\n")
    print("| variant | " + " | ".join(c[3] for c in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, clips in variants.items():
        scores = score_metrics(clips, truth, runs, metrics=("ssim", "pixcorr", "frame_nway", "clip_nway"),
                               baselines=baselines, models=models, n_way=(2, 50), n_trials=int(section["n_trials"]),
                               n_boot=int(section["n_boot"]), seed=int(config["seed"]))
        cells, kept = [], {}
        for metric, protocol, n_way, _ in COLUMNS:
            row = next(r for r in scores["rows"] if (r["name"], r["protocol"]) == (metric, protocol)
                       and (n_way is None or r["n_way"] == n_way) and r["top_k"] in (None, 1))
            versus = row["versus_baselines"]["pixel_ridge"]
            low, high = versus["ci95"]
            cells.append(f"{row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]; "
                         f"{versus['difference']:+.3f} [{low:+.3f}, {high:+.3f}], p {versus['p_value']:.2g}")
            kept[f"{metric}:{protocol}"] = row
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
        result["variants"][name] = kept
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
