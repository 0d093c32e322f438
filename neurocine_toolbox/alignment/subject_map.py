"""A subject's linear map from its store's columns into a run's shared columns.

Every alignment method (``alignment.method``) gives one per subject: the identity
(``anatomical``), a block-diagonal orthogonal map scaled per piece (``functional``), or a learned
block-diagonal map (``adapter``). The pieces are the store's visual areas (``voxel_rois``), so a
shared column keeps its grayordinate: attention maps of a run trained on several subjects are
read on the same surface as a single subject's.
"""

from pathlib import Path

import numpy as np
from scipy import sparse

from ..errors import NeurocineError
from ..utils.atomic import atomic_path


class SubjectMap:
    """``shared = fmri @ matrix`` for rows of a subject's store (``[..., V]`` → ``[..., V]``).

    Parameters
    ----------
    matrix : scipy.sparse matrix ``[V, V]`` or None
        None is the identity.
    n_columns : int
    """

    def __init__(self, matrix, n_columns):
        self.matrix = None if matrix is None else sparse.csr_matrix(matrix, dtype=np.float32)
        self.n_columns = int(n_columns)
        if self.matrix is not None and self.matrix.shape != (self.n_columns, self.n_columns):
            raise ValueError(f"a subject map is [{n_columns}, {n_columns}], not {list(self.matrix.shape)}")

    @classmethod
    def identity(cls, n_columns):
        return cls(None, n_columns)

    @classmethod
    def from_blocks(cls, blocks, n_columns):
        """A block-diagonal map from ``{columns (int array): [k, k] matrix}``; other columns are copied."""
        rows, cols, values = [], [], []
        covered = np.zeros(n_columns, bool)
        for columns, block in blocks:
            columns = np.asarray(columns, int)
            rows.append(np.repeat(columns, len(columns)))
            cols.append(np.tile(columns, len(columns)))
            values.append(np.asarray(block, np.float32).ravel())
            covered[columns] = True
        rest = np.flatnonzero(~covered)
        rows, cols, values = (np.concatenate([*a, b]) for a, b in
                              ((rows, rest), (cols, rest), (values, np.ones(len(rest), np.float32))))
        matrix = sparse.coo_matrix((values, (rows, cols)), shape=(n_columns, n_columns))
        return cls(matrix.tocsr(), n_columns)

    @property
    def is_identity(self):
        return self.matrix is None

    def apply(self, fmri):
        """The rows (or windows ``[N, w, V]``) in the shared space, float32."""
        fmri = np.asarray(fmri, np.float32)
        if fmri.shape[-1] != self.n_columns:
            raise NeurocineError(f"fMRI with {fmri.shape[-1]} columns cannot go through a subject map of "
                                 f"{self.n_columns}; prepare every subject with the same voxel selection")
        if self.matrix is None:
            return fmri
        flat = fmri.reshape(-1, self.n_columns)
        return np.asarray(self.matrix.T.dot(flat.T).T, np.float32).reshape(fmri.shape)

    def dense(self):
        """The map as a dense float32 ``[V, V]`` array."""
        return np.eye(self.n_columns, dtype=np.float32) if self.matrix is None else self.matrix.toarray()

    def save(self, path):
        """Write an ``.npz`` (written then renamed into place)."""
        path = Path(path)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                if self.matrix is None:
                    np.savez(f, identity=np.array(True), n_columns=np.array(self.n_columns))
                else:
                    m = self.matrix
                    np.savez(f, identity=np.array(False), n_columns=np.array(self.n_columns), data=m.data,
                             indices=m.indices, indptr=m.indptr)
        return path

    @classmethod
    def load(cls, path):
        path = Path(path)
        if not path.is_file():
            raise NeurocineError("no subject map here: fit the run's alignment stage first", path)
        with np.load(path) as f:
            n = int(f["n_columns"])
            if bool(f["identity"]):
                return cls.identity(n)
            matrix = sparse.csr_matrix((f["data"], f["indices"], f["indptr"]), shape=(n, n))
        return cls(matrix, n)


def parcels(voxel_rois):
    """The pieces maps are fitted in: one per visual area label; padding columns (``""``) in none.

    Returns
    -------
    list of (str, ndarray of int)
    """
    rois = np.asarray(voxel_rois)
    return [(label, np.flatnonzero(rois == label)) for label in sorted(set(rois.tolist())) if label]
