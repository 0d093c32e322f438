"""The photographs behind the natural world's shots: scikit-image's own, shipped with the package.

Each is a scene class of the natural world (:mod:`.natural_stimuli`): a camera pans and zooms
across it while shapes move in front. Only photographs that scikit-image ships in its wheel are
used (no download), grey ones turned to RGB.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class Scene:
    """A photograph used as a scene: its scikit-image loader and what it shows."""

    name: str
    loader: str
    noun: str


SCENES = (
    Scene("astronaut", "astronaut", "an astronaut"),
    Scene("cat", "chelsea", "a cat"),
    Scene("coffee", "coffee", "a cup of coffee"),
    Scene("rocket", "rocket", "a rocket on its launch pad"),
    Scene("motorcycle", "stereo_motorcycle", "a motorcycle"),
    Scene("galaxies", "hubble_deep_field", "a field of galaxies"),
    Scene("cameraman", "camera", "a man with a camera"),
    Scene("coins", "coins", "old coins"),
    Scene("bricks", "brick", "a brick wall"),
    Scene("grass", "grass", "grass"),
)

MAX_SCENES = len(SCENES)


@lru_cache(maxsize=None)
def _photograph(name, short_side):
    from skimage import data, transform

    scene = next(s for s in SCENES if s.name == name)
    image = getattr(data, scene.loader)()
    if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
        image = image[0]
    image = np.asarray(image, np.float32)
    image = image / 255.0 if image.max() > 1.0 else image
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = image[..., :3]
    scale = short_side / min(image.shape[:2])
    shape = (round(image.shape[0] * scale), round(image.shape[1] * scale), 3)
    # anti_aliasing: the photographs are larger than the movies; downscale without aliasing once.
    out = transform.resize(image, shape, order=1, anti_aliasing=True, preserve_range=True)
    out = np.clip(out, 0.0, 1.0).astype(np.float32)
    out.setflags(write=False)
    return out


def photograph(index, short_side):
    """Scene ``index``'s photograph, RGB float32 in [0, 1], its short side ``short_side`` pixels.

    Cached and read-only: every shot of a scene reads the same array.
    """
    return _photograph(SCENES[index].name, int(short_side))
