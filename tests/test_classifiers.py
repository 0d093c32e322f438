"""Frame and clip classifiers: shapes, per-frame order, frame counts, the output cache, missing weights."""

import numpy as np
import pytest
import torch

from neurocine_toolbox.errors import NeurocineError
from neurocine_toolbox.evaluation import classifiers
from neurocine_toolbox.evaluation.classifiers import ClipClassifier, FrameClassifier, resolve_precision


@pytest.fixture(scope="module")
def random_vit(tmp_path_factory):
    """A small random ViT (10 labels, 16² images) saved with its processor."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    folder = tmp_path_factory.mktemp("vit")
    torch.manual_seed(0)
    config = ViTConfig(image_size=16, patch_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=32, num_labels=10)
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 16, "width": 16}, image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(
        folder)
    return folder


@pytest.fixture(scope="module")
def random_videomae(tmp_path_factory):
    """A small random VideoMAE saved for 4-frame clips (7 labels), with its processor."""
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification, VideoMAEImageProcessor

    folder = tmp_path_factory.mktemp("videomae")
    torch.manual_seed(0)
    VideoMAEForVideoClassification(VideoMAEConfig(image_size=16, patch_size=8, num_frames=4, tubelet_size=2,
                                                  hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                                  intermediate_size=32, num_labels=7)).save_pretrained(folder)
    VideoMAEImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}).save_pretrained(folder)
    return folder


def _clips(n=3, frames=6, size=20, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, frames, size, size, 3), dtype=np.uint8)


def test_frame_probabilities_are_per_frame_softmax_in_clip_order(random_vit):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    clips = _clips()
    probs = FrameClassifier(str(random_vit), batch_size=4).probabilities(clips)
    assert probs.shape == (3, 6, 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(-1), 1, atol=1e-5)
    # Frame (2, 5) scored alone by the model gives the same probabilities: no mix-up in batching.
    model = AutoModelForImageClassification.from_pretrained(random_vit).eval()
    pixels = AutoImageProcessor.from_pretrained(random_vit)(images=[clips[2, 5]], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        alone = model(pixel_values=pixels).logits.softmax(-1)[0].numpy()
    np.testing.assert_allclose(probs[2, 5], alone, atol=1e-5)
    assert not np.allclose(probs[2, 5], probs[2, 4], atol=1e-4)


def test_clip_classifier_takes_the_clips_frame_count_in_tubelets(random_videomae):
    six = ClipClassifier(str(random_videomae), batch_size=2).probabilities(_clips(frames=6))
    four = ClipClassifier(str(random_videomae)).probabilities(_clips(frames=4))
    assert six.shape == four.shape == (3, 7)
    np.testing.assert_allclose(six.sum(-1), 1, atol=1e-5)
    with pytest.raises(NeurocineError, match=r"tubelets of 2; clips of 5 frames are not a multiple"):
        ClipClassifier(str(random_videomae)).probabilities(_clips(frames=5))


def test_a_second_call_reads_the_cache_and_other_frames_miss_it(random_vit, tmp_path, monkeypatch):
    calls = []
    compute = classifiers._Classifier._compute
    monkeypatch.setattr(classifiers._Classifier, "_compute",
                        lambda self, clips: calls.append(len(clips)) or compute(self, clips))
    clips = _clips()
    first = FrameClassifier(str(random_vit), cache_dir=tmp_path).probabilities(clips)
    assert calls == [3] and len(list(tmp_path.glob("FrameClassifier-*.npz"))) == 1

    # A new classifier (a new evaluation) loads no model at all for the same frames.
    monkeypatch.setattr(classifiers._Classifier, "_model", lambda self, n: pytest.fail("model loaded"))
    again = FrameClassifier(str(random_vit), cache_dir=tmp_path).probabilities(clips.copy())
    np.testing.assert_array_equal(first, again)
    assert calls == [3]

    monkeypatch.undo()
    monkeypatch.setattr(classifiers._Classifier, "_compute",
                        lambda self, clips: calls.append(len(clips)) or compute(self, clips))
    other = clips.copy()
    other[1, 2, 0, 0, 0] ^= 1  # one bit of one pixel
    FrameClassifier(str(random_vit), cache_dir=tmp_path).probabilities(other)
    FrameClassifier(str(random_vit), cache_dir=tmp_path, precision="bf16").probabilities(clips)
    assert calls == [3, 3, 3] and len(list(tmp_path.glob("*.npz"))) == 3
    assert not list(tmp_path.glob(".*"))  # written atomically: no temporary files left


def test_missing_weights_are_one_line_naming_the_model(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache
    for classifier, name, setting in ((FrameClassifier(), "google/vit-base-patch16-224", "evaluation.frame_classifier"),
                                      (ClipClassifier(), "MCG-NJU/videomae-base-finetuned-kinetics",
                                       "evaluation.clip_classifier")):
        with pytest.raises(NeurocineError) as caught:
            classifier.probabilities(_clips())
        message = str(caught.value)
        assert message.startswith(f"{classifier.label} '{name}' is not in the Hugging Face cache")
        assert f"hf download {name}" in message and setting in message and "\n" not in message


def test_bad_clips_and_precisions_are_refused(random_vit):
    classifier = FrameClassifier(str(random_vit))
    for bad in (_clips().astype(np.float32), _clips()[0], _clips()[..., :2], _clips(n=0)):
        with pytest.raises(NeurocineError, match=r"uint8 RGB clips \[N, frames, height, width, 3\]"):
            classifier.probabilities(bad)
    with pytest.raises(NeurocineError, match="unknown classifier precision 'half'"):
        FrameClassifier(str(random_vit), precision="half").probabilities(_clips())


def test_auto_precision_is_float16_on_cuda_only():
    assert resolve_precision("auto", "cpu") == torch.float32
    assert resolve_precision("auto", "cuda:0") == torch.float16
    assert resolve_precision("bf16", "cpu") == torch.bfloat16


def test_a_builtin_model_is_built_with_autograd_on_from_inside_probabilities(random_vit, tmp_path, monkeypatch):
    import shutil

    from neurocine_toolbox.models import pretrained

    def builder(folder, progress):  # trains one step, as the tiny classifiers' builders do
        from transformers import ViTForImageClassification

        model = ViTForImageClassification.from_pretrained(random_vit)
        model(pixel_values=torch.zeros(1, 3, 16, 16), labels=torch.zeros(1, dtype=torch.long)).loss.backward()
        model.save_pretrained(folder)
        shutil.copy(random_vit / "preprocessor_config.json", folder)

    builder.builder_version, builder.build_duration, builder.build_description = 1, "~1 s", "one step"
    monkeypatch.setenv("NEUROCINE_CACHE", str(tmp_path))
    monkeypatch.setattr(pretrained, "builtin_builder", lambda name: builder)
    monkeypatch.setattr(pretrained, "builtin_models", lambda: {"tiny-fake-vit": None})
    assert FrameClassifier("tiny-fake-vit").probabilities(_clips(n=1)).shape == (1, 6, 10)
