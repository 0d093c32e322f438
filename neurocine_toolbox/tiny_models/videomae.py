"""``tiny-videomae``: a tiny VideoMAE clip classifier trained on moving clips of the simulated world.

The stand-in for ``MCG-NJU/videomae-base-finetuned-kinetics`` in the N-way evaluation of the
demo and the tests: 6-frame clips at 3 fps (one 2 s TR), 72 labels (class × the 3 × 3 cell
where the shape starts, :mod:`.world_labels`), so it must see shape, colour and where the shape
moves from. ``tiny-videomae-natural`` is the same, trained on the starts of natural shots
(:mod:`.world_natural`): its shapes move in front of photographs through a moving camera.
"""

from pathlib import Path

import torch

from . import builtin_model
from .world_labels import label_config, labelled_clips, start_from, train_and_save

#: Training and held-out sizes of the build (clips drawn at the tiny preset's 32² resolution).
STEPS, N_TRAIN, N_HELDOUT, DRAW_SIZE, N_FRAMES, BATCH = 1000, 4096, 512, 32, 6, 96
#: ``tiny-videomae-natural`` fine-tunes on twice as many clips (held-out accuracy 0.27, not 0.23).
N_TRAIN_NATURAL = 8192
#: The model's frame size: at 16² every class still has its own colour, and 48 tokens keep it fast.
IMAGE_SIZE = 16


def tiny_videomae_processor():
    """The VideoMAE processor of ``tiny-videomae``: the peers' (ImageNet mean/std) at 16²."""
    from transformers import VideoMAEImageProcessor
    from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

    return VideoMAEImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                  crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
                                  image_mean=list(IMAGENET_DEFAULT_MEAN), image_std=list(IMAGENET_DEFAULT_STD))


@builtin_model(version=1, duration="~35 s on 2 CPU cores",
               what="training a VideoMAE classifier on moving clips of the simulated world")
def build_tiny_videomae(folder, seed=0, steps=STEPS, progress=False, world="shapes", name="tiny-videomae",
                        start=None, n_train=N_TRAIN):
    """Write a tiny ``VideoMAEForVideoClassification`` and its image processor to ``folder``.

    Width 64, 2 layers, 4 heads, 6 frames of 16×16 (clips drawn at 32², resized by its processor)
    in tubelets of 2 × 4 × 4 (48 tokens), mean pooling, 72 labels. Trained for ``steps`` steps
    (batch 96) on freshly drawn moving clips; its top-1 accuracy on other fresh clips is written
    to ``world_training.json``.

    Parameters
    ----------
    folder : str or Path
        Created if missing; files there are overwritten.
    seed : int
        Seeds the weights, the drawings and the batches.
    steps : int
        Training steps.
    progress : bool
        A progress bar over the training steps.
    world : str
        ``"shapes"`` (``tiny-videomae``) or ``"natural"`` (``tiny-videomae-natural``): what the
        clips show (:func:`.world_labels.labelled_clips`).
    name : str
        For the progress bar.
    start : str, optional
        Fine-tune this classifier (a folder or a built-in name) instead of training from random
        weights (:func:`.world_labels.start_from`).
    n_train : int
        Labelled drawings trained on.

    Returns
    -------
    Path
        ``folder``.
    """
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    processor = tiny_videomae_processor()
    processor.save_pretrained(folder)
    config = VideoMAEConfig(image_size=IMAGE_SIZE, patch_size=4, num_frames=N_FRAMES, tubelet_size=2,
                            hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                            **label_config())
    torch.manual_seed(seed)
    model = VideoMAEForVideoClassification(config)
    start = start_from(model, start, progress)

    def pixels(n, draw_seed):
        clips, labels = labelled_clips(n, DRAW_SIZE, N_FRAMES, draw_seed, world=world)
        return processor(list(clips), return_tensors="pt")["pixel_values"], torch.as_tensor(labels)

    return train_and_save(model, folder, pixels, steps=steps, n_train=n_train, n_heldout=N_HELDOUT, seed=seed,
                          name=name, progress=progress, batch_size=BATCH, learning_rate=4e-3, start=start)


@builtin_model(version=1, duration="~70 s on 2 CPU cores",
               what="fine-tuning tiny-videomae on moving clips of the natural world (shapes in front of photographs)")
def build_tiny_videomae_natural(folder, seed=0, steps=STEPS, progress=False, start="tiny-videomae",
                                n_train=N_TRAIN_NATURAL):
    """``tiny-videomae-natural``: ``tiny-videomae`` fine-tuned on the starts of natural shots.

    The same model, labels (class × the 3 × 3 cell where the shot's own shape starts) and steps,
    on ``n_train`` clips; held-out accuracy on other fresh natural clips in
    ``world_training.json``. It starts from ``tiny-videomae`` (built first if need be): trained
    from random weights for as long, it learnt the classes but hardly the places (held-out
    accuracy 0.10, against 0.23 fine-tuned on 4096 clips; chance 1/72). Its 16² frames leave the
    natural world's smaller shapes (radius 8-16 % of the frame) a radius of 1.3-2.6 pixels.
    """
    return build_tiny_videomae(folder, seed, steps, progress, world="natural", name="tiny-videomae-natural",
                               start=start, n_train=n_train)
