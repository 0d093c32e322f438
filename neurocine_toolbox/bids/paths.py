"""Where things live: the BIDS root, neurocine's derivative folder, and safe output folders."""

import json
from pathlib import Path

from ..errors import NeurocineError

#: Name of neurocine's folder under ``derivatives/``.
DERIVATIVE_NAME = "neurocine"


def default_output_dir(bids_dir):
    """``BIDS_DIR/derivatives/neurocine``, the usual place for BIDS derivatives."""
    return Path(bids_dir) / "derivatives" / DERIVATIVE_NAME


def check_output_dir(bids_dir, out_dir):
    """Refuse an output folder that is the BIDS folder, or inside it but outside ``derivatives/``.

    Raises
    ------
    NeurocineError
    """
    bids_dir = Path(bids_dir).resolve()
    out = Path(out_dir).resolve()
    if out == bids_dir:
        raise NeurocineError("the output folder is the BIDS folder itself; use derivatives/neurocine", out_dir)
    if bids_dir in out.parents and (bids_dir / "derivatives") not in [out, *out.parents]:
        raise NeurocineError(
            "the output folder is inside the BIDS folder but outside its derivatives/ folder", out_dir
        )
    if (bids_dir / "derivatives") == out:
        raise NeurocineError("the output folder is derivatives/ itself; use derivatives/neurocine", out_dir)


def _is_raw_root(folder):
    desc = folder / "dataset_description.json"
    if not desc.is_file():
        return False
    try:
        kind = json.loads(desc.read_text()).get("DatasetType", "raw")
    except (OSError, ValueError):
        return False
    return kind == "raw" and folder.name != "derivatives" and "derivatives" not in folder.parts[:-1]


def find_bids_root(start=None):
    """Look up ``start`` and its parents for a raw BIDS root, as git looks for ``.git``.

    Parameters
    ----------
    start : str or Path, optional
        Folder to start from (default: the current folder).

    Returns
    -------
    Path

    Raises
    ------
    NeurocineError
        If no folder up the tree holds a raw ``dataset_description.json``.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        if _is_raw_root(folder):
            return folder
    raise NeurocineError(
        "not inside a BIDS dataset (no raw dataset_description.json here or above); "
        "run inside the dataset's folder or pass --derivatives DIR", here
    )


def find_derivatives_dir(derivatives=None, start=None):
    """Resolve neurocine's derivative folder for the commands that follow ``prep``.

    Parameters
    ----------
    derivatives : str or Path, optional
        An explicit ``--derivatives`` folder; used as given.
    start : str or Path, optional
        Where to look for the BIDS root when ``derivatives`` is not given.

    Returns
    -------
    Path
    """
    if derivatives is not None:
        folder = Path(derivatives)
        if not (folder / "dataset_description.json").is_file():
            raise NeurocineError("not a neurocine derivative folder (no dataset_description.json); run neurocine prep first", folder)
        return folder
    folder = default_output_dir(find_bids_root(start))
    if not (folder / "dataset_description.json").is_file():
        raise NeurocineError("no neurocine derivative here yet; run neurocine prep first", folder)
    return folder
