"""Movie files with PyAV: probe a container, write H.264 mp4, cut stretches into files of their own.

The lowest layer of the library's video handling: ``bids`` (the HCP 7T converter), ``data``
(prep's frames) and ``simulate`` all use it, so it imports nothing of theirs.
"""

import contextlib
import math
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from ..errors import NeurocineError


@dataclass
class MovieInfo:
    """What a movie's container says about it."""

    path: str
    fps: float
    duration: float
    width: int
    height: int


def probe_movie(path):
    """Open a movie and read its frame rate, duration and size without decoding it.

    Raises
    ------
    NeurocineError
        If the file is missing, unreadable or has no video stream.
    """
    path = str(path)
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise NeurocineError("has no video stream", path)
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            else:
                duration = (stream.frames / fps) if fps and stream.frames else 0.0
            return MovieInfo(path, fps, duration, stream.codec_context.width, stream.codec_context.height)
    except FileNotFoundError:
        raise NeurocineError("movie not found", path)
    except av.error.FFmpegError as err:
        raise NeurocineError(f"unreadable movie ({err})", path)


@contextlib.contextmanager
def mp4_writer(path, fps, width, height, crf=18, preset=None):
    """Yield ``write(frame)`` for uint8 ``[H, W, 3]`` frames into an H.264 mp4 (yuv420p).

    x264's macroblock-tree rate control is off and it runs on one thread, so the same frames
    give the same bytes (seen to differ from run to run otherwise, PyAV 18 at small sizes).
    Width and height must be even (yuv420p). ``preset`` is x264's speed preset (its default,
    ``medium``, when None).
    """
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
