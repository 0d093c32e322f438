"""How much a simulated world's clips look like real movie clips: Wen 2018's test clips beside it.

The SSIM bar on a benchmark world means something only if the world is not mostly flat: where
most 7x7 windows of the truth are one flat colour, a flat grey frame or the mean clip already
scores a high SSIM, and no decoder can beat them by much. This script measures, per 2-second
clip of 6 frames at 256x256 and with the same functions for every source:

- ``flat grey SSIM``: SSIM (MinD-Video protocol) of a flat grey frame (128, 128, 128) against
  each frame, mean over frames;
- ``mean-clip SSIM``: SSIM of the leave-one-out mean clip (the other clips' mean, frame by frame,
  rounded to uint8) against the clip;
- ``flat-window share``: share of non-overlapping 7x7 tiles of the luma frame whose standard
  deviation is below 2 grey levels;
- ``frame-to-frame r``: Pearson r of consecutive frames' RGB pixels (330 ms apart), mean over
  the 5 pairs;
- ``spectral slope``: slope of the log-log radially averaged amplitude spectrum of the luma frame
  (Hann window), fitted over 4-64 cycles per image; natural images are near -1;
- ``RMS contrast``: standard deviation of the luma frame / 255.

Real clips: the truth halves of MinD-Video's 16 released gifs (Wen et al. 2018 test clips, 6
frames at 256x256, 330 ms per frame). Get them into DIR, outside the repository, with::

    git --git-dir /work/.mirror/jqin4749+MindVideo/repo archive HEAD assets/gif | tar -x -C DIR

and pass ``--mindvideo-gifs DIR/assets/gif``. Simulated clips: each ``stimuli/test*.mp4`` of a
``neurocine simulate`` dataset cut into consecutive 2 s clips, 6 frames at t0 + k * 2/6 s
(k = 0 … 5), resized to 256x256; all clips, or ``--max-clips`` drawn evenly.

Usage::

    python benchmarks/world_calibration.py --mindvideo-gifs /tmp/mindvideo-gifs/assets/gif \\
        --world small=/tmp/sim_small --json calibration.json
"""

import argparse
import json
from pathlib import Path

import numpy as np

CLIP_SECONDS = 2.0
FRAMES = 6
SIZE = 256
GREY = 128
WINDOW = 7
FLAT_SD = 2.0
SLOPE_BAND = (4, 64)  # cycles per image
REAL = "Wen 2018 test clips (MinD-Video's 16 gifs)"


def luma(frames):
    """Rec.601 luma (0-255, float) of uint8 RGB frames ``[..., 3]``."""
    return np.asarray(frames, dtype=np.float64) @ np.array([0.299, 0.587, 0.114])


def flat_grey_ssim(clip):
    """Mean SSIM of a flat grey frame against each frame of a clip.

    Parameters
    ----------
    clip : uint8 ``[F, H, W, 3]``

    Returns
    -------
    float
        Mean over frames of ``frame_ssim(grey, frame)``, the MinD-Video protocol (scikit-image,
        data_range 255, 7x7 uniform window, RGB channels).
    """
    from neurocine_toolbox.evaluation.ssim import frame_ssim

    grey = np.full(clip.shape[1:], GREY, dtype=np.uint8)
    return float(np.mean([frame_ssim(grey, frame) for frame in clip]))


def mean_clip_ssim(clips):
    """SSIM of each clip's leave-one-out mean clip against the clip.

    Parameters
    ----------
    clips : uint8 ``[N, F, H, W, 3]``, N >= 2

    Returns
    -------
    ndarray ``[N]``
        Per clip, the mean over frames of ``frame_ssim(mean of the other clips, clip)``.
    """
    from neurocine_toolbox.evaluation.baselines import leave_one_out_mean_clips
    from neurocine_toolbox.evaluation.ssim import frame_ssim

    means = leave_one_out_mean_clips(clips)
    return np.array([np.mean([frame_ssim(p, t) for p, t in zip(mean, clip)]) for mean, clip in zip(means, clips)])


def flat_window_share(clip, window=WINDOW, flat_sd=FLAT_SD):
    """Share of non-overlapping ``window`` x ``window`` luma tiles with s.d. below ``flat_sd``.

    Parameters
    ----------
    clip : uint8 ``[F, H, W, 3]``
    window : int
        Tile side; the frame is cropped to a whole number of tiles (252 of 256 pixels).
    flat_sd : float
        Grey levels (0-255) under which a tile counts as flat.

    Returns
    -------
    float
        Share of flat tiles, mean over frames (1 for a flat frame).
    """
    grey = luma(clip)
    f, h, w = grey.shape
    rows, cols = h // window, w // window
    tiles = grey[:, :rows * window, :cols * window].reshape(f, rows, window, cols, window)
    return float((tiles.std(axis=(2, 4)) < flat_sd).mean())


def frame_to_frame_correlation(clip):
    """Pearson r between consecutive frames' flattened RGB pixels, mean over pairs.

    Parameters
    ----------
    clip : uint8 ``[F, H, W, 3]``, F >= 2

    Returns
    -------
    float
        Mean r over the F - 1 pairs that have pixel variance; NaN if no pair has.
    """
    x = clip.reshape(len(clip), -1).astype(np.float64)
    x -= x.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(x, axis=1)
    pairs = [(a * b).sum() / (na * nb) for a, b, na, nb in zip(x[:-1], x[1:], norms[:-1], norms[1:]) if na * nb > 0]
    return float(np.mean(pairs)) if pairs else float("nan")


def spectral_slope(frame, band=SLOPE_BAND):
    """Slope of the log-log radially averaged amplitude spectrum of one frame's luma.

    Parameters
    ----------
    frame : uint8 ``[H, W, 3]`` (RGB) or ``[H, W]`` (grey)
    band : (float, float)
        Radial frequencies fitted, in cycles per image (both ends included).

    Returns
    -------
    float
        Least-squares slope of log amplitude against log frequency over integer-radius bins:
        about 0 for white noise, about -1 for natural images (power about -2).
    """
    grey = luma(frame) if np.ndim(frame) == 3 else np.asarray(frame, dtype=np.float64)
    h, w = grey.shape
    hann = np.outer(np.hanning(h), np.hanning(w))
    amplitude = np.abs(np.fft.fft2((grey - grey.mean()) * hann))
    fy, fx = np.meshgrid(np.fft.fftfreq(h) * h, np.fft.fftfreq(w) * w, indexing="ij")
    radius = np.rint(np.hypot(fy, fx)).astype(int)
    sums, counts = np.bincount(radius.ravel(), amplitude.ravel()), np.bincount(radius.ravel())
    freqs = np.arange(band[0], band[1] + 1)
    mean = sums[freqs] / counts[freqs]
    if not np.all(mean > 0):
        return float("nan")
    return float(np.polyfit(np.log(freqs), np.log(mean), 1)[0])


def rms_contrast(clip):
    """Standard deviation of each frame's luma / 255, mean over frames (clip ``[F, H, W, 3]``)."""
    return float((luma(clip).std(axis=(1, 2)) / 255).mean())


STATISTICS = {
    "flat grey SSIM": lambda clips: np.array([flat_grey_ssim(c) for c in clips]),
    "mean-clip SSIM (leave-one-out)": mean_clip_ssim,
    f"flat-window share ({WINDOW}x{WINDOW} tiles, s.d. < {FLAT_SD:g})": lambda clips: np.array(
        [flat_window_share(c) for c in clips]),
    "frame-to-frame r (330 ms)": lambda clips: np.array([frame_to_frame_correlation(c) for c in clips]),
    "spectral slope (amplitude, 4-64 c/img)": lambda clips: np.array(
        [np.mean([spectral_slope(f) for f in c]) for c in clips]),
    "RMS contrast": lambda clips: np.array([rms_contrast(c) for c in clips]),
}


def bootstrap_interval(values, n_boot=2000, seed=0):
    """Mean of per-clip values (NaN dropped) and its 95 % percentile-bootstrap interval over clips."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(values.mean()), float(low), float(high)


def real_clips(folder):
    """The truth halves of the peers' [truth | reconstruction] gifs: uint8 ``[N, 6, 256, 256, 3]``."""
    from neurocine_toolbox.evaluation.clip_files import read_peer_grid_gifs

    _, truth, _ = read_peer_grid_gifs(folder)
    if truth.shape[1:4] != (FRAMES, SIZE, SIZE):
        raise SystemExit(f"{folder}: clips are {truth.shape[1:4]}, not {FRAMES} frames at {SIZE}x{SIZE}")
    return truth


def clip_starts(movies, max_clips):
    """``(movie, start time)`` of consecutive 2 s clips of every movie, at most ``max_clips`` drawn evenly."""
    from neurocine_toolbox.data.video import probe_movie

    starts = [(movie, j * CLIP_SECONDS) for movie in movies
              for j in range(int(probe_movie(movie).duration / CLIP_SECONDS + 1e-6))]
    if len(starts) > max_clips:
        starts = [starts[i] for i in np.unique(np.linspace(0, len(starts) - 1, max_clips).round().astype(int))]
    return starts


def simulated_clips(root, max_clips):
    """Clips of a simulated dataset's test movies, 6 frames at 256x256: uint8 ``[N, 6, 256, 256, 3]``."""
    from neurocine_toolbox.data.video import sample_frames

    movies = sorted(Path(root).glob("stimuli/test*.mp4"))
    if not movies:
        raise SystemExit(f"{root}: no stimuli/test*.mp4")
    starts = clip_starts(movies, max_clips)
    offsets = np.arange(FRAMES) * CLIP_SECONDS / FRAMES
    clips = []
    for movie in movies:
        t0 = np.array([t for m, t in starts if m == movie])
        if len(t0):
            frames = sample_frames(movie, (t0[:, None] + offsets).ravel(), size=SIZE)
            clips.append(frames.reshape(len(t0), FRAMES, SIZE, SIZE, 3))
    return np.concatenate(clips)


def describe(clips, n_boot, seed):
    """Every statistic of :data:`STATISTICS` on ``clips``: ``{name: (mean, low, high)}`` and the clip count."""
    out = {"clips": len(clips)}
    for name, statistic in STATISTICS.items():
        out[name] = bootstrap_interval(statistic(clips), n_boot, seed)
    return out


def markdown_table(results, n_boot):
    """One row per statistic, one column per source: ``mean [low, high]``."""
    names = list(results)
    lines = ["| statistic | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|",
             "| clips | " + " | ".join(str(results[n]["clips"]) for n in names) + " |"]
    for stat in STATISTICS:
        cells = [f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in (results[n][stat] for n in names)]
        lines.append(f"| {stat} | " + " | ".join(cells) + " |")
    lines.append(f"\nMean over clips (each clip: 6 frames, 256x256, 2 s) and 95 % percentile-bootstrap interval "
                 f"over clips ({n_boot} resamples, clips treated as independent). Flat-window share: "
                 f"non-overlapping {WINDOW}x{WINDOW} tiles of Rec.601 luma. The leave-one-out mean clip "
                 f"averages N - 1 clips, so it is blurrier where N is larger.")
    return "\n".join(lines)


def parse_world(text):
    """``NAME=BIDS_ROOT`` as ``(name, Path)``."""
    name, sep, root = text.partition("=")
    if not sep or not name or not root:
        raise argparse.ArgumentTypeError(f"--world takes NAME=BIDS_ROOT, not {text!r}")
    return name, Path(root)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mindvideo-gifs", required=True, help="folder of MinD-Video's test*.gif")
    parser.add_argument("--world", type=parse_world, action="append", default=[], help="NAME=BIDS_ROOT, repeatable")
    parser.add_argument("--max-clips", type=int, default=240, help="clips per world, drawn evenly")
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()

    results = {REAL: describe(real_clips(args.mindvideo_gifs), args.n_boot, args.seed)}
    for name, root in args.world:
        results[name] = describe(simulated_clips(root, args.max_clips), args.n_boot, args.seed)
    print(markdown_table(results, args.n_boot))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
