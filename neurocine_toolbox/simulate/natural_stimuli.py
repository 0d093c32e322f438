"""The natural world's movies: shapes moving in front of photographs, a moving camera, and cuts.

A movie is a sequence of shots of 1.5–5 s (seeded) separated by cuts. Each shot shows one
photograph (a scene, :mod:`.photographs`) through a camera that stays still, pans or zooms, and
one to three shapes of the visual classes (:mod:`.classes`) moving in front of it. The first
shape is the shot's class (the ``class`` of its ``_clips.tsv`` row); every shape's position in
every frame is written to the ground truth. Frames are therefore textured like photographs, not
three quarters flat like the ``shapes`` world's.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.video_writing import mp4_writer
from .classes import CLASSES
from .drawing import CHUNK, Clip, clip_coverage
from .photographs import SCENES, photograph
from .stimuli import class_sequence, clip_lengths

#: Column order of the natural world's ``stimuli/<name>_clips.tsv`` (the shapes world's, then
#: the scene, every shape in the shot, and the camera).
CLIP_COLUMNS = ("onset", "duration", "class", "class_name", "shape", "colour", "direction", "caption",
                "scene", "objects", "camera")
#: Photographs are resized so their short side is this many frame widths: a crop of 0.5–0.95 of
#: it fills the frame, so the camera can pan and zoom without showing an edge.
PHOTO_SCALE = 2.0
#: Most shapes one shot shows.
MAX_OBJECTS = 3
CAMERA_MOVES = ("still", "pan", "zoom")


@dataclass(frozen=True)
class Shot:
    """One shot of a natural movie, between two cuts.

    Attributes
    ----------
    start, n_frames : int
        First frame (in the movie) and length in frames.
    scene : int
        Index into :data:`~.photographs.SCENES`.
    objects : tuple of Clip
        The shapes in front, first the shot's own class, which is drawn last (on top).
    camera_start, camera_end : tuple of float
        ``(centre row, centre column, width)`` of the crop of the photograph shown in the
        first and last frame, in photograph pixels; the camera moves linearly between them.
    camera_move : str
        ``"still"``, ``"pan"`` or ``"zoom"``.
    """

    start: int
    n_frames: int
    scene: int
    objects: tuple
    camera_start: tuple
    camera_end: tuple
    camera_move: str

    @property
    def class_index(self):
        return self.objects[0].class_index

    def camera(self, first, stop):
        """The crop ``[n, 3]`` (centre row, centre column, width) in frames ``first .. stop - 1``."""
        a = np.arange(first, stop, dtype=np.float64) / max(self.n_frames - 1, 1)
        return (1 - a)[:, None] * np.asarray(self.camera_start) + a[:, None] * np.asarray(self.camera_end)

    def camera_phrase(self):
        """How the camera moves, in words (``"the camera pans to the left"``, ...)."""
        (r0, c0, w0), (r1, c1, w1) = self.camera_start, self.camera_end
        if self.camera_move == "zoom":
            return "the camera zooms in" if w1 < w0 else "the camera zooms out"
        if self.camera_move == "pan":
            # The view moves with the camera: a crop moving right is a camera panning right.
            dr, dc = r1 - r0, c1 - c0
            if abs(dc) >= abs(dr):
                return "the camera pans to the right" if dc > 0 else "the camera pans to the left"
            return "the camera tilts down" if dr > 0 else "the camera tilts up"
        return "the camera is still"

    def caption(self):
        """Ground-truth caption: the shapes, the photograph behind them, and the camera."""
        shapes = [o.visual_class.caption().removesuffix(" on a dark background") for o in self.objects]
        return (f"{' and '.join(shapes)} in front of {SCENES[self.scene].noun}, "
                f"{self.camera_phrase()}")


def _camera_path(rng, photo_shape, seconds):
    """A still, panning or zooming crop that stays inside the photograph throughout."""
    height, width = photo_shape[:2]
    short = min(height, width)
    move = CAMERA_MOVES[int(rng.choice(3, p=[0.3, 0.45, 0.25]))]
    w0 = rng.uniform(0.5, 0.95) * short
    w1 = w0
    if move == "zoom":
        w1 = float(np.clip(w0 * (0.7 if rng.random() < 0.5 else 1 / 0.7), 0.5 * short, 0.95 * short))

    def centre(w):
        return (rng.uniform(w / 2, height - w / 2), rng.uniform(w / 2, width - w / 2))

    start = centre(w0)
    end = start if move == "still" else centre(w1)
    if move == "pan":
        # At most a third of the crop's width per second; the straight line between two crops
        # inside the photograph stays inside it (the constraints are linear in centre and width).
        step = np.subtract(end, start)
        most = w0 * seconds / 3.0
        norm = float(np.hypot(*step))
        if norm > most:
            end = tuple(np.add(start, step * most / norm))
    elif move == "zoom":
        end = (float(np.clip(start[0], w1 / 2, height - w1 / 2)), float(np.clip(start[1], w1 / 2, width - w1 / 2)))
    return (start[0], start[1], w0), (float(end[0]), float(end[1]), w1), move


def plan_shots(rng, seconds, config):
    """Draw the shots of one natural movie.

    Parameters
    ----------
    rng : numpy.random.Generator
    seconds : float
        Movie duration.
    config : SimulationConfig

    Returns
    -------
    list of Shot
    """
    fps, size = config.fps, config.movie_size
    n_frames = round(seconds * fps)
    lengths = clip_lengths(rng, n_frames, fps, config.clip_min_seconds, config.clip_max_seconds)
    classes = class_sequence(rng, len(lengths), config.n_classes)
    scenes = class_sequence(rng, len(lengths), config.n_scenes)
    shots, start = [], 0
    for length, cls, scene in zip(lengths, classes, scenes):
        shots.append(random_shot(rng, start, length, cls, scene, size, fps, config.n_classes))
        start += length
    return shots


def random_shot(rng, start, n_frames, class_index, scene, size, fps, n_classes):
    """One shot of ``class_index`` in front of photograph ``scene``: 0-2 other shapes, a random camera.

    Also what the tiny models of the natural world are trained on (:mod:`neurocine_toolbox.tiny_models`).
    """
    n_objects = int(rng.integers(1, MAX_OBJECTS + 1))
    others = [int(c) for c in rng.permutation([c for c in range(n_classes) if c != class_index])]
    objects = tuple(Clip(
        start=start, n_frames=n_frames, class_index=c,
        radius=float(rng.uniform(0.08, 0.16) * size),
        x0=float(rng.uniform(0, size)), y0=float(rng.uniform(0, size)),
        speed=float(rng.uniform(0.08, 0.3)), background=0.0,
    ) for c in [class_index] + others[: n_objects - 1])
    photo = photograph(scene, PHOTO_SCALE * size)
    camera_start, camera_end, move = _camera_path(rng, photo.shape, n_frames / fps)
    return Shot(start, n_frames, scene, objects, camera_start, camera_end, move)


def _background(photo, crops, size):
    """Bilinear samples of ``photo`` through each crop: float32 ``[n, size, size, 3]``."""
    height, width = photo.shape[:2]
    flat = photo.reshape(-1, 3)
    u = (np.arange(size, dtype=np.float64) + 0.5) / size - 0.5
    out = np.empty((len(crops), size, size, 3), np.float32)
    for i, (row, col, w) in enumerate(crops):
        if i and np.array_equal(crops[i], crops[i - 1]):  # a still camera: the same view
            out[i] = out[i - 1]
            continue
        y = np.clip(row + u * w - 0.5, 0, height - 1.001)
        x = np.clip(col + u * w - 0.5, 0, width - 1.001)
        y0, x0 = y.astype(np.int64), x.astype(np.int64)
        fy, fx = (y - y0).astype(np.float32)[:, None, None], (x - x0).astype(np.float32)[None, :, None]
        corner = y0[:, None] * width + x0[None, :]  # flat index of each pixel's top-left neighbour
        top = flat[corner] * (1 - fx) + flat[corner + 1] * fx
        bottom = flat[corner + width] * (1 - fx) + flat[corner + width + 1] * fx
        out[i] = top * (1 - fy) + bottom * fy
    return out


def draw_shot(shot, size, fps, chunk=CHUNK):
    """Yield ``(frames, centres)`` of a shot, ``chunk`` frames at a time.

    ``frames``: uint8 ``[n, size, size, 3]``; ``centres``: float32 ``[n, len(objects), 2]``,
    each shape's centre (row, column) in pixels.
    """
    photo = photograph(shot.scene, PHOTO_SCALE * size)
    for first in range(0, shot.n_frames, chunk):
        stop = min(first + chunk, shot.n_frames)
        image = _background(photo, shot.camera(first, stop), size)
        centres = []
        for obj in shot.objects[::-1]:  # the shot's own shape last, on top of the others
            cover, centre = clip_coverage(obj, size, fps, first, stop)
            colour = np.asarray(obj.visual_class.rgb, np.float32)
            image += cover[..., None] * (colour - image)
            centres.append(centre)
        frames = np.rint(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
        yield frames, np.stack(centres[::-1], axis=1)


def shots_table(shots, fps):
    """The ``_clips.tsv`` table of a natural movie (onsets and durations in seconds)."""
    rows = []
    for shot in shots:
        vc = CLASSES[shot.class_index]
        rows.append({
            "onset": round(shot.start / fps, 6), "duration": round(shot.n_frames / fps, 6),
            "class": shot.class_index, "class_name": vc.name, "shape": vc.shape, "colour": vc.colour,
            "direction": vc.direction, "caption": shot.caption(),
            "scene": SCENES[shot.scene].name, "objects": "+".join(o.visual_class.name for o in shot.objects),
            "camera": shot.camera_move,
        })
    return pd.DataFrame(rows, columns=list(CLIP_COLUMNS))


@dataclass
class MovieTruth:
    """What every frame of a natural movie shows (at the movie's frame rate).

    Attributes
    ----------
    object_class : int8 ``[n_frames, MAX_OBJECTS]``
        Class of each shape on screen, -1 for none.
    object_centre : float32 ``[n_frames, MAX_OBJECTS, 2]``
        Its centre (row, column) in pixels, NaN for none.
    object_radius : float32 ``[n_frames, MAX_OBJECTS]``
        Its radius in pixels, NaN for none.
    scene : int8 ``[n_frames]``
        The photograph behind.
    camera : float32 ``[n_frames, 3]``
        The crop shown (centre row, centre column, width), in frame widths of the photograph's
        short side.
    """

    object_class: np.ndarray
    object_centre: np.ndarray
    object_radius: np.ndarray
    scene: np.ndarray
    camera: np.ndarray


def write_natural_movie(path, shots, config, on_frames):
    """Draw the shots, encode them as H.264 mp4 (PyAV), and return what every frame shows.

    Parameters
    ----------
    path : Path
        Output ``.mp4`` (written as is; the caller stages it).
    shots : list of Shot
    config : SimulationConfig
    on_frames : callable
        Called with each chunk of frames as drawn (uint8 ``[n, H, W, 3]``, before compression)
        and its shot, in order: the features are computed from these.

    Returns
    -------
    MovieTruth
    """
    size, fps = config.movie_size, config.fps
    n = sum(s.n_frames for s in shots)
    truth = MovieTruth(np.full((n, MAX_OBJECTS), -1, np.int8), np.full((n, MAX_OBJECTS, 2), np.nan, np.float32),
                       np.full((n, MAX_OBJECTS), np.nan, np.float32), np.zeros(n, np.int8),
                       np.zeros((n, 3), np.float32))
    short = PHOTO_SCALE * size
    with mp4_writer(path, fps, size, size) as write:
        for shot in shots:
            rows = slice(shot.start, shot.start + shot.n_frames)
            k = len(shot.objects)
            truth.object_class[rows, :k] = [o.class_index for o in shot.objects]
            truth.object_radius[rows, :k] = [o.radius for o in shot.objects]
            truth.scene[rows] = shot.scene
            truth.camera[rows] = shot.camera(0, shot.n_frames) / short
            first = shot.start
            for frames, centres in draw_shot(shot, size, fps):
                truth.object_centre[first:first + len(frames), :k] = centres
                on_frames(frames, shot)
                first += len(frames)
                for frame in frames:
                    write(frame)
    return truth
