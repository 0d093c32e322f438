"""``tiny-vit`` and ``tiny-videomae``: built once into the cache, loaded like real models, accurate.

Each builds once per test session into the session's ``NEUROCINE_CACHE`` (``conftest.py``),
training on drawings of the simulated world; later tests reuse the folders.
"""

import json

import numpy as np
import pytest

from neurocine_toolbox.evaluation.classifiers import ClipClassifier, FrameClassifier
from neurocine_toolbox.models.pretrained import resolve_pretrained
from neurocine_toolbox.tiny_models.world_labels import grid_label, label_names, labelled_clips, labelled_frames

CHANCE = 1 / 72


def test_labels_are_class_and_grid_cell():
    names = label_names()
    assert len(names) == 72 and names[0] == "red_disc@top-left" and names[13] == "green_square@middle-centre"
    assert names[grid_label(2, x=31.0, y=0.0, size=32)] == "blue_triangle@top-right"
    assert names[grid_label(7, x=0.0, y=31.9, size=32)] == "white_checkerboard@bottom-left"


@pytest.mark.parametrize("name,model_class", [("tiny-vit", "ViTForImageClassification"),
                                              ("tiny-videomae", "VideoMAEForVideoClassification")])
def test_builds_into_the_cache_and_loads_with_from_pretrained(name, model_class, tiny_cache):
    import transformers

    source = resolve_pretrained(name, "classifier", "evaluation.frame_classifier")
    assert source.is_local and source.location == str(tiny_cache / "tiny" / name)
    model = getattr(transformers, model_class).from_pretrained(source.location)
    assert model.config.num_labels == 72 and model.config.id2label[9] == "green_square@top-left"
    record = json.loads((tiny_cache / "tiny" / name / "world_training.json").read_text())
    assert record["heldout_accuracy"] > 0.5 and record["chance"] == pytest.approx(CHANCE)


def test_tiny_vit_classifies_fresh_drawings_by_class_and_place():
    frames, labels = labelled_frames(600, 32, seed=2024)  # never seen in training
    probs = FrameClassifier("tiny-vit").probabilities(frames[:, None])
    assert probs.shape == (600, 1, 72)
    np.testing.assert_allclose(probs.sum(-1), 1, atol=1e-5)
    assert np.mean(probs[:, 0].argmax(-1) == labels) > 0.5  # chance: 1/72
    # The same scenes drawn at 256² (the store's frame size) are resized by the processor.
    big, big_labels = labelled_frames(100, 256, seed=2024)
    clip_of_six = np.repeat(big[:6][None], 1, axis=0)
    assert FrameClassifier("tiny-vit").probabilities(clip_of_six).shape == (1, 6, 72)
    big_probs = FrameClassifier("tiny-vit").probabilities(big[:, None])[:, 0]
    assert np.mean(big_probs.argmax(-1) == big_labels) > 0.3


def test_tiny_videomae_classifies_fresh_moving_clips_by_class_and_start():
    clips, labels = labelled_clips(300, 32, 6, seed=2024)
    probs = ClipClassifier("tiny-videomae", batch_size=64).probabilities(clips)
    assert probs.shape == (300, 72)
    np.testing.assert_allclose(probs.sum(-1), 1, atol=1e-5)
    assert np.mean(probs.argmax(-1) == labels) > 0.5


@pytest.mark.parametrize("classifier", [FrameClassifier, ClipClassifier])
def test_nway_is_perfect_for_the_truth_itself_and_near_chance_for_other_clips(classifier):
    from neurocine_toolbox.evaluation.nway import nway_topk

    clips, _ = labelled_clips(200, 32, 6, seed=7)
    truth = classifier(f"tiny-{'vit' if classifier is FrameClassifier else 'videomae'}").probabilities(clips)
    others = np.roll(truth, 1, axis=0)  # each clip "reconstructed" as the next one
    assert nway_topk(truth, truth, 50).mean() == 1.0
    assert nway_topk(others, truth, 50).mean() < 0.15  # chance 3/52 ≈ 0.058 with 72 labels
    assert 0.4 < nway_topk(others, truth, 2, protocol="strict").mean() < 0.6  # chance 1/2
