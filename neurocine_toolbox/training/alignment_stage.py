"""Stage ``alignment``: each subject's map into the run's shared space, and the run's training store.

Runs only for a run on several subjects, on a share of a subject's training movies
(``data.train_fraction``), or fine-tuned from another run (``fit --from``). See
:mod:`neurocine_toolbox.alignment` for the three methods and :mod:`~neurocine_toolbox.alignment.run_space`
for what it writes. Only the training movies are read (a share of them, never the validation
movies or the test split).
"""

import json
import logging
import time
from pathlib import Path

import numpy as np

from ..alignment.functional import fit_group, fit_to_template
from ..alignment.run_space import load_template, save_template
from ..alignment.subject_map import SubjectMap
from ..alignment.training_store import write_training_store
from ..data.store import open_store
from ..utils.atomic import atomic_dir, write_text_atomic
from ..utils.processes import process_state

log = logging.getLogger("neurocine")


def _maps(method, labels, stores, config, from_run):
    fraction = float(config["data"]["train_fraction"])
    n_columns = stores[0].fmri.shape[1]
    if method != "functional":  # anatomical; adapters start at the identity and are learned with the encoder
        return {label: SubjectMap.identity(n_columns) for label in labels}, None
    if from_run is not None:
        template = load_template(from_run)
        return {label: fit_to_template(store, label, template, fraction) for label, store in zip(labels, stores)}, template
    if len(labels) == 1:
        log.warning("alignment: functional alignment of one subject has no template to map onto: the identity")
        return {labels[0]: SubjectMap.identity(n_columns)}, None
    return fit_group(stores, labels, int(config["alignment"]["template_iterations"]), fraction=fraction)


def _validation_table(store):
    files = np.array(store.stimulus_files, dtype=object)[store.stimulus]
    return {(files[t], round(float(store.stimulus_time[t]) * 1000)): t for t in np.flatnonzero(store.validation)}


def _agreement(maps, labels, stores):
    """How far the maps bring subjects together, on movies they were not fitted on (the validation
    movies): per subject, the mean over grayordinates of the correlation of its responses with the
    other subjects' mean, as stored (anatomical) and through the maps."""
    if len(labels) < 2:
        return None
    tables = [_validation_table(s) for s in stores]
    keys = sorted(set.intersection(*(set(t) for t in tables)))
    if len(keys) < 3:
        return None
    out = {"movies": "validation"}
    for name, use in (("anatomical", False), ("mapped", True)):
        data = [np.asarray(s.fmri[[t[k] for k in keys]], np.float32) for s, t in zip(stores, tables)]
        if use:
            data = [maps[label].apply(d) for label, d in zip(labels, data)]
        scores = []
        for i, d in enumerate(data):
            others = np.mean([o for j, o in enumerate(data) if j != i], axis=0)
            a, b = d - d.mean(0), others - others.mean(0)
            r = (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0) + 1e-12)
            scores.append(float(r[stores[i].voxel_grayordinates >= 0].mean()))
        out[name] = dict(zip(labels, scores))
    return out


def alignment_stage(stage_dir, labels, train_stores, config, *, from_run=None, from_store=None):
    """Fit the subjects' maps and write the run's training store.

    Parameters
    ----------
    stage_dir : Path
    labels : list of str
    train_stores : list of Path
        The subjects' training stores (``neurocine prep``), in the order of ``labels``.
    config : dict
    from_run : Path, optional
        The run a fine-tune starts from (its template maps a new subject, functional alignment).
    from_store : Path, optional
        That run's training store (in its space): it joins the new training store whole, so the
        fine-tune's closed-form fits (perception, the ridge baselines) learn from both.

    Returns
    -------
    Path
        The run's training store.
    """
    stage_dir = Path(stage_dir)
    method = config["alignment"]["method"]
    fraction = float(config["data"]["train_fraction"])
    start = time.perf_counter()
    stores = [open_store(p) for p in train_stores]
    try:
        maps, template = _maps(method, labels, stores, config, from_run)
        agreement = _agreement(maps, labels, stores) if method == "functional" else None
    finally:
        for store in stores:
            store.close()
    fit_seconds = time.perf_counter() - start
    state = process_state()
    if state.is_main_process:
        parts = [(path, maps[s], fraction) for s, path in zip(labels, train_stores)]
        if from_store is not None:
            parts.insert(0, (from_store, SubjectMap.identity(parts[0][1].n_columns), 1.0))
        pooled = write_training_store(stage_dir / "train.h5", parts)
        record = {"method": method, "subjects": labels, "train_fraction": fraction,
                  "from_run": str(from_run) if from_run else None, "fit_seconds": fit_seconds,
                  "training_rows": pooled, "agreement": agreement}
        with atomic_dir(stage_dir / "model") as tmp:
            (tmp / "maps").mkdir()
            for label in labels:
                maps[label].save(tmp / "maps" / f"sub-{label}.npz")
            if template is not None:
                save_template(tmp, template)
            write_text_atomic(tmp / "alignment.json", json.dumps(record, indent=2) + "\n")
        log.info("alignment: %s, %s; training store %s", method, ", ".join(f"sub-{s}" for s in labels),
                 stage_dir / "train.h5")
    state.wait_for_everyone()
    return stage_dir / "train.h5"
