"""Progress bars that the command line can silence with ``--quiet``."""

from tqdm.auto import tqdm


def progress_bar(iterable=None, *, desc=None, total=None, enabled=True, unit="it"):
    """Wrap ``iterable`` in a tqdm bar written to stderr, or return it unchanged if disabled."""
    return tqdm(iterable, desc=desc, total=total, disable=not enabled, unit=unit, leave=False)
