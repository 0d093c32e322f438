"""Fill the JSON and README templates of ``bids_templates/``."""

import json
from importlib import resources

from .._version import __version__


def read_template(name):
    """Return the text of a template file shipped in ``bids_templates/``."""
    return resources.files("neurocine_toolbox.bids_templates").joinpath(name).read_text()


def _fill(value, fields):
    if isinstance(value, str):
        return value.format_map(fields)
    if isinstance(value, list):
        return [_fill(v, fields) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, fields) for k, v in value.items()}
    return value


def render_json(name, /, extra=None, **fields):
    """Load a JSON template, fill its ``{placeholders}`` and merge ``extra`` keys.

    Parameters
    ----------
    name : str
        Template file name, e.g. ``"dataset_description_raw.json"``.
    extra : dict, optional
        Keys added to (or replacing) the template's top level.
    **fields
        Placeholder values; ``version`` defaults to neurocine's version.

    Returns
    -------
    dict
    """
    fields = {"version": __version__, **fields}
    data = _fill(json.loads(read_template(name)), fields)
    data.update(extra or {})
    return data


def render_text(name, /, **fields):
    """Fill the ``{placeholders}`` of a text template (e.g. a README)."""
    return read_template(name).format_map({"version": __version__, **fields})


def write_json(path, data):
    """Write ``data`` as indented JSON, atomically."""
    from ..utils.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(data, indent=2) + "\n")
