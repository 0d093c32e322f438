"""Tiny, seeded, random CLIP and BLIP models saved as ordinary Hugging Face folders.

The tests and the CPU demo load them through the same ``from_pretrained`` path as the real
models (``openai/clip-vit-large-patch14``, ``Salesforce/blip-image-captioning-large``), so the
embedding step runs end to end without network or large downloads. Their outputs mean nothing;
their shapes, tokenizers and processors behave like the real ones.

Both tokenizers are built from files written here: CLIP's byte-level BPE (``vocab.json`` +
``merges.txt``, merges learnt on a small caption corpus) and a BERT WordPiece vocabulary
(``vocab.txt``) for BLIP's text decoder.
"""

import json
from collections import Counter
from pathlib import Path

import torch

#: Bump when the folders built here change, so cached copies are rebuilt.
BUILDER_VERSION = 4

#: Token sequence length of CLIP's text encoder (and of Stable Diffusion 1.5's text states).
CLIP_TEXT_LENGTH = 77

_CORPUS = """
a red disc moving to the right on a dark background
a green square moving up on a dark background
a blue triangle moving to the left on a dark background
yellow horizontal stripes drifting down on a dark background
a magenta ring moving diagonally up and to the right on a dark background
a cyan cross moving diagonally down and to the left on a dark background
an orange diamond moving diagonally up and to the left on a dark background
a white checkerboard moving diagonally down and to the right on a dark background
a large disc at the top left on a grey background, a small square at the middle centre
large stripes at the bottom right, small crosses at the top centre and the middle left
a man riding a horse on the beach
a woman walking with a dog in the park
a group of people standing in a room
a close up of a person talking to the camera
an aerial view of a city at night with cars on the street
a bird flying over the water near a boat
two children playing with a ball on the grass
a black and white photo of a car in front of a building
"""


def _byte_alphabet():
    """The 256 printable characters GPT-2/CLIP byte-level BPE uses for the bytes 0-255."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def learn_bpe_merges(words, n_merges):
    """Learn byte-pair merges the way BPE does, with ties broken alphabetically (deterministic).

    Parameters
    ----------
    words : iterable of str
        Lower-case ASCII words of a corpus (repeats count).
    n_merges : int
        Most merges to learn; fewer if every word becomes one symbol first.

    Returns
    -------
    list of (str, str)
        Merges in rank order; words end with CLIP's ``</w>`` marker.
    """
    counts = Counter(tuple(w[:-1]) + (w[-1] + "</w>",) for w in words if w)
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for word, n in counts.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged = Counter()
        for word, n in counts.items():
            out, i = [], 0
            while i < len(word):
                if word[i: i + 2] == best:
                    out.append(best[0] + best[1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += n
        counts = merged
    return merges


def clip_vocabulary(n_merges=400):
    """A small valid CLIP BPE vocabulary: every byte (alone and word-final), the merges, specials.

    Returns
    -------
    vocab : dict of str to int
    merges : list of (str, str)
    """
    alphabet = _byte_alphabet()
    tokens = alphabet + [c + "</w>" for c in alphabet]
    merges = learn_bpe_merges(_CORPUS.split(), n_merges)
    for a, b in merges:
        if a + b not in tokens:
            tokens.append(a + b)
    tokens += ["<|startoftext|>", "<|endoftext|>"]  # last, as in the real vocabulary
    return {t: i for i, t in enumerate(tokens)}, merges


def _write_clip_tokenizer_files(folder):
    vocab, merges = clip_vocabulary()
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return vocab


def build_tiny_clip(folder, seed=0, trained=True):
    """Write a tiny ``CLIPModel`` with its tokenizer and image processor to ``folder``.

    Text: width 32, 2 layers, 77 positions; vision: width 32, 2 layers, 32×32 images in 8×8
    patches; projection dimension 32. Load it with ``CLIPModel.from_pretrained(folder)``,
    ``CLIPTokenizer.from_pretrained(folder)`` and ``CLIPImageProcessor.from_pretrained(folder)``.

    An untrained tiny CLIP embeds all simulated frames almost alike (mean cosine 0.996), which
    makes a useless contrastive target; so by default it is first trained for 200 steps
    (about 20 s on 2 CPU cores) on freshly drawn frames of the simulated world
    (:mod:`neurocine_toolbox.simulate.world_clip`), never on a dataset's own movies.

    Parameters
    ----------
    folder : str or Path
        Created if missing; files there are overwritten.
    seed : int
        Seeds the weights and the training pairs: the same seed gives the same model.
    trained : bool
        Train on the simulated world (default) or keep the random weights.

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
        from ..simulate.world_clip import train_world_clip

        image_processor = CLIPImageProcessor.from_pretrained(folder)
        train_world_clip(model, tokenizer, image_processor, n_pairs=2048, steps=200, batch_size=128, seed=seed)
    model.eval().save_pretrained(folder)
    return folder


def _blip_vocabulary():
    words = sorted(set(_CORPUS.split()))
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, "[DEC]"]


def build_tiny_blip(folder, seed=0):
    """Write a tiny random ``BlipForConditionalGeneration`` and its ``BlipProcessor`` to ``folder``.

    Vision: width 32, 2 layers, 32×32 images in 8×8 patches; text decoder: width 32, 2 layers,
    a WordPiece vocabulary of the caption words above. ``[DEC]`` starts a caption and ``[SEP]``
    ends it, as in the real BLIP. Special tokens other than ``[SEP]`` get a large negative output
    bias so that captions are made of words, and cross-attention weights are drawn larger than
    usual so that different images get different captions.

    Parameters
    ----------
    folder : str or Path
        Created if missing; files there are overwritten.
    seed : int
        Seeds the random weights.

    Returns
    -------
    Path
        ``folder``.
    """
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokens = _blip_vocabulary()
    (folder / "vocab.txt").write_text("".join(t + "\n" for t in tokens))
    tokenizer = BertTokenizer.from_pretrained(folder, bos_token="[DEC]", model_max_length=64)
    (folder / "vocab.txt").unlink()  # save_pretrained writes it again, with the processor
    image_processor = BlipImageProcessor(size={"height": 32, "width": 32})
    BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    ids = {t: i for i, t in enumerate(tokens)}
    config = BlipConfig(
        text_config={"vocab_size": len(tokens), "hidden_size": 32, "encoder_hidden_size": 32,
                     "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                     "max_position_embeddings": 64, "bos_token_id": ids["[DEC]"], "pad_token_id": ids["[PAD]"],
                     "sep_token_id": ids["[SEP]"], "eos_token_id": ids["[SEP]"]},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                       "num_attention_heads": 4, "image_size": 32, "patch_size": 8,
                       # BLIP's default (1e-10) would give every image the same features.
                       "initializer_range": 0.02},
        projection_dim=32, image_text_hidden_size=32,
    )
    torch.manual_seed(seed)
    model = BlipForConditionalGeneration(config).eval()
    bias = model.text_decoder.cls.predictions.decoder.bias
    with torch.no_grad():
        for token in ("[PAD]", "[UNK]", "[CLS]", "[MASK]", "[DEC]"):
            bias[ids[token]] = -20.0
        # Stronger cross-attention than the 0.02 initialisation, so captions depend on the image.
        for name, weight in model.text_decoder.named_parameters():
            if "crossattention" in name and name.endswith(("value.weight", "output.dense.weight")):
                weight.normal_(0.0, 0.5)
    model.save_pretrained(folder)
    return folder
