"""``tiny-vit``: a tiny ViT image classifier trained on drawings of the simulated world.

The stand-in for ``google/vit-base-patch16-224`` in the N-way evaluation of the demo and the
tests: loaded through the same ``AutoModelForImageClassification`` / ``AutoImageProcessor``
path, with 72 labels (class × 3 × 3 place, :mod:`.world_labels`) so that 50-way draws work.
"""

from pathlib import Path

import torch

from . import builtin_model
from .world_labels import label_config, labelled_frames, train_and_save

#: Training and held-out sizes of the build (frames drawn at the tiny preset's 32² resolution).
STEPS, N_TRAIN, N_HELDOUT, DRAW_SIZE = 300, 4096, 1024, 32


def tiny_vit_processor():
    """The ViT processor of ``tiny-vit``: the peers' (bilinear, mean = std = 0.5) at 32²."""
    from transformers import ViTImageProcessor

    return ViTImageProcessor(size={"height": 32, "width": 32}, resample=2, image_mean=[0.5] * 3,
                             image_std=[0.5] * 3)


@builtin_model(version=1, duration="~20 s on 2 CPU cores",
               what="training a ViT classifier on drawings of the simulated world")
def build_tiny_vit(folder, seed=0, steps=STEPS, progress=False):
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

    def pixels(n, draw_seed):
        frames, labels = labelled_frames(n, DRAW_SIZE, draw_seed)
        return processor(images=list(frames), return_tensors="pt")["pixel_values"], torch.as_tensor(labels)

    return train_and_save(model, folder, pixels, steps=steps, n_train=N_TRAIN, n_heldout=N_HELDOUT, seed=seed,
                          name="tiny-vit", progress=progress)
