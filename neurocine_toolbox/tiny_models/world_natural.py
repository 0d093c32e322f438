"""The natural world's frames for the tiny models: shapes in front of photographs, a moving camera.

The ``-natural`` tiny models (``tiny-clip-natural``, ``tiny-sd-natural``, ``tiny-vit-natural``,
``tiny-videomae-natural``) are trained as the ``shapes`` ones are, but on freshly drawn shots of
the natural world (``neurocine simulate --preset benchmark``): one to three shapes moving in
front of one of scikit-image's photographs seen through a still, panning or zooming camera
(:func:`neurocine_toolbox.simulate.natural_stimuli.random_shot`). The shot's own shape (its
class, and what its caption names first) is drawn on top. Like the real models they stand in
for, they never see a dataset's own movies.
"""

import numpy as np

from ..simulate.classes import CLASSES
from ..simulate.natural_stimuli import draw_shot, random_shot
from ..simulate.photographs import SCENES

#: The worlds the tiny models can be trained on.
WORLDS = ("shapes", "natural")
#: Shot lengths of the benchmark world (``clip_min_seconds``, ``clip_max_seconds``): a clip is
#: the first frames of a shot this long, so a zoom is as fast as in the movies.
SHOT_SECONDS = (2.0, 8.0)
#: Classes drawn from by default: all of them, as the benchmark world has.
N_CLASSES = len(CLASSES)


def check_world(world):
    """``world`` if it is one of :data:`WORLDS`, else ``ValueError``."""
    if world not in WORLDS:
        raise ValueError(f"unknown world {world!r}; choose one of {', '.join(WORLDS)}")
    return world


def natural_shot(rng, size, n_frames, fps, n_classes=N_CLASSES):
    """A random shot of the natural world: a random scene and class, 0-2 other shapes, a random camera.

    Parameters
    ----------
    rng : numpy.random.Generator
    size : int
        Frame size, pixels.
    n_frames : int
        Frames that will be drawn from its start: a still frame (1) is a shot of one frame;
        longer clips are the start of a shot of 2-8 s (:data:`SHOT_SECONDS`).
    fps : int
    n_classes : int
        Classes drawn from (the shot's own and the others).

    Returns
    -------
    neurocine_toolbox.simulate.natural_stimuli.Shot
    """
    scene = int(rng.integers(len(SCENES)))
    class_index = int(rng.integers(n_classes))
    length = n_frames if n_frames == 1 else max(n_frames, round(rng.uniform(*SHOT_SECONDS) * fps))
    return random_shot(rng, 0, length, class_index, scene, size, fps, n_classes)


def shot_start(shot, size, n_frames, fps):
    """The first ``n_frames`` frames of ``shot``, uint8 ``[n_frames, size, size, 3]``, and where
    its own shape is in the first, ``(row, column)`` pixels."""
    frames, centres = next(draw_shot(shot, size, fps, chunk=n_frames))
    return frames, (float(centres[0, 0, 0]), float(centres[0, 0, 1]))


def natural_pairs(n, size, seed, n_classes=N_CLASSES, fps=3):
    """``n`` first frames of random natural shots ``uint8 [n, size, size, 3]`` and the shots' captions."""
    rng = np.random.default_rng(seed)
    frames, captions = np.empty((n, size, size, 3), np.uint8), []
    for i in range(n):
        shot = natural_shot(rng, size, 1, fps, n_classes)
        frames[i] = shot_start(shot, size, 1, fps)[0][0]
        captions.append(shot.caption())
    return frames, captions
