"""A run trained on several subjects, seen from each subject's own models folder.

``fit --subject 02 03 04 --name NAME`` trains in ``<derivatives>/group/models/NAME/`` and gives
each subject a folder ``sub-XX/models/NAME/`` whose stage folders and config are relative links
to the shared run's. ``decode``, ``evaluate`` and ``attention-report`` then work subject by subject
as for any run: they write their outputs into the subject's folder and read its fMRI through its
map (:func:`~.run_space.subject_fmri`). A subject the run was not trained on gets such a folder
from ``decode --from NAME``, with its own map (``subject-map.npz``): the identity for anatomical
alignment, a map onto the template for functional alignment; adapters need training (``fit --from``).
"""

import json
import os
from pathlib import Path

import numpy as np
import yaml

from ..errors import NeurocineError
from ..utils.atomic import write_text_atomic
from .run_space import OWN_MAP, VIEW_RECORD, load_template

#: What a subject's folder links to in the shared run.
LINKED = ("config.yaml", "provenance.json", "alignment", "pretrain", "encoder", "vae", "perception",
          "decoder-text", "decoder-fmri", "latents-train.safetensors")
#: Where runs on several subjects live.
GROUP = "group"


def group_run_dir(derivatives_dir, name):
    return Path(derivatives_dir) / GROUP / "models" / name


def find_shared_run(derivatives_dir, source):
    """A run to start from: a name under ``group/models/`` or ``sub-XX/models/``, or a folder."""
    candidates = [group_run_dir(derivatives_dir, source), Path(source)]
    candidates += sorted(Path(derivatives_dir).glob(f"sub-*/models/{source}"))
    for path in candidates:
        if (path / "decoder-fmri" / "model" / "model_index.json").is_file():
            return path.resolve()
    raise NeurocineError(f"no trained run '{source}' (looked in {GROUP}/models/ and sub-*/models/); "
                         "fit it first", derivatives_dir)


def check_view(derivatives_dir, subject, run_root, name):
    """Raise unless ``sub-XX/models/<name>/`` is free, or already shows the run at ``run_root``.

    Returns
    -------
    Path
        The folder.
    """
    view = Path(derivatives_dir) / f"sub-{subject}" / "models" / name
    record = view / VIEW_RECORD
    if view.exists() and not record.is_file() and any(view.iterdir()):
        raise NeurocineError(f"already holds a run of sub-{subject} of its own; choose another --name", view)
    if record.is_file() and Path(view, json.loads(record.read_text())["run"]).resolve() != Path(run_root).resolve():
        raise NeurocineError("already shows another shared run; choose another --name", view)
    return view


def make_view(derivatives_dir, subject, run_root, name, own_map=None, note=None):
    """Give ``subject`` a folder ``sub-XX/models/<name>/`` that reads the shared run at ``run_root``.

    Parameters
    ----------
    own_map : SubjectMap, optional
        For a subject the run was not trained on: its map into the run's space.
    note : str, optional
        How the subject came into the run (recorded).

    Returns
    -------
    Path
    """
    view = check_view(derivatives_dir, subject, run_root, name)
    run_root = Path(run_root).resolve()
    record = view / VIEW_RECORD
    view.mkdir(parents=True, exist_ok=True)
    for item in LINKED:
        link = view / item
        if not link.is_symlink() and not link.exists():
            link.symlink_to(os.path.relpath(run_root / item, view))
    if own_map is not None:
        own_map.save(view / OWN_MAP)
    write_text_atomic(record, json.dumps({"run": os.path.relpath(run_root, view), "subject": subject,
                                          "trained_on_subject": own_map is None, "note": note}, indent=2) + "\n")
    return view


def new_subject_view(derivatives_dir, subject, source, name=None, fraction=1.0):
    """A folder for decoding ``subject`` with a run it was not trained on, without training.

    Anatomical alignment: the identity. Functional: the subject's map onto the run's template,
    from a share ``fraction`` of its training movies (its fMRI only, no decoder training).

    Raises
    ------
    NeurocineError
        Learned adapters (they need ``fit --from``), or a subject without a training store.
    """
    from ..data.store import open_store, store_path
    from .functional import fit_to_template
    from .run_space import run_subjects
    from .subject_map import SubjectMap

    run_root = find_shared_run(derivatives_dir, source)
    method = (yaml.safe_load((run_root / "config.yaml").read_text()).get("alignment") or {}).get("method", "anatomical")
    if subject in (run_subjects(run_root) or []):
        raise NeurocineError(f"sub-{subject} was trained in this run: decode it with --name {run_root.name}", run_root)
    if method == "adapter":
        raise NeurocineError("this run learned an adapter per subject: a new subject needs training "
                             f"(neurocine fit --subject {subject} --from {source} --train-fraction F)", run_root)
    train = store_path(derivatives_dir, subject, "train")
    if not train.is_file():
        raise NeurocineError(f"no training store for sub-{subject}; run neurocine prep first", train)
    with open_store(train) as store:
        if method == "functional":
            template = load_template(run_root)
            own = fit_to_template(store, subject, template, fraction)
            note = f"functional: mapped onto the run's template from {fraction:g} of its training movies' fMRI"
        else:
            own = SubjectMap.identity(store.fmri.shape[1])
            note = "anatomical: the same grayordinates, no data of this subject used"
    return make_view(derivatives_dir, subject, run_root, name or run_root.name, own_map=own, note=note)
