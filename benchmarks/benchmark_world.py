"""One seed of the benchmark world, end to end, each step timed: simulate → prep → embed → fit → decode → evaluate.

The benchmark world (``simulate --preset benchmark``: 40 training movies of 64 s seen twice, 8 test
movies of 32 s seen ten times, shapes in front of photographs, a brain of pRFs over motion energy;
docs/benchmark-world.md) is prepared as the demo prepares its dataset (the 4,500 most reliable
grayordinates by MinD-Video's test on the training runs; a fifth of the training movies held out
for validation), embedded with its true captions, trained with ``--preset`` (``tiny-natural``: the
paper's method at CPU size, the ``tiny`` preset with tiny models pretrained on natural-world
frames), its test split decoded and scored by ``neurocine evaluate`` beside every baseline (flat,
mean clip, shuffled, latent ridge, pixel ridge) and the VAE oracle.

The tiny models are built once into ``$NEUROCINE_CACHE`` before the timings count: a first run
on a machine builds them (minutes, ``tiny-sd-natural`` the longest); the step times are a warm
cache's.

Prints each step's wall time and the evaluation table; writes ``OUT/timings.json``.

Usage::

    NEUROCINE_CACHE=/tmp/nc-cache python benchmarks/benchmark_world.py /tmp/world-0 --seed 0
"""

import argparse
import json
import time
from pathlib import Path

BASELINES = ("ridge", "pixel_ridge", "vae_oracle")


def prep_options():
    """How the benchmark world is prepared (the demo's selection, prep's default validation share)."""
    from neurocine_toolbox.demo import PREP

    return PREP


def build_models(config):
    """Build (once per ``$NEUROCINE_CACHE``) every built-in model the run reads: CLIP, BLIP, SD, classifiers."""
    from neurocine_toolbox.models.pretrained import build_tiny, is_builtin_name

    names = [config["embedding"]["clip_model"], config["embedding"]["caption_model"], config["decoder"]["pretrained"],
             config["evaluation"]["frame_classifier"], config["evaluation"]["clip_classifier"]]
    for name in names:
        if name and is_builtin_name(name):
            build_tiny(name)


def run(out, seed=0, preset="tiny-natural", simulation="benchmark", overrides=(), progress=False):
    """Every step on one seed; returns ``(timings, evaluation record)``."""
    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.data.embedding import embed_stores
    from neurocine_toolbox.data.prep import prep
    from neurocine_toolbox.evaluation.evaluate import evaluate_run
    from neurocine_toolbox.pipelines.decode_split import decode_split
    from neurocine_toolbox.simulate import simulate_dataset
    from neurocine_toolbox.training.fit import fit

    bids = Path(out) / "bids"
    derivatives = bids / "derivatives" / "neurocine"
    timings = {}

    def timed(step, function, *args, **kwargs):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        timings[step] = round(time.perf_counter() - start, 1)
        print(f"{step}: {timings[step]:.1f} s", flush=True)
        return result

    config = load_config(preset, overrides=overrides)
    timed("tiny models (built once per machine)", build_models, config)
    timed("simulate", simulate_dataset, bids, preset=simulation, seed=seed, progress=progress)
    stores = timed("prep", prep, bids, options=prep_options(), progress=progress)
    timed("embed", embed_stores, stores, dict(config["embedding"], captions="sidecar"), progress=progress,
          bids_dir=bids)
    trained = timed("fit", fit, derivatives, "01", preset=preset, overrides=overrides, progress=progress)
    name = trained["root"].name
    timed("decode", decode_split, derivatives, "01", name=name, progress=progress)
    record = timed("evaluate", evaluate_run, derivatives, "01", name=name, baselines=BASELINES, progress=progress)
    timings["total, models built"] = round(sum(v for k, v in timings.items() if not k.startswith("tiny models")), 1)
    return timings, record


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="a new folder")
    parser.add_argument("--seed", type=int, default=0, help="simulation seed")
    parser.add_argument("--preset", default="tiny-natural", help="the paper's method at CPU size, with the natural world's tiny models")
    parser.add_argument("--simulation", default="benchmark", help="simulate preset")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    args = parser.parse_args()
    from neurocine_toolbox.evaluation.evaluate import table_lines

    timings, record = run(args.out, args.seed, args.preset, args.simulation, args.overrides)
    Path(args.out, "timings.json").write_text(json.dumps(timings, indent=2))
    print("\n| step | wall (s) |\n|---|---|")
    for step, seconds in timings.items():
        print(f"| {step} | {seconds:.1f} |")
    print()
    print("\n".join(table_lines(record)))


if __name__ == "__main__":
    main()
