"""Labelled drawings of the simulated world, and a short supervised training, for tiny classifiers.

The N-way evaluation needs a frame classifier and a clip classifier with many classes (50-way
draws 49 distractors). The simulated world has 8 classes, so a label is a class *and* where its
shape is: one of 3 × 3 grid cells of the frame (72 labels, e.g. ``red_disc@top-left``). The
frame classifier must tell shape, colour and place; the clip classifier, which sees a moving
clip labelled by where it starts, must also follow the motion back to its start. The same labels
serve the natural world (``world="natural"``, :mod:`.world_natural`): the class and place of the
shot's own shape, in front of a photograph and among up to two other shapes.
"""

import numpy as np
import torch

from ..simulate.classes import CLASSES
from ..simulate.drawing import Clip, draw_clip
from ..utils.device_random import randperm
from ..utils.progress import progress_bar
from .world_natural import check_world, natural_shot, shot_start

ROWS = ("top", "middle", "bottom")
COLUMNS = ("left", "centre", "right")
#: Frames per second of the evaluated clips (6 frames span one 2 s TR).
CLIP_FPS = 3


def label_names():
    """The 72 label names, index ``class × 9 + row × 3 + column``: ``"red_disc@top-left"`` …"""
    return [f"{vc.name}@{row}-{column}" for vc in CLASSES for row in ROWS for column in COLUMNS]


def label_config():
    """``num_labels``, ``id2label`` and ``label2id`` of :func:`label_names`, for a transformers config."""
    names = label_names()
    return {"num_labels": len(names), "id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def grid_label(class_index, x, y, size):
    """Label of a shape of class ``class_index`` centred at column ``x``, row ``y`` (pixels)."""
    row, column = min(int(3 * y / size), 2), min(int(3 * x / size), 2)
    return class_index * 9 + row * 3 + column


def _random_clip(rng, size, n_frames, moving):
    # The simulated movies' ranges (simulate/stimuli.py): radius 12–22 % of the frame,
    # speed 0.08–0.3 frame widths per second, background 2–20 % grey.
    return Clip(start=0, n_frames=n_frames, class_index=int(rng.integers(len(CLASSES))),
                radius=float(rng.uniform(0.12, 0.22) * size), x0=float(rng.uniform(0, size)),
                y0=float(rng.uniform(0, size)), speed=float(rng.uniform(0.08, 0.3)) if moving else 0.0,
                background=float(rng.uniform(0.02, 0.2)))


def _natural(rng, size, n_frames):
    """The first ``n_frames`` frames of a random natural shot, and the label of its own shape there."""
    shot = natural_shot(rng, size, n_frames, CLIP_FPS)
    frames, (row, column) = shot_start(shot, size, n_frames, CLIP_FPS)
    return frames, grid_label(shot.class_index, column, row, size)


def labelled_frames(n, size, seed, world="shapes"):
    """``n`` still frames ``uint8 [n, size, size, 3]`` of random classes and places, and their labels.

    ``world="shapes"``: one shape on a dark background; ``world="natural"``: the first frame of a
    random shot of the natural world (:mod:`.world_natural`), labelled by its own shape (the
    first object, drawn on top).

    Returns
    -------
    frames : ndarray, uint8 ``[n, size, size, 3]``
    labels : ndarray, int64 ``[n]``
        :func:`label_names` indices.
    """
    rng = np.random.default_rng(seed)
    frames, labels = np.empty((n, size, size, 3), np.uint8), np.empty(n, np.int64)
    if check_world(world) == "natural":
        for i in range(n):
            drawn, labels[i] = _natural(rng, size, 1)
            frames[i] = drawn[0]
        return frames, labels
    for i in range(n):
        clip = _random_clip(rng, size, 1, moving=False)
        frames[i] = next(draw_clip(clip, size, fps=CLIP_FPS))[0]
        labels[i] = grid_label(clip.class_index, clip.x0, clip.y0, size)
    return frames, labels


def labelled_clips(n, size, n_frames, seed, world="shapes"):
    """``n`` moving clips of ``n_frames`` frames at 3 fps, labelled by class and start cell.

    ``world="natural"``: the first frames of random natural shots of 2-8 s, labelled by their own
    shape's class and the cell where it starts.

    Returns
    -------
    clips : ndarray, uint8 ``[n, n_frames, size, size, 3]``
    labels : ndarray, int64 ``[n]``
    """
    rng = np.random.default_rng(seed)
    clips, labels = np.empty((n, n_frames, size, size, 3), np.uint8), np.empty(n, np.int64)
    if check_world(world) == "natural":
        for i in range(n):
            clips[i], labels[i] = _natural(rng, size, n_frames)
        return clips, labels
    for i in range(n):
        clip = _random_clip(rng, size, n_frames, moving=True)
        clips[i] = next(draw_clip(clip, size, fps=CLIP_FPS))
        labels[i] = grid_label(clip.class_index, clip.x0, clip.y0, size)
    return clips, labels


def train_classifier(model, pixels, labels, *, steps, batch_size=128, learning_rate=2e-3, seed=0, name="model",
                     progress=False):
    """Train a Hugging Face classifier in place on ``pixels`` and ``labels`` (cross-entropy).

    Parameters
    ----------
    model : transformers ``PreTrainedModel``
        Called as ``model(pixel_values=..., labels=...)``, returning ``loss``.
    pixels : Tensor ``[n, ...]``
        Processed inputs (the model's image processor's ``pixel_values``).
    labels : Tensor, int64 ``[n]``
    steps, batch_size : int
    learning_rate : float
        Peak of a one-cycle schedule.
    seed : int
        Seeds the batches.
    name : str
        For the progress bar.
    progress : bool
        Show a progress bar over the steps.

    Returns
    -------
    list of float
        The loss of every step.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, learning_rate, total_steps=steps, pct_start=0.1)
    model.train()
    losses = []
    for _ in progress_bar(range(steps), desc=f"{name}: training", unit="step", enabled=progress):
        idx = randperm(len(labels), generator)[:batch_size]
        loss = model(pixel_values=pixels[idx], labels=labels[idx]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        schedule.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def accuracy(model, pixels, labels, batch_size=256):
    """Fraction of ``labels`` that are the model's top-1 class on ``pixels``."""
    model.eval()
    hits = 0
    for start in range(0, len(labels), batch_size):
        logits = model(pixel_values=pixels[start:start + batch_size]).logits
        hits += int((logits.argmax(-1) == labels[start:start + batch_size]).sum())
    return hits / len(labels)


def start_from(model, start, progress=False):
    """Load into ``model`` the weights of the classifier ``start`` (a folder or a built-in name, built
    once if need be), to fine-tune it; ``None`` keeps ``model``'s own initial weights.

    Returns
    -------
    str or None
        ``start`` as given (a built-in name or a folder), for the training record.
    """
    if start is None:
        return None
    from ..models.pretrained import build_tiny, builtin_models

    folder = build_tiny(start, progress=progress) if str(start) in builtin_models() else start
    model.load_state_dict(type(model).from_pretrained(folder).state_dict())
    return str(start)


def train_and_save(model, folder, pixels, *, steps, n_train, n_heldout, seed, name, progress, start=None,
                   **training):
    """Train a world classifier, measure it on fresh drawings, save it and its training record.

    Parameters
    ----------
    model : transformers classification model
    folder : Path
    pixels : callable ``(n, draw_seed) -> (pixel_values, labels)``
        Draws and preprocesses ``n`` labelled inputs.
    steps, n_train, n_heldout, seed : int
    name : str
        For the progress bar.
    progress : bool
    start : str, optional
        Written to the record as ``fine_tuned_from`` (only when given).
    **training
        More :func:`train_classifier` keywords (``batch_size``, ``learning_rate``).

    Returns
    -------
    Path
        ``folder``, holding the model and ``world_training.json`` (held-out accuracy, chance).
    """
    import json

    losses = train_classifier(model, *pixels(n_train, seed), steps=steps, seed=seed, name=name, progress=progress,
                              **training)
    held_out = accuracy(model, *pixels(n_heldout, seed + 1_000_003))  # drawings never seen in training
    model.eval().save_pretrained(folder)
    (folder / "world_training.json").write_text(json.dumps(
        {"steps": steps, "n_train": n_train, "final_loss": losses[-1], "n_heldout": n_heldout,
         "heldout_accuracy": held_out, "chance": 1 / model.config.num_labels,
         **({"fine_tuned_from": start} if start is not None else {})}, indent=1))
    return folder
