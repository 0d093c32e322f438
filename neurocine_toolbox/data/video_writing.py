"""Writing clips: H.264 mp4 with PyAV, animated GIF with Pillow, truth and prediction in the peers' grid."""

import contextlib
import math
from fractions import Fraction

import numpy as np


@contextlib.contextmanager
def mp4_writer(path, fps, width, height, crf=18, preset=None):
    """Yield ``write(frame)`` for uint8 ``[H, W, 3]`` frames into an H.264 mp4 (yuv420p).

    x264's macroblock-tree rate control is off and it runs on one thread, so the same frames
    give the same bytes (seen to differ from run to run otherwise, PyAV 18 at small sizes).
    Width and height must be even (yuv420p). ``preset`` is x264's speed preset (its default,
    ``medium``, when None).
    """
    import av

    if width % 2 or height % 2:
        raise ValueError(f"H.264 (yuv420p) needs even frame sizes, not {width}×{height}")
    options = {"crf": str(crf), "x264-params": "mbtree=0", **({"preset": preset} if preset else {})}
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000), options=options)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1

        def write(frame):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)

        yield write
        for packet in stream.encode():
            container.mux(packet)


def write_mp4(path, frames, fps):
    """Write uint8 frames ``[F, H, W, 3]`` as an mp4 at ``fps`` frames per second."""
    with mp4_writer(path, fps, frames.shape[2], frames.shape[1]) as write:
        for frame in frames:
            write(frame)


def cut_movie(path, segments, crf=18, preset="veryfast"):
    """Re-encode stretches of a movie as mp4 files of their own, each starting at time 0.

    A stretch ``[start, end)`` begins with the first frame shown at or after ``start`` (less than
    a frame late) and keeps as many frames as its length needs at the movie's average frame rate,
    so that it lasts at least ``end - start``. Video only: the sound is not kept.

    Parameters
    ----------
    path : str or Path
        The movie.
    segments : list of (float, float, str or Path)
        ``(start, end, target)`` in seconds of movie time.
    crf : int
        x264 quality (18: visually lossless).
    preset : str, optional
        x264 speed preset (``veryfast`` encodes 720p several times faster than ``medium``).

    Returns
    -------
    list of int
        Frames written per segment, in the order given.

    Raises
    ------
    NeurocineError
        If the movie cannot be decoded, has an odd frame size, or ends (by more than half a frame)
        before a segment does.
    """
    import av

    from ..errors import NeurocineError

    counts = [0] * len(segments)
    try:
        with av.open(str(path)) as container, contextlib.ExitStack() as cleanup:
            if not container.streams.video:
                raise NeurocineError("has no video stream", path)
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = stream.average_rate or stream.guessed_rate
            width, height = stream.codec_context.width, stream.codec_context.height
            if not rate or width % 2 or height % 2:
                raise NeurocineError(f"cannot cut it: frame rate {rate}, frame size {width}×{height} "
                                     "(H.264 output needs a frame rate and even sizes)", path)
            frame_duration = 1.0 / float(rate)
            needed = [max(1, math.ceil((end - start) / frame_duration - 1e-6)) for start, end, _ in segments]
            pending, writers, last = set(range(len(segments))), {}, None
            for t, frame in _timed_frames(container.decode(stream), frame_duration):
                active = sorted(i for i in pending if t >= segments[i][0] - _CUT_EPS)
                rgb = frame.to_ndarray(format="rgb24") if active else None
                for i in active:
                    if i not in writers:
                        stack = cleanup.enter_context(contextlib.ExitStack())
                        writers[i] = stack, stack.enter_context(mp4_writer(segments[i][2], rate, width, height,
                                                                             crf, preset))
                    writers[i][1](rgb)
                    counts[i] += 1
                    if counts[i] == needed[i]:
                        writers[i][0].close()
                        pending.discard(i)
                last = t
                if not pending:
                    break
            ends_at = -1.0 if last is None else last + frame_duration
            for i in sorted(pending):
                start, end, _ = segments[i]
                # The last frame stays on screen for a frame; half a frame short is rounding.
                if counts[i] == 0 or ends_at + 1e-3 < end - 0.5 * frame_duration:
                    raise NeurocineError(
                        f"movie ends at {max(ends_at, 0):.2f} s, before the stretch {start:g}-{end:g} s ends", path)
                writers[i][0].close()
    except av.error.FFmpegError as err:
        raise NeurocineError(f"cannot decode movie ({err})", path)
    except FileNotFoundError:
        raise NeurocineError("movie not found", path)
    return counts


_CUT_EPS = 1e-4


def _timed_frames(decoded, frame_duration):
    """Yield ``(time, frame)``; a frame without a timestamp follows the previous one by a frame."""
    previous = None
    for frame in decoded:
        t = float(frame.time) if frame.time is not None else (
            0.0 if previous is None else previous + frame_duration)
        previous = t
        yield t, frame


def peer_grid(truth, reconstruction, padding=2):
    """Two clips in the peers' layout: torchvision's ``make_grid([truth, reconstruction], padding=2)``.

    Parameters
    ----------
    truth, reconstruction : uint8 ``[F, H, W, 3]``
    padding : int
        Width of the black border around and between the two frames (make_grid's default, which
        MinD-Video, NEURONS and Mind-Animator keep).

    Returns
    -------
    uint8 ``[F, H + 2p, 2W + 3p, 3]``
        Truth at rows ``p : H + p``, columns ``p : W + p``; reconstruction at the same rows, columns
        ``W + 2p : 2W + 2p``; black elsewhere. For 256² frames 518×260 (width × height), what
        :func:`~neurocine_toolbox.evaluation.clip_files.read_peer_grid_gifs` reads.
    """
    if truth.shape != reconstruction.shape or truth.ndim != 4 or truth.shape[-1] != 3:
        raise ValueError(f"the peers' grid needs two clips [F, H, W, 3] of one shape, not {truth.shape} and "
                         f"{reconstruction.shape}")
    frames, height, width, _ = truth.shape
    grid = np.zeros((frames, height + 2 * padding, 2 * width + 3 * padding, 3), truth.dtype)
    grid[:, padding:padding + height, padding:padding + width] = truth
    grid[:, padding:padding + height, width + 2 * padding:2 * width + 2 * padding] = reconstruction
    return grid


def write_gif(path, frames, fps):
    """Write uint8 frames ``[F, H, W, 3]`` as a looping animated GIF."""
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(str(path), format="GIF", save_all=True, append_images=images[1:],
                   duration=int(round(1000 / fps)), loop=0)
