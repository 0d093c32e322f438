"""Draw the frames of a clip with numpy: one shape on a dark background, moving steadily.

Shapes are signed-distance masks (positive inside, in pixels) evaluated on the whole frame
at once, with a one-pixel soft edge so that slow motion does not flicker. Positions wrap
around the frame edges, so the shape never leaves the screen.
"""

from dataclasses import dataclass

import numpy as np

from .classes import CLASSES

#: Frames drawn at once; bounds memory to about 4 * 3 * CHUNK * size**2 bytes.
CHUNK = 32


@dataclass(frozen=True)
class Clip:
    """One clip of a movie, with its per-clip random parameters.

    Attributes
    ----------
    start, n_frames : int
        First frame (in the movie) and length in frames.
    class_index : int
        Index into :data:`~neurocine_toolbox.simulate.classes.CLASSES`.
    radius : float
        Half-size of the shape, pixels.
    x0, y0 : float
        Centre at the clip's first frame, pixels (x = column, y = row from the top).
    speed : float
        Frame widths per second.
    background : float
        Grey level of the background, 0-1.
    """

    start: int
    n_frames: int
    class_index: int
    radius: float
    x0: float
    y0: float
    speed: float
    background: float

    @property
    def visual_class(self):
        return CLASSES[self.class_index]

    def velocity(self):
        """``(vx, vy)`` in frame widths per second, screen axes (x right, y up)."""
        ux, uy = self.visual_class.unit_velocity
        return self.speed * ux, self.speed * uy


def _wrap(d, period):
    """Signed offset on a circle of length ``period`` (positions wrap around the frame)."""
    return (d + period / 2.0) % period - period / 2.0


def _signed_distance(shape, dx, dy_up, r, angle):
    """Approximate signed distance (pixels, > 0 inside) of ``shape`` centred at the origin."""
    ax, ay = np.abs(dx), np.abs(dy_up)
    if shape == "disc":
        return r - np.sqrt(dx**2 + dy_up**2)
    if shape == "ring":
        d = np.sqrt(dx**2 + dy_up**2)
        return np.minimum(r - d, d - 0.6 * r)
    if shape == "square":
        return 0.85 * r - np.maximum(ax, ay)
    if shape == "diamond":
        return (r - (ax + ay)) / np.sqrt(2.0)
    if shape == "cross":
        arm = r / 3.0
        return np.maximum(np.minimum(arm - ax, r - ay), np.minimum(arm - ay, r - ax))
    if shape == "triangle":
        # Equilateral, one vertex pointing where it moves; outward edge normals at
        # angle + 180 and angle +/- 60 degrees, inradius r / 2.
        phi = np.deg2rad(angle)
        proj = [dx * np.cos(phi + a) + dy_up * np.sin(phi + a)
                for a in (np.pi, np.pi / 3.0, -np.pi / 3.0)]
        return r / 2.0 - np.maximum(np.maximum(proj[0], proj[1]), proj[2])
    if shape in ("stripes", "checkerboard"):
        aperture = 0.85 * r - np.maximum(ax, ay)
        period = max(r / 2.0, 3.0)
        k = 2.0 * np.pi / period
        if shape == "stripes":  # horizontal bars: the pattern varies along y only
            pattern = np.sin(k * dy_up) / k
        else:
            pattern = np.sin(k * dx) * np.sin(k * dy_up) / k
        return np.minimum(aperture, pattern)
    raise ValueError(f"unknown shape {shape!r}")


def clip_coverage(clip, size, fps, first, stop):
    """How much of each pixel the clip's shape covers in frames ``first .. stop - 1`` of the clip.

    Returns
    -------
    cover : ndarray, float32 ``[n, size, size]``
        0 (background) to 1 (inside), with a one-pixel soft edge.
    centre : ndarray, float32 ``[n, 2]``
        The shape's centre (row, column) in pixels, wrapped into the frame.
    """
    vc = clip.visual_class
    vx, vy = clip.velocity()
    centres = np.arange(size, dtype=np.float32) + 0.5
    t = np.arange(first, stop, dtype=np.float32) / fps
    cx = clip.x0 + vx * size * t
    cy = clip.y0 - vy * size * t  # screen "up" is towards row 0
    dx = _wrap(centres[None, None, :] - cx[:, None, None], size)
    dy_up = -_wrap(centres[None, :, None] - cy[:, None, None], size)
    dist = _signed_distance(vc.shape, dx, dy_up, np.float32(clip.radius), vc.angle)
    cover = np.clip(np.float32(0.5) + dist, 0.0, 1.0).astype(np.float32)
    return cover, np.stack([cy % size, cx % size], axis=1).astype(np.float32)


def draw_clip(clip, size, fps, chunk=CHUNK):
    """Yield the clip's frames as uint8 arrays ``[n, size, size, 3]``, ``chunk`` frames at a time.

    Parameters
    ----------
    clip : Clip
    size : int
        Frame width and height, pixels.
    fps : int
        Frames per second (sets how far the shape moves per frame).
    """
    vc = clip.visual_class
    # Colour of a pixel for each of 256 coverage levels: one table look-up per pixel is
    # several times faster than blending three float channels.
    level = np.linspace(0.0, 1.0, 256)[:, None]
    table = np.rint(255 * (clip.background + (np.asarray(vc.rgb) - clip.background) * level))
    table = table.astype(np.uint8)
    for first in range(0, clip.n_frames, chunk):
        cover, _ = clip_coverage(clip, size, fps, first, min(first + chunk, clip.n_frames))
        yield np.take(table, (cover * np.float32(255) + np.float32(0.5)).astype(np.uint8), axis=0)
