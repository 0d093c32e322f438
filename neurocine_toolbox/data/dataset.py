"""A torch Dataset of fMRI windows with the frames shown during them."""

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import NeurocineError
from .store import open_store


def window_starts(runs, tr_in_run, window, lag=0):
    """Rows where a window can start: all of its TRs (shifted by ``lag``) lie in one run.

    Parameters
    ----------
    runs, tr_in_run : ndarray of int
        Per-row run and TR-within-run (from the store).
    window : int
        TRs per window (w).
    lag : int
        fMRI rows are taken ``lag`` TRs after the frames' TR (haemodynamic delay).

    Returns
    -------
    ndarray of int
    """
    n = len(runs)
    span = lag + window - 1
    starts = np.arange(max(n - span, 0))
    end = starts + span
    same_run = runs[starts] == runs[end]
    contiguous = tr_in_run[end] - tr_in_run[starts] == span
    return starts[same_run & contiguous]


def split_window_starts(store, window, lag=0, split=None):
    """Rows where the windows of a split start, in an open store.

    The one place that decides which windows a split holds: ``"train"`` is the training store's
    windows outside the validation movies (what every training stage, baseline and mean fits
    on), ``"validation"`` the training store's windows inside them (where settings are chosen),
    ``"test"`` every window of the test store (read only to report).

    Parameters
    ----------
    store : Store
    window, lag : int
    split : {"train", "validation", "test"}, optional
        Default: the store's own split (a training store gives its training windows).

    Returns
    -------
    ndarray of int

    Raises
    ------
    NeurocineError
        A split the store does not hold, or a validation split where no movie is marked.
    """
    split = split or store.split
    expected = "train" if split == "validation" else split
    if store.split != expected:
        raise NeurocineError(f"the {split} windows are in the {expected} store, not this {store.split} store",
                             store.path)
    starts = window_starts(store.runs, store.tr_in_run, window, lag)
    if split == "test":
        return starts
    held_out = store.validation[starts]
    if split == "validation":
        if not held_out.any():
            raise NeurocineError("this store marks no validation movies; run neurocine prep again "
                                 "(--validation-share or --validation-movies)", store.path)
        return starts[held_out]
    return starts[~held_out]


def windows_at(fmri, starts, window, lag=0):
    """Stack the fMRI windows starting at ``starts``: float32 ``[N, window, V]``.

    Window ``t`` holds rows ``t+lag … t+lag+window−1`` (the convention of
    :class:`FMRIWindowDataset`); ``fmri`` is a store's ``fmri`` array (or any ``[n_tr, V]``).
    """
    starts = np.asarray(starts, int)
    if not len(starts):
        return np.zeros((0, window, fmri.shape[1]), np.float32)
    return np.stack([np.asarray(fmri[t + lag: t + lag + window]) for t in starts]).astype(np.float32)


class FMRIWindowDataset(Dataset):
    """Windows ``v_t = {v_{t+lag}, …, v_{t+lag+w−1}}`` with the frames shown during TRs t…t+w−1.

    Windows never cross run boundaries. The HDF5 file is opened lazily in each process, so the
    dataset works with DataLoader workers.

    Parameters
    ----------
    path : str or Path
        A store file.
    window : int
        TRs per window (paper: 2).
    lag : int
        TRs between the frames and the fMRI paired with them (default 0: the same TRs).
    with_frames : bool
        Also return frames (uint8 ``[w, frames_per_tr, H, W, 3]``).
    with_embeddings : bool
        Also return the CLIP embeddings of TRs t…t+w−1 (``neurocine embed``), as float32:
        ``text_embeds`` ``[w, d]``, ``image_embeds`` ``[w, frames_per_tr, d]`` and
        ``text_states`` ``[w, 77, d_text]``.
    split : {"train", "validation", "test"}, optional
        Which windows (:func:`split_window_starts`); default the store's own split, so a
        training store never yields its validation movies' windows unless asked.
    fmri_map : SubjectMap, optional
        Reads each window through it (a subject's map into a run's shared space,
        :mod:`neurocine_toolbox.alignment`).
    subjects : sequence of str, optional
        Only the windows of these subjects (a run's training store pools several).

    Raises
    ------
    NeurocineError
        ``with_embeddings=True`` on a store without embeddings.
    """

    def __init__(self, path, window=2, lag=0, with_frames=True, with_embeddings=False, split=None, fmri_map=None,
                 subjects=None):
        self.path = path
        self.fmri_map = fmri_map
        self.window = window
        self.lag = lag
        self.with_frames = with_frames
        self.with_embeddings = with_embeddings
        store = open_store(path)
        try:
            self.starts = split_window_starts(store, window, lag, split)
            if subjects is not None:
                missing = sorted(set(subjects) - set(store.subjects))
                if missing:
                    raise NeurocineError(f"holds no rows of sub-{missing[0]}", path)
                wanted = [store.subjects.index(s) for s in subjects]
                self.starts = self.starts[np.isin(store.row_subjects[self.starts], wanted)]
            if with_embeddings:
                store.require_embeddings()
        finally:
            store.close()
        self._store = None

    def __len__(self):
        return len(self.starts)

    def __getitem__(self, index):
        if self._store is None:
            self._store = open_store(self.path)
        t = int(self.starts[index])
        fmri = np.asarray(self._store.fmri[t + self.lag: t + self.lag + self.window], np.float32)
        item = {
            "fmri": torch.from_numpy(fmri if self.fmri_map is None else self.fmri_map.apply(fmri)),
            "row": t,
            "stimulus": int(self._store.stimulus[t]),
            "run": int(self._store.runs[t]),
            "subject": int(self._store.row_subjects[t]),  # index into the store's subjects
        }
        rows = np.arange(t, t + self.window)
        if self.with_frames:
            item["frames"] = torch.from_numpy(self._store.frames[rows])
        if self.with_embeddings:
            for key, view in (("text_embeds", self._store.clip_text_embeds),
                              ("image_embeds", self._store.clip_image_embeds),
                              ("text_states", self._store.clip_text_states)):
                item[key] = torch.from_numpy(np.asarray(view[rows], np.float32))
        return item

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_store"] = None
        return state
