"""Writing clips: H.264 mp4 with PyAV, animated GIF with Pillow, truth and prediction in the peers' grid."""

import numpy as np

from ..utils.movie_files import mp4_writer

__all__ = ["mp4_writer", "peer_grid", "write_gif", "write_mp4"]


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
