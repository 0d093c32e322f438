"""``tiny-blip``: a tiny random ``BlipForConditionalGeneration`` and its ``BlipProcessor``.

Its captions mean nothing (use ``--captions sidecar`` on simulated data); its shapes, tokenizer
and processor behave like ``Salesforce/blip-image-captioning-large``'s.
"""

from pathlib import Path

import torch

from . import builtin_model
from .vocabulary import blip_vocabulary


@builtin_model(version=4, duration="a few seconds", what="random weights")
def build_tiny_blip(folder, seed=0, progress=False):
    """Write a tiny random ``BlipForConditionalGeneration`` and its ``BlipProcessor`` to ``folder``.

    Vision: width 32, 2 layers, 32×32 images in 8×8 patches; text decoder: width 32, 2 layers,
    a WordPiece vocabulary of the corpus words (:func:`.vocabulary.blip_vocabulary`). ``[DEC]`` starts a caption and ``[SEP]``
    ends it, as in the real BLIP. Special tokens other than ``[SEP]`` get a large negative output
    bias so that captions are made of words, and cross-attention weights are drawn larger than
    usual so that different images get different captions.

    Parameters
    ----------
    folder : str or Path
        Created if missing; files there are overwritten.
    seed : int
        Seeds the random weights.
    progress : bool
        Unused (nothing is trained); every builder takes it.

    Returns
    -------
    Path
        ``folder``.
    """
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokens = blip_vocabulary()
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
