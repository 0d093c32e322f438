"""File digests recorded as provenance."""

import hashlib


def sha256_file(path, chunk_size=1 << 22):
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
