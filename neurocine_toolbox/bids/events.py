"""Read events.tsv files and turn each movie row into the TRs it covers."""

import math
from dataclasses import dataclass

import pandas as pd

from ..errors import NeurocineError

# Onsets within this fraction of a TR of a volume's start are taken as starting with it.
_ONSET_TOLERANCE = 1e-3


@dataclass(frozen=True)
class MovieBlock:
    """The TRs of one run during which one movie was shown.

    Attributes
    ----------
    stim_file : str
        As written in events.tsv (relative to ``stimuli/``).
    first_tr : int
        Index of the volume whose acquisition starts at (or first after) the onset.
    n_tr : int
        Number of whole TRs the movie covers.
    movie_start : float
        Movie time in seconds at the start of ``first_tr`` (0 when the onset is on a TR).
    """

    stim_file: str
    first_tr: int
    n_tr: int
    movie_start: float


def read_movie_events(path):
    """Read an events.tsv and return its rows that name a movie in ``stim_file``.

    Raises
    ------
    NeurocineError
        If the file cannot be read, lacks ``onset``/``duration``/``stim_file``, or no row names a
        movie.
    """
    try:
        events = pd.read_csv(path, sep="\t", na_values=["n/a", ""], keep_default_na=False)
    except Exception as err:
        raise NeurocineError(f"cannot read events ({type(err).__name__}: {err})", path)
    for column in ("onset", "duration", "stim_file"):
        if column not in events.columns:
            raise NeurocineError(f"events have no '{column}' column (needed to find the movie shown)", path)
    movies = events[events["stim_file"].notna()]
    if movies.empty:
        raise NeurocineError("no events row names a movie in 'stim_file'", path)
    try:
        onsets = movies["onset"].astype(float)
        durations = movies["duration"].astype(float)
    except ValueError as err:
        raise NeurocineError(f"onset/duration are not numbers ({err})", path)
    if ((onsets < 0) | (durations <= 0) | onsets.isna() | durations.isna()).any():
        raise NeurocineError("movie rows need a non-negative onset and a positive duration", path)
    return pd.DataFrame({"onset": onsets, "duration": durations, "stim_file": movies["stim_file"].astype(str)})


def movie_blocks(events, tr, n_volumes, path=None):
    """Map movie events to TR blocks.

    The TR whose acquisition starts at a movie's onset is its first TR; ``duration`` says how
    many whole TRs it covers. Volumes outside every block (e.g. Wen 2018's extra volumes at the
    start and end of each run) are simply not used.

    Parameters
    ----------
    events : pandas.DataFrame
        From :func:`read_movie_events`.
    tr : float
        Repetition time in seconds.
    n_volumes : int
        Volumes in the run.
    path : str, optional
        The events file, for error messages.

    Returns
    -------
    list of MovieBlock
    """
    blocks = []
    for row in events.itertuples(index=False):
        position = row.onset / tr
        first = round(position) if abs(position - round(position)) < _ONSET_TOLERANCE else math.ceil(position)
        movie_start = first * tr - row.onset
        n_tr = math.floor((row.duration - movie_start) / tr + _ONSET_TOLERANCE)
        if n_tr < 1:
            raise NeurocineError(f"{row.stim_file} at onset {row.onset} s covers no whole TR", path)
        if first + n_tr > n_volumes:
            raise NeurocineError(
                f"{row.stim_file} runs to volume {first + n_tr} but the run has {n_volumes} volumes",
                path,
            )
        blocks.append(MovieBlock(row.stim_file, int(first), int(n_tr), float(movie_start)))
    return blocks
