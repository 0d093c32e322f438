"""The natural world's tiny models: what they are trained on, that they learn it, and that the
shapes world's drawings (the demo's tiny models) are exactly what they were.

The classifiers are built at reduced sizes into ``tmp_path`` (the built-in ones train for longer
on more drawings; their held-out accuracies are in docs/models.md).
"""

import hashlib
import json

import numpy as np
import pytest

from neurocine_toolbox.simulate.classes import CLASSES
from neurocine_toolbox.simulate.photographs import SCENES
from neurocine_toolbox.tiny_models.world_clip import synthetic_pairs
from neurocine_toolbox.tiny_models.world_labels import labelled_clips, labelled_frames

CHANCE = 1 / 72

#: sha256 (first 16 hex digits) of small shapes-world draws, computed with the code before the
#: ``world`` argument existed (commit d1b916c): the shapes path must draw byte for byte the same.
SHAPES_DIGESTS = {"labelled_frames": "2b16b76bc9e8419c", "labelled_clips": "ff48e37d32990f37",
                  "synthetic_pairs frames": "804c0695b176c977", "synthetic_pairs captions": "7e1d89ba7e033e93"}


def _digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def test_the_shapes_world_draws_exactly_as_before():
    frames, captions = synthetic_pairs(16, 32, seed=5)
    assert {
        "labelled_frames": _digest(*labelled_frames(16, 32, seed=5)),
        "labelled_clips": _digest(*labelled_clips(8, 32, 6, seed=5)),
        "synthetic_pairs frames": _digest(frames),
        "synthetic_pairs captions": hashlib.sha256("\n".join(captions).encode()).hexdigest()[:16],
    } == SHAPES_DIGESTS
    assert _digest(*labelled_frames(16, 32, seed=5, world="shapes")) == SHAPES_DIGESTS["labelled_frames"]
    with pytest.raises(ValueError, match="unknown world 'moon'"):
        labelled_frames(1, 32, seed=0, world="moon")


def _shows(frame, label, tolerance=0.15, margin=6):
    """Whether the label's class colour is drawn in (or within ``margin`` pixels of) its cell."""
    size = frame.shape[0]
    row, column = divmod(label % 9, 3)
    rows = np.arange(int(row * size / 3) - margin, int((row + 1) * size / 3) + margin) % size  # shapes wrap
    columns = np.arange(int(column * size / 3) - margin, int((column + 1) * size / 3) + margin) % size
    patch = frame[np.ix_(rows, columns)] / 255.0
    return bool((np.abs(patch - np.asarray(CLASSES[label // 9].rgb)).max(-1) < tolerance).any())


def _mostly_flat(frame):
    """The share of the frame's pixels that have its commonest colour (shapes world: > 0.85)."""
    return np.unique(frame.reshape(-1, 3), axis=0, return_counts=True)[1].max() / frame[..., 0].size


def test_natural_frames_and_clips_show_photographs_and_their_labelled_shape():
    frames, labels = labelled_frames(120, 32, seed=3, world="natural")
    again, labels_again = labelled_frames(120, 32, seed=3, world="natural")
    np.testing.assert_array_equal(frames, again)  # seeded
    np.testing.assert_array_equal(labels, labels_again)
    assert frames.shape == (120, 32, 32, 3) and frames.dtype == np.uint8 and labels.max() < 72
    assert max(_mostly_flat(f) for f in frames) < 0.5  # photographs, not a flat background
    # The label's class colour is where the label says; for another frame's label, seldom.
    assert np.mean([_shows(f, label) for f, label in zip(frames, labels)]) > 0.95
    assert np.mean([_shows(f, label) for f, label in zip(frames, np.roll(labels, 1))]) < 0.5

    clips, clip_labels = labelled_clips(60, 32, 6, seed=3, world="natural")
    assert clips.shape == (60, 6, 32, 32, 3)
    assert all(np.abs(c[-1].astype(int) - c[0]).mean() > 1 for c in clips)  # shapes and camera move
    assert np.mean([_shows(c[0], label) for c, label in zip(clips, clip_labels)]) > 0.95  # where it starts


def test_natural_captions_name_the_shots_shapes_photograph_and_camera():
    frames, captions = synthetic_pairs(100, 32, seed=4, world="natural")
    assert frames.shape == (100, 32, 32, 3) and synthetic_pairs(100, 32, seed=4, world="natural")[1] == captions
    first = []
    for caption in captions:
        shapes, _, rest = caption.partition(" in front of ")
        scene, _, camera = rest.partition(", ")
        assert scene in {s.noun for s in SCENES} and camera.startswith("the camera "), caption
        first.append(next(c for c in CLASSES if shapes.startswith(c.caption().split(" on a ")[0])))

    def shows(frame, vc):
        return (np.abs(frame / 255.0 - np.asarray(vc.rgb)).max(-1) < 0.15).any()

    # The first shape named is the shot's own, drawn on top: its colour is in the frame (a small
    # stripe pattern may miss every pixel's centre), and seldom another caption's first shape's.
    assert np.mean([shows(f, vc) for f, vc in zip(frames, first)]) > 0.95
    assert np.mean([shows(f, vc) for f, vc in zip(frames, first[1:] + first[:1])]) < 0.6


@pytest.mark.parametrize("kind", ["vit", "videomae"])
def test_a_natural_classifier_fine_tuned_briefly_beats_chance_on_held_out_natural_frames(kind, tmp_path):
    import importlib

    module = importlib.import_module(f"neurocine_toolbox.tiny_models.{kind}")
    build_shapes, build_natural = getattr(module, f"build_tiny_{kind}"), getattr(module, f"build_tiny_{kind}_natural")
    assert build_natural.builder_version == 1
    steps = {"vit": 60, "videomae": 80}[kind]
    build_shapes(tmp_path / "shapes", steps=steps, n_train=1024)
    build_natural(tmp_path / "natural", steps=steps, start=tmp_path / "shapes", n_train=1024)
    record = json.loads((tmp_path / "natural" / "world_training.json").read_text())
    assert record["n_train"] == 1024 and record["fine_tuned_from"] == str(tmp_path / "shapes")
    assert record["heldout_accuracy"] > 2 * CHANCE and record["chance"] == pytest.approx(CHANCE)
