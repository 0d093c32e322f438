"""Pretrained CLIP and BLIP, named in the config by Hugging Face id, local folder or tiny name.

Three kinds of name:

- a local folder (a ``save_pretrained`` output): loaded as is;
- a built-in name (``tiny-clip``, ``tiny-blip``, ``tiny-sd``, ``tiny-sd-random``, ``tiny-vit``,
  ``tiny-videomae``, and the natural world's ``tiny-clip-natural``, ``tiny-sd-natural``,
  ``tiny-vit-natural``, ``tiny-videomae-natural``): a tiny model
  built in code (:mod:`neurocine_toolbox.tiny_models`), once, into ``$NEUROCINE_CACHE/tiny/<name>``
  (default ``~/.cache/neurocine``). The builders are found through the ``neurocine.builtin_models``
  entry points that ``setup.py`` declares, so this module never imports them;
- anything else: a Hugging Face id, read from the Hugging Face cache, and downloaded only when
  ``HF_HUB_OFFLINE`` is not set.

When weights are absent the loaders raise :class:`NeurocineError` with one line naming the
model and how to provide it (DESIGN.md, pretrained weights).
"""

import contextlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import FileLock

from ..errors import NeurocineError

log = logging.getLogger("neurocine")

#: Token sequence length of CLIP's text encoder (and of Stable Diffusion 1.5's text states).
CLIP_TEXT_LENGTH = 77

#: The entry-point group whose entries name a model builder: ``tiny-clip = module:function``.
BUILTIN_MODELS_GROUP = "neurocine.builtin_models"
#: Names that start so (without a ``/``) are built-in names, never Hugging Face ids.
BUILTIN_PREFIX = "tiny-"
_TINY_MARKER = "neurocine_tiny.json"
CLIP_LABEL, BLIP_LABEL = "CLIP model", "BLIP captioning model"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


@dataclass(frozen=True)
class PretrainedSource:
    """Where a named model is loaded from.

    Attributes
    ----------
    name : str
        As given (the config's value).
    location : str
        A local folder, or a Hugging Face id.
    is_local : bool
    local_files_only : bool
        True for local folders, and for Hugging Face ids when ``HF_HUB_OFFLINE`` is set.
    """

    name: str
    location: str
    is_local: bool
    local_files_only: bool

    def folder(self):
        """The folder the files come from (a Hugging Face cache snapshot for ids), or None."""
        if self.is_local:
            return str(Path(self.location).resolve())
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(self.location, "config.json")
        return str(Path(cached).parent) if isinstance(cached, str) else None


def hub_offline():
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set, read now."""
    return any(os.environ.get(key, "").strip().lower() in ("1", "true", "yes", "on")
               for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def tiny_cache_dir():
    """``$NEUROCINE_CACHE/tiny`` (default ``~/.cache/neurocine/tiny``)."""
    root = os.environ.get("NEUROCINE_CACHE") or Path.home() / ".cache" / "neurocine"
    return Path(root).expanduser() / "tiny"


def builtin_models():
    """The built-in model names and their entry points (not loaded), from the installed metadata.

    Returns
    -------
    dict of str to importlib.metadata.EntryPoint
    """
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=BUILTIN_MODELS_GROUP)}


def is_builtin_name(name):
    """Whether ``name`` is a built-in model name (registered, or reserved by its ``tiny-`` prefix)."""
    name = str(name)
    return name in builtin_models() or (name.startswith(BUILTIN_PREFIX) and "/" not in name)


def builtin_builder(name):
    """The builder of the built-in model ``name``: ``builder(folder, progress=bool)``.

    Raises
    ------
    NeurocineError
        ``name`` is not registered (one line listing the known names).
    """
    entry = builtin_models().get(name)
    if entry is None:
        known = sorted(builtin_models())
        if not known:
            raise NeurocineError(f"unknown built-in model '{name}': no built-in models are registered, so "
                                 f"neurocine's install is missing its metadata or out of date (run `make venv` "
                                 f"or `pip install -e .` again)")
        raise NeurocineError(f"unknown built-in model '{name}' (known: {', '.join(known)})")
    builder = entry.load()
    if not isinstance(getattr(builder, "builder_version", None), int):
        raise NeurocineError(f"the builder of '{name}' ({entry.value}) has no builder_version")
    return builder


def _tiny_is_current(folder, version):
    try:
        marker = json.loads((folder / _TINY_MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("builder_version") == version


def build_tiny(name, cache_dir=None, progress=None):
    """Build a tiny model into the cache once (in a temporary folder, then renamed into place).

    A folder built by another builder version is rebuilt. Processes that need the same model at
    once (the ranks of a distributed run, parallel test workers) wait on a lock file beside the
    folder: one builds, the others then find its build current.

    Parameters
    ----------
    name : str
        A built-in name (:func:`builtin_models`), e.g. ``"tiny-clip"``.
    cache_dir : Path, optional
        Default :func:`tiny_cache_dir`.
    progress : bool, optional
        Progress bars over the build's training steps; default: when the ``neurocine`` logger
        shows INFO messages (the command line's default, not ``--quiet``).

    Returns
    -------
    Path
        The model's folder.

    Raises
    ------
    NeurocineError
        An unknown name.
    """
    builder = builtin_builder(name)
    version = builder.builder_version
    cache_dir = Path(cache_dir) if cache_dir is not None else tiny_cache_dir()
    folder = cache_dir / name
    if _tiny_is_current(folder, version):
        return folder
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_dir / f".{name}.lock")):
        if not _tiny_is_current(folder, version):  # not built by the process that held the lock
            _build_into(folder, builder, version, progress)
    return folder


def _build_into(folder, builder, version, progress):
    """Run ``builder`` in a temporary folder beside ``folder``, then rename it into place."""
    name, cache_dir = folder.name, folder.parent
    if progress is None:
        progress = log.isEnabledFor(logging.INFO)
    log.info("building %s once into %s (%s): %s", name, cache_dir, builder.build_duration,
             builder.build_description)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=cache_dir))
    try:
        with quiet_transformers():
            builder(tmp, progress=progress)
        (tmp / _TINY_MARKER).write_text(json.dumps({"name": name, "builder_version": version}))
        if folder.exists():  # an older build: move it aside before the new one takes its place
            stale = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".old", dir=cache_dir))
            os.replace(folder, stale / name)
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _looks_like_path(name):
    return name.startswith(("/", ".", "~")) or name.endswith("/") or not _HUB_ID.fullmatch(name)


def resolve_pretrained(name, label="model", setting=None, progress=None):
    """Decide where the model ``name`` is loaded from (building a built-in model once).

    Parameters
    ----------
    name : str
        A local folder, a built-in name (``tiny-clip``, ``tiny-blip``, ``tiny-sd``,
        ``tiny-sd-random``, ``tiny-vit``, ``tiny-videomae``, ``tiny-clip-natural``, …), or a
        Hugging Face id.
    label : str
        What the model is, for messages (e.g. "CLIP model").
    setting : str, optional
        The config key that names it (e.g. "embedding.clip_model"), for messages.
    progress : bool, optional
        Progress bars while a built-in model is built (:func:`build_tiny`).

    Returns
    -------
    PretrainedSource

    Raises
    ------
    NeurocineError
        A name that is a path but not a folder, or an unknown built-in name.
    """
    name = str(name)
    path = Path(name).expanduser()
    if name in builtin_models():
        return PretrainedSource(name, str(build_tiny(name, progress=progress)), True, True)
    if path.is_dir():  # a local folder, even one named like a built-in model (tiny-sd-finetuned)
        return PretrainedSource(name, str(path), True, True)
    if is_builtin_name(name):
        try:
            builtin_builder(name)
        except NeurocineError as err:
            raise NeurocineError(f"{err}{f' (set in {setting})' if setting else ''}") from None
    if path.exists() or _looks_like_path(name):
        where = f" (set {setting} to a folder written by save_pretrained)" if setting else ""
        raise NeurocineError(f"{label} folder does not exist or is not a folder{where}", name)
    return PretrainedSource(name, name, False, hub_offline())


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' warnings and loading bars (neurocine shows its own progress)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def first_line(err):
    """The first line of an exception's message (its type's name when the message is empty)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def absent_weights_error(source, label, setting, err):
    """The one-line :class:`NeurocineError` for weights that cannot be loaded, and how to provide them."""
    name = source.name
    if source.is_local:
        return NeurocineError(f"cannot load the {label} from this folder ({first_line(err)})", source.location)
    how = (f"run `hf download {name}` (huggingface_hub) on a machine with network and copy its cache "
           f"(~/.cache/huggingface, or HF_HOME) here, or set {setting or 'the config'} to a local folder")
    if source.folder() is not None:
        return NeurocineError(f"{label} '{name}' is in the Hugging Face cache but cannot be loaded "
                              f"({first_line(err)}); {how}")
    reach = "cannot be downloaded here (HF_HUB_OFFLINE is set)" if source.local_files_only else "could not be downloaded"
    return NeurocineError(f"{label} '{name}' is not in the Hugging Face cache and {reach}: {how}")


def require_pretrained(name, label="model", setting=None, progress=None):
    """:func:`resolve_pretrained`, and fail now if the weights cannot be had offline.

    Lets a command check every model it needs before loading any (or before long work).
    ``progress`` is :func:`resolve_pretrained`'s.

    Returns
    -------
    PretrainedSource

    Raises
    ------
    NeurocineError
        One line naming the model and how to provide it.
    """
    source = resolve_pretrained(name, label, setting, progress)
    if not source.is_local and source.local_files_only and source.folder() is None:
        raise absent_weights_error(source, label, setting, OSError("not cached"))
    return source


def load_pretrained(source, label, setting, loaders):
    """Call each ``loader(location, local_files_only=...)`` on a resolved source; absent weights → one-line error."""
    try:
        with quiet_transformers():
            return [load(source.location, local_files_only=source.local_files_only) for load in loaders]
    except (OSError, ValueError) as err:  # transformers and huggingface_hub report absence so
        raise absent_weights_error(source, label, setting, err) from err


def _check_tokenizer(tokenizer, vocab_size, source, label):
    """transformers 5 builds an almost empty tokenizer, silently, from a folder without its files."""
    n = len(tokenizer)
    if n < 10 or n > vocab_size:
        raise NeurocineError(f"the {label}'s tokenizer has {n} tokens but the model {vocab_size}: the folder lacks "
                             f"its tokenizer files (tokenizer.json, or vocab.json + merges.txt / vocab.txt) "
                             f"or holds another model's", source.location)


@dataclass
class ClipComponents:
    """A loaded CLIP: model (eval mode), tokenizer, image processor, and where they came from."""

    source: PretrainedSource
    model: torch.nn.Module
    tokenizer: object
    image_processor: object

    @property
    def text_dim(self):
        """Width of the text encoder's states (768 for ViT-L/14)."""
        return int(self.model.config.text_config.hidden_size)

    @property
    def embed_dim(self):
        """Projection dimension of the text and image embeddings (768 for ViT-L/14)."""
        return int(self.model.config.projection_dim)


@dataclass
class BlipComponents:
    """A loaded BLIP captioner: model (eval mode), processor, and where they came from."""

    source: PretrainedSource
    model: torch.nn.Module
    processor: object


def load_clip(name, device="cpu", dtype=torch.float32, setting="embedding.clip_model"):
    """Load a CLIP model with its tokenizer and image processor.

    Parameters
    ----------
    name : str
        Hugging Face id (e.g. ``openai/clip-vit-large-patch14``), local folder or
        ``tiny-clip``.
    device : str or torch.device
    dtype : torch.dtype
        float16 on CUDA, float32 on CPU.
    setting : str
        Config key that names the model (for messages).

    Returns
    -------
    ClipComponents

    Raises
    ------
    NeurocineError
        Weights absent (one line naming the model and how to provide it), or a model whose text
        encoder cannot take 77 tokens.
    """
    with quiet_transformers():  # without torchvision, transformers warns here that it uses PIL
        from transformers import CLIPImageProcessor, CLIPModel, CLIPTokenizer

    source = require_pretrained(name, CLIP_LABEL, setting)
    model, tokenizer, image_processor = load_pretrained(source, CLIP_LABEL, setting, [
        CLIPModel.from_pretrained, CLIPTokenizer.from_pretrained, CLIPImageProcessor.from_pretrained,
    ])
    _check_tokenizer(tokenizer, model.config.text_config.vocab_size, source, CLIP_LABEL)
    if model.config.text_config.max_position_embeddings < CLIP_TEXT_LENGTH:
        raise NeurocineError(f"CLIP model '{name}' takes {model.config.text_config.max_position_embeddings} "
                             f"tokens; the store's text states need {CLIP_TEXT_LENGTH}")
    model = model.to(device=device, dtype=dtype).eval()
    return ClipComponents(source, model, tokenizer, image_processor)


def load_blip(name, device="cpu", dtype=torch.float32, setting="embedding.caption_model"):
    """Load a BLIP captioning model (``BlipForConditionalGeneration``) and its processor.

    Parameters
    ----------
    name : str
        Hugging Face id (e.g. ``Salesforce/blip-image-captioning-large``), local folder or
        ``tiny-blip``.
    device : str or torch.device
    dtype : torch.dtype
    setting : str
        Config key that names the model (for messages).

    Returns
    -------
    BlipComponents

    Raises
    ------
    NeurocineError
        Weights absent: one line naming the model and how to provide it.
    """
    with quiet_transformers():
        from transformers import BlipForConditionalGeneration, BlipProcessor

    source = require_pretrained(name, BLIP_LABEL, setting)
    model, processor = load_pretrained(source, BLIP_LABEL, setting, [
        BlipForConditionalGeneration.from_pretrained, BlipProcessor.from_pretrained,
    ])
    _check_tokenizer(processor.tokenizer, model.config.text_config.vocab_size, source, BLIP_LABEL)
    return BlipComponents(source, model.to(device=device, dtype=dtype).eval(), processor)
