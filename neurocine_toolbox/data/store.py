"""The store: prep's one hand-off to every later stage (docs/store.md).

One HDF5 file per subject and split, inside a BIDS-Derivatives folder:
``sub-<label>/func/sub-<label>_split-<train|test>_desc-neurocine_bold.h5``.
"""

import json
import re
from pathlib import Path

import h5py
import numpy as np

from ..errors import NeurocineError

SPLITS = ("train", "test")
STORE_FORMAT_VERSION = 1
_STR = h5py.string_dtype()

#: Datasets the embedding step adds (``neurocine embed``), one row per frame row.
EMBEDDING_DATASETS = ("captions", "clip_text_states", "clip_text_embeds", "clip_image_embeds")
#: Attribute holding the embedding step's provenance (JSON).
EMBEDDING_ATTR = "embedding"


def store_relpath(subject, split):
    """Path of a store file relative to the derivative folder."""
    return Path(f"sub-{subject}") / "func" / f"sub-{subject}_split-{split}_desc-neurocine_bold.h5"


#: The splits windows are read from: the validation movies are marked inside the training store.
WINDOW_SPLITS = ("train", "validation", "test")


def store_path(derivatives_dir, subject, split):
    """Path of a subject's store for ``split``: "train", "test", or "validation" (the training store,
    whose validation movies are marked)."""
    if split not in WINDOW_SPLITS:
        raise NeurocineError(f"unknown split '{split}' (use train, validation or test)")
    return Path(derivatives_dir) / store_relpath(subject, "train" if split == "validation" else split)


def find_stores(derivatives_dir, subjects=None, splits=SPLITS):
    """The store files of a derivative folder, subject by subject (natural order), then by split.

    Parameters
    ----------
    derivatives_dir : str or Path
    subjects : list of str, optional
        Labels, with or without ``sub-``; default every subject that has a store.
    splits : tuple of str
        Among "train", "test".

    Returns
    -------
    list of Path

    Raises
    ------
    NeurocineError
        A named subject with none of the splits, or no store at all.
    """
    folder = Path(derivatives_dir)
    if subjects:
        labels = [s.removeprefix("sub-") for s in subjects]
    else:
        labels = sorted((p.name[4:] for p in folder.glob("sub-*") if p.is_dir()),
                        key=lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)])
    paths = []
    for label in labels:
        found = [store_path(folder, label, split) for split in splits]
        found = [p for p in found if p.is_file()]
        if subjects and not found:
            raise NeurocineError(f"no {'/'.join(splits)} store for sub-{label}; run neurocine prep first", folder)
        paths += found
    if not paths:
        raise NeurocineError(f"no {'/'.join(splits)} store files here; run neurocine prep first", folder)
    return paths


def create_store(path, *, n_rows, n_frame_rows, n_columns, frames_per_tr, frame_size, fmri_dtype="float32"):
    """Create an empty store file with every dataset allocated.

    Parameters
    ----------
    path : Path
        Where to create it (a staging location; see ``utils.atomic``).
    n_rows : int
        TR samples (after averaging repeats, or all repeats when kept separate).
    n_frame_rows : int
        Distinct (movie, TR) frame sets; equals ``n_rows`` unless repeats are kept separate.
    n_columns : int
        Voxel columns, padded to a multiple of 16.
    frames_per_tr : int
    frame_size : (int, int)
        Frame height and width.
    fmri_dtype : str
        "float32" or "float16".

    Returns
    -------
    h5py.File
        Open for writing; the caller fills it and closes it.
    """
    f = h5py.File(path, "w")
    f.create_dataset("fmri", (n_rows, n_columns), dtype=fmri_dtype, chunks=(min(n_rows, 64), n_columns))
    height, width = frame_size
    f.create_dataset(
        "frames", (n_frame_rows, frames_per_tr, height, width, 3), dtype="uint8",
        chunks=(1, frames_per_tr, height, width, 3), compression="lzf",
    )
    for name in ("runs", "tr_in_run", "stimulus", "frame_rows"):
        f.create_dataset(name, (n_rows,), dtype="int32")
    f.create_dataset("validation", (n_rows,), dtype="int8")  # 1: a training movie held out for validation
    f.create_dataset("stimulus_time", (n_rows,), dtype="float32")
    f.attrs["store_format_version"] = STORE_FORMAT_VERSION
    return f


def write_strings(f, name, values):
    """Store a list of strings as a variable-length string dataset."""
    f.create_dataset(name, data=np.array(list(values), dtype=object), dtype=_STR)


def write_json_attr(f, name, value):
    """Store a JSON-serialisable value as a string attribute."""
    f.attrs[name] = json.dumps(value, sort_keys=True)


def copy_store(src, dst, skip=()):
    """Copy every dataset and attribute of an open store into another open file.

    Parameters
    ----------
    src, dst : h5py.File
        Source (readable) and an empty destination (writable).
    skip : iterable of str
        Dataset and attribute names not to copy (e.g. earlier embeddings being replaced).
    """
    skip = set(skip)
    for name in src:
        if name not in skip:
            src.copy(src[name], dst, name=name)  # chunks, compression and dtypes kept
    for name, value in src.attrs.items():
        if name not in skip:
            dst.attrs[name] = value


def create_embedding_datasets(f, *, n_frame_rows, frames_per_tr, text_length, text_dim, embed_dim):
    """Allocate the embedding step's datasets (docs/store.md), one chunk per frame row.

    Parameters
    ----------
    f : h5py.File
        Open for writing, without embedding datasets.
    n_frame_rows, frames_per_tr : int
    text_length, text_dim : int
        Tokens per caption (77) and width of CLIP's text encoder.
    embed_dim : int
        CLIP's projection dimension.
    """
    n = n_frame_rows
    f.create_dataset("captions", (n,), dtype=_STR)
    f.create_dataset("clip_text_states", (n, text_length, text_dim), dtype="float16",
                     chunks=(1, text_length, text_dim) if n else None)
    f.create_dataset("clip_text_embeds", (n, embed_dim), dtype="float32")
    f.create_dataset("clip_image_embeds", (n, frames_per_tr, embed_dim), dtype="float32",
                     chunks=(1, frames_per_tr, embed_dim) if n else None)


class FrameRowView:
    """An array stored once per frame row, indexed by TR row (through ``frame_rows``).

    ``view[i]`` is the entry of TR row ``i``; ``view[[i, j]]`` or ``view[a:b]`` stack several.
    ``np.asarray(view)`` reads every TR row.
    """

    def __init__(self, data, frame_rows):
        self._data = data
        self._rows = frame_rows

    def __len__(self):
        return len(self._rows)

    @property
    def shape(self):
        return (len(self._rows), *self._data.shape[1:])

    def __getitem__(self, index):
        rows = self._rows[index]
        if np.ndim(rows) == 0:
            return self._data[int(rows)]
        # h5py reads increasing, distinct indices only.
        unique, inverse = np.unique(rows, return_inverse=True)
        return self._data[unique][inverse]

    def __array__(self, dtype=None, copy=None):
        out = self[np.arange(len(self))]
        return out if dtype is None else out.astype(dtype)


class FramesView(FrameRowView):
    """Frames indexed by TR row: ``view[i]`` is ``[frames_per_tr, H, W, 3]`` uint8 of row ``i``."""


class Store:
    """A read-only view of one store file (use :func:`open_store`).

    Attributes
    ----------
    fmri : ndarray
        float ``[n_tr, n_voxels_padded]``, z-scored within each run, loaded in memory.
    frames : FramesView
        uint8 ``[n_tr, frames_per_tr, H, W, 3]``, read lazily from disk.
    runs, tr_in_run, stimulus : ndarray of int
        Per TR: its run (a viewing, or the average of a movie's viewings), its index within
        that run, and its movie (index into ``stimulus_files``).
    stimulus_time : ndarray of float
        Movie time in seconds at the start of each TR.
    validation : ndarray of bool
        Per TR: its movie is a training movie held out for validation (``neurocine prep
        --validation-share``/``--validation-movies``); all False in a test store and in stores
        written before neurocine marked them.
    validation_movies : list of str
        The ``stimulus_files`` held out for validation.
    subjects : list of str
        The subjects whose rows the store holds (one, unless a run's training store pools several).
    row_subjects : ndarray of int
        Per TR: its subject (index into ``subjects``).
    voxel_grayordinates : ndarray of int
        91k grayordinate of each column (-1 for padding).
    voxel_rois : ndarray of str
        HCP-MMP1.0 label of each column ("" for padding).
    tr, fps : float
        Repetition time (s) and frames per second of the stored frames.
    has_embeddings : bool
        Whether ``neurocine embed`` has added captions and CLIP embeddings.
    captions, clip_text_states, clip_text_embeds, clip_image_embeds : FrameRowView
        Per TR (read from disk): the caption of its clip (str), CLIP text-encoder states float16
        ``[77, d_text]``, CLIP's projected text embedding float32 ``[d]`` and the CLIP image
        embedding of each of its frames float32 ``[frames_per_tr, d]``. Reading them from a store
        without embeddings raises :class:`NeurocineError`.
    """

    def __init__(self, path):
        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r")
        except (OSError, FileNotFoundError) as err:
            raise NeurocineError(f"not a readable neurocine store ({err})", path)
        f = self._file
        if "store_format_version" not in f.attrs:
            raise NeurocineError("not a neurocine store (no store_format_version)", path)
        self.fmri = f["fmri"][()]
        self.runs = f["runs"][()]
        self.tr_in_run = f["tr_in_run"][()]
        self.stimulus = f["stimulus"][()]
        self.stimulus_time = f["stimulus_time"][()]
        self.frame_rows = f["frame_rows"][()]
        self.validation = f["validation"][()].astype(bool) if "validation" in f else np.zeros(len(self.runs), bool)
        self.validation_movies = json.loads(f.attrs.get("validation_movies", "[]"))
        # A run's training store on several subjects (alignment.training_store) says whose each row is.
        self.row_subjects = f["subject"][()] if "subject" in f else np.zeros(len(self.runs), np.int32)
        self.subjects = json.loads(f.attrs["subjects"]) if "subjects" in f.attrs else [str(f.attrs["subject"])]
        self.frames = FramesView(f["frames"], self.frame_rows)
        self.voxel_grayordinates = f["voxel_grayordinates"][()]
        self.voxel_rois = f["voxel_rois"].asstr()[()]
        self.stimulus_files = list(f["stimulus_files"].asstr()[()])
        self.run_sources = [json.loads(s) for s in f["run_sources"].asstr()[()]]
        self.tr = float(f.attrs["tr"])
        self.fps = float(f.attrs["fps"])
        self.frames_per_tr = int(f.attrs["frames_per_tr"])
        self.subject = str(f.attrs["subject"])
        self.split = str(f.attrs["split"])
        self._views = {}

    @property
    def attrs(self):
        """Every attribute, JSON strings decoded."""
        out = {}
        for key, value in self._file.attrs.items():
            if isinstance(value, str) and value[:1] in "[{":
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            out[key] = value.item() if isinstance(value, np.generic) else value
        return out

    @property
    def file(self):
        """The open HDF5 file (read-only): its raw datasets and attributes."""
        return self._file

    @property
    def distinct_frames(self):
        """The frame sets on disk, uint8 ``[n_frame_rows, frames_per_tr, H, W, 3]`` (h5py dataset;
        ``frame_rows[i]`` is TR row ``i``'s)."""
        return self._file["frames"]

    @property
    def n_frame_rows(self):
        """Distinct frame sets on disk (fewer than TR rows when viewings share them)."""
        return int(self._file["frames"].shape[0])

    @property
    def has_embeddings(self):
        return all(name in self._file for name in EMBEDDING_DATASETS)

    def require_embeddings(self):
        """Raise :class:`NeurocineError` unless ``neurocine embed`` has run on this store."""
        if not self.has_embeddings:
            raise NeurocineError("this store has no captions or CLIP embeddings; run `neurocine embed` first",
                                 self.path)

    def _embedding(self, name):
        if name not in self._views:
            self.require_embeddings()
            data = self._file[name]
            if name == "captions":
                data = data.asstr()[()]  # short strings: read them all at once
            self._views[name] = FrameRowView(data, self.frame_rows)
        return self._views[name]

    @property
    def captions(self):
        return self._embedding("captions")

    @property
    def clip_text_states(self):
        return self._embedding("clip_text_states")

    @property
    def clip_text_embeds(self):
        return self._embedding("clip_text_embeds")

    @property
    def clip_image_embeds(self):
        return self._embedding("clip_image_embeds")

    @property
    def n_voxels(self):
        """Columns that are real grayordinates (not padding)."""
        return int((self.voxel_grayordinates >= 0).sum())

    def __len__(self):
        return len(self.fmri)

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"Store(sub-{self.subject}, split={self.split}, n_tr={len(self)}, "
                f"columns={self.fmri.shape[1]}, frames={self.frames.shape[1:]})")


def open_store(path):
    """Open a store file read-only.

    Parameters
    ----------
    path : str or Path
        A ``*_desc-neurocine_bold.h5`` file written by ``neurocine prep``.

    Returns
    -------
    Store
    """
    return Store(path)
