"""Two choices of issue 8, measured on a simulated dataset over several seeds.

1. Spatial masking in voxel space or in token space (``contrastive.spatial_mask_space``):
   held-out fMRI→image and fMRI→caption retrieval of the encoder.
2. ``prep --rescale-after-average`` or not: held-out retrieval, and decode SSIM (MinD-Video
   protocol) own truth vs. other clips' truth.

Everything runs with the ``tiny`` preset on the demo's simulated world and training split
(``simulate`` preset ``small``: 8 movies of 64 s seen twice; voxels by reliability, top 4,500,
sidecar captions), as ``neurocine demo`` does, but with a longer test split (4 movies of 96 s seen
10 times: 180 test windows in 4 runs instead of the demo's 39 in 3), so that the intervals can
tell the conditions apart. Each run
goes to its own folder under ``--out``; finished runs are skipped, so the script can be stopped
and started again. Scores are recomputed from the saved models and decoded frames by
``--score`` (with the statistics neurocine prints), and written to ``<out>/summary.json``.

Usage::

    python benchmarks/masking_and_rescaling.py --out /tmp/masking --seeds 0 1 2
    python benchmarks/masking_and_rescaling.py --out /tmp/masking --seeds 0 1 2 --score
"""

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from neurocine_toolbox.config import load_config
from neurocine_toolbox.data.embedding import embed_stores
from neurocine_toolbox.data.prep import PrepOptions, prep
from neurocine_toolbox.data.store import open_store, store_path
from neurocine_toolbox.demo import PREP, SIMULATION
from neurocine_toolbox.simulate import simulate_dataset

log = logging.getLogger("neurocine")

#: A longer test split than the demo's (simulate preset "small": 3 movies of 32 s).
TEST_SPLIT = {"n_test_segments": 4, "test_segment_seconds": 96.0}


def prepared(out, rescale):
    """The simulated dataset, prepared (with or without rescaling) and embedded; its derivatives folder."""
    bids = out / "bids"
    if not (bids / "dataset_description.json").is_file():
        simulate_dataset(bids, seed=0, progress=False, **SIMULATION, **TEST_SPLIT)
    name = "rescaled" if rescale else "plain"
    derivatives = out / f"derivatives-{name}"
    if not store_path(derivatives, "01", "test").is_file():
        options = PrepOptions(**{**PREP.__dict__, "rescale_after_average": rescale})
        stores = prep(bids, derivatives, options=options, progress=False)
        section = dict(load_config("tiny")["embedding"], captions="sidecar")
        embed_stores(stores, section, progress=False, bids_dir=bids)
    return derivatives


def train(derivatives, name, seed, stages, overrides=()):
    from neurocine_toolbox.training.fit import fit

    start = time.perf_counter()
    fit(derivatives, "01", stages=stages, preset="tiny", name=name, progress=False,
        overrides=[f"seed={seed}", *overrides], command="benchmarks/masking_and_rescaling.py")
    return time.perf_counter() - start


def run_all(out, seeds):
    timings = {}
    plain = prepared(out, rescale=False)
    rescaled = prepared(out, rescale=True)
    for seed in seeds:
        for space in ("voxels", "tokens"):
            name = f"mask-{space}-seed{seed}"
            if not (plain / "sub-01/models" / name / "encoder/model").is_dir():
                timings[name] = train(plain, name, seed, ["pretrain", "encoder"],
                                      [f"contrastive.spatial_mask_space={space}"])
                log.info("%s: %.0f s", name, timings[name])
        for derivatives, label in ((plain, "plain"), (rescaled, "rescaled")):
            name = f"scale-{label}-seed{seed}"
            root = derivatives / "sub-01/models" / name
            if not (root / "decoded-test/decode.json").is_file():
                from neurocine_toolbox.pipelines.decode_split import decode_split

                start = time.perf_counter()
                train(derivatives, name, seed, None)
                decode_split(derivatives, "01", name=name, progress=False, command="benchmarks/masking_and_rescaling.py")
                timings[name] = time.perf_counter() - start
                log.info("%s: %.0f s", name, timings[name])
    return timings


def _condition_summary(per_seed, values, runs, seed):
    """Per-seed figures, and the mean over seeds of the per-window values with a block-bootstrap interval."""
    from neurocine_toolbox.evaluation.time_series_statistics import summarise

    pooled = summarise(np.mean(values, axis=0), runs, seed=seed)
    return {"per_seed": per_seed, "mean_over_seeds": {k: pooled[k] for k in ("estimate", "ci95", "method", "n")}}


def _retrieval(derivatives, name, config):
    """Held-out retrieval of a run's encoder, and its per-window top-5 hits (fMRI→image)."""
    import torch

    from neurocine_toolbox.data.dataset import FMRIWindowDataset
    from neurocine_toolbox.data.targets import window_targets
    from neurocine_toolbox.evaluation.retrieval import cosine_scores, encoder_retrieval, key_ranks
    from neurocine_toolbox.models.fmri_encoder import FMRIEncoder

    test = store_path(derivatives, "01", "test")
    encoder = FMRIEncoder.from_pretrained(derivatives / "sub-01/models" / name / "encoder/model").eval()
    window, lag = config["data"]["window"], config["data"]["lag"]
    result = encoder_retrieval(encoder, test, window, lag, (1, 5), seed=0)
    dataset = FMRIWindowDataset(test, window=window, lag=lag, with_frames=False, with_embeddings=True)
    batch = torch.utils.data.default_collate([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        embeds = encoder(batch["fmri"]).embeds
    _, image = window_targets(batch)
    hits = np.diagonal(key_ranks(cosine_scores(embeds, image))) < 5
    return result, hits.astype(float), batch["run"].numpy()


def score(out, seeds):
    """Scores of the finished runs, with the statistics neurocine prints (docs/statistics.md)."""
    from neurocine_toolbox.evaluation.clip_similarity import score_clips

    config = load_config("tiny")
    plain, rescaled = out / "derivatives-plain", out / "derivatives-rescaled"
    summary = {"masking": {}, "rescaling": {}}
    hits = {}
    for space in ("voxels", "tokens"):
        per_seed, values = {}, []
        for seed in seeds:
            result, seed_hits, runs = _retrieval(plain, f"mask-{space}-seed{seed}", config)
            per_seed[seed] = {"fmri_to_image": result["fmri_to_image"]["top5"],
                              "fmri_to_caption": result["fmri_to_caption"]["top5"], "method": result["fmri_to_image"]["method"]}
            values.append(seed_hits)
        hits[space] = np.array(values)
        summary["masking"][space] = _condition_summary(per_seed, values, runs, 0)
    summary["masking"]["tokens_minus_voxels"] = _condition_summary({}, hits["tokens"] - hits["voxels"], runs, 0)
    ssims = {}
    for derivatives, label in ((plain, "plain"), (rescaled, "rescaled")):
        per_seed, values, differences = {}, [], []
        for seed in seeds:
            name = f"scale-{label}-seed{seed}"
            result, seed_hits, runs = _retrieval(derivatives, name, config)
            frames = np.load(derivatives / "sub-01/models" / name / "decoded-test/frames.npz")
            with open_store(store_path(derivatives, "01", "test")) as store:
                clip_runs = store.runs[frames["rows"]]
            clips = score_clips(frames["decoded"], frames["truth"], clip_runs, seed=0, per_clip=True)
            per_clip = clips.pop("per_clip")
            per_seed[seed] = {"fmri_to_image": result["fmri_to_image"]["top5"], "ssim": clips}
            values.append(seed_hits)
            differences.append(per_clip["own"] - per_clip["others"])
        summary["rescaling"][label] = _condition_summary(per_seed, values, runs, 0)
        summary["rescaling"][label]["ssim_own_minus_others_mean_over_seeds"] = _condition_summary(
            {}, differences, clip_runs, 0)["mean_over_seeds"]
        ssims[label] = np.array(differences)
    summary["rescaling"]["rescaled_minus_plain_ssim_difference"] = _condition_summary(
        {}, ssims["rescaled"] - ssims["plain"], clip_runs, 0)
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--score", action="store_true", help="Score the finished runs into summary.json.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.score:
        summary = score(args.out, args.seeds)
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(json.dumps(summary, indent=2))
    else:
        print(json.dumps(run_all(args.out, args.seeds), indent=2))


if __name__ == "__main__":
    main()
