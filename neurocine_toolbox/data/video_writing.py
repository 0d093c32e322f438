"""Writing clips: H.264 mp4 with PyAV, animated GIF with Pillow, truth and prediction in the peers' grid."""

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
