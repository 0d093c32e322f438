"""Time the pixel metrics of ``neurocine evaluate`` at Wen 2018's size: 3 SSIM protocols and PSNR.

1,200 clips (5 runs × 240, as Wen's test split) of 6 frames of 256×256 RGB uint8, movie-like
truth and noisy "decoded" clips from ``decode_summary_scoring.movie_clips`` (not timed). Each
metric is timed on its own (``pixel_metrics.ssim_per_frame`` for ``mindvideo-rgb``, ``gray-2d``,
``neurons-columnwise``; ``psnr_per_frame``), after one call on a tiny clip that compiles or
loads the numba kernels (timed apart). A few frames of each are checked against scikit-image.
With ``--gifs N``, N clips are also written as peer grid gifs (Pillow, not timed) and read back
with ``clip_files.read_peer_grid_gifs`` (timed, and extrapolated to all clips).
The machine may be shared: the load average is recorded before and after.

Usage::

    python benchmarks/evaluation_pixel_metrics.py --json pixel_metrics.json
    python benchmarks/evaluation_pixel_metrics.py --clips 60        # quick look
    python benchmarks/evaluation_pixel_metrics.py --gifs 120        # also time reading gifs
"""

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

# Run as a script, this folder is on sys.path: the same movie-like clips as the scoring benchmark.
from decode_summary_scoring import movie_clips


def _skimage_reference(pred, gt, protocol):
    from skimage.color import rgb2gray
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    gray = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    if protocol == "mindvideo-rgb":
        return structural_similarity(pred, gt, data_range=255, channel_axis=-1)
    if protocol == "gray-2d":
        return structural_similarity(rgb2gray(pred), rgb2gray(gt), **gray)
    if protocol == "neurons-columnwise":
        return structural_similarity(rgb2gray(pred), rgb2gray(gt), channel_axis=-1, **gray)
    return peak_signal_noise_ratio(gt, pred, data_range=255)


def _time_gif_reading(pred, truth, n_gifs):
    """Seconds to read ``n_gifs`` clips written as make_grid([truth, pred], padding=2) gifs."""
    from PIL import Image

    from neurocine_toolbox.evaluation.clip_files import read_peer_grid_gifs

    size = pred.shape[2]
    with tempfile.TemporaryDirectory() as folder:
        for k in range(n_gifs):
            grid = np.zeros((pred.shape[1], size + 4, 2 * size + 6, 3), np.uint8)
            grid[:, 2:2 + size, 2:2 + size] = truth[k]
            grid[:, 2:2 + size, size + 4:2 * size + 4] = pred[k]
            images = [Image.fromarray(frame) for frame in grid]
            images[0].save(Path(folder) / f"test{k + 1}.gif", save_all=True, append_images=images[1:],
                           duration=330, loop=0)
        start = time.perf_counter()
        read_peer_grid_gifs(folder)
        return time.perf_counter() - start


def _rss_gib():
    import psutil

    return psutil.Process().memory_info().rss / 2 ** 30


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1200)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--check-frames", type=int, default=4, help="Frames per metric checked against scikit-image.")
    parser.add_argument("--gifs", type=int, default=0, help="Also time reading this many clips as peer gifs.")
    parser.add_argument("--json", help="Also write the figures to this file.")
    args = parser.parse_args()

    import numba

    from neurocine_toolbox.evaluation.pixel_metrics import SSIM_PROTOCOLS, psnr_per_frame, ssim_per_frame

    load_before = os.getloadavg()
    start = time.perf_counter()
    pred, truth = movie_clips(args.clips, args.frames, args.size)
    print(f"{args.clips} clips x {args.frames} frames x {args.size}^2 RGB "
          f"(generated in {time.perf_counter() - start:.0f} s); load average {load_before[0]:.2f}")

    start = time.perf_counter()
    for protocol in SSIM_PROTOCOLS:  # compile or load from numba's cache
        ssim_per_frame(pred[:1, :1, :16, :16], truth[:1, :1, :16, :16], protocol)
    psnr_per_frame(pred[:1, :1, :16, :16], truth[:1, :1, :16, :16])
    compile_s = time.perf_counter() - start
    rss_data = _rss_gib()

    metrics = {f"ssim {p}": (lambda p=p: ssim_per_frame(pred, truth, p)) for p in SSIM_PROTOCOLS}
    metrics["psnr"] = lambda: psnr_per_frame(pred, truth)
    sample = np.random.default_rng(1).integers(0, [args.clips, args.frames], (args.check_frames, 2))
    seconds, means, differences = {}, {}, {}
    for name, metric in metrics.items():
        start = time.perf_counter()
        values = metric()
        seconds[name] = time.perf_counter() - start
        means[name] = float(values.mean())
        reference = [_skimage_reference(pred[n, f], truth[n, f], name.removeprefix("ssim ")) for n, f in sample]
        differences[name] = float(np.max(np.abs(values[sample[:, 0], sample[:, 1]] - reference)))
        print(f"{name:24s} {seconds[name]:7.1f} s   mean {means[name]:.4f}   "
              f"largest difference to scikit-image {differences[name]:.1e}")
    total = sum(seconds.values())
    gif_s = _time_gif_reading(pred, truth, min(args.gifs, args.clips)) if args.gifs else None
    load_after = os.getloadavg()

    figures = {
        "machine": f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), numba threads "
                   f"{numba.get_num_threads()}",
        "load_average_before": load_before, "load_average_after": load_after,
        "clips": args.clips, "frames": args.frames, "size": args.size, "frame_pairs": args.clips * args.frames,
        "compile_or_load_s": compile_s, "seconds": seconds, "total_s": total,
        "ms_per_frame_pair": {k: 1e3 * v / (args.clips * args.frames) for k, v in seconds.items()},
        "means": means, "max_abs_difference_to_skimage": differences,
        "rss_with_clips_gib": rss_data,
        "clips_gib": (pred.nbytes + truth.nbytes) / 2 ** 30,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
    }
    if gif_s is not None:
        n_gifs = min(args.gifs, args.clips)
        figures.update(gifs_read=n_gifs, gif_reading_s=gif_s, gif_reading_extrapolated_s=gif_s / n_gifs * args.clips)
        print(f"read {n_gifs} peer gifs in {gif_s:.1f} s: {gif_s / n_gifs * args.clips:.0f} s extrapolated "
              f"to {args.clips} clips")
    print(f"all pixel metrics: {total:.1f} s for {args.clips * args.frames:,} frame pairs ({figures['machine']}); "
          f"compile/load {compile_s:.1f} s; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(f"peak RSS {figures['peak_rss_gib']:.2f} GiB (clips alone {figures['clips_gib']:.2f} GiB, "
          f"RSS {rss_data:.2f} GiB before the metrics)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
