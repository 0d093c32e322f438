"""The frame and clip classifiers of the N-way evaluation, with an on-disk cache of their outputs.

As in the peers' evaluation (SCIENCE.md, evaluation protocols): a ViT ImageNet classifier on
single frames (default ``google/vit-base-patch16-224``: 224² bilinear, mean = std = 0.5) and a
VideoMAE Kinetics-400 classifier on whole clips (default
``MCG-NJU/videomae-base-finetuned-kinetics``: shortest edge 224, centre crop 224, ImageNet mean
and std). Each model's own saved image processor is used where its folder has one, so a tiny
model carries its own sizes; the peers' settings above are used where it has none.

Models are named like every pretrained model in neurocine (a Hugging Face id, a local
``save_pretrained`` folder, or a built-in name such as ``tiny-vit`` / ``tiny-videomae``) and
loaded only when an output is not already cached. Outputs are cached per model (its folder's
identity), precision, preprocessing and set of frames, so a second evaluation of the same
reconstructions costs a hash of the frames.
"""

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import NeurocineError
from ..models.pretrained import load_pretrained, quiet_transformers, require_pretrained
from ..utils.atomic import atomic_path
from ..utils.hashing import sha256_array
from ..utils.progress import progress_bar

log = logging.getLogger("neurocine")

FRAME_CLASSIFIER = "google/vit-base-patch16-224"
CLIP_CLASSIFIER = "MCG-NJU/videomae-base-finetuned-kinetics"
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
_CACHE_FORMAT = 1


def resolve_precision(precision, device):
    """The dtype a classifier runs in.

    Parameters
    ----------
    precision : {"auto", "fp32", "fp16", "bf16"}
        ``auto``: float16 on CUDA (as MinD-Video and Mind-Animator run their classifiers),
        float32 elsewhere.
    device : str or torch.device

    Returns
    -------
    torch.dtype
    """
    if precision == "auto":
        return torch.float16 if torch.device(device).type == "cuda" else torch.float32
    if precision not in PRECISIONS:
        raise NeurocineError(f"unknown classifier precision {precision!r} (known: auto, {', '.join(PRECISIONS)})")
    return PRECISIONS[precision]


def check_clips(clips):
    """Check clips are ``uint8 [N, F, H, W, 3]`` with at least one clip and frame; return the array."""
    clips = np.asarray(clips)
    if clips.dtype != np.uint8 or clips.ndim != 5 or clips.shape[-1] != 3 or 0 in clips.shape:
        raise NeurocineError(f"classifiers take uint8 RGB clips [N, frames, height, width, 3]; "
                             f"got {clips.dtype} {clips.shape}")
    return clips


def _folder_identity(folder):
    """What identifies a model folder's files: config contents, weight file sizes and times.

    Weights are not hashed (hundreds of MB): a rebuilt or re-downloaded model gets new
    modification times (Hugging Face cache snapshots link to blobs named by their hash).
    """
    identity = {}
    for path in sorted(Path(folder).iterdir()):
        if path.suffix == ".json":
            identity[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.suffix in (".safetensors", ".bin"):
            stat = path.stat()
            identity[path.name] = [os.path.realpath(path).rsplit("/", 1)[-1], stat.st_size, stat.st_mtime_ns]
    return identity


class _Classifier:
    """Shared loading, batching and caching; subclasses say what a model input is."""

    label = "classifier"
    default = None
    default_setting = None

    def __init__(self, name=None, *, device="cpu", precision="auto", batch_size=32, cache_dir=None,
                 setting=None, progress=False):
        self.name = str(name or self.default)
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.setting = setting or self.default_setting
        self.progress = progress

    # -- loading ---------------------------------------------------------------------------

    def _source(self):
        if not hasattr(self, "_source_"):
            self._source_ = require_pretrained(self.name, self.label, self.setting)
        return self._source_

    def _processor(self):
        if not hasattr(self, "_processor_"):
            folder = self._source().folder()
            if folder is not None and not (Path(folder) / "preprocessor_config.json").is_file():
                self._processor_ = self.default_processor()
            else:
                self._processor_ = load_pretrained(self._source(), self.label, self.setting, [self.load_processor])[0]
        return self._processor_

    def _identity(self):
        source = self._source()
        folder = source.folder()
        if folder is None:  # a Hugging Face id not yet downloaded: loading downloads it
            self._model(None)
            folder = source.folder()
        return {"name": self.name, "files": _folder_identity(folder)}

    def _model(self, n_frames):
        key = self.model_key(n_frames)
        if getattr(self, "_model_key_", None) != key or not hasattr(self, "_model_"):
            load = lambda location, **kwargs: self.load_model(location, n_frames, **kwargs)  # noqa: E731
            model = load_pretrained(self._source(), self.label, self.setting, [load])[0]
            dtype = resolve_precision(self.precision, self.device)
            self._model_, self._model_key_ = model.to(device=self.device, dtype=dtype).eval(), key
        return self._model_

    # -- outputs ---------------------------------------------------------------------------

    def probabilities(self, clips):
        """Softmax class probabilities of ``clips`` (read from the cache when there).

        Parameters
        ----------
        clips : ndarray, uint8 ``[N, F, H, W, 3]``

        Returns
        -------
        ndarray, float32
            ``[N, F, C]`` for the frame classifier, ``[N, C]`` for the clip classifier.

        Raises
        ------
        NeurocineError
            Clips of the wrong shape or type, or a model that cannot be had (one line naming
            it and how to provide it).
        """
        clips = check_clips(clips)
        self.check_frame_count(clips.shape[1])
        path, key = self._cache_entry(clips) if self.cache_dir is not None else (None, None)
        if path is not None and path.is_file():
            try:
                with np.load(path) as stored:
                    if str(stored["key"]) == key:
                        return stored["probabilities"]
            except (OSError, ValueError, KeyError):  # a damaged entry is recomputed and replaced
                pass
        probabilities = self._compute(clips)
        if path is not None:
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.savez(f, probabilities=probabilities, key=np.array(key))
        return probabilities

    def _cache_entry(self, clips):
        material = {
            "format": _CACHE_FORMAT, "kind": type(self).__name__, "model": self._identity(),
            "dtype": str(resolve_precision(self.precision, self.device)),
            "processor": [type(self._processor()).__name__, self._processor().to_dict()],
            "frames": sha256_array(clips),
        }
        key = json.dumps(material, sort_keys=True, default=str)
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return Path(self.cache_dir) / f"{type(self).__name__}-{digest}.npz", key

    def _compute(self, clips):
        # Loaded outside inference mode: a built-in model may be built (trained) right here.
        model = self._model(clips.shape[1])
        dtype = next(model.parameters()).dtype
        inputs = self.inputs(clips)
        out = []
        with torch.inference_mode():
            for start in progress_bar(range(0, len(inputs), self.batch_size), desc=self.label, unit="batch",
                                      enabled=self.progress):
                pixels = self.pixel_values(inputs[start:start + self.batch_size])
                logits = model(pixel_values=pixels.to(device=self.device, dtype=dtype)).logits
                # Softmax in float32: float16's would round small probabilities to equal values.
                out.append(logits.float().softmax(-1).cpu().numpy())
        return self.outputs(np.concatenate(out), clips)

    # -- what subclasses define -----------------------------------------------------------------

    def check_frame_count(self, n_frames):
        """Raise if clips of ``n_frames`` frames cannot be classified."""

    def model_key(self, n_frames):
        return None


class FrameClassifier(_Classifier):
    """An image classifier applied to every frame (default ViT-B/16 ImageNet-1k).

    Parameters
    ----------
    name : str, optional
        Hugging Face id, local ``save_pretrained`` folder, or built-in name (``tiny-vit``) of an
        ``AutoModelForImageClassification``; default ``google/vit-base-patch16-224``.
    device : str or torch.device
    precision : {"auto", "fp32", "fp16", "bf16"}
        ``auto``: float16 on CUDA, float32 on the CPU (:func:`resolve_precision`).
    batch_size : int
        Frames per forward pass.
    cache_dir : str or Path, optional
        Where outputs are cached (``.npz``, one per model, precision, preprocessing and set of
        frames); no cache when None.
    setting : str, optional
        The config key naming the model, for messages (default ``evaluation.frame_classifier``).
    progress : bool
        A progress bar over batches.
    """

    label = "frame classifier"
    default = FRAME_CLASSIFIER
    default_setting = "evaluation.frame_classifier"

    @staticmethod
    def default_processor():
        """The peers' ViT preprocessing: 224² bilinear, mean = std = 0.5."""
        with quiet_transformers():
            from transformers import ViTImageProcessor

            return ViTImageProcessor(size={"height": 224, "width": 224}, resample=2, image_mean=[0.5] * 3,
                                     image_std=[0.5] * 3)

    @staticmethod
    def load_processor(location, **kwargs):
        with quiet_transformers():
            from transformers import AutoImageProcessor

            return AutoImageProcessor.from_pretrained(location, **kwargs)

    @staticmethod
    def load_model(location, n_frames, **kwargs):
        from transformers import AutoModelForImageClassification

        return AutoModelForImageClassification.from_pretrained(location, **kwargs)

    def inputs(self, clips):
        return clips.reshape(-1, *clips.shape[2:])

    def pixel_values(self, frames):
        with quiet_transformers():
            return self._processor()(images=list(frames), return_tensors="pt")["pixel_values"]

    def outputs(self, probabilities, clips):
        return probabilities.reshape(clips.shape[0], clips.shape[1], -1)


class ClipClassifier(_Classifier):
    """A VideoMAE video classifier applied to whole clips (default VideoMAE-base Kinetics-400).

    VideoMAE's position embeddings are a fixed sinusoid table computed from ``num_frames``,
    not learned weights. So, as the peers do (6-frame clips through a model fine-tuned on 16),
    the model is loaded with ``num_frames`` set to the clips' frame count, which must be a
    multiple of its ``tubelet_size``; its weights are unchanged.

    Parameters
    ----------
    name : str, optional
        Hugging Face id, local folder or built-in name (``tiny-videomae``) of a
        ``VideoMAEForVideoClassification``; default ``MCG-NJU/videomae-base-finetuned-kinetics``.
    device, precision, cache_dir, progress
        As :class:`FrameClassifier`.
    batch_size : int
        Clips per forward pass.
    setting : str, optional
        Default ``evaluation.clip_classifier``.
    """

    label = "clip classifier"
    default = CLIP_CLASSIFIER
    default_setting = "evaluation.clip_classifier"

    @staticmethod
    def default_processor():
        """The peers' VideoMAE preprocessing: shortest edge 224, centre crop 224, ImageNet mean/std."""
        with quiet_transformers():
            from transformers import VideoMAEImageProcessor

            return VideoMAEImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224},
                                          image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)

    @staticmethod
    def load_processor(location, **kwargs):
        with quiet_transformers():
            from transformers import VideoMAEImageProcessor

            return VideoMAEImageProcessor.from_pretrained(location, **kwargs)

    @staticmethod
    def load_model(location, n_frames, **kwargs):
        from transformers import VideoMAEForVideoClassification

        if n_frames is not None:
            kwargs["num_frames"] = n_frames
        return VideoMAEForVideoClassification.from_pretrained(location, **kwargs)

    def _tubelet(self):
        from transformers import AutoConfig

        config = load_pretrained(self._source(), self.label, self.setting, [AutoConfig.from_pretrained])[0]
        return int(getattr(config, "tubelet_size", 1))

    def check_frame_count(self, n_frames):
        tubelet = self._tubelet()
        if n_frames % tubelet:
            raise NeurocineError(f"{self.label} '{self.name}' groups frames in tubelets of {tubelet}; clips of "
                                 f"{n_frames} frames are not a multiple of it")

    def model_key(self, n_frames):
        return n_frames

    def inputs(self, clips):
        return clips

    def pixel_values(self, clips):
        with quiet_transformers():
            return self._processor()(list(clips), return_tensors="pt")["pixel_values"]

    def outputs(self, probabilities, clips):
        return probabilities
