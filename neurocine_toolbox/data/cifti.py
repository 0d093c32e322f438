"""Read, check and write CIFTI-2 dtseries files (nibabel)."""

import hashlib
import io
import os
from dataclasses import dataclass

import nibabel as nib
import numpy as np

from ..bids.cifti_header import read_dtseries_header
from ..errors import NeurocineError
from ..utils.atomic import atomic_path
from .grayordinates import is_standard_91k, standard_brain_model_axis


@dataclass
class Dtseries:
    """A loaded dtseries: data ``[n_volumes, n_grayordinates]`` float32, TR in seconds."""

    path: str
    data: np.ndarray
    tr: float
    sha256: str | None = None


def _not_91k(brain_models):
    """What keeps a grayordinate axis out of the HCP 91k fs_LR space (one line), or None."""
    reason = is_standard_91k(brain_models)
    return f"not in the HCP 91k fs_LR grayordinate space: {reason}" if reason else None


def read_header(path, require_91k=True):
    """Check a dtseries header: CIFTI-2, time × grayordinates, 91k fs_LR, complete on disk.

    Parameters
    ----------
    path : str or Path
    require_91k : bool
        Refuse any grayordinate space other than HCP 91k fs_LR.

    Returns
    -------
    neurocine_toolbox.bids.cifti_header.DtseriesHeader

    Raises
    ------
    NeurocineError
        One line naming the file and what is wrong with it.
    """
    return read_dtseries_header(path, _not_91k if require_91k else None)


def read_dtseries(path, with_sha256=False, require_91k=True, columns=None):
    """Load a dtseries as float32, optionally hashing the bytes read (one pass over the file).

    The header is checked as in :func:`read_header`; the data are taken straight from the bytes
    read (NIfTI stores the time × grayordinate matrix with time varying fastest).

    Parameters
    ----------
    path : str or Path
    with_sha256 : bool
        Also return the sha256 of the file (computed from the same bytes that are parsed).
    require_91k : bool
    columns : array-like of int, optional
        Grayordinates to keep (default all); only these are converted to float32.

    Returns
    -------
    Dtseries
    """
    info = read_header(path, require_91k)
    path = str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise NeurocineError(f"cannot read ({err.strerror})", path)
    digest = hashlib.sha256(raw).hexdigest() if with_sha256 else None
    header = nib.Nifti2Header.from_fileobj(io.BytesIO(raw[:540]))
    shape = (info.n_volumes, info.n_grayordinates)
    count = shape[0] * shape[1]
    offset = int(header["vox_offset"])
    if len(raw) < offset + count * header.get_data_dtype().itemsize:
        raise NeurocineError("truncated while being read", path)
    data = np.frombuffer(raw, dtype=header.get_data_dtype(), count=count, offset=offset)
    data = data.reshape(shape, order="F")
    data = (data if columns is None else data[:, columns]).astype(np.float32)
    slope, inter = header.get_slope_inter()
    if slope is not None and (slope != 1 or inter):
        data = data * np.float32(slope) + np.float32(inter or 0)
    return Dtseries(path, data, info.tr, digest)


def write_dtseries(path, data, tr, brain_models=None):
    """Write ``data`` ``[n_volumes, n_grayordinates]`` as a CIFTI-2 dtseries, atomically.

    Parameters
    ----------
    path : str or Path
    data : ndarray
        Written as float32.
    tr : float
        Repetition time in seconds.
    brain_models : nibabel.cifti2.BrainModelAxis, optional
        Grayordinate axis; defaults to HCP 91k fs_LR.
    """
    data = np.asarray(data, dtype=np.float32)
    models = standard_brain_model_axis() if brain_models is None else brain_models
    series = nib.cifti2.SeriesAxis(start=0.0, step=float(tr), size=data.shape[0], unit="SECOND")
    img = nib.Cifti2Image(data, header=(series, models))
    img.nifti_header.set_intent("ConnDenseSeries")
    with atomic_path(path) as tmp:
        # nibabel picks the format from the extension, so keep it on the temporary name.
        tmp_nii = tmp.with_name(tmp.name + ".dtseries.nii")
        try:
            img.to_filename(tmp_nii)
            os.replace(tmp_nii, tmp)
        finally:
            if tmp_nii.exists():
                tmp_nii.unlink()


class DtseriesWriter:
    """Write many dtseries that share grayordinates and TR, fast.

    nibabel rebuilds and re-validates the 91k brain-model XML for every image (about a
    second each). This writer lets :func:`write_dtseries` write the first file of each length,
    keeps the bytes of its header, and writes later files of that length as those bytes
    followed by the data, so every file is identical to what nibabel would write.

    Parameters
    ----------
    tr : float
        Repetition time in seconds.
    brain_models : nibabel.cifti2.BrainModelAxis, optional
        Grayordinate axis; defaults to HCP 91k fs_LR.
    """

    def __init__(self, tr, brain_models=None):
        self.tr = float(tr)
        self.brain_models = brain_models
        self._headers = {}  # n_volumes -> (header bytes, on-disk dtype)

    def write(self, path, data):
        """Write ``data`` ``[n_volumes, n_grayordinates]`` to ``path`` atomically."""
        data = np.asarray(data, dtype=np.float32)
        cached = self._headers.get(data.shape)
        if cached is None:
            write_dtseries(path, data, self.tr, self.brain_models)
            with open(path, "rb") as f:
                header = nib.Nifti2Header.from_fileobj(f)
                offset = int(header["vox_offset"])
                f.seek(0)
                self._headers[data.shape] = (f.read(offset), header.get_data_dtype())
            return
        head, dtype = cached
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(head)
            # NIfTI stores the (time, grayordinate) matrix with time varying fastest.
            f.write(data.astype(dtype, copy=False).tobytes(order="F"))
