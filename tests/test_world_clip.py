"""The tiny CLIP of the simulated world: captions say what is drawn, embeddings tell classes apart."""

import numpy as np
import torch

from neurocine_toolbox.models.pretrained import load_clip
from neurocine_toolbox.simulate.classes import CLASSES
from neurocine_toolbox.tiny_models.world_clip import describe, synthetic_pairs


def test_captions_say_what_is_drawn_and_where():
    frames, captions = synthetic_pairs(40, 48, seed=3)
    assert frames.shape == (40, 48, 48, 3) and frames.dtype == np.uint8
    assert synthetic_pairs(40, 48, seed=3)[1] == captions  # seeded
    for frame, caption in zip(frames, captions):
        vc = next(c for c in CLASSES if c.colour in caption.split())
        # The shape's colour is the frame's most saturated pixel colour.
        brightest = frame.reshape(-1, 3)[frame.reshape(-1, 3).astype(int).sum(1).argmax()] / 255
        assert np.abs(brightest - np.asarray(vc.rgb)).max() < 0.1, (caption, brightest)
        assert any(w in caption for w in ("at the top", "at the middle", "at the bottom"))
        assert caption.split()[0 if caption.startswith(("large", "small")) else 1] in ("large", "small")


def test_describe_uses_thirds_of_the_frame():
    from neurocine_toolbox.simulate.drawing import Clip

    clip = Clip(start=0, n_frames=1, class_index=0, radius=10.0, x0=90.0, y0=5.0, speed=0.0, background=0.05)
    assert describe(clip, 100) == "a small red disc moving to the right at the top right on a dark background"


def _image_embeds(clip, frames):
    pixels = clip.image_processor(images=list(frames), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = clip.model.get_image_features(pixel_values=pixels)
    return torch.nn.functional.normalize(getattr(out, "pooler_output", out), dim=-1)


def test_trained_tiny_clip_separates_the_classes_on_new_drawings():
    clip = load_clip("tiny-clip")
    frames, captions = synthetic_pairs(120, 64, seed=12345)  # not the training pairs (seed 0)
    classes = np.array([next(i for i, c in enumerate(CLASSES) if c.colour in cap.split()) for cap in captions])
    sim = (_image_embeds(clip, frames) @ _image_embeds(clip, frames).T).numpy()
    same = classes[:, None] == classes[None, :]
    off = ~np.eye(len(classes), dtype=bool)
    assert sim[same & off].mean() > 0.7 and sim[~same].mean() < 0.3
    # Image i's own caption is closer to it than the captions of the other classes.
    text = clip.tokenizer(captions, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
    with torch.no_grad():
        out = clip.model.get_text_features(input_ids=text["input_ids"], attention_mask=text["attention_mask"])
    t = torch.nn.functional.normalize(getattr(out, "pooler_output", out), dim=-1)
    scores = (_image_embeds(clip, frames) @ t.T).numpy()
    best_class = classes[scores.argmax(axis=1)]
    assert (best_class == classes).mean() > 0.8
