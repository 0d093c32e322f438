"""A CLIP for the simulated world: image–caption pairs of its shapes, and a short training.

The demo and the tests cannot download CLIP. An untrained tiny CLIP embeds every simulated
frame almost identically (a dark screen with one small shape), so no contrastive target could
be learned from it. Trained for a few hundred steps on freshly drawn frames of the simulated
classes — at random places, sizes and backgrounds, with captions that say all of that — a tiny
CLIP embeds what a viewer (and the simulated visual cortex) can tell apart: colour, shape,
motion direction, position and size. Like a real CLIP it never sees the dataset's own movies.
"""

import numpy as np
import torch

from ..simulate.classes import CLASSES
from ..simulate.drawing import Clip, draw_clip
from ..utils.device_random import randperm
from ..utils.progress import progress_bar
from .world_natural import check_world, natural_pairs

_ROWS = ("top", "middle", "bottom")
_COLUMNS = ("left", "centre", "right")


def describe(clip, size):
    """Caption of one drawn frame: class, size, place and background, e.g.
    ``"a large red disc moving to the right at the top left on a dark background"``."""
    vc = clip.visual_class
    where = f"{_ROWS[min(int(3 * clip.y0 / size), 2)]} {_COLUMNS[min(int(3 * clip.x0 / size), 2)]}"
    bigness = "large" if clip.radius > 0.17 * size else "small"
    background = "dark" if clip.background < 0.11 else "grey"
    caption = vc.caption().replace("on a dark background", f"at the {where} on a {background} background")
    if caption.startswith(("a ", "an ")):
        return "a " + bigness + " " + caption.split(" ", 1)[1]
    return bigness + " " + caption


def synthetic_pairs(n, size, seed, n_classes=len(CLASSES), world="shapes"):
    """``n`` frames ``uint8 [n, size, size, 3]`` of random simulated clips and their captions.

    ``world="shapes"``: parameters follow the simulated movies (radius 12–22 % of the frame,
    background 2–20 % grey), captions say size, place and background (:func:`describe`).
    ``world="natural"``: the first frames of random shots of the natural world and the shots'
    own captions (:func:`.world_natural.natural_pairs`).
    """
    if check_world(world) == "natural":
        return natural_pairs(n, size, seed, n_classes)
    rng = np.random.default_rng(seed)
    frames, captions = np.empty((n, size, size, 3), np.uint8), []
    for i in range(n):
        clip = Clip(start=0, n_frames=1, class_index=int(rng.integers(n_classes)),
                    radius=float(rng.uniform(0.12, 0.22) * size), x0=float(rng.uniform(0, size)),
                    y0=float(rng.uniform(0, size)), speed=0.0, background=float(rng.uniform(0.02, 0.2)))
        frames[i] = next(draw_clip(clip, size, fps=1))[0]
        captions.append(describe(clip, size))
    return frames, captions


def train_world_clip(model, tokenizer, image_processor, *, n_pairs=4096, steps=300, batch_size=256,
                     learning_rate=2e-3, seed=0, draw_size=64, world="shapes", name="tiny-clip", progress=False):
    """Train a ``CLIPModel`` in place on simulated image–caption pairs (CLIP's own loss).

    ``world`` is :func:`synthetic_pairs`'s; ``name`` labels the progress bar, which ``progress``
    shows over the steps.

    Returns
    -------
    list of float
        The loss of every step.
    """
    frames, captions = synthetic_pairs(n_pairs, draw_size, seed, world=world)
    pixels = image_processor(images=list(frames), return_tensors="pt")["pixel_values"]
    text = tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length,
                     truncation=True, return_tensors="pt")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, learning_rate, total_steps=steps, pct_start=0.1)
    model.train()
    losses = []
    for _ in progress_bar(range(steps), desc=f"{name}: training", unit="step", enabled=progress):
        idx = randperm(n_pairs, generator)[:batch_size]
        out = model(input_ids=text["input_ids"][idx], attention_mask=text["attention_mask"][idx],
                    pixel_values=pixels[idx], return_loss=True)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        schedule.step()
        losses.append(out.loss.item())
    model.eval()
    return losses
