"""Sizes and options of a simulation: the presets and their validation."""

import dataclasses
import math
from dataclasses import dataclass

from ..errors import NeurocineError
from .classes import MAX_CLASSES

WORLDS = ("shapes", "natural")


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that shapes a simulated dataset (with the seed, it fixes every number).

    Times are in seconds, ``movie_size`` in pixels (square frames), ``fps`` in frames per second.
    """

    n_subjects: int = 1
    n_train_segments: int = 8
    train_segment_seconds: float = 64.0
    n_test_segments: int = 3
    test_segment_seconds: float = 32.0
    train_repeats: int = 2
    test_repeats: int = 10
    tr: float = 2.0
    fps: int = 30
    movie_size: int = 128
    snr: float = 1.0
    n_classes: int = 5
    noise_rho: float = 0.5
    drift_order: int = 2
    drift_scale: float = 1.0
    offset_scale: float = 2.0
    baseline: float = 100.0
    grid: int = 4
    clip_min_seconds: float = 2.0
    clip_max_seconds: float = 6.0
    #: Volumes acquired after each movie ends (Wen 2018: 4).
    end_extra: int = 4
    #: ``"shapes"``: one shape on a dark background per clip, a grid-contrast brain (the demo's);
    #: ``"natural"``: shapes in front of photographs, camera motion and cuts, a brain of
    #: population receptive fields over motion energy (docs/simulate.md#the-natural-world).
    world: str = "shapes"
    #: Photographs the natural world's shots are drawn from (2-10).
    n_scenes: int = 10

    def segments(self):
        """``[(task, seconds, repeats)]``: training segments first, then test segments."""
        train = [(f"seg{i + 1}", self.train_segment_seconds, self.train_repeats)
                 for i in range(self.n_train_segments)]
        test = [(f"test{i + 1}", self.test_segment_seconds, self.test_repeats)
                for i in range(self.n_test_segments)]
        return train + test


PRESETS = {
    # Sized for a CPU demo (a few seconds of compute per part of the pipeline).
    "small": SimulationConfig(),
    # The sizes of Wen et al. 2018: 18 training segments of 8 min seen twice, 5 test segments
    # seen ten times (86 runs of 245/246 volumes). Wen's movies are 30 fps; the frame size of
    # the simulated movies (256 x 256, the size neurocine trains on) is an assumption.
    "wen2018-size": SimulationConfig(
        n_subjects=1, n_train_segments=18, train_segment_seconds=480.0, n_test_segments=5,
        test_segment_seconds=480.0, train_repeats=2, test_repeats=10, movie_size=256,
    ),
    # A world to compare methods on (docs/benchmark-world.md): 8 test movies seen ten times
    # (paired sign-flip tests reach p = 2/2^8), 40 training movies seen twice (a fifth held out for
    # validation by prep), frames textured like real movies, shots of 2-8 s, and a brain of pRFs
    # over motion energy whose reliability follows published figures. 15 fps (Wen's movies are
    # 30): the decoders read 3 frames a second and the features are computed at 15 Hz anyway,
    # and it halves the time to draw and encode the movies.
    "benchmark": SimulationConfig(
        n_train_segments=40, train_segment_seconds=64.0, n_test_segments=8, test_segment_seconds=32.0,
        train_repeats=2, test_repeats=10, fps=15, n_classes=8, world="natural", n_scenes=10, snr=0.18,
        noise_rho=0.3, clip_min_seconds=2.0, clip_max_seconds=8.0,
    ),
}


def resolve_config(preset="small", **overrides):
    """Apply ``overrides`` on top of a preset and check the result.

    Parameters
    ----------
    preset : str
        A key of :data:`PRESETS`.
    **overrides
        Fields of :class:`SimulationConfig`; ``None`` values are ignored (unset CLI options).

    Returns
    -------
    SimulationConfig

    Raises
    ------
    NeurocineError
        Unknown preset or option, or values that cannot make a dataset.
    """
    if preset not in PRESETS:
        raise NeurocineError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    fields = {f.name for f in dataclasses.fields(SimulationConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise NeurocineError(f"unknown simulation option(s): {', '.join(unknown)}")
    config = dataclasses.replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
    _check(config)
    return config


def _check(c):
    def need(ok, message):
        if not ok:
            raise NeurocineError(message)

    for name in ("n_subjects", "n_train_segments", "train_repeats", "fps", "movie_size", "grid"):
        need(int(getattr(c, name)) == getattr(c, name) and getattr(c, name) >= 1,
             f"{name} must be a whole number >= 1 (got {getattr(c, name)})")
    for name in ("n_test_segments", "test_repeats", "drift_order", "end_extra"):
        need(int(getattr(c, name)) == getattr(c, name) and getattr(c, name) >= 0,
             f"{name} must be a whole number >= 0 (got {getattr(c, name)})")
    need(c.world in WORLDS, f"world must be one of {', '.join(WORLDS)} (got {c.world!r})")
    if c.world == "natural":
        from .natural_features import FEATURE_FPS, ME_SIZE
        from .photographs import MAX_SCENES

        need(2 <= c.n_scenes <= MAX_SCENES, f"n_scenes must be between 2 and {MAX_SCENES} (got {c.n_scenes})")
        need(c.fps % FEATURE_FPS == 0,
             f"the natural world's fps must be a multiple of {FEATURE_FPS} (its features' rate; got {c.fps})")
        need(c.movie_size >= ME_SIZE, f"the natural world's movie_size must be >= {ME_SIZE} (got {c.movie_size})")
    need(c.n_subjects <= 99, f"at most 99 subjects (got {c.n_subjects})")
    need(c.tr > 0, f"tr must be positive (got {c.tr})")
    need(c.snr > 0, f"snr must be positive (got {c.snr})")
    need(0 <= c.noise_rho < 1, f"noise_rho must be in [0, 1) (got {c.noise_rho})")
    need(c.drift_scale >= 0 and c.offset_scale >= 0, "drift_scale and offset_scale must be >= 0")
    need(2 <= c.n_classes <= MAX_CLASSES, f"n_classes must be between 2 and {MAX_CLASSES} (got {c.n_classes})")
    # yuv420p halves the chroma resolution, so x264 needs even frame sizes.
    need(c.movie_size % 2 == 0 and c.movie_size >= 16,
         f"movie_size must be even and >= 16 pixels (got {c.movie_size})")
    need(c.movie_size % c.grid == 0,
         f"movie_size ({c.movie_size}) must be a multiple of grid ({c.grid}) so the grid cells are equal")
    need(0 < c.clip_min_seconds <= c.clip_max_seconds,
         "clip_min_seconds must be positive and <= clip_max_seconds")
    for label, seconds in (("train_segment_seconds", c.train_segment_seconds),
                           ("test_segment_seconds", c.test_segment_seconds)):
        if label.startswith("test") and c.n_test_segments == 0:
            continue
        need(seconds > 0, f"{label} must be positive (got {seconds})")
        n_tr = seconds / c.tr
        need(math.isclose(n_tr, round(n_tr), abs_tol=1e-6),
             f"{label} ({seconds}) must be a whole number of TRs (tr = {c.tr} s)")
        n_frames = seconds * c.fps
        need(math.isclose(n_frames, round(n_frames), abs_tol=1e-6),
             f"{label} ({seconds}) must be a whole number of frames at {c.fps} fps")
