"""Where a run's shared space is kept, and how a subject's fMRI is read into it.

A run trained on one subject's whole training split reads that subject's store as it is. A run
on several subjects, or on a share of one subject's movies, or fine-tuned from another run, has an
``alignment`` stage::

    <run>/alignment/model/maps/sub-XX.npz   each subject's SubjectMap into the shared columns
    <run>/alignment/model/template.npz      functional alignment: the group template
    <run>/alignment/model/alignment.json    what was fitted, on which movies
    <run>/alignment/train.h5                the training store through the maps (training_store.py)

With learned adapters the encoder stage adds ``<run>/encoder/subject-maps/sub-XX.npz`` and
``<run>/encoder/train.h5``, which take over from the alignment stage's. A subject decoded with a
run it was not trained in keeps its own map in its run folder (``subject-map.npz``, see
:mod:`.run_views`).
"""

import json
import shutil
from pathlib import Path

import h5py
import numpy as np

from ..errors import NeurocineError
from ..utils.atomic import atomic_path
from ..utils.processes import process_state
from .subject_map import SubjectMap

#: The stages that can hold a run's space, latest first.
SPACE_STAGES = ("encoder", "alignment")
#: A subject's own map, in a run folder made for it (run_views.py).
OWN_MAP = "subject-map.npz"
#: The record of a subject's folder that shows a run trained elsewhere (run_views.py).
VIEW_RECORD = "shared-run.json"


def map_folders(root):
    """The folders of the run's subject maps, latest stage first."""
    root = Path(root)
    return [root / "encoder" / "subject-maps", root / "alignment" / "model" / "maps"]


def has_space(root):
    """Whether the run has an alignment stage (several subjects, a share of movies, or a run it started from)."""
    return (Path(root) / "alignment" / "model").is_dir()


def training_store(root, default):
    """The training store the run's later stages read: the latest space's, else ``default`` (the subject's own).

    A subject's folder showing a one-subject run trained on someone else reads that run's
    training store (from its provenance), not its own subject's.

    Raises
    ------
    NeurocineError
        If that run's training store is gone.
    """
    root = Path(root)
    learned = root / "encoder" / "train.h5"
    if learned.is_file() and (root / "encoder" / "subject-maps").is_dir():
        return learned
    if has_space(root):
        return root / "alignment" / "train.h5"
    if (root / VIEW_RECORD).is_file() and (root / "provenance.json").is_file():
        trained_on = Path(json.loads((root / "provenance.json").read_text())["stores"]["train"])
        if not trained_on.is_file():  # the subject's own store would be another protocol: no silent swap
            raise NeurocineError("the training store of the run this folder shows is gone (its baselines and "
                                 "mean window learn from it); prepare that subject again", trained_on)
        return trained_on
    return Path(default)


def run_subjects(root):
    """The subjects a run was trained on (from its alignment record; None for a plain one-subject run)."""
    record = Path(root) / "alignment" / "model" / "alignment.json"
    if not record.is_file():
        return None
    return json.loads(record.read_text())["subjects"]


def subject_map(root, subject, n_columns):
    """The map that brings ``subject``'s fMRI into the run's space.

    Raises
    ------
    NeurocineError
        A run with a shared space that has no map for this subject.
    """
    root = Path(root)
    own = root / OWN_MAP
    if own.is_file():
        return SubjectMap.load(own)
    if not has_space(root):
        return SubjectMap.identity(n_columns)
    for folder in map_folders(root):
        path = folder / f"sub-{subject}.npz"
        if path.is_file():
            return SubjectMap.load(path)
    raise NeurocineError(f"sub-{subject} is not one of the subjects this run was trained on "
                         f"({', '.join(run_subjects(root) or [])}); decode it with `--from`", root)


def map_key(root, subject):
    """What identifies the map a subject is read through (its file and time; "identity"): caches of
    anything computed from its mapped fMRI carry it."""
    root = Path(root)
    candidates = [root / OWN_MAP] + ([f / f"sub-{subject}.npz" for f in map_folders(root)] if has_space(root) else [])
    for path in candidates:
        if path.is_file():
            return f"{path.resolve()}@{path.stat().st_mtime_ns}"
    return "identity"


def subject_fmri(root, store):
    """A store's fMRI rows in the run's space, float32 ``[n_tr, V]``."""
    return subject_map(root, store.subject, store.fmri.shape[1]).apply(store.fmri)


def save_learned_space(stage_dir, train_store, adapters):
    """After the encoder stage with adapters: each subject's learned map, and the training store through them."""
    stage_dir = Path(stage_dir)
    state = process_state()
    if state.is_main_process:
        with h5py.File(train_store, "r") as f:
            subjects = json.loads(f.attrs["subjects"]) if "subjects" in f.attrs else [str(f.attrs["subject"])]
            n_columns = f["fmri"].shape[1]
        maps = adapters.subject_maps(n_columns)
        folder = stage_dir / "subject-maps"
        folder.mkdir(parents=True, exist_ok=True)
        for label, fitted in zip(subjects, maps):
            fitted.save(folder / f"sub-{label}.npz")
        with atomic_path(stage_dir / "train.h5") as tmp:
            shutil.copyfile(train_store, tmp)
            with h5py.File(tmp, "r+") as f:
                rows = f["subject"][()] if "subject" in f else np.zeros(f["fmri"].shape[0], int)
                fmri = f["fmri"][()]
                for s, fitted in enumerate(maps):
                    fmri[rows == s] = fitted.apply(fmri[rows == s])
                f["fmri"][...] = fmri
    state.wait_for_everyone()
    return stage_dir / "subject-maps"


def save_template(folder, template):
    """Write a functional alignment template (``fit_group``'s) as ``template.npz``."""
    movies = np.array([m for m, _ in template["keys"]], dtype=str)
    times = np.array([t for _, t in template["keys"]], dtype=np.int64)
    with open(Path(folder) / "template.npz", "wb") as f:
        np.savez(f, movies=movies, times=times, responses=np.asarray(template["responses"], np.float32))


def load_template(root):
    """A run's functional alignment template, as :func:`~.functional.fit_to_template` takes it."""
    path = Path(root) / "alignment" / "model" / "template.npz"
    if not path.is_file():
        raise NeurocineError("this run has no functional alignment template (alignment.method functional)", path)
    with np.load(path, allow_pickle=False) as f:
        return {"keys": [(str(m), int(t)) for m, t in zip(f["movies"], f["times"])], "responses": f["responses"]}
