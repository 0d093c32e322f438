"""The store: prep's one hand-off to every later stage (docs/store.md).

One HDF5 file per subject and split, inside a BIDS-Derivatives folder:
``sub-<label>/func/sub-<label>_split-<train|test>_desc-neurocine_bold.h5``.
"""

import json
from pathlib import Path

import h5py
import numpy as np

from ..errors import NeurocineError

SPLITS = ("train", "test")
STORE_FORMAT_VERSION = 1
_STR = h5py.string_dtype()


def store_relpath(subject, split):
    """Path of a store file relative to the derivative folder."""
    return Path(f"sub-{subject}") / "func" / f"sub-{subject}_split-{split}_desc-neurocine_bold.h5"


def store_path(derivatives_dir, subject, split):
    """Path of a subject's store for ``split`` ("train" or "test")."""
    if split not in SPLITS:
        raise NeurocineError(f"unknown split '{split}' (use train or test)")
    return Path(derivatives_dir) / store_relpath(subject, split)


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
    f.create_dataset("stimulus_time", (n_rows,), dtype="float32")
    f.attrs["store_format_version"] = STORE_FORMAT_VERSION
    return f


def write_strings(f, name, values):
    """Store a list of strings as a variable-length string dataset."""
    f.create_dataset(name, data=np.array(list(values), dtype=object), dtype=_STR)


def write_json_attr(f, name, value):
    """Store a JSON-serialisable value as a string attribute."""
    f.attrs[name] = json.dumps(value, sort_keys=True)


class FramesView:
    """Frames indexed by TR row: ``view[i]`` is ``[frames_per_tr, H, W, 3]`` uint8 of row ``i``."""

    def __init__(self, frames, frame_rows):
        self._frames = frames
        self._rows = frame_rows

    def __len__(self):
        return len(self._rows)

    @property
    def shape(self):
        return (len(self._rows), *self._frames.shape[1:])

    def __getitem__(self, index):
        rows = self._rows[index]
        if np.ndim(rows) == 0:
            return self._frames[int(rows)]
        unique, inverse = np.unique(rows, return_inverse=True)
        return self._frames[unique][inverse]


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
    voxel_grayordinates : ndarray of int
        91k grayordinate of each column (-1 for padding).
    voxel_rois : ndarray of str
        HCP-MMP1.0 label of each column ("" for padding).
    tr, fps : float
        Repetition time (s) and frames per second of the stored frames.
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
