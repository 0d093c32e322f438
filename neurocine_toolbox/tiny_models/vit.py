"""``tiny-vit``: a tiny ViT image classifier trained on drawings of the simulated world.

The stand-in for ``google/vit-base-patch16-224`` in the N-way evaluation of the demo and the
tests: loaded through the same ``AutoModelForImageClassification`` / ``AutoImageProcessor``
path, with 72 labels (class × 3 × 3 place, :mod:`.world_labels`) so that 50-way draws work.
``tiny-vit-natural`` is the same, trained on frames of the natural world (:mod:`.world_natural`).
"""

from pathlib import Path

import torch

from . import builtin_model
from .world_labels import label_config, labelled_frames, start_from, train_and_save

#: Training and held-out sizes of the build (frames drawn at the tiny preset's 32² resolution).
STEPS, N_TRAIN, N_HELDOUT, DRAW_SIZE = 300, 4096, 1024, 32
#: ``tiny-vit-natural`` fine-tunes on twice as many frames (held-out accuracy 0.54, not 0.49).
N_TRAIN_NATURAL = 8192


def tiny_vit_processor():
    """The ViT processor of ``tiny-vit``: the peers' (bilinear, mean = std = 0.5) at 32²."""
    from transformers import ViTImageProcessor

    return ViTImageProcessor(size={"height": 32, "width": 32}, resample=2, image_mean=[0.5] * 3,
                             image_std=[0.5] * 3)


@builtin_model(version=1, duration="~20 s on 2 CPU cores",
               what="training a ViT classifier on drawings of the simulated world")
def build_tiny_vit(folder, seed=0, steps=STEPS, progress=False, world="shapes", name="tiny-vit", start=None,
                   n_train=N_TRAIN):
    """Write a tiny ``ViTForImageClassification`` and its image processor to ``folder``.

    Width 64, 2 layers, 4 heads, 32×32 images in 4×4 patches, 72 labels. Trained for
    ``steps`` steps (batch 128) on freshly drawn still frames; its top-1 accuracy on other
    fresh frames is written to ``world_training.json`` (``heldout_accuracy``; chance 1/72).

    Parameters
    ----------
    folder : str or Path
        Created if missing; files there are overwritten.
    seed : int
        Seeds the weights, the drawings and the batches: the same seed gives the same model.
    steps : int
        Training steps.
    progress : bool
        A progress bar over the training steps.
    world : str
        ``"shapes"`` (``tiny-vit``) or ``"natural"`` (``tiny-vit-natural``): what the frames show
        (:func:`.world_labels.labelled_frames`).
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
    from transformers import ViTConfig, ViTForImageClassification

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    processor = tiny_vit_processor()
    processor.save_pretrained(folder)
    config = ViTConfig(image_size=32, patch_size=4, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=128, **label_config())
    torch.manual_seed(seed)
    model = ViTForImageClassification(config)
    start = start_from(model, start, progress)

    def pixels(n, draw_seed):
        frames, labels = labelled_frames(n, DRAW_SIZE, draw_seed, world=world)
        return processor(images=list(frames), return_tensors="pt")["pixel_values"], torch.as_tensor(labels)

    return train_and_save(model, folder, pixels, steps=steps, n_train=n_train, n_heldout=N_HELDOUT, seed=seed,
                          name=name, progress=progress, start=start)


@builtin_model(version=1, duration="~40 s on 2 CPU cores",
               what="fine-tuning tiny-vit on frames of the natural world (shapes in front of photographs)")
def build_tiny_vit_natural(folder, seed=0, steps=STEPS, progress=False, start="tiny-vit", n_train=N_TRAIN_NATURAL):
    """``tiny-vit-natural``: ``tiny-vit`` fine-tuned on first frames of natural shots.

    The same model, labels (class × 3 × 3 place of the shot's own shape) and steps, on
    ``n_train`` frames; held-out accuracy on other fresh natural frames in
    ``world_training.json``. It starts from ``tiny-vit`` (built first if need be), as real
    classifiers start from pre-trained weights: trained from random weights for as long, it
    learnt the shapes' classes but not their places (held-out accuracy 0.07, against 0.49
    fine-tuned on 4096 frames; chance 1/72). With one to three shapes in a frame and nothing to
    tell which is the shot's own, about 0.61 is the most any classifier can reach.
    """
    return build_tiny_vit(folder, seed, steps, progress, world="natural", name="tiny-vit-natural", start=start,
                          n_train=n_train)
