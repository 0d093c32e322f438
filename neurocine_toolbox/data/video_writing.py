"""Writing clips: H.264 mp4 with PyAV, animated GIF with Pillow, side-by-side truth | prediction."""

import contextlib
from fractions import Fraction

import numpy as np


@contextlib.contextmanager
def mp4_writer(path, fps, width, height, crf=18):
    """Yield ``write(frame)`` for uint8 ``[H, W, 3]`` frames into an H.264 mp4 (yuv420p).

    x264's macroblock-tree rate control is off and it runs on one thread, so the same frames
    give the same bytes (seen to differ from run to run otherwise, PyAV 18 at small sizes).
    Width and height must be even (yuv420p).
    """
    import av

    if width % 2 or height % 2:
        raise ValueError(f"H.264 (yuv420p) needs even frame sizes, not {width}×{height}")
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000),
                                      options={"crf": str(crf), "x264-params": "mbtree=0"})
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


def side_by_side(left, right, gap=2):
    """Two clips ``[F, H, W, 3]`` next to each other with a black gap: ``[F, H, 2W + gap, 3]``."""
    if left.shape != right.shape:
        raise ValueError(f"clips of different shapes cannot be shown side by side: {left.shape}, {right.shape}")
    spacer = np.zeros((*left.shape[:2], gap, 3), left.dtype)
    return np.concatenate([left, spacer, right], axis=2)


def write_gif(path, frames, fps):
    """Write uint8 frames ``[F, H, W, 3]`` as a looping animated GIF."""
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(str(path), format="GIF", save_all=True, append_images=images[1:],
                   duration=int(round(1000 / fps)), loop=0)
