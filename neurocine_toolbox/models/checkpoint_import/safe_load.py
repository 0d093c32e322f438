"""Read torch files without running their code: ``torch.load(weights_only=True)``, with stand-ins.

Peers pickle their config class into their checkpoints (MinD-Vis ``config.Config_MBM_fMRI``); a
weights-only load refuses such a file. Here every pickled reference that looks like a class
(``module.ClassName``, see :func:`stand_in_allowed`) is allowlisted as a :class:`PickledObject`
stand-in that only holds the object's attributes, so the class is never imported and none of the
file's code runs; a file that references anything else (``os.system``, ``builtins.eval``, …) is
refused with a line that says how to re-save its weights.
"""

import _compat_pickle
import contextlib
import pickle
import re

import torch

from ...errors import NeurocineError

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


def _first_line(err):
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
