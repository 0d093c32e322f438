"""Experiment configs: YAML defaults with the paper's settings, presets, user files, overrides.

A config is a plain nested ``dict``. It is resolved in this order, each layer overriding the one
before: ``defaults.yaml`` → a preset (``presets/<name>.yaml``, which may build on another with
``base: <name>``) → a user YAML file (which may name its own preset with ``base: <name>``) →
``key.sub=value`` overrides. Keys that ``defaults.yaml``
does not know are refused, so a typo never silently falls back to a default; and every value is
checked against its type and range (:mod:`.schema`) before the config is returned, so a bad one
stops the command before any work, in one line naming the key (and the file that set it).
"""

import copy
import importlib.resources
import re
from pathlib import Path

import yaml

from ..errors import NeurocineError
from .schema import ConfigValueError, check_config, show

_PACKAGE = "neurocine_toolbox.config"
#: The layers of a config, in the order they are applied (later ones win).
_LAYERS = ("defaults", "preset", "file", "override")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``1e-4`` as a number as YAML 1.2 does (1.1 wants ``1.0e-4``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _read_yaml(text, source):
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        problem = str(err).splitlines()[0]
        raise NeurocineError(f"not valid YAML ({problem})", source)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise NeurocineError("a config file must hold a mapping of settings", source)
    return data


def _packaged(name):
    return importlib.resources.files(_PACKAGE).joinpath(name)


def list_presets():
    """Names of the presets shipped with neurocine, e.g. ``["paper-table1-exp0", …, "tiny"]``."""
    folder = _packaged("presets")
    names = [p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")]
    return sorted(names, key=lambda n: [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", n)])


def defaults():
    """The default config (the paper's settings), as a new dict."""
    return _read_yaml(_packaged("defaults.yaml").read_text(), "defaults.yaml")


def _preset_chain(name):
    """``[(name, settings), …]``: the preset and the presets it builds on (``base:``), first base first."""
    chain = []
    while name is not None:
        if name not in list_presets():
            raise NeurocineError(f"unknown preset '{name}' (known: {', '.join(list_presets())})")
        if any(name == seen for seen, _ in chain):
            raise NeurocineError(f"preset '{name}' builds on itself (base: {name})")
        settings = _read_yaml(_packaged(f"presets/{name}.yaml").read_text(), f"preset {name}")
        chain.insert(0, (name, settings))
        name = settings.pop("base", None)
    return chain


#: Settings renamed since runs were written: a run's config.yaml under the old name still loads.
RENAMED = {"interpretation.n_spins": "interpretation.n_surrogates"}


def _merge(base, update, source, prefix="", origins=None, layer=None):
    """Deep-merge ``update`` into ``base`` in place, refusing keys ``base`` does not have.

    ``origins`` (dotted key → ``(layer, source)``) records which layer set each value last.
    """
    for key, value in update.items():
        where = f"{prefix}{key}"
        if where in RENAMED and layer == "file":  # a run trained before the rename keeps working
            key, where = RENAMED[where].rsplit(".", 1)[-1], RENAMED[where]
        if key not in base:
            raise NeurocineError(f"unknown setting '{where}'", source)
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise NeurocineError(f"setting '{where}' must be a mapping of settings, not {show(value)}", source)
            _merge(base[key], value, source, where + ".", origins, layer)
        else:
            base[key] = copy.deepcopy(value)
            if origins is not None:
                origins[where] = (layer, source)


def parse_override(text):
    """``"contrastive.gamma_spa=0.1"`` → ``{"contrastive": {"gamma_spa": 0.1}}`` (YAML value)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise NeurocineError(f"an override must look like section.key=value, not '{text}'")
    tree = leaf = {}
    parts = key.strip().split(".")
    for part in parts[:-1]:
        leaf = leaf.setdefault(part, {})
    try:
        leaf[parts[-1]] = yaml.load(value, Loader=_Loader) if value.strip() else None  # noqa: S506
    except yaml.YAMLError as err:
        problem = str(err).splitlines()[0]
        raise NeurocineError(f"the value of '{text}' is not valid YAML ({problem})") from None
    return tree


def load_config(preset=None, path=None, overrides=()):
    """Resolve a config.

    Parameters
    ----------
    preset : str, optional
        A shipped preset (``list_presets()``).
    path : str or Path, optional
        A user YAML file; its optional ``base:`` key names a preset (used when ``preset`` is not
        given).
    overrides : iterable of str
        ``section.key=value`` strings, applied last.

    Returns
    -------
    dict
        The resolved config, with ``"preset"`` set to the preset used (or None).

    Raises
    ------
    NeurocineError
        An unknown preset, file or key, or a value of the wrong type or out of range (one line
        naming the key, prefixed by the file or preset that set it: ``setting
        'contrastive.gamma_spa' must be a number in [0, 1], not 'abc'``).
    """
    config = defaults()
    origins = {}
    user = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise NeurocineError("config file not found", path)
        user = _read_yaml(path.read_text(), path)
        base = user.pop("base", None)
        recorded = user.pop("preset", None)  # a run's resolved config.yaml: values already merged
        preset = preset or base
    for name, settings in _preset_chain(preset):
        _merge(config, settings, f"preset {name}", origins=origins, layer="preset")
    _merge(config, user, path, origins=origins, layer="file")
    for text in overrides:
        _merge(config, parse_override(text), None, origins=origins, layer="override")
    _check(config, origins)
    config["preset"] = preset if preset is not None else (recorded if path is not None else None)
    return config


def _check(config, origins):
    """Check every value (:func:`.schema.check_config`); name the file or preset of a bad one."""

    def rank(key):
        return _LAYERS.index(origins.get(key, ("defaults", None))[0])

    try:
        check_config(config, rank)
    except ConfigValueError as err:
        layer, source = origins.get(err.key, ("defaults", "defaults.yaml"))
        raise NeurocineError(err.message, None if layer == "override" else source) from None


def load_run_config(root, overrides, section, command):
    """A trained run's ``config.yaml``, with overrides allowed in one after-training section only.

    Parameters
    ----------
    root : Path
        The run folder.
    overrides : sequence of str
        ``section.key=value`` strings.
    section : str
        The one section they may touch (``sampling``, ``evaluation``, ``interpretation``).
    command : str
        The command's name, for the message.

    Raises
    ------
    NeurocineError
        An override of another section (training settings are the run's), or a bad value.
    """
    bad = [o for o in overrides if not o.startswith(f"{section}.")]
    if bad:
        raise NeurocineError(f"{command} takes {section}.* settings only, not {', '.join(bad)}")
    return load_config(path=Path(root) / "config.yaml", overrides=overrides)


def config_to_yaml(config):
    """The config as YAML text (what every run writes next to its outputs)."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None)
