"""Read movie frames with PyAV: probe, and sample the frames shown at given times."""

import av
import numpy as np

from ..errors import NeurocineError
from ..utils.movie_files import MovieInfo, probe_movie

__all__ = ["MovieInfo", "probe_movie", "sample_frames"]

# A target time within this many seconds of a frame's timestamp counts as that frame.
_TIME_EPS = 1e-4


def sample_frames(path, times, size=None):
    """Decode a movie once and return the frame on screen at each requested time.

    Parameters
    ----------
    path : str or Path
    times : array-like of float
        Movie times in seconds (any order).
    size : int or (int, int), optional
        Output (height, width); frames are resized with swscale. ``None`` keeps the native size.

    Returns
    -------
    ndarray
        uint8 ``[len(times), H, W, 3]`` RGB.

    Raises
    ------
    NeurocineError
        If the movie cannot be decoded or ends before the last requested time.
    """
    path = str(path)
    times = np.asarray(times, dtype=np.float64)
    order = np.argsort(times, kind="stable")
    if isinstance(size, int):
        size = (size, size)
    reformat = {} if size is None else {"height": size[0], "width": size[1]}
    out = np.empty((len(times), *(size or (0, 0)), 3), dtype=np.uint8) if size else None
    k = 0
    shown, shown_rgb, shown_time = None, None, -np.inf

    def assign_until(limit):
        # Give every pending target before ``limit`` the frame on screen (converted once).
        nonlocal k, shown_rgb, out
        while k < len(order) and times[order[k]] < limit - _TIME_EPS:
            if shown is None:
                raise NeurocineError(f"no frame at {times[order[k]]:.3f} s", path)
            if shown_rgb is None:
                shown_rgb = shown.to_ndarray(format="rgb24", **reformat)
            if out is None:
                out = np.empty((len(times), *shown_rgb.shape), dtype=np.uint8)
            out[order[k]] = shown_rgb
            k += 1

    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frame_duration = 1.0 / float(stream.average_rate or 30)
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else shown_time + frame_duration
                assign_until(t)
                if k == len(order):
                    break
                shown, shown_rgb, shown_time = frame, None, t
            else:
                assign_until(shown_time + frame_duration)
    except av.error.FFmpegError as err:
        raise NeurocineError(f"cannot decode movie ({err})", path)
    except (FileNotFoundError, IsADirectoryError):
        raise NeurocineError("movie not found", path)
    if k < len(order):
        raise NeurocineError(
            f"movie is shorter than its events say: it ends at {shown_time + frame_duration:.2f} s "
            f"but frames are needed up to {times.max():.2f} s",
            path,
        )
    return out
