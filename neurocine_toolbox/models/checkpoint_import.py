"""Import fMRI-encoder checkpoints users already have into :class:`FMRIEncoder`.

Three kinds of source are read:

- a masked-autoencoder pre-training file (Sun et al. 2023b ``MAEforFMRIContrast``, MinD-Vis):
  a torch file holding ``model`` (the state dict) and usually ``optimizer``, ``epoch``,
  ``scaler``, ``config``;
- a MinD-Video ``fMRIEncoder`` folder: ``config.json`` and ``model.pth``,
  ``diffusion_pytorch_model.bin`` or a safetensors file (or such a weights file alone);
- a folder written by neurocine's own ``save_pretrained`` (``FMRIEncoder``, or
  ``FMRIMaskedAutoencoder`` whose encoder is taken).

The architecture is read from the weights' shapes (width, depth, patch size, MLP ratio, the
projection head); only the number of heads, which no shape shows, comes from the checkpoint's
config. Keys already follow the ViT/MAE names :class:`FMRIEncoder` uses, so the import is a
matter of deciding, key by key, what to do: load it, interpolate it (``pos_embed`` when the patch
count differs), leave ours as initialised (a shape that cannot be mapped), drop it (pre-training
only) or ignore it. The weights are then loaded with ``strict=True`` into a completed state dict,
and the decision for every key is returned and logged in an :class:`ImportReport`.

Pickled files are read with ``torch.load(weights_only=True)``. Peers pickle their config class into
the file (MinD-Vis ``config.Config_MBM_fMRI``); such an object is read into a :class:`PickledObject`
stand-in that only holds its attributes: the class is never imported and none of the file's code
runs. Only references that look like classes (``module.ClassName``, see :func:`stand_in_allowed`)
are stood in for; a file that references anything else (``os.system``, ``builtins.eval``, …) is
refused with a line that says how to re-save its weights.
"""

import _compat_pickle
import contextlib
import inspect
import json
import logging
import math
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import NeurocineError
from .fmri_encoder import FMRIEncoder

log = logging.getLogger("neurocine")

#: Source keys that only pre-training uses (MAE decoders, distillation heads).
PRETRAINING_ONLY = ("decoder_", "mask_token", "nature_img_", "conv_up.", "linear_up.")
#: Weight files looked for in a folder, in this order.
WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "model.safetensors", "model.pth",
                "diffusion_pytorch_model.bin")
#: MinD-Video ``fMRIEncoder`` config names → ours.
_MINDVIDEO_NAMES = {"num_heads": "num_heads", "window_size": "window_size", "use_temp_attn": "temporal_attention",
                    "out_channel": "out_tokens", "out_dim": "out_dim", "use_norm": "head_norm",
                    "patch_size": "patch_size", "embed_dim": "embed_dim", "depth": "depth",
                    "mlp_ratio": "mlp_ratio"}
_ENCODER_ARGS = {name: p.default for name, p in inspect.signature(FMRIEncoder.__init__).parameters.items()
                 if name != "self"}
#: Top-level modules whose names are never stood in for, even when they look like classes: those
#: whose objects run programs, code or imports (``os.system``, ``builtins.eval``, ``subprocess.Popen``,
#: ``pickle``/``copyreg``/``functools`` helpers). Modules whose name starts with ``_`` are refused too
#: (C implementations such as ``_io``, ``_pickle``), ``__main__`` excepted, and so is ``torch._C``.
REFUSED_MODULES = frozenset({
    "builtins", "__builtin__", "os", "posix", "nt", "sys", "subprocess", "importlib", "pickle", "cPickle",
    "copyreg", "copy_reg", "functools", "operator", "types", "ctypes", "code", "codeop", "runpy", "marshal",
    "shutil", "socket", "pty", "signal", "io", "tempfile", "multiprocessing", "threading", "concurrent",
    "asyncio", "inspect", "pdb", "webbrowser"})
#: Pickled class names stood in for: dotted identifiers, the last one starting with an uppercase letter.
_CLASS_NAME = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]*\.)+[A-Z][A-Za-z0-9_]*", re.ASCII)
#: At most this many classes are stood in for in one file.
_MAX_STAND_INS = 64
#: A pickled config's entries read as architecture settings (``num_heads`` is the one shapes do not show).
_PICKLED_ARCHITECTURE = ("num_heads", "embed_dim", "depth", "patch_size", "mlp_ratio")


@dataclass
class ImportReport:
    """What :func:`import_checkpoint` did with every key.

    Attributes
    ----------
    source : str
    format : str
        The kind of checkpoint recognised.
    config : dict
        The :class:`FMRIEncoder` configuration the weights were loaded into.
    loaded : list of str
        Keys copied unchanged from the checkpoint.
    interpolated : dict
        ``key: (checkpoint shape, our shape)``, resampled to our patch count.
    mismatched : dict
        ``key: (checkpoint shape, our shape)`` that cannot be mapped; ours left as initialised.
    missing : list of str
        Our keys the checkpoint does not have; left as initialised.
    dropped : list of str
        Checkpoint keys only pre-training uses.
    unexpected : list of str
        Checkpoint keys :class:`FMRIEncoder` has no place for; ignored.
    renamed : dict
        ``checkpoint key: our key`` where a prefix was removed.
    notes : list of str
        Assumptions and differences worth knowing.
    """

    source: str
    format: str
    config: dict = field(default_factory=dict)
    loaded: list = field(default_factory=list)
    interpolated: dict = field(default_factory=dict)
    mismatched: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)
    dropped: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)
    renamed: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def lines(self):
        """The report as lines of text, every key on its own line."""
        shape = lambda s: "[" + ", ".join(map(str, s)) + "]"  # noqa: E731
        out = [f"checkpoint import: {self.source} ({self.format})",
               "encoder: " + " ".join(f"{k}={v}" for k, v in self.config.items()),
               f"loaded {len(self.loaded)}, interpolated {len(self.interpolated)}, "
               f"not loaded (shape mismatch) {len(self.mismatched)}, missing {len(self.missing)}, "
               f"dropped {len(self.dropped)}, unexpected {len(self.unexpected)}"]
        out += [f"note: {note}" for note in self.notes]
        sections = [
            ("loaded", [f"{k} <- {self.renamed[k]}" if k in self.renamed else k for k in self.loaded]),
            ("interpolated (patch rows resampled linearly, CLS row kept)",
             [f"{k}: {shape(a)} -> {shape(b)}" for k, (a, b) in self.interpolated.items()]),
            ("not loaded: shape mismatch (left as initialised)",
             [f"{k}: {shape(a)} in the checkpoint, {shape(b)} here" for k, (a, b) in self.mismatched.items()]),
            ("missing (left as initialised)", self.missing),
            ("dropped (pre-training only)", self.dropped),
            ("unexpected (ignored)", self.unexpected),
        ]
        for title, keys in sections:
            if keys:
                out.append(f"{title}:")
                out += [f"  {k}" for k in keys]
        return out

    def __str__(self):
        return "\n".join(self.lines())


class PickledObject:
    """Stands in for an object of a class a checkpoint pickled, read without that class or its code.

    A torch file may hold objects of classes only its authors' code defines (MinD-Vis pickles its
    ``config.Config_MBM_fMRI``). Reading one normally imports that class and runs its methods; here
    the weights-only unpickler is given, under the pickled name, a subclass of this one, which has no
    behaviour: it keeps what the pickle hands over and nothing else. Protocol-2 objects
    (``NEWOBJ`` + ``BUILD``, the ``__reduce_ex__`` default), objects whose state is a ``__dict__``,
    ``__slots__`` (a ``(dict, slots)`` pair) or anything else given to ``__setstate__``, and objects
    rebuilt by calling their class (``REDUCE``, e.g. ``pathlib`` paths) are all read.

    Attributes
    ----------
    pickled_name : str
        The class's pickled name, ``"module.ClassName"`` (a class attribute).
    args : tuple
        Arguments the pickle passed to the class (usually none).
    state : dict or object
        The pickled state: a dict of the object's attributes (``__dict__`` and ``__slots__`` merged),
        or the state as pickled when it is not a dict. Attribute access falls back to its entries:
        ``config.num_heads`` is ``config.state["num_heads"]``.
    """

    pickled_name = None

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj.__dict__.update(args=args, state={})
        return obj

    def __init__(self, *args, **kwargs):
        """Nothing more: :meth:`__new__` has kept the arguments."""

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2 and all(part is None or isinstance(part, dict)
                                                                for part in state):
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict) and isinstance(self.__dict__["state"], dict):
            self.__dict__["state"].update(state)
        else:
            self.__dict__["state"] = state

    def __getattr__(self, name):
        state = self.__dict__.get("state")
        if not name.startswith("__") and isinstance(state, dict) and name in state:
            return state[name]
        raise AttributeError(f"the pickled {self.pickled_name} object has no attribute {name!r}")

    def __repr__(self):
        state = self.__dict__.get("state")
        held = f"{len(state)} attributes" if isinstance(state, dict) else f"state {type(state).__name__}"
        return f"<pickled {self.pickled_name}, {held}, read without its code>"


def stand_in_allowed(name):
    """Whether a pickled global ``name`` is read into a :class:`PickledObject` stand-in.

    ``name`` must look like a class, ``module.ClassName``: dotted Python identifiers (ASCII), at least
    one dot, the last part starting with an uppercase letter. Its top-level module must not be one
    of :data:`REFUSED_MODULES` nor start with ``_`` (``__main__``, where scripts define their
    config classes, excepted), and it must not be under ``torch._C``. Functions (lower-case names:
    ``posix.system``, ``builtins.eval``, ``copyreg._reconstructor``) are never stood in for. Python 2
    names, which pickle protocol 2 writes for some modules (``subprocess.Popen`` is written
    ``commands.Popen``), must pass as written and as Python 3 reads them.
    """
    return all(_looks_like_a_class(candidate) for candidate in {name, _python3_name(name)})


def _looks_like_a_class(name):
    if not _CLASS_NAME.fullmatch(name):
        return False
    module = name.rsplit(".", 1)[0]
    top = module.split(".")[0]
    if top in REFUSED_MODULES or (top.startswith("_") and top != "__main__"):
        return False
    return not (module == "torch._C" or module.startswith("torch._C."))


def _python3_name(name):
    """``name`` as Python 3's unpickler reads it (``commands.Popen`` → ``subprocess.Popen``)."""
    if "." not in name:
        return name
    module, attr = name.rsplit(".", 1)
    if (module, attr) in _compat_pickle.NAME_MAPPING:
        module, attr = _compat_pickle.NAME_MAPPING[(module, attr)]
    else:
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return f"{module}.{attr}"


def print_report(report, logger=None):
    """Log every line of ``report`` at INFO on the ``neurocine`` logger (or ``logger``)."""
    logger = logger or log
    for line in report.lines():
        logger.info("%s", line)


def interpolate_positions(table, n_patches):
    """Resample a position table ``[1, 1 + P, D]`` to ``[1, 1 + n_patches, D]``.

    The CLS row is kept; the patch rows are interpolated linearly with the first and last
    patches fixed (``align_corners``), so where old and new positions coincide the rows are equal.
    """
    cls, rows = table[:, :1], table[:, 1:]
    if rows.shape[1] == n_patches:
        return table.clone()
    rows = F.interpolate(rows.transpose(1, 2).float(), size=n_patches, mode="linear", align_corners=True)
    return torch.cat([cls, rows.transpose(1, 2).to(table.dtype)], dim=1)


def import_checkpoint(source, num_voxels, window_size=None, **encoder_overrides):
    """Build an :class:`FMRIEncoder` for ``num_voxels`` columns from a checkpoint users already have.

    Parameters
    ----------
    source : str or Path
        A pre-training torch file (``MAEforFMRIContrast``: ``{"model": …, "config": …}``), a
        MinD-Video ``fMRIEncoder`` folder (``config.json`` + ``model.pth`` /
        ``diffusion_pytorch_model.bin`` / safetensors), a bare state-dict file, or a neurocine
        ``save_pretrained`` folder.
    num_voxels : int
        Columns of the store the encoder will read. When it gives another patch count than the
        checkpoint's, ``pos_embed`` is interpolated and the projection head's ``channel_mapper``
        is left as initialised (both reported); the per-patch weights load as they are.
    window_size : int, optional
        TRs per window. Default: the checkpoint's (MinD-Video and neurocine record it), else
        :class:`FMRIEncoder`'s.
    **encoder_overrides
        Other :class:`FMRIEncoder` arguments. Those the weights fix (``embed_dim``, ``depth``,
        ``patch_size``, ``mlp_ratio``, and the head's ``out_tokens``, ``out_dim``, ``head_norm``,
        ``clip_dim`` when the checkpoint has them) and a recorded ``num_heads`` must agree with
        the checkpoint; ``temporal_attention`` and ``dropout`` may differ.

    Returns
    -------
    encoder : FMRIEncoder
        In eval mode.
    report : ImportReport
        Also logged, line by line, at INFO on the ``neurocine`` logger.

    Raises
    ------
    NeurocineError
        The path does not exist or is not a readable checkpoint, the file references pickled
        functions or classes that are not stood in for (:func:`stand_in_allowed`), or the
        checkpoint contradicts the arguments.
    """
    path = Path(source)
    if not path.exists():
        raise NeurocineError("no such checkpoint file or folder", path)
    unknown = sorted(set(encoder_overrides) - set(_ENCODER_ARGS))
    if unknown:
        raise NeurocineError(f"unknown encoder argument(s) {', '.join(unknown)}; FMRIEncoder takes "
                             f"{', '.join(sorted(_ENCODER_ARGS))}")
    fmt, state, source_config, weights_file, read_notes = _read(path)

    if fmt == "neurocine FMRIEncoder folder":
        wanted = {**_public(source_config), "num_voxels": int(num_voxels), **encoder_overrides}
        if window_size is not None:
            wanted["window_size"] = int(window_size)
        if wanted == _public(source_config):
            model = FMRIEncoder.from_pretrained(path).eval()
            report = ImportReport(str(path), fmt, _public(model.config), loaded=list(model.state_dict()),
                                  notes=["same configuration: loaded with FMRIEncoder.from_pretrained", *read_notes])
            print_report(report)
            return model, report

    report = ImportReport(str(path), fmt)
    if weights_file is not None:
        report.notes.append(f"weights read from {weights_file.name}")
    report.notes += read_notes
    state = _rename(state, fmt, report)
    config, n_source_patches = _resolve_config(state, source_config, fmt, int(num_voxels), window_size,
                                               encoder_overrides, report)
    try:
        model = FMRIEncoder(**config)
    except ValueError as err:
        raise NeurocineError(f"cannot build the encoder: {err}", path) from None
    report.config = _public(model.config)

    ours = model.state_dict()
    completed = dict(ours)
    for key, value in state.items():
        if key not in ours:
            report.unexpected.append(key)
        elif key == "pos_embed" and value.shape[::2] == ours[key].shape[::2] and value.shape[1] != ours[key].shape[1]:
            completed[key] = interpolate_positions(value, model.num_patches)
            report.interpolated[key] = (tuple(value.shape), tuple(ours[key].shape))
        elif key == "proj_head.channel_mapper.weight" and (
                value.shape != ours[key].shape or n_source_patches not in (None, model.num_patches)):
            report.mismatched[key] = (tuple(value.shape), tuple(ours[key].shape))
        elif value.shape != ours[key].shape:
            # The configuration was read from these shapes; a difference here is a malformed file.
            raise NeurocineError(f"{key} has shape {list(value.shape)}, inconsistent with the rest of the "
                                 f"checkpoint (expected {list(ours[key].shape)})", path)
        else:
            completed[key] = value
            report.loaded.append(key)
    provided = set(report.loaded) | set(report.interpolated)
    report.missing = [k for k in ours if k not in provided and k not in report.mismatched]
    report.loaded.sort(key=list(ours).index)
    model.load_state_dict(completed, strict=True)
    print_report(report)
    return model.eval(), report


# --- reading ----------------------------------------------------------------------------------------

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


def _torch_load(path):
    """``(content, class names stood in for)`` of a torch file, read with ``weights_only=True``.

    A load refused for pickled globals is retried with a :class:`PickledObject` stand-in allowlisted
    under each name, when every name passes :func:`stand_in_allowed`. New-format (zip) files list
    all their globals at once (``get_unsafe_globals_in_checkpoint``); for legacy files each refusal
    names one, so the load is retried until it succeeds or meets a name that is not stood in for.
    """
    stood_in = []
    for _ in range(_MAX_STAND_INS + 1):
        try:
            with _standing_in(stood_in):
                return torch.load(path, map_location="cpu", weights_only=True), sorted(stood_in)
        except pickle.UnpicklingError as err:
            names = [name for name in _pickled_globals(path, err) if name not in stood_in]
            if not names:
                raise NeurocineError(f"is not a readable PyTorch file ({_first_line(err)})", path) from None
            refused = [name for name in names if not stand_in_allowed(name)]
            if refused or not _CAN_STAND_IN:
                raise _refusal(refused or names, path) from None
            if len(stood_in) + len(names) > _MAX_STAND_INS:
                break
            stood_in += names
        except (RuntimeError, OSError, EOFError, ValueError, TypeError, AttributeError, IndexError,
                KeyError) as err:
            # TypeError and the like: a malformed pickle, or one that gives a stand-in to torch's own
            # rebuild functions.
            raise NeurocineError(f"is not a readable PyTorch file ({_first_line(err)})", path) from None
    raise NeurocineError(f"references more than {_MAX_STAND_INS} pickled classes; neurocine reads at most "
                         f"{_MAX_STAND_INS}", path)


#: Allowlisting a global under another name, ``safe_globals([(obj, "module.Name")])``, needs PyTorch 2.6.
_CAN_STAND_IN = hasattr(torch.serialization, "safe_globals") and torch.__version__ >= "2.6"
_STAND_INS = {}


def _stand_in_class(name):
    """The :class:`PickledObject` subclass read for pickled class ``name`` (one per name)."""
    if name not in _STAND_INS:
        short = name.rsplit(".", 1)[1]
        _STAND_INS[name] = type(short, (PickledObject,), {"pickled_name": name, "__module__": __name__,
                                                          "__qualname__": f"PickledObject[{name}]"})
    return _STAND_INS[name]


@contextlib.contextmanager
def _standing_in(names):
    if not names:
        yield
        return
    with torch.serialization.safe_globals([(_stand_in_class(name), name) for name in names]):
        yield


def _pickled_globals(path, err):
    """Names of the pickled globals a weights-only load refuses, if that is why it failed."""
    finder = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)
    if finder is not None:
        try:
            return sorted(finder(path))
        except Exception:  # noqa: BLE001 - the legacy format is not supported; fall back to the message
            pass
    names = re.findall(r"GLOBAL (\S+?) (?:was not an allowed global|whose module)", str(err))
    # torch names builtins without their module ("GLOBAL eval").
    return list(dict.fromkeys(name if "." in name else f"builtins.{name}" for name in names))


def _refusal(names, path):
    shown = ", ".join(_shown(name) for name in names)
    resave = ("where you trust the file, re-save its weights alone: "
              f"torch.save({{'model': torch.load('{path}', weights_only=False)['model']}}, 'weights.pth')")
    if not _CAN_STAND_IN:
        return NeurocineError(f"holds pickled Python objects ({shown}), which PyTorch {torch.__version__} cannot "
                              f"read without running their code (2.6 can); {resave}", path)
    return NeurocineError(
        f"holds pickled Python objects ({shown}) that are not classes neurocine reads without their code: only "
        "module.ClassName outside builtins, os, sys, subprocess, importlib, pickle, copyreg, functools, torch._C "
        f"and similar modules (see docs/models.md); {resave}", path)


def _shown(name):
    python3 = _python3_name(name)
    return name if python3 == name else f"{python3}, pickled as {name}"


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


def _first_line(err):
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _has_head(state):
    return any(k.startswith(("proj_head.", "module.proj_head.")) for k in state)


def _translate(config):
    """A MinD-Video or MAE config's architecture entries under our names."""
    return {ours: config[theirs] for theirs, ours in _MINDVIDEO_NAMES.items() if theirs in config}


def _public(config):
    return {k: v for k, v in dict(config).items() if not k.startswith("_")}


# --- mapping ------------------------------------------------------------------------------------------

def _rename(state, fmt, report):
    """Strip wrapper prefixes; set aside the keys only pre-training uses."""
    if state and all(k.startswith("module.") for k in state):
        report.notes.append("removed the 'module.' prefix (DistributedDataParallel) from every key")
        state = {k[len("module."):]: v for k, v in state.items()}
    renamed = {}
    for key, value in state.items():
        ours = key
        if fmt == "neurocine FMRIMaskedAutoencoder folder":
            if not key.startswith("encoder."):
                report.dropped.append(key)
                continue
            ours = key[len("encoder."):]
        elif key.startswith(PRETRAINING_ONLY):
            report.dropped.append(key)
            continue
        if ours != key:
            report.renamed[ours] = key
        renamed[ours] = value
    if "proj_head.layer_norm_in.weight" in renamed:
        report.notes.append("the checkpoint's projection head normalises its input (proj_head.layer_norm_in); "
                            "FMRIEncoder's does not, so that LayerNorm is ignored and the head computes differently")
    return renamed


def _resolve_config(state, source_config, fmt, num_voxels, window_size, overrides, report):
    """The FMRIEncoder arguments: the weights' shapes, then the recorded config, then the caller's."""
    proj = state.get("patch_embed.proj.weight")
    if proj is None:
        sample = ", ".join(list(state)[:5]) or "none"
        raise NeurocineError(f"has no patch_embed.proj.weight, so it is not an fMRI ViT encoder (keys: {sample} …)",
                             report.source)
    if proj.ndim != 3 or proj.shape[1] != 1:
        raise NeurocineError(f"patch_embed.proj.weight has shape {list(proj.shape)}: the checkpoint embeds "
                             f"{proj.shape[1] if proj.ndim == 3 else '?'} input channels per patch, FMRIEncoder "
                             "one (a Conv1d [embed_dim, 1, patch_size])", report.source)
    embed_dim, patch_size = int(proj.shape[0]), int(proj.shape[2])
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))}
    if blocks != set(range(len(blocks))):
        raise NeurocineError(f"its blocks are numbered {sorted(blocks)}, not 0…n−1", report.source)
    fixed = {"embed_dim": embed_dim, "patch_size": patch_size, "depth": len(blocks)}
    if "blocks.0.mlp.fc1.weight" in state:
        fixed["mlp_ratio"] = state["blocks.0.mlp.fc1.weight"].shape[0] / embed_dim
    if "proj_head.channel_mapper.weight" in state:
        fixed["out_tokens"] = int(state["proj_head.channel_mapper.weight"].shape[0])
        fixed["head_norm"] = "proj_head.layer_norm.weight" in state
    if "proj_head.projection.weight" in state:
        fixed["out_dim"] = int(state["proj_head.projection.weight"].shape[0])
    if "clip_head.1.weight" in state:
        fixed["clip_dim"] = int(state["clip_head.1.weight"].shape[0])

    n_source_patches = None
    if "pos_embed" in state:
        n_source_patches = int(state["pos_embed"].shape[1]) - 1
    source_window = None
    if "proj_head.channel_mapper.weight" in state and n_source_patches:
        in_tokens = int(state["proj_head.channel_mapper.weight"].shape[1])
        if in_tokens % n_source_patches == 0:
            source_window = in_tokens // n_source_patches

    for key, recorded in source_config.items():
        if key in fixed and not _same(recorded, fixed[key]):
            report.notes.append(f"the checkpoint's config says {key}={recorded}, its weights {fixed[key]}: "
                                "the weights are followed")
    config = {**_ENCODER_ARGS, **{k: v for k, v in source_config.items() if k in _ENCODER_ARGS}, **fixed}
    if any(".attn_temp." in k for k in state):
        config["temporal_attention"] = True

    recorded_heads = source_config.get("num_heads")
    for key, value in overrides.items():
        if key in fixed and not _same(value, fixed[key]):
            raise NeurocineError(f"the checkpoint's weights have {key}={fixed[key]}; {key}={value} was asked for",
                                 report.source)
        if key == "num_heads" and recorded_heads is not None and int(value) != int(recorded_heads):
            raise NeurocineError(f"the checkpoint was trained with num_heads={recorded_heads}; "
                                 f"num_heads={value} was asked for", report.source)
    config.update(overrides)
    if "num_heads" not in overrides and recorded_heads is None:
        if embed_dim % 64:
            raise NeurocineError(f"does not record its number of attention heads and its width {embed_dim} is not "
                                 "a multiple of 64: pass num_heads", report.source)
        config["num_heads"] = embed_dim // 64
        report.notes.append(f"the checkpoint does not record num_heads: assumed {config['num_heads']} "
                            "(64 channels per head, the ViT convention); pass num_heads if it was trained otherwise")

    config["num_voxels"] = num_voxels
    if window_size is not None:
        config["window_size"] = int(window_size)
    elif "window_size" in source_config:
        config["window_size"] = int(source_config["window_size"])
    elif source_window is not None:
        config["window_size"] = source_window
    if n_source_patches is not None and n_source_patches * patch_size != num_voxels:
        report.notes.append(f"the checkpoint has {n_source_patches} patches ({n_source_patches * patch_size} "
                            f"voxels), this encoder {-(-num_voxels // patch_size)} ({num_voxels} voxels)")
    if config["temporal_attention"] and not any(".attn_temp." in k for k in state):
        report.notes.append("the checkpoint has no temporal attention: it is added as a no-op "
                            "(zero output projection) until training changes it")
    if fmt.startswith("MinD-Video"):
        report.notes.append("MinD-Video's encoder does not prepend its CLS token; FMRIEncoder does, so outputs "
                            "differ from MinD-Video's until fine-tuned")
    return config, n_source_patches


def _same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6)
    return a == b
