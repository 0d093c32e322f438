"""Recognise a checkpoint's format and read its weights and recorded config.

Three kinds of source are read: a masked-autoencoder pre-training file (Sun et al. 2023b
``MAEforFMRIContrast``, MinD-Vis: a torch file holding ``model``, the state dict, and usually
``optimizer``, ``epoch``, ``scaler``, ``config``); a MinD-Video ``fMRIEncoder`` folder
(``config.json`` and ``model.pth``, ``diffusion_pytorch_model.bin`` or a safetensors file, or such a
weights file alone); and a folder written by neurocine's own ``save_pretrained``
(``FMRIEncoder``, or ``FMRIMaskedAutoencoder`` whose encoder is taken). Each is returned as a
format name, a state dict, and its recorded config under :class:`FMRIEncoder`'s argument names.
"""

import json
import math

import torch

from ...errors import NeurocineError
from .architecture import _ENCODER_ARGS
from .safe_load import PickledObject, _torch_load

#: Weight files looked for in a folder, in this order.
WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "model.safetensors", "model.pth",
                "diffusion_pytorch_model.bin")
#: MinD-Video ``fMRIEncoder`` config names → ours.
_MINDVIDEO_NAMES = {"num_heads": "num_heads", "window_size": "window_size", "use_temp_attn": "temporal_attention",
                    "out_channel": "out_tokens", "out_dim": "out_dim", "use_norm": "head_norm",
                    "patch_size": "patch_size", "embed_dim": "embed_dim", "depth": "depth",
                    "mlp_ratio": "mlp_ratio"}
#: A pickled config's entries read as architecture settings (``num_heads`` is the one shapes do not show).
_PICKLED_ARCHITECTURE = ("num_heads", "embed_dim", "depth", "patch_size", "mlp_ratio")


def _read(path):
    """``(format, state dict, source config, weights file, notes)`` for a file or folder."""
    if path.is_dir():
        config_file = path / "config.json"
        source_config = {}
        if config_file.is_file():
            try:
                source_config = json.loads(config_file.read_text())
            except (ValueError, OSError) as err:
                raise NeurocineError(f"is not readable JSON ({err})", config_file) from None
        weights = next((path / name for name in WEIGHT_FILES if (path / name).is_file()), None)
        if weights is None:
            raise NeurocineError(f"holds no weights file (looked for {', '.join(WEIGHT_FILES)})", path)
        state, _, stood_in = _read_weights(weights)
        notes = _stand_in_notes(stood_in)
        class_name = source_config.get("_class_name")
        if class_name == "FMRIEncoder":
            return "neurocine FMRIEncoder folder", state, source_config, weights, notes
        if class_name == "FMRIMaskedAutoencoder":
            # The MAE built its encoder from encoder_config over FMRIEncoder's defaults.
            encoder_config = {**_ENCODER_ARGS, **(source_config.get("encoder_config") or {})}
            return "neurocine FMRIMaskedAutoencoder folder", state, encoder_config, weights, notes
        if class_name == "fMRIEncoder" or "use_temp_attn" in source_config or _has_head(state):
            return "MinD-Video fMRIEncoder folder", state, _translate(source_config), weights, notes
        return "folder with a state dict", state, _translate(source_config), weights, notes

    state, extra, stood_in = _read_weights(path)
    notes = _stand_in_notes(stood_in)
    recorded = extra.get("config")
    if isinstance(recorded, dict):
        source_config = _translate(recorded)
    elif isinstance(recorded, PickledObject):
        source_config, note = _pickled_config(recorded)
        notes.append(note)
    else:
        source_config = {}
    if {"optimizer", "epoch"} & set(extra) or any(k.startswith("decoder_") for k in state):
        fmt = "MAE pre-training checkpoint (MAEforFMRIContrast)"
    elif _has_head(state):
        fmt = "MinD-Video fMRIEncoder weights"
    else:
        fmt = "state dict file"
    return fmt, state, source_config, None, notes


def _read_weights(path):
    """The state dict in a safetensors or torch file, the torch file's other entries, and the pickled
    class names read into stand-ins."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu"), {}, []
        except (SafetensorError, OSError) as err:
            raise NeurocineError(f"is not a readable safetensors file ({err})", path) from None
    content, stood_in = _torch_load(path)
    if not isinstance(content, dict):
        raise NeurocineError(f"holds a {_kind(content)}, not a state dict", path)
    extra = {}
    for wrapper in ("model", "state_dict"):
        if isinstance(content.get(wrapper), dict):
            extra = {k: v for k, v in content.items() if k != wrapper}
            content = content[wrapper]
            break
    not_tensors = [k for k, v in content.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise NeurocineError(f"is not a state dict: entry {not_tensors[0]!r} is a "
                             f"{_kind(content[not_tensors[0]])}, not a tensor", path)
    return dict(content), extra, stood_in


def _kind(value):
    return f"pickled {value.pickled_name}" if isinstance(value, PickledObject) else type(value).__name__


def _stand_in_notes(stood_in):
    if not stood_in:
        return []
    return [f"pickled objects of {', '.join(stood_in)} were read without importing their classes or running "
            "any of the file's code: neurocine stand-ins hold their attributes"]


def _pickled_config(config):
    """Architecture settings from a pickled config object, and a note on where they came from."""
    state = config.state if isinstance(config.state, dict) else {}
    names = [k for k in state if isinstance(k, str)]
    looks_like = (any(k in state for k in ("embed_dim", "depth", "num_heads", "patch_size"))
                  or any(k.startswith("decoder_") for k in names))
    settings = {}
    for key in _PICKLED_ARCHITECTURE if looks_like else ():
        value = state.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value <= 0:
            continue
        if key == "mlp_ratio":
            settings[key] = float(value)
        elif value == int(value):
            settings[key] = int(value)
    note = (f"the checkpoint's config is a pickled {config.pickled_name} object, read without running its "
            "code")
    if "num_heads" in settings:
        note += f": num_heads={settings['num_heads']} taken from it"
    elif looks_like:
        note += ": it records no usable num_heads"
    else:
        note += ": it records no architecture settings"
    return settings, note


def _has_head(state):
    return any(k.startswith(("proj_head.", "module.proj_head.")) for k in state)


def _translate(config):
    """A MinD-Video or MAE config's architecture entries under our names."""
    return {ours: config[theirs] for theirs, ours in _MINDVIDEO_NAMES.items() if theirs in config}
