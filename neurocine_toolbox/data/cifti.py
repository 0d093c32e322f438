"""Read, check and write CIFTI-2 dtseries files (nibabel)."""

import hashlib
import io
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


def _load(path):
    try:
        img = nib.load(path)
    except Exception as err:  # nibabel raises many types for corrupt files
        raise NeurocineError(f"not a readable CIFTI-2 file ({type(err).__name__}: {err})", path)
    if not isinstance(img, nib.Cifti2Image):
        raise NeurocineError(f"not a CIFTI-2 file (nibabel reads it as {type(img).__name__})", path)
    return img


def _nifti_header(path):
    """The NIfTI-2 header and the raw bytes before the data (header + CIFTI XML extension)."""
    try:
        with open(path, "rb") as f:
            header = nib.Nifti2Header.from_fileobj(f)
            offset = int(header["vox_offset"])
            f.seek(0)
            head = f.read(offset)
    except Exception as err:
        raise NeurocineError(f"not a readable CIFTI-2 file ({type(err).__name__}: {err})", path)
    if len(head) < offset:
        raise NeurocineError("truncated inside its header", path)
    return header, head


# Parsing the 91k brain-model XML costs about a second in nibabel, and every run of a dataset
# carries the same XML (up to its number of volumes): check each distinct header once.
_CHECKED_HEADERS = {}


def _check_axes(path, head, require_91k):
    key = (hashlib.sha1(head).hexdigest(), require_91k)
    if key not in _CHECKED_HEADERS:
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
        if len(_CHECKED_HEADERS) > 64:
            _CHECKED_HEADERS.clear()
        _CHECKED_HEADERS[key] = (_series_step_seconds(series, path), models)
    return _CHECKED_HEADERS[key]


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
    header, head = _nifti_header(path)
    tr, models = _check_axes(path, head, require_91k)
    shape = header.get_data_shape()[4:]
    if len(shape) != 2:
        raise NeurocineError(f"data shape {header.get_data_shape()} is not time × grayordinates", path)
    expected = len(head) + int(np.prod(shape)) * header.get_data_dtype().itemsize
    if os.path.getsize(path) < expected:
        raise NeurocineError(
            f"truncated: {os.path.getsize(path)} bytes on disk, {expected} expected for {shape}", path
        )
    return DtseriesHeader(path, int(shape[0]), int(shape[1]), tr, models)


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
