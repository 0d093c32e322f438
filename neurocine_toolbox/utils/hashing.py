"""Digests of files (recorded as provenance) and of arrays (cache keys)."""

import hashlib


def sha256_file(path, chunk_size=1 << 22):
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_array(array, chunk_size=1 << 24):
    """Return the hex sha256 of an array's shape, dtype and bytes (C order), without copying it whole.

    Arrays that differ in shape or dtype but not in bytes get different digests.
    """
    import numpy as np

    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    data = memoryview(array.reshape(-1).view(np.uint8)) if array.size else memoryview(b"")
    for start in range(0, len(data), chunk_size):
        digest.update(data[start:start + chunk_size])
    return digest.hexdigest()
