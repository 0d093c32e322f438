"""Read, check and write CIFTI-2 dtseries files (nibabel)."""

import hashlib
import os
from dataclasses import dataclass

import nibabel as nib
import numpy as np

from ..errors import NeurocineError
from ..utils.atomic import atomic_path
from .grayordinates import is_standard_91k, standard_brain_model_axis


@dataclass
class DtseriesHeader:
    """What a dtseries header says, read without loading the data."""

    path: str
    n_volumes: int
    n_grayordinates: int
    tr: float
    brain_models: object


@dataclass
class Dtseries:
    """A loaded dtseries: data ``[n_volumes, n_grayordinates]`` float32, TR in seconds."""

    path: str
    data: np.ndarray
    tr: float
    sha256: str | None = None


def _series_step_seconds(axis, path):
    unit = str(axis.unit).upper()
    scale = {"SECOND": 1.0, "SEC": 1.0, "MSEC": 1e-3, "MILLISECOND": 1e-3}.get(unit)
    if scale is None:
        raise NeurocineError(f"its time axis is in {axis.unit!r}, not seconds", path)
    return float(axis.step) * scale


def _load(path, file_map=None):
    try:
        img = nib.load(path) if file_map is None else nib.Cifti2Image.from_bytes(file_map)
    except Exception as err:  # nibabel raises many types for corrupt files
        raise NeurocineError(f"not a readable CIFTI-2 file ({type(err).__name__}: {err})", path)
    if not isinstance(img, nib.Cifti2Image):
        raise NeurocineError(f"not a CIFTI-2 file (nibabel reads it as {type(img).__name__})", path)
    return img


def read_header(path, require_91k=True):
    """Check a dtseries header: CIFTI-2, time × grayordinates, 91k fs_LR, complete on disk.

    Parameters
    ----------
    path : str or Path
    require_91k : bool
        Refuse any grayordinate space other than HCP 91k fs_LR.

    Returns
    -------
    DtseriesHeader

    Raises
    ------
    NeurocineError
        One line naming the file and what is wrong with it.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise NeurocineError("file not found", path)
    img = _load(path)
    try:
        series, models = img.header.get_axis(0), img.header.get_axis(1)
    except Exception as err:
        raise NeurocineError(f"CIFTI header has no usable axes ({err})", path)
    if not isinstance(series, nib.cifti2.SeriesAxis):
        raise NeurocineError(f"first axis is a {type(series).__name__}, not a time series (dtseries)", path)
    if require_91k:
        reason = is_standard_91k(models)
        if reason:
            raise NeurocineError(f"not in the HCP 91k fs_LR grayordinate space: {reason}", path)
    shape = img.dataobj.shape
    expected = img.dataobj.offset + int(np.prod(shape)) * np.dtype(img.dataobj.dtype).itemsize
    if os.path.getsize(path) < expected:
        raise NeurocineError(
            f"truncated: {os.path.getsize(path)} bytes on disk, {expected} expected for {shape}", path
        )
    return DtseriesHeader(path, int(shape[0]), int(shape[1]), _series_step_seconds(series, path), models)


def read_dtseries(path, with_sha256=False):
    """Load a dtseries as float32, optionally hashing the bytes read (one pass over the file).

    Parameters
    ----------
    path : str or Path
    with_sha256 : bool
        Also return the sha256 of the file (computed from the same bytes that are parsed).

    Returns
    -------
    Dtseries
    """
    path = str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise NeurocineError(f"cannot read ({err.strerror})", path)
    digest = hashlib.sha256(raw).hexdigest() if with_sha256 else None
    img = _load(path, raw)
    tr = _series_step_seconds(img.header.get_axis(0), path)
    try:
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as err:
        raise NeurocineError(f"cannot read its data ({type(err).__name__}: {err})", path)
    return Dtseries(path, data, tr, digest)


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
