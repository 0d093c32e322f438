"""Time the decode summary at Wen 2018's size: every clip against its own truth and 50 others.

1,200 clips (5 runs × 240, as Wen's test split) of 6 frames of 256×256 RGB uint8: movie-like
truth frames (scenes of 4 clips: a colour gradient, a drifting disc, noise) and "decoded" frames
(the truth plus noise), scored by ``evaluation.clip_similarity.score_clips`` (SSIM of the MinD-Video
protocol against the own truth and up to 50 other clips of the run, block bootstrap,
circular-shift null): 1,200 × 51 × 6 = 367,200 frame SSIMs. Frame generation is not timed.

For scale, scikit-image's ``structural_similarity`` is timed on a few frame pairs and
extrapolated to the same number of pairs (labelled as such), and a few of the compiled SSIMs
are checked against it.

Usage::

    python benchmarks/decode_summary_scoring.py --json scoring.json
    python benchmarks/decode_summary_scoring.py --clips 100 --runs 2     # quick look
"""

import argparse
import json
import os
import platform
import resource
import time

import numpy as np


def movie_clips(n_clips, frames, size, scene_clips=4, seed=0):
    """Movie-like truth clips and noisy "decoded" ones, uint8 ``[N, F, size, size, 3]``.

    A new scene (colour ramp, disc position and colour) every ``scene_clips`` clips (8 s at
    Wen's 2 s clips), drifting within the scene, plus pixel noise; decoded = truth + more noise.
    """
    rng = np.random.default_rng(seed)
    y, x = (np.mgrid[0:size, 0:size] / size).astype(np.float32)
    truth = np.empty((n_clips, frames, size, size, 3), np.uint8)
    decoded = np.empty_like(truth)
    for i in range(n_clips):
        if i % scene_clips == 0:
            gain, phase, colour = rng.uniform(60, 220, 3), rng.uniform(0, 6), rng.uniform(40, 220, 3)
            cy, cx, dy, dx = rng.uniform(0.2, 0.8, 4) * [1, 1, 0.05, 0.05]
        for f in range(frames):
            t = (i % scene_clips) + f / frames
            disc = ((y - cy - dy * t) ** 2 + (x - cx - dx * t) ** 2 < 0.02)[..., None] * colour
            ramp = np.stack([gain[0] * x, gain[1] * y, gain[2] * (0.5 + 0.4 * np.sin(6 * x + phase + t))], axis=-1)
            frame = ramp + disc + rng.integers(-8, 9, (size, size, 3))
            truth[i, f] = np.clip(frame, 0, 255)
            decoded[i, f] = np.clip(frame + rng.integers(-50, 51, (size, size, 3)), 0, 255)
    return decoded, truth


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--others", type=int, default=50)
    parser.add_argument("--skimage-pairs", type=int, default=20, help="Frame pairs timed with scikit-image.")
    parser.add_argument("--json", help="Also write the figures to this file.")
    args = parser.parse_args()

    import numba
    from skimage.metrics import structural_similarity

    from neurocine_toolbox.evaluation.clip_similarity import score_clips
    from neurocine_toolbox.evaluation.ssim import pair_ssim

    start = time.perf_counter()
    decoded, truth = movie_clips(args.clips, args.frames, args.size)
    runs = np.repeat(np.arange(args.runs), -(-args.clips // args.runs))[:args.clips]
    print(f"{args.clips} clips x {args.frames} frames x {args.size}^2 in {args.runs} runs "
          f"(generated in {time.perf_counter() - start:.0f} s)")

    start = time.perf_counter()
    pair_ssim(decoded[:1, :1, :8, :8].copy(), truth[:1, :1, :8, :8].copy(), [0], [0])  # compile or load
    compile_s = time.perf_counter() - start

    start = time.perf_counter()
    result = score_clips(decoded, truth, runs, n_others=args.others, seed=0)
    scoring_s = time.perf_counter() - start
    frame_pairs = args.clips * (1 + result["n_others"]) * args.frames

    sample = np.random.default_rng(1).integers(0, args.clips, (args.skimage_pairs, 2))
    start = time.perf_counter()
    reference = [structural_similarity(decoded[i, 0], truth[j, 0], data_range=255, channel_axis=-1)
                 for i, j in sample]
    skimage_per_pair = (time.perf_counter() - start) / args.skimage_pairs
    fast = [pair_ssim(decoded[i:i + 1, :1], truth[j:j + 1, :1], [0], [0])[0] for i, j in sample]

    figures = {
        "machine": f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), numba threads "
                   f"{numba.get_num_threads()}",
        "clips": args.clips, "runs": args.runs, "frames": args.frames, "size": args.size,
        "others_per_clip": result["n_others"], "frame_pairs": frame_pairs,
        "compile_or_load_s": compile_s, "scoring_s": scoring_s,
        "ms_per_frame_pair": 1e3 * scoring_s / frame_pairs,
        "skimage_ms_per_frame_pair": 1e3 * skimage_per_pair,
        "skimage_extrapolated_s": skimage_per_pair * frame_pairs,
        "max_abs_difference_to_skimage": float(np.max(np.abs(np.subtract(fast, reference)))),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
        "summary": {k: result[k] for k in ("own", "others", "difference", "p_value", "block_length",
                                           "min_shift", "n_null")},
    }
    print(f"scored {frame_pairs:,} frame pairs (own + {result['n_others']} others per clip) in {scoring_s:.1f} s "
          f"({figures['ms_per_frame_pair']:.3f} ms a pair, {figures['machine']}); compile/load {compile_s:.1f} s")
    print(f"scikit-image: {figures['skimage_ms_per_frame_pair']:.1f} ms a pair, extrapolated "
          f"{figures['skimage_extrapolated_s'] / 3600:.1f} h for the same pairs; largest difference "
          f"{figures['max_abs_difference_to_skimage']:.1e}")
    print(f"peak RSS {figures['peak_rss_gib']:.2f} GiB; SSIM own {result['own']['mean']:.3f}, "
          f"others {result['others']['mean']:.3f}, p={result['p_value']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
