"""The embedding step: captions and CLIP embeddings of every frame row, added to the store.

For each distinct frame row of a store (viewings of one movie share one): a caption (BLIP's, of
the middle frame, or the dataset's ground truth from ``stimuli/<movie>_clips.tsv``), CLIP's
text-encoder states of the caption ``[77, d_text]`` (the conditioning Stable Diffusion 1.5
reads), CLIP's projected text embedding ``[d]``, and CLIP's projected image embedding of each
frame ``[frames_per_tr, d]``. The store is rewritten under a temporary name beside it and renamed
over the original only when complete; earlier embeddings are replaced.
"""

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from .._version import __version__
from ..errors import NeurocineError
from ..models.pretrained import (
    BLIP_LABEL, CLIP_LABEL, CLIP_TEXT_LENGTH, load_blip, load_clip, require_pretrained,
)
from ..utils.atomic import atomic_path, write_text_atomic
from ..utils.progress import progress_bar
from .captions import CAPTION_SOURCES, blip_captions, find_stimuli_dir, middle_frame, sidecar_captions
from .store import (
    EMBEDDING_ATTR, EMBEDDING_DATASETS, copy_store, create_embedding_datasets, open_store, write_json_attr,
)

log = logging.getLogger("neurocine")


@dataclass(frozen=True)
class EmbeddingOptions:
    """The config's ``embedding`` section (defaults.yaml documents each key).

    Parameters
    ----------
    captions : {"model", "sidecar"}
        BLIP captions of each TR's middle frame, or the dataset's ``_clips.tsv`` captions.
    caption_model, clip_model : str
        Hugging Face ids, local folders, or ``tiny-blip`` / ``tiny-clip``.
    batch_size : int
        Captions or images per forward pass.
    max_caption_tokens : int
        Longest BLIP caption, in tokens.
    """

    captions: str
    caption_model: str
    clip_model: str
    batch_size: int
    max_caption_tokens: int

    @classmethod
    def from_config(cls, section=None):
        """Check and wrap a config's ``embedding`` section (default: ``defaults.yaml``'s)."""
        if section is None:
            from ..config import load_config

            section = load_config()["embedding"]
        if isinstance(section, cls):
            return section
        options = cls(**{k: section[k] for k in cls.__dataclass_fields__ if k in section})
        options.validate()
        return options

    def validate(self):
        if self.captions not in CAPTION_SOURCES:
            raise NeurocineError(f"embedding.captions must be model or sidecar, not {self.captions!r}")
        for key in ("batch_size", "max_caption_tokens"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise NeurocineError(f"embedding.{key} must be a whole number >= 1, not {value!r}")
        for key in ("clip_model", "caption_model"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise NeurocineError(f"embedding.{key} must name a model (Hugging Face id or folder)")


@dataclass
class EmbeddingModels:
    """CLIP, and BLIP when captions come from the model, loaded on one device."""

    clip: object
    blip: object
    device: torch.device
    dtype: torch.dtype


def select_device(device=None):
    """``(device, dtype)``: CUDA with float16 when there is a GPU (or asked for), else CPU float32.

    Raises
    ------
    NeurocineError
        ``device="cuda"`` on a machine without CUDA.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NeurocineError("--device cuda was asked for, but torch sees no CUDA GPU here")
    return device, torch.float16 if device.type == "cuda" else torch.float32


def load_embedding_models(options, device=None, progress=None):
    """Load the models the embedding step needs (BLIP only for ``captions: model``).

    Parameters
    ----------
    options : EmbeddingOptions or dict
    device : str, optional
        "cpu" or "cuda"; default CUDA when available.
    progress : bool, optional
        Progress bars while a built-in model (``tiny-clip``) is built; default: when the
        ``neurocine`` logger shows INFO messages.

    Returns
    -------
    EmbeddingModels
    """
    options = EmbeddingOptions.from_config(options)
    device, dtype = select_device(device)
    # Check both before loading either: a missing CLIP should not wait for BLIP to load.
    if options.captions == "model":
        require_pretrained(options.caption_model, BLIP_LABEL, "embedding.caption_model", progress)
    require_pretrained(options.clip_model, CLIP_LABEL, "embedding.clip_model", progress)
    blip = load_blip(options.caption_model, device, dtype) if options.captions == "model" else None
    clip = load_clip(options.clip_model, device, dtype)
    return EmbeddingModels(clip, blip, device, dtype)


@torch.no_grad()
def clip_text(clip, captions):
    """CLIP text-encoder states and projected text embeddings of captions.

    Captions are padded (or truncated) to 77 tokens and encoded without an attention mask, as
    Stable Diffusion's pipelines encode prompts (CLIP's causal mask keeps the caption's own
    tokens unaffected by the padding).

    Returns
    -------
    states : ndarray, float32 ``[n, 77, d_text]``
        ``last_hidden_state`` (after the final layer norm).
    embeds : ndarray, float32 ``[n, d]``
        ``text_projection`` of the pooled (end-of-text) state: ``get_text_features``, before
        L2 normalisation.
    """
    tokens = clip.tokenizer(list(captions), padding="max_length", max_length=CLIP_TEXT_LENGTH,
                            truncation=True, return_tensors="pt")
    out = clip.model.text_model(input_ids=tokens["input_ids"].to(clip.model.device))
    embeds = clip.model.text_projection(out.pooler_output)
    return out.last_hidden_state.float().cpu().numpy(), embeds.float().cpu().numpy()


@torch.no_grad()
def clip_images(clip, images, batch_size):
    """CLIP projected image embeddings (``get_image_features``, before L2 normalisation).

    Parameters
    ----------
    clip : ClipComponents
    images : ndarray, uint8 ``[n, H, W, 3]``
    batch_size : int

    Returns
    -------
    ndarray, float32 ``[n, d]``
    """
    model = clip.model
    out = []
    for start in range(0, len(images), batch_size):
        pixels = clip.image_processor(images=list(images[start: start + batch_size]), return_tensors="pt")
        pixels = pixels["pixel_values"].to(device=model.device, dtype=model.dtype)
        pooled = model.vision_model(pixel_values=pixels).pooler_output
        out.append(model.visual_projection(pooled).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, clip.embed_dim), np.float32)


def _provenance(options, models, frames_per_tr, stimuli_dir):
    import transformers

    clip, blip = models.clip, models.blip
    return {
        "captions": options.captions,
        "caption_model": options.caption_model if blip is not None else None,
        "caption_model_folder": blip.source.folder() if blip is not None else None,
        "caption_frame": middle_frame(frames_per_tr),
        "caption_sidecars": str(stimuli_dir) if stimuli_dir is not None else None,
        "clip_model": options.clip_model,
        "clip_model_folder": clip.source.folder(),
        "text_length": CLIP_TEXT_LENGTH,
        "text_dim": clip.text_dim,
        "embed_dim": clip.embed_dim,
        "text_states": "CLIP text encoder last_hidden_state; ids padded to 77, no attention mask",
        "embeds": "CLIP text_projection / visual_projection outputs, not L2-normalised",
        "options": asdict(options),
        "device": str(models.device),
        "model_dtype": str(models.dtype).removeprefix("torch."),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "neurocine_version": __version__,
    }


def _write_embeddings(path, options, models, captions, stimuli_dir, progress):
    """Rewrite one store with its embeddings, under a temporary name renamed over it at the end."""
    with open_store(path) as store:
        n, fpt = store.n_frame_rows, store.frames_per_tr
        desc = f"sub-{store.subject} {store.split} embed"
    mid = middle_frame(fpt)
    batch = options.batch_size
    provenance = _provenance(options, models, fpt, stimuli_dir)
    with atomic_path(path) as tmp:
        with h5py.File(path, "r") as src, h5py.File(tmp, "w") as dst:
            copy_store(src, dst, skip=(*EMBEDDING_DATASETS, EMBEDDING_ATTR))
            create_embedding_datasets(dst, n_frame_rows=n, frames_per_tr=fpt, text_length=CLIP_TEXT_LENGTH,
                                      text_dim=models.clip.text_dim, embed_dim=models.clip.embed_dim)
            with progress_bar(total=n, desc=desc, enabled=progress, unit="TR") as bar:
                for start in range(0, n, batch):
                    stop = min(start + batch, n)
                    frames = src["frames"][start:stop]
                    texts = (captions[start:stop] if captions is not None
                             else blip_captions(models.blip, frames[:, mid], options.max_caption_tokens))
                    states, text_embeds = clip_text(models.clip, texts)
                    images = clip_images(models.clip, frames.reshape(-1, *frames.shape[2:]), batch)
                    dst["captions"][start:stop] = np.array(texts, dtype=object)
                    dst["clip_text_states"][start:stop] = states.astype(np.float16)
                    dst["clip_text_embeds"][start:stop] = text_embeds
                    dst["clip_image_embeds"][start:stop] = images.reshape(stop - start, fpt, -1)
                    bar.update(stop - start)
            write_json_attr(dst, EMBEDDING_ATTR, provenance)
    sidecar = Path(path).with_suffix(".json")
    if sidecar.is_file():
        try:
            record = json.loads(sidecar.read_text())
        except ValueError:
            record = None
        if isinstance(record, dict):
            record[EMBEDDING_ATTR] = provenance
            write_text_atomic(sidecar, json.dumps(record, indent=2) + "\n")
    return {"path": Path(path), "frame_rows": n, "captions": options.captions,
            "text_dim": models.clip.text_dim, "embed_dim": models.clip.embed_dim}


def embed_stores(paths, config_embedding=None, *, device=None, progress=True, bids_dir=None, models=None):
    """Add captions and CLIP embeddings to store files (docs/embed.md).

    Every store is checked (and sidecar captions read) before any model is loaded; each store is
    then rewritten atomically, so a failure leaves it as it was.

    Parameters
    ----------
    paths : list of str or Path
        Store files written by ``neurocine prep``.
    config_embedding : dict or EmbeddingOptions, optional
        The config's ``embedding`` section (default: ``defaults.yaml``'s).
    device : {"cpu", "cuda"}, optional
        Default: CUDA (float16) when available, else CPU (float32).
    progress : bool
        Show a progress bar per store.
    bids_dir : str or Path, optional
        Raw BIDS root whose ``stimuli/`` holds the ``_clips.tsv`` sidecars (``captions:
        sidecar``); default: found from the store (:func:`~.captions.find_stimuli_dir`).
    models : EmbeddingModels, optional
        Already loaded models (default: loaded here).

    Returns
    -------
    list of dict
        Per store: path, frame rows, caption source and dimensions.
    """
    options = EmbeddingOptions.from_config(config_embedding)
    paths = [Path(p) for p in paths]
    if not paths:
        raise NeurocineError("no store files to embed")
    captions, stimuli = {}, {}
    for path in paths:
        with open_store(path) as store:  # a bad file fails here, before any model is loaded
            if options.captions == "sidecar":
                stimuli[path] = find_stimuli_dir(path, bids_dir)
                captions[path] = sidecar_captions(store, stimuli[path])
    models = models or load_embedding_models(options, device, progress)
    if options.captions == "model" and models.blip is None:
        raise NeurocineError("captions: model needs a BLIP model, but the models given were loaded without one")
    done = []
    for path in paths:
        log.info("embed: %s (captions: %s, CLIP: %s, %s)", path.name, options.captions, options.clip_model,
                 models.device)
        done.append(_write_embeddings(path, options, models, captions.get(path), stimuli.get(path), progress))
    return done


def embed_store(path, config_embedding=None, **kwargs):
    """Add captions and CLIP embeddings to one store file; see :func:`embed_stores`.

    Returns
    -------
    dict
    """
    return embed_stores([path], config_embedding, **kwargs)[0]
