"""The natural world's stimulus features: motion energy (pymoten) and what is on screen.

Blocks of features, computed at :data:`FEATURE_FPS` from the frames as drawn:

- ``motion_energy``: the Gallant lab's motion-energy model (pymoten; Nishimoto et al. 2011):
  spatio-temporal Gabor filters in quadrature pairs, energy, log-compressed, on the luminance
  (CIE L*) of the frames downsampled to :data:`ME_SIZE`²; spatial frequencies 0, 2, 4, 8 cycles
  per image, temporal frequencies 0, 2, 4 Hz, 8 directions (253 filters);
- ``colour``: mean red, green and blue (0–1);
- ``class``: which of the visual classes are on screen (1 each shape shown);
- ``scene``: one-hot of the photograph behind;
- ``motion``: the shapes' mean velocity ``(x, y)`` and speed (frame widths per second) and the
  camera's pan ``(x, y)`` and zoom rate (crop widths per second).
"""

from contextlib import contextmanager
from functools import lru_cache

import numpy as np

#: Feature blocks of the natural world, in column order.
NATURAL_BLOCKS = ("motion_energy", "colour", "class", "scene", "motion")
#: Features are computed at this rate (Nishimoto et al. 2011 used 15 Hz).
FEATURE_FPS = 15
#: Side of the luminance frames the motion-energy filters see.
ME_SIZE = 32
SPATIAL_FREQUENCIES = (0, 2, 4, 8)
TEMPORAL_FREQUENCIES = (0, 2, 4)
DIRECTIONS = (0, 45, 90, 135, 180, 225, 270, 315)


@lru_cache(maxsize=1)
def motion_energy_pyramid():
    """pymoten's pyramid of the natural world's filters (one per process)."""
    from moten.pyramids import MotionEnergyPyramid

    return MotionEnergyPyramid(stimulus_vhsize=(ME_SIZE, ME_SIZE), stimulus_fps=FEATURE_FPS,
                               spatial_frequencies=list(SPATIAL_FREQUENCIES),
                               temporal_frequencies=list(TEMPORAL_FREQUENCIES),
                               spatial_directions=list(DIRECTIONS))


def filter_table():
    """The filters' parameters, one row per motion-energy feature.

    Returns
    -------
    dict of ndarray
        ``centre`` ``[n, 2]`` (row, column as fractions of the frame), ``spatial_env`` (SD of
        the Gaussian envelope, fraction of the frame), ``spatial_freq`` (cycles per image),
        ``temporal_freq`` (Hz), ``direction`` (degrees).
    """
    filters = motion_energy_pyramid().filters
    return {
        "centre": np.array([[f["centerv"], f["centerh"]] for f in filters], np.float64),
        "spatial_env": np.array([f["spatial_env"] for f in filters], np.float64),
        "spatial_freq": np.array([f["spatial_freq"] for f in filters], np.float64),
        "temporal_freq": np.array([f["temporal_freq"] for f in filters], np.float64),
        "direction": np.array([f["direction"] for f in filters], np.float64),
    }


def natural_feature_names(n_classes, n_scenes):
    """Feature names in column order, and the block index (into :data:`NATURAL_BLOCKS`) of each."""
    from .classes import CLASSES
    from .photographs import SCENES

    table = filter_table()
    energy = [f"me_sf{sf:g}_tf{tf:g}_dir{d:g}_r{r:.2f}_c{c:.2f}" for sf, tf, d, (r, c)
              in zip(table["spatial_freq"], table["temporal_freq"], table["direction"], table["centre"])]
    names, blocks = [], []
    for block, block_names in (
        ("motion_energy", energy),
        ("colour", ["mean_red", "mean_green", "mean_blue"]),
        ("class", [f"class_{vc.name}" for vc in CLASSES[:n_classes]]),
        ("scene", [f"scene_{s.name}" for s in SCENES[:n_scenes]]),
        ("motion", ["objects_x", "objects_y", "objects_speed", "camera_x", "camera_y", "camera_zoom"]),
    ):
        names += block_names
        blocks += [NATURAL_BLOCKS.index(block)] * len(block_names)
    return names, np.array(blocks, np.int8)


@contextmanager
def _quiet_pymoten():
    # pymoten wraps its filter loop in tqdm unconditionally; keep the simulation's own bars only.
    import moten.core

    shown = moten.core.iterator_func
    moten.core.iterator_func = lambda iterable, *args, **kwargs: iterable
    try:
        yield
    finally:
        moten.core.iterator_func = shown


def luminance(frames):
    """CIE L* (0–100, pymoten's colour space) of uint8 frames ``[n, H, W, 3]`` at :data:`ME_SIZE`²."""
    from moten.colorspace import rgb2lab
    from skimage.transform import resize

    n = len(frames)
    small = resize(frames.astype(np.float32) / 255.0, (n, ME_SIZE, ME_SIZE, 3), order=1, anti_aliasing=True)
    # rgb2lab reads a 3-D image (rows, columns, RGB): stack the frames' rows.
    lab = rgb2lab(np.clip(small, 0.0, 1.0).reshape(n * ME_SIZE, ME_SIZE, 3).astype(np.float64))
    return lab[..., 0].reshape(n, ME_SIZE, ME_SIZE).astype(np.float32)


class NaturalFeatureRecorder:
    """Collects the frames of a natural movie as they are drawn, then computes its features.

    Parameters
    ----------
    fps : int
        The movie's frame rate; a multiple of :data:`FEATURE_FPS`.
    n_classes, n_scenes : int
    """

    def __init__(self, fps, n_classes, n_scenes):
        self.step = fps // FEATURE_FPS
        self.fps, self.n_classes, self.n_scenes = fps, n_classes, n_scenes
        self.luminance, self.other, self.n_seen = [], [], 0

    def __call__(self, frames, shot):
        """Record a chunk of frames (uint8 ``[n, H, W, 3]``) of ``shot``."""
        first = (-self.n_seen) % self.step  # keep frames 0, step, 2 step, ... of the movie
        kept = frames[first::self.step]
        self.n_seen += len(frames)
        if not len(kept):
            return
        self.luminance.append(luminance(kept))
        n = len(kept)
        colour = kept.reshape(n, -1, 3).mean(axis=1) / 255.0
        present = np.zeros((n, self.n_classes))
        present[:, [o.class_index for o in shot.objects]] = 1.0
        scene = np.zeros((n, self.n_scenes))
        scene[:, shot.scene] = 1.0
        velocity = np.array([o.velocity() for o in shot.objects])
        (r0, c0, w0), (r1, c1, w1) = shot.camera_start, shot.camera_end
        seconds = max(shot.n_frames - 1, 1) / self.fps
        # The camera's motion in crop widths per second (x right, y up; zoom > 0 is zooming in).
        camera = [(c1 - c0) / w0 / seconds, -(r1 - r0) / w0 / seconds, (w0 - w1) / w0 / seconds]
        motion = np.array([*velocity.mean(axis=0), np.mean([o.speed for o in shot.objects]), *camera])
        self.other.append(np.concatenate([colour, present, scene, np.broadcast_to(motion, (n, 6))], axis=1))

    def features(self):
        """``float32 [n_kept_frames, n_features]`` at :data:`FEATURE_FPS`."""
        luminance = np.concatenate(self.luminance)
        with _quiet_pymoten():
            energy = motion_energy_pyramid().project_stimulus(luminance, dtype="float32")
        return np.concatenate([energy, np.concatenate(self.other)], axis=1).astype(np.float32)
