"""The training store of a run on several subjects, or on part of one subject's movies.

A run's stages read one training store (docs/store.md). When a run trains on several subjects, or
on a share of a subject's training movies (``data.train_fraction``), its ``alignment`` stage
writes that store into the run folder: every subject's training rows through its
:class:`~.subject_map.SubjectMap`, one after the other. Each subject's runs keep their own
numbers (offset per subject), so no window crosses two subjects; a movie several subjects
watched is one stimulus, and its frames and embeddings are stored once. The validation movies
stay marked and are never trained on. Test stores are never read here.

Extra datasets: ``subject`` (int per row, index into the attribute ``subjects``).
"""

import json
import math
from pathlib import Path

import h5py
import numpy as np

from ..data.store import (EMBEDDING_ATTR, EMBEDDING_DATASETS, STORE_FORMAT_VERSION, create_embedding_datasets,
                          open_store, write_json_attr, write_strings)
from ..errors import NeurocineError
from ..utils.atomic import atomic_path

#: Attributes that must agree between the stores pooled (frames and times would not line up otherwise).
MUST_AGREE = ("tr", "fps", "frames_per_tr")


def training_movies(store, fraction):
    """The training movies (not validation) a run on a share ``fraction`` of them keeps: the first
    ``ceil(fraction · n)`` in the store's movie order (at least one).

    Returns
    -------
    list of str
        Stimulus file names.
    """
    if not 0 < fraction <= 1:
        raise NeurocineError(f"data.train_fraction must be in (0, 1], not {fraction}")
    order = [store.stimulus_files[i] for i in sorted(set(store.stimulus[~store.validation].tolist()))]
    keep = max(1, math.ceil(fraction * len(order)))
    return order[:keep]


def _check_alike(stores):
    first = stores[0]
    for store in stores[1:]:
        for name in MUST_AGREE:
            if getattr(store, name) != getattr(first, name):
                raise NeurocineError(f"has {name} {getattr(store, name)}, sub-{first.subject}'s store "
                                     f"{getattr(first, name)}: prepare every subject with the same settings", store.path)
        if store.frames.shape[1:] != first.frames.shape[1:]:
            raise NeurocineError(f"frames {store.frames.shape[1:]} differ from sub-{first.subject}'s "
                                 f"{first.frames.shape[1:]}: prepare every subject with the same settings", store.path)
        if not np.array_equal(store.voxel_grayordinates, first.voxel_grayordinates):
            raise NeurocineError(f"its voxel columns differ from sub-{first.subject}'s: prepare every subject "
                                 "with the same voxel selection (a shared grayordinate mask)", store.path)
        store.require_embeddings()
        clip = store.attrs.get(EMBEDDING_ATTR, {}).get("clip_model")
        if clip != first.attrs.get(EMBEDDING_ATTR, {}).get("clip_model"):
            raise NeurocineError(f"was embedded with CLIP {clip}, sub-{first.subject}'s store with another: "
                                 "embed every subject with the same CLIP", store.path)
    first.require_embeddings()


def write_training_store(path, parts):
    """Write the training store of a run on several subjects (or a share of one's movies).

    Parameters
    ----------
    path : Path
        The new store (written then renamed into place).
    parts : list of (Path, SubjectMap, float)
        Training stores, each with the map of its subject into the shared columns and the share
        of its training movies kept (``data.train_fraction``; validation movies are all kept,
        marked). A part may be another run's training store (already in the shared space: the
        identity), its subjects kept apart.

    Returns
    -------
    dict
        What was pooled: per subject, rows and training movies kept.
    """
    stores = [open_store(p) for p, _, _ in parts]
    try:
        for store in stores:
            if store.split != "train":
                raise NeurocineError(f"is a {store.split} store; a run trains on training stores only", store.path)
        _check_alike(stores)
        labels = [label for store in stores for label in store.subjects]
        twice = sorted({label for label in labels if labels.count(label) > 1})
        if twice:
            raise NeurocineError(f"sub-{twice[0]} would enter the run twice (it is in the run fine-tuned, or named "
                                 "twice)", stores[0].path)
        return _write(Path(path), labels, stores, [m for _, m, _ in parts], [f for _, _, f in parts])
    finally:
        for store in stores:
            store.close()


def _write(path, labels, stores, maps, fractions):
    rows, keys, record = [], {}, {}
    movies = []  # the union of stimulus files, in order of first appearance
    first_subject = np.cumsum([0] + [len(s.subjects) for s in stores])
    for s, store in enumerate(stores):
        fraction = fractions[s]
        kept_movies = set(training_movies(store, fraction)) | set(store.validation_movies)
        files = np.array(store.stimulus_files, dtype=object)[store.stimulus]
        keep = np.flatnonzero(np.isin(files, list(kept_movies)))
        for name in store.stimulus_files:
            if name in kept_movies and name not in movies:
                movies.append(name)
        frame_of = {}
        for t in keep:  # one frame row per (movie, time), whichever subject brought it first
            key = (files[t], round(float(store.stimulus_time[t]) * 1000))
            if key not in keys:
                keys[key] = (s, int(store.frame_rows[t]))
            frame_of[t] = key
        rows.append((keep, frame_of))
        for i, label in enumerate(store.subjects):
            mine = keep[store.row_subjects[keep] == i]
            record[label] = {"rows": int(len(mine)), "fraction": fraction, "from": str(store.path),
                             "training_movies": sorted(set(files[mine]) - set(store.validation_movies))}
    key_index = {key: i for i, key in enumerate(keys)}
    n_rows = sum(len(k) for k, _ in rows)
    first = stores[0]
    n_columns = first.fmri.shape[1]
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            fmri = f.create_dataset("fmri", (n_rows, n_columns), dtype="float32", chunks=(min(max(n_rows, 1), 64), n_columns))
            ints = {name: np.zeros(n_rows, np.int32) for name in ("runs", "tr_in_run", "stimulus", "frame_rows", "subject")}
            stimulus_time = np.zeros(n_rows, np.float32)
            validation = np.zeros(n_rows, np.int8)
            run_sources, offset, at = [], 0, 0
            for s, (store, (keep, frame_of)) in enumerate(zip(stores, rows)):
                n = len(keep)
                fmri[at:at + n] = maps[s].apply(store.fmri[keep])
                run_ids = np.unique(store.runs[keep])
                renumber = {int(r): offset + i for i, r in enumerate(run_ids)}
                ints["runs"][at:at + n] = [renumber[int(r)] for r in store.runs[keep]]
                ints["tr_in_run"][at:at + n] = store.tr_in_run[keep]
                ints["stimulus"][at:at + n] = [movies.index(store.stimulus_files[i]) for i in store.stimulus[keep]]
                ints["frame_rows"][at:at + n] = [key_index[frame_of[t]] for t in keep]
                ints["subject"][at:at + n] = first_subject[s] + store.row_subjects[keep]
                stimulus_time[at:at + n] = store.stimulus_time[keep]
                validation[at:at + n] = store.validation[keep]
                run_sources += [json.dumps({"store": str(store.path), "sources": store.run_sources[int(r)]}) for r in run_ids]
                offset += len(run_ids)
                at += n
            for name, values in ints.items():
                f.create_dataset(name, data=values)
            f.create_dataset("stimulus_time", data=stimulus_time)
            f.create_dataset("validation", data=validation)
            _copy_frame_rows(f, stores, list(keys.values()))
            write_strings(f, "run_sources", run_sources)
            write_strings(f, "stimulus_files", movies)
            f.create_dataset("voxel_grayordinates", data=first.voxel_grayordinates)
            write_strings(f, "voxel_rois", first.voxel_rois)
            for name in ("tr", "fps", "frames_per_tr"):
                f.attrs[name] = getattr(first, name)
            for name in ("frame_offsets_s", "window_convention", "fmri_units"):
                if name in first.file.attrs:
                    f.attrs[name] = first.file.attrs[name]
            f.attrs["split"] = "train"
            f.attrs["subject"] = "+".join(labels)
            f.attrs["store_format_version"] = STORE_FORMAT_VERSION
            f.attrs["neurocine_version"] = first.file.attrs.get("neurocine_version", "")
            write_json_attr(f, "validation_movies", [m for m in movies if any(m in s.validation_movies for s in stores)])
            write_json_attr(f, "subjects", labels)
            write_json_attr(f, EMBEDDING_ATTR, first.attrs.get(EMBEDDING_ATTR))
            write_json_attr(f, "pooled_from", {"stores": [str(s.path) for s in stores], "rows": record})
    return record


def _copy_frame_rows(f, stores, sources):
    """Frames and embeddings of each distinct frame row, from the store that brought it."""
    first = stores[0]
    n = len(sources)
    frames = f.create_dataset("frames", (n, *first.distinct_frames.shape[1:]), dtype="uint8",
                              chunks=(1, *first.distinct_frames.shape[1:]), compression="lzf")
    text_states = first.file["clip_text_states"]
    create_embedding_datasets(f, n_frame_rows=n, frames_per_tr=first.frames_per_tr, text_length=text_states.shape[1],
                              text_dim=text_states.shape[2], embed_dim=first.file["clip_text_embeds"].shape[1])
    for i, (s, row) in enumerate(sources):
        source = stores[s].file
        frames[i] = source["frames"][row]
        for name in EMBEDDING_DATASETS:
            f[name][i] = source[name][row]
