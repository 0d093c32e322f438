"""``tiny-clip``: a tiny ``CLIPModel`` with its tokenizer and image processor, trained on drawings.

It loads through the same ``from_pretrained`` path as ``openai/clip-vit-large-patch14``, so the
embedding step runs end to end without network or large downloads; its shapes, tokenizer and
image processor behave like the real ones. ``tiny-clip-natural`` is the same model trained on
captioned frames of the natural world (:mod:`.world_natural`).
"""

import json
from pathlib import Path

import torch

from ..models.pretrained import CLIP_TEXT_LENGTH
from . import builtin_model
from .vocabulary import clip_vocabulary
from .world_clip import train_world_clip


def _write_clip_tokenizer_files(folder):
    vocab, merges = clip_vocabulary()
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return vocab


@builtin_model(version=4, duration="~20 s on 2 CPU cores", what="training a CLIP on drawings of the simulated world")
def build_tiny_clip(folder, seed=0, trained=True, progress=False, world="shapes", name="tiny-clip", steps=200,
                    n_pairs=2048):
    """Write a tiny ``CLIPModel`` with its tokenizer and image processor to ``folder``.

    Text: width 32, 2 layers, 77 positions; vision: width 32, 2 layers, 32×32 images in 8×8
    patches; projection dimension 32. Load it with ``CLIPModel.from_pretrained(folder)``,
    ``CLIPTokenizer.from_pretrained(folder)`` and ``CLIPImageProcessor.from_pretrained(folder)``.

    An untrained tiny CLIP embeds all simulated frames almost alike (mean cosine 0.996), which
    makes a useless contrastive target; so by default it is first trained for 200 steps
    (about 20 s on 2 CPU cores) on freshly drawn frames of the simulated world
    (:mod:`.world_clip`), never on a dataset's own movies.

    Parameters
    ----------
    folder : str or Path
        Created if missing; files there are overwritten.
    seed : int
        Seeds the weights and the training pairs: the same seed gives the same model.
    trained : bool
        Train on the simulated world (default) or keep the random weights.
    progress : bool
        Show a progress bar over the training steps.
    world : str
        ``"shapes"`` (``tiny-clip``) or ``"natural"`` (``tiny-clip-natural``): the frames and
        captions it is trained on (:func:`.world_clip.synthetic_pairs`).
    name : str
        For the progress bar.
    steps, n_pairs : int
        Training steps (batch 128) and the image–caption pairs drawn for them.

    Returns
    -------
    Path
        ``folder``.
    """
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = _write_clip_tokenizer_files(folder)
    tokenizer = CLIPTokenizer.from_pretrained(folder, model_max_length=CLIP_TEXT_LENGTH)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    special = {"bos_token_id": vocab["<|startoftext|>"], "eos_token_id": vocab["<|endoftext|>"],
               "pad_token_id": vocab["<|endoftext|>"]}
    config = CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 4,
                     "max_position_embeddings": CLIP_TEXT_LENGTH, "projection_dim": 32, **special},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                       "num_attention_heads": 4, "image_size": 32, "patch_size": 8, "projection_dim": 32},
        projection_dim=32,
    )
    torch.manual_seed(seed)
    model = CLIPModel(config)
    if trained:
        image_processor = CLIPImageProcessor.from_pretrained(folder)
        train_world_clip(model, tokenizer, image_processor, n_pairs=n_pairs, steps=steps, batch_size=128, seed=seed,
                         world=world, name=name, progress=progress)
    model.eval().save_pretrained(folder)
    return folder


@builtin_model(version=1, duration="~45 s on 2 CPU cores",
               what="training a CLIP on captioned frames of the natural world (shapes in front of photographs)")
def build_tiny_clip_natural(folder, seed=0, progress=False):
    """``tiny-clip-natural``: :func:`build_tiny_clip` trained on natural shots and their captions.

    The same model, tokenizer and image processor, trained the same way from random weights on
    (first frame of a random natural shot, the shot's caption) pairs (:mod:`.world_natural`),
    e.g. ``"a red disc moving to the right and a blue triangle moving to the left in front of a
    cat, the camera pans to the left"``; twice as long (400 steps on 4096 pairs): given 300 fresh
    frames and their captions, it matches 39 % of the frames to their own caption (chance 0.3 %),
    against 14 % after tiny-clip's 200 steps on 2048 pairs.
    """
    return build_tiny_clip(folder, seed, progress=progress, world="natural", name="tiny-clip-natural", steps=400,
                           n_pairs=4096)
