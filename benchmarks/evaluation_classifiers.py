"""Time the N-way evaluation's classifiers at real size on the test set's shape.

The frame classifier (ViT-B/16, ``ViTConfig()`` defaults, 1000 labels) and the clip classifier
(VideoMAE-base, ``VideoMAEConfig()`` defaults, 400 labels, run on 6-frame clips), both with
random weights saved to a temporary folder and loaded through
``neurocine_toolbox.evaluation.classifiers`` like the real ones, with the peers' preprocessing.
The test set of Wen et al. 2018 is 1,200 clips of 6 frames of 256²; ``--clips N`` times N of
them and extrapolates linearly to 1,200 (the output says so); the model's loading is timed
apart, once. Also timed: a second call, which reads the output cache (its cost is hashing the
frames).

Usage::

    python benchmarks/evaluation_classifiers.py --clips 24
    python benchmarks/evaluation_classifiers.py --clips 1200 --device cuda --precision auto --json out.json
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from neurocine_toolbox.evaluation.classifiers import ClipClassifier, FrameClassifier

TEST_CLIPS, FRAMES, SIZE = 1200, 6, 256


def save_random_models(folder):
    """Write a random ViT-B/16 and VideoMAE-base with the peers' processors; return their folders."""
    from transformers import ViTConfig, ViTForImageClassification, VideoMAEConfig, VideoMAEForVideoClassification

    torch.manual_seed(0)
    vit, videomae = Path(folder) / "vit-b16", Path(folder) / "videomae-base"
    ViTForImageClassification(ViTConfig(num_labels=1000)).save_pretrained(vit)
    FrameClassifier.default_processor().save_pretrained(vit)
    VideoMAEForVideoClassification(VideoMAEConfig(num_labels=400)).save_pretrained(videomae)
    ClipClassifier.default_processor().save_pretrained(videomae)
    return vit, videomae


def time_classifier(classifier, clips):
    """Seconds to load the model (with one clip), to classify ``clips``, and to read them cached."""
    start = time.perf_counter()
    classifier.probabilities(clips[:1])  # loads the model: a one-off, not extrapolated
    loaded = time.perf_counter()
    first = classifier.probabilities(clips)
    done = time.perf_counter()
    again = type(classifier)(classifier.name, device=classifier.device, precision=classifier.precision,
                             cache_dir=classifier.cache_dir).probabilities(clips)
    end = time.perf_counter()
    assert np.array_equal(first, again)
    return loaded - start, done - loaded, end - done


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=TEST_CLIPS, help="Clips timed (extrapolated to 1,200).")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["auto", "fp32", "fp16", "bf16"])
    parser.add_argument("--batch", type=int, default=16, help="Frames (ViT) or clips (VideoMAE) per forward pass.")
    parser.add_argument("--json", help="Also write the figures to this JSON file.")
    args = parser.parse_args()

    clips = np.random.default_rng(0).integers(0, 256, (args.clips, FRAMES, SIZE, SIZE, 3), dtype=np.uint8)
    scale = TEST_CLIPS / args.clips
    note = "" if args.clips == TEST_CLIPS else f" (timed on {args.clips} clips, extrapolated linearly)"
    figures = {"clips_timed": args.clips, "device": args.device, "precision": args.precision,
               "threads": torch.get_num_threads(), "batch": args.batch}
    with tempfile.TemporaryDirectory() as tmp:
        vit, videomae = save_random_models(tmp)
        for key, cls, folder in (("frame_classifier", FrameClassifier, vit),
                                 ("clip_classifier", ClipClassifier, videomae)):
            classifier = cls(str(folder), device=args.device, precision=args.precision, batch_size=args.batch,
                             cache_dir=Path(tmp) / "cache")
            load, first, cached = time_classifier(classifier, clips)
            figures[key] = {"load_seconds": load, "seconds": first, "seconds_per_clip": first / args.clips,
                            "seconds_1200_clips": load + first * scale, "cached_seconds": cached,
                            "cached_seconds_1200_clips": cached * scale}
            print(f"{classifier.label} ({folder.name}, {args.precision} on {args.device}, "
                  f"{torch.get_num_threads()} threads): load {load:.1f} s, {first / args.clips:.3f} s/clip → "
                  f"{(load + first * scale) / 60:.1f} min for 1,200 clips{note}; cached again: "
                  f"{cached * scale:.1f} s for 1,200 clips")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
