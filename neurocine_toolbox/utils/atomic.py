"""Write outputs under a temporary name and move them into place only when complete.

An interrupted or failed command must not leave a file that a later step could mistake
for a good one (DESIGN.md, conventions).
"""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _usual_mode(path, folder=False):
    """Give a temporary file or folder the mode a plain ``open``/``mkdir`` would have.

    ``mkstemp`` and ``mkdtemp`` create them private (0600/0700); outputs meant to be shared
    (a report, a store) should not stay so once renamed into place.
    """
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    Parameters
    ----------
    path : str or Path
        Final location of a file.

    Yields
    ------
    Path
        Where to write. Removed if the block raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():
            _usual_mode(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary folder beside ``path``; it replaces ``path`` if the block succeeds.

    For outputs that are folders (a ``save_pretrained`` model, a checkpoint). A previous
    ``path`` is removed only once the new one is complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        _usual_mode(tmp, folder=True)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(path, text):
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


class StagedOutput:
    """A staging folder whose files are moved into an output folder all at once.

    Build every output under :attr:`root` (mirroring the final layout), then call
    :meth:`commit`. If the ``with`` block raises, the staging folder is removed, and so is the
    output folder if this object created it and nothing else was put there.

    Parameters
    ----------
    out_dir : str or Path
        Final output folder; it may already exist (e.g. another subject's outputs).
    """

    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)
        self._created = []
        self.root = None

    def __enter__(self):
        missing = []
        parent = self.out_dir
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._created = missing  # deepest first
        self.root = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.out_dir))
        return self

    def path(self, relative):
        """Staging location of ``relative`` (its parent folders are created)."""
        p = self.root / relative
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def commit(self):
        """Move every staged file into the output folder, replacing older versions.

        Symbolic links are moved as links (``os.replace`` never follows them), dangling or not.
        """
        # is_file() follows links, so a dangling link would otherwise be dropped silently.
        for src in sorted(p for p in self.root.rglob("*") if p.is_file() or p.is_symlink()):
            dst = self.out_dir / src.relative_to(self.root)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
        shutil.rmtree(self.root, ignore_errors=True)
        self._created = []

    def __exit__(self, exc_type, exc, tb):
        if self.root is not None and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)
        if exc_type is not None:
            for folder in self._created:
                with contextlib.suppress(OSError):
                    shutil.rmtree(folder) if not any(folder.rglob("*")) else None
        return False
