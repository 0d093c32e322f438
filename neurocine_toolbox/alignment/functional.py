"""Functional alignment: each subject's visual areas rotated onto a group template (fmralign).

Hyperalignment's Procrustes form, piece by piece: fmralign's ``GroupAlignment`` with the
``procrustes`` method (an orthogonal map and a scale per piece) fits a template on the
subjects' responses to the training movies they all watched, and each subject's map onto it;
a new subject is mapped onto the saved template from the movies it brings. Only training
movies enter (never validation or test), and a movie's rows are matched across subjects by
its file and time.
"""

import numpy as np

from ..errors import NeurocineError
from .subject_map import SubjectMap, parcels
from .training_store import training_movies


def response_table(store, fraction=1.0):
    """A subject's training-movie responses keyed by ``(movie, time in ms)``: ``{key: row}``."""
    movies = set(training_movies(store, fraction))
    files = np.array(store.stimulus_files, dtype=object)[store.stimulus]
    table = {}
    for t in np.flatnonzero(np.isin(files, list(movies)) & ~store.validation):
        table[(files[t], round(float(store.stimulus_time[t]) * 1000))] = t
    return table


def _shared_keys(tables):
    keys = set(tables[0])
    for table in tables[1:]:
        keys &= set(table)
    if len(keys) < 2:
        raise NeurocineError("functional alignment needs training movies every subject watched; these subjects "
                             "share none (use alignment.method anatomical or adapter)")
    return sorted(keys)


def _maps_from(aligner, labels, voxel_rois):
    """Each subject's fitted pieces as a block-diagonal map over every column (padding copied)."""
    pieces = parcels(voxel_rois)
    n_columns = len(voxel_rois)
    maps = {}
    for label in labels:
        fitted = aligner.fitted_estimators[label]
        blocks = []
        for (_, columns), piece in zip(pieces, fitted.fit_):
            blocks.append((columns, np.asarray(piece.R) * float(piece.scale)))
        maps[label] = SubjectMap.from_blocks(blocks, n_columns)
    return maps


def _labels_vector(voxel_rois):
    """fmralign's per-column piece labels (padding columns form a piece of their own, left as is)."""
    names = [name for name, _ in parcels(voxel_rois)]
    return np.array([names.index(r) + 1 if r else 0 for r in voxel_rois])


def fit_group(stores, labels, iterations=2, fraction=1.0):
    """Template and maps of the subjects a run is trained on.

    Parameters
    ----------
    stores : list of Store
        Training stores (same columns).
    labels : list of str
    iterations : int
        Template iterations (fmralign's ``n_iter``).
    fraction : float
        Share of each subject's training movies used (``data.train_fraction``).

    Returns
    -------
    maps : dict of str -> SubjectMap
    template : dict
        ``{"keys": [(movie, ms)], "responses": float32 [n, V]}``, what a new subject is mapped onto.
    """
    from fmralign import GroupAlignment

    tables = [response_table(s, fraction) for s in stores]
    keys = _shared_keys(tables)
    rois = stores[0].voxel_rois
    data = {label: _real(store, table, keys) for label, store, table in zip(labels, stores, tables)}
    piece_labels = _labels_vector(rois)
    aligner = GroupAlignment(method="procrustes", labels=piece_labels[piece_labels > 0], n_iter=int(iterations))
    real = piece_labels > 0
    aligner.fit({k: v[:, real] for k, v in data.items()}, y="template")
    maps = _maps_from(aligner, labels, rois)
    template = np.zeros((len(keys), stores[0].fmri.shape[1]), np.float32)
    template[:, real] = np.asarray(aligner.template, np.float32)
    return maps, {"keys": keys, "responses": template}


def fit_to_template(store, label, template, fraction=1.0):
    """A new subject's map onto a saved template, from the training movies it brings (a share ``fraction``)."""
    from fmralign import GroupAlignment

    table = response_table(store, fraction)
    template_rows = {tuple(k): i for i, k in enumerate(template["keys"])}
    keys = sorted(set(table) & set(template_rows))
    if len(keys) < 2:
        raise NeurocineError(f"sub-{label} watched none of the movies the run's template was fitted on: "
                             "functional alignment cannot map it", store.path)
    piece_labels = _labels_vector(store.voxel_rois)
    real = piece_labels > 0
    target = np.asarray(template["responses"])[[template_rows[k] for k in keys]][:, real]
    aligner = GroupAlignment(method="procrustes", labels=piece_labels[real])
    aligner.fit({label: _real(store, table, keys)[:, real]}, y=target)
    return _maps_from(aligner, [label], store.voxel_rois)[label]


def _real(store, table, keys):
    return np.asarray(store.fmri[[table[k] for k in keys]], np.float64)
