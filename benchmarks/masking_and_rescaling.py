"""Two choices of issue 8, measured on a simulated dataset over several seeds.

1. Spatial masking in voxel space or in token space (``contrastive.spatial_mask_space``):
   held-out fMRI→image and fMRI→caption retrieval of the encoder.
2. ``prep --rescale-after-average`` or not: held-out retrieval, and decode SSIM (MinD-Video
   protocol) own truth vs. other clips' truth.

Everything runs with the ``tiny`` preset on the demo's dataset (``simulate`` preset ``small``,
voxels by reliability, top 4,500, sidecar captions): the same as ``neurocine demo``. Each run
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

from neurocine_toolbox.config import load_config
from neurocine_toolbox.data.embedding import embed_stores
from neurocine_toolbox.data.prep import PrepOptions, prep
from neurocine_toolbox.data.store import store_path
from neurocine_toolbox.demo import PREP, SIMULATION
from neurocine_toolbox.simulate import simulate_dataset

log = logging.getLogger("neurocine")


def prepared(out, rescale):
    """The simulated dataset, prepared (with or without rescaling) and embedded; its derivatives folder."""
    bids = out / "bids"
    if not (bids / "dataset_description.json").is_file():
        simulate_dataset(bids, seed=0, progress=False, **SIMULATION)
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
