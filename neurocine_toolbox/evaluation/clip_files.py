"""Read decoded and true clips from files, in the layouts peers publish them.

- :func:`read_peer_grid_gifs`: one gif per clip, each frame a torchvision ``make_grid`` of
  [truth, reconstruction] with a 2-pixel black border (MinD-Video, NEURONS, Mind-Animator).
- :func:`read_clip_folders`: two folders of .mp4 or .gif clips paired by file name.

Both return uint8 RGB clips ``[N, F, H, W, 3]`` ready for :mod:`.pixel_metrics`, or raise
:class:`~neurocine_toolbox.errors.NeurocineError` naming the file; they write nothing.

Videos are decoded with PyAV, the project's video library; gifs with Pillow, because FFmpeg's
gif decoder (tried first) returns a truncated gif's last frame half-filled without any error,
where Pillow raises. Both composite partial gif frames onto the previous one, and the tests
round-trip Pillow-written gifs exactly. A gif writer (Pillow, so imageio) merges identical
consecutive frames into one longer frame; such a gif reads with fewer frames and is refused
with a frame-count error rather than padded by guessing.
"""

import re
from pathlib import Path

import numpy as np

from ..errors import NeurocineError

BORDER = 2  # torchvision make_grid's default padding, which the peers keep
CLIP_SUFFIXES = (".mp4", ".gif")


def _natural_key(path):
    """``test2`` before ``test10``: digit runs compare as numbers, the rest case-blind."""
    parts = re.split(r"(\d+)", path.name)
    return [int(p) if i % 2 else p.lower() for i, p in enumerate(parts)], path.name


def _list_clips(folder, suffixes, what):
    """The clip files of ``folder`` in natural order (hidden files, e.g. macOS ``._*``, skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NeurocineError("is not a folder", folder)
    paths = [p for p in folder.iterdir()
             if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")]
    if not paths:
        raise NeurocineError(f"holds no {what} files", folder)
    return sorted(paths, key=_natural_key)


def read_frames(path):
    """Every frame of a video or animated gif, as uint8 RGB ``[F, H, W, 3]``.

    Raises
    ------
    NeurocineError
        If the file cannot be decoded (truncated gifs included), has no video stream or no frame.
    """
    path = Path(path)
    frames = _read_gif(path) if path.suffix.lower() == ".gif" else _read_video(path)
    if not frames:
        raise NeurocineError("holds no frame", path)
    if len({frame.shape for frame in frames}) > 1:  # a stream may change size mid-way
        raise NeurocineError(f"changes frame size between frames ({frames[0].shape[1]}x{frames[0].shape[0]} "
                             f"first, then {sorted({f'{f.shape[1]}x{f.shape[0]}' for f in frames})})", path)
    return np.stack(frames)


def _read_gif(path):
    from PIL import Image, ImageSequence

    try:
        with Image.open(path) as image:
            if image.format != "GIF":
                raise NeurocineError(f"is a {image.format} image, not a gif", path)
            return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]
    except NeurocineError:
        raise
    except Exception as err:  # Pillow has no one error for corrupt data (OSError, IndexError, EOFError …)
        raise NeurocineError(f"unreadable gif ({type(err).__name__}: {err})", path) from None


def _read_video(path):
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise NeurocineError("has no video stream", path)
            return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    except (av.error.FFmpegError, OSError) as err:
        raise NeurocineError(f"unreadable video ({err})", path) from None


class _Clips:
    """Fills preallocated ``[N, F, H, W, 3]`` arrays, holding every clip to the first one's shape."""

    def __init__(self, n_clips):
        self.n_clips, self.arrays, self.first = n_clips, None, None

    def put(self, index, path, *clips):
        if self.arrays is None:
            self.first = (path, clips[0].shape)
            self.arrays = [np.empty((self.n_clips,) + c.shape, np.uint8) for c in clips]
        first_path, (frames, height, width, _) = self.first
        for clip in clips:
            if clip.shape[0] != frames:
                hint = " (gif writers merge identical consecutive frames)" if path.suffix.lower() == ".gif" else ""
                raise NeurocineError(f"has {clip.shape[0]} frames but {first_path.name} has {frames}{hint}", path)
            if clip.shape[1:3] != (height, width):
                raise NeurocineError(f"frames are {clip.shape[2]}x{clip.shape[1]} (width x height) but "
                                     f"{first_path.name}'s are {width}x{height}", path)
        for array, clip in zip(self.arrays, clips):
            array[index] = clip


def split_peer_grid(frames, path=None, peer_split=False):
    """Truth and reconstruction of gif frames laid out as ``make_grid([truth, recon], padding=2)``.

    Parameters
    ----------
    frames : uint8 ``[F, S + 4, 2S + 6, 3]``
        The grid images: black 2-pixel border around and between two S×S frames.
    path : str or Path, optional
        Named in the error.
    peer_split : bool
        See :func:`read_peer_grid_gifs`.

    Returns
    -------
    pred, truth : uint8 ``[F, S, S, 3]`` (``[F, S + 4, S + 3, 3]`` with ``peer_split``)
    """
    height, width = frames.shape[1:3]
    size = (width - 3 * BORDER) // 2
    if size < 1 or width != 2 * size + 3 * BORDER or height != size + 2 * BORDER:
        raise NeurocineError(
            f"is {width}x{height} (width x height), not a peer grid of two SxS frames with a "
            f"{BORDER}-pixel border, which is (2S+{3 * BORDER})x(S+{2 * BORDER})", path)
    if peer_split:
        truth, pred = np.split(frames, 2, axis=2)
        return pred, truth
    rows = slice(BORDER, BORDER + size)
    truth = frames[:, rows, BORDER:BORDER + size]
    pred = frames[:, rows, size + 2 * BORDER:2 * size + 2 * BORDER]
    return pred, truth


def read_peer_grid_gifs(folder, peer_split=False):
    """Decoded and true clips from a folder of the peers' side-by-side gifs.

    One gif per clip, ``test{k}.gif`` with k 1-based (other names are accepted too), read in
    natural order (``test2`` before ``test10``). Each frame is torchvision's
    ``make_grid([truth, reconstruction], padding=2)``: for S×S clips an image S + 4 high and
    2S + 6 wide, truth at rows and columns 2 … S + 1, reconstruction at rows 2 … S + 1 and
    columns S + 4 … 2S + 3. S is read from the width (any size, not only 256) and the height
    checked against it.

    Parameters
    ----------
    folder : str or Path
    peer_split : bool
        False (default): the exact crop of the two frames. True: the peers' own reading,
        ``np.split(grid, 2, axis=1)`` of each full grid image, which keeps the black border and
        shifts the reconstruction one pixel to the left of the truth (truth column c lies at
        column c + 2 of its half, reconstruction column c at c + 1 of its half); halves are
        (S + 4) × (S + 3). Only for reproducing peers' numbers: it raises RGB SSIM by about
        0.006 on MinD-Video's released gifs.

    Returns
    -------
    pred, truth : uint8 ``[N, F, S, S, 3]`` (``[N, F, S + 4, S + 3, 3]`` with ``peer_split``)
    names : list of str
        File names without ``.gif``, in clip order.

    Raises
    ------
    NeurocineError
        If the folder holds no gif, a gif is unreadable or not a peer grid, or the gifs differ
        in frame count or size.
    """
    paths = _list_clips(folder, (".gif",), ".gif")
    clips = _Clips(len(paths))
    for index, path in enumerate(paths):
        pred, truth = split_peer_grid(read_frames(path), path, peer_split)
        clips.put(index, path, pred, truth)
    pred, truth = clips.arrays
    return pred, truth, [p.stem for p in paths]


def _by_stem(folder, paths):
    stems = {}
    for path in paths:
        if path.stem in stems:
            raise NeurocineError(f"holds two clips named {path.stem!r} ({stems[path.stem].name}, {path.name})",
                                 folder)
        stems[path.stem] = path
    return stems


def read_clip_folders(pred_dir, truth_dir):
    """Decoded and true clips from two folders of .mp4 or .gif files paired by name.

    ``pred_dir/clip7.mp4`` is scored against ``truth_dir/clip7.mp4`` (or ``clip7.gif``); pairs
    are returned in natural order of their names.

    Parameters
    ----------
    pred_dir, truth_dir : str or Path

    Returns
    -------
    pred, truth : uint8 ``[N, F, H, W, 3]``
    names : list of str
        File names without suffix, in clip order.

    Raises
    ------
    NeurocineError
        If a folder holds no clip, a name has no partner in the other folder, a file is
        unreadable, or clips differ in frame count or size (between files or within a pair).
    """
    pred_stems = _by_stem(pred_dir, _list_clips(pred_dir, CLIP_SUFFIXES, ".mp4 or .gif"))
    truth_stems = _by_stem(truth_dir, _list_clips(truth_dir, CLIP_SUFFIXES, ".mp4 or .gif"))
    for folder, stems, other, other_dir in ((pred_dir, pred_stems, truth_stems, truth_dir),
                                            (truth_dir, truth_stems, pred_stems, pred_dir)):
        alone = sorted((stems[s] for s in stems.keys() - other.keys()), key=_natural_key)
        if alone:
            names = ", ".join(p.name for p in alone[:3]) + (", …" if len(alone) > 3 else "")
            raise NeurocineError(f"{len(alone)} clip(s) have no partner of the same name in {other_dir} "
                                 f"({names})", folder)
    paths = sorted(pred_stems.values(), key=_natural_key)
    clips = _Clips(len(paths))
    for index, pred_path in enumerate(paths):
        truth_path = truth_stems[pred_path.stem]
        pred, truth = read_frames(pred_path), read_frames(truth_path)
        if pred.shape != truth.shape:
            raise NeurocineError(f"has {pred.shape[0]} frames of {pred.shape[2]}x{pred.shape[1]} but its "
                                 f"truth {truth_path} has {truth.shape[0]} of {truth.shape[2]}x{truth.shape[1]}",
                                 pred_path)
        clips.put(index, pred_path, pred, truth)
    pred, truth = clips.arrays
    return pred, truth, [p.stem for p in paths]
