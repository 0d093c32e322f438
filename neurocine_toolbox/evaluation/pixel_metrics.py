"""SSIM under the three protocols papers use, and PSNR, for every frame of decoded clips.

Clips are uint8 RGB arrays ``[N, F, H, W, 3]``; ``pred[n, f]`` is scored against
``truth[n, f]``. Every protocol is one scikit-image call, reproduced by a compiled loop over all
frames (tests hold the two equal to 1e-9):

- ``mindvideo-rgb`` (what NeuroCine, MinD-Video and Mind-Animator report):
  :mod:`._ssim_kernel`.
- ``gray-2d`` (Wang et al.'s SSIM on the gray frame) and ``neurons-columnwise`` (NEURONS' call,
  which scikit-image evaluates column by column): :mod:`._gray_ssim_kernel`.

PSNR is scikit-image's ``peak_signal_noise_ratio`` on RGB uint8 (:mod:`._psnr_kernel`).
PixCorr is MindEye's low-level metric for images, per frame: the Pearson correlation of the
flattened RGB values of a decoded frame and its truth.

The three give different numbers on the same frames (on MinD-Video's released clips RGB 0.190,
2-D gray 0.240, column-wise 0.313), so a figure is only comparable with one of its own protocol.
"""

import numpy as np

from ..errors import NeurocineError

SSIM_PROTOCOLS = {
    "mindvideo-rgb": "scikit-image structural_similarity(pred, gt, data_range=255, channel_axis=-1) "
                     "on RGB uint8: 7x7 uniform window, sample covariance, mean over channels "
                     "(MinD-Video, Mind-Animator, NeuroCine)",
    "gray-2d": "rgb2gray, then structural_similarity(gaussian_weights=True, sigma=1.5, "
               "use_sample_covariance=False, data_range=1.0) on the 2-D gray frame (Wang et al. 2004)",
    "neurons-columnwise": "NEURONS' call: rgb2gray, then the gray-2d call with channel_axis=-1, which "
                          "makes every pixel column a channel: the mean of W one-dimensional vertical "
                          "SSIMs; only for reproducing NEURONS' (and NeuroClips') numbers",
}

PSNR_CAP_DB = 100.0  # Mind-Animator's value for frames with MSE < 1e-10 (identical frames)
_MIN_SIDE = {"mindvideo-rgb": (7, 7), "gray-2d": (11, 11), "neurons-columnwise": (11, 1)}
_CHUNK_FRAMES = 256  # frames per compiled call (between progress updates); ~100 MiB of uint8 at 256²


def _check_pair(pred, truth):
    """Both clip arrays as C-contiguous uint8 ``[N, F, H, W, 3]`` of one shape, or one clear error."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    for name, clips in (("decoded clips", pred), ("true clips", truth)):
        if clips.dtype != np.uint8 or clips.ndim != 5 or clips.shape[-1] != 3:
            raise NeurocineError(f"{name} must be uint8 RGB clips [N, frames, H, W, 3], "
                                 f"not {clips.dtype} {clips.shape}")
    if pred.shape != truth.shape:
        raise NeurocineError(f"decoded clips {pred.shape} and true clips {truth.shape} differ in shape")
    return np.ascontiguousarray(pred), np.ascontiguousarray(truth)


def _chunks(n_clips, n_frames):
    """Clip ranges of about ``_CHUNK_FRAMES`` frames each."""
    step = max(1, _CHUNK_FRAMES // max(n_frames, 1))
    return [(start, min(start + step, n_clips)) for start in range(0, n_clips, step)]


def ssim_per_frame(pred, truth, protocol, progress=None):
    """SSIM of every decoded frame against its true frame, under one protocol.

    Parameters
    ----------
    pred, truth : uint8 ``[N, F, H, W, 3]``
        Decoded and true clips, of equal shape.
    protocol : str
        A key of :data:`SSIM_PROTOCOLS`.
    progress : callable, optional
        Called with the number of clips done after each chunk.

    Returns
    -------
    ndarray ``[N, F]`` of float64
    """
    if protocol not in SSIM_PROTOCOLS:
        raise NeurocineError(f"unknown SSIM protocol {protocol!r}; choose one of {', '.join(SSIM_PROTOCOLS)}")
    pred, truth = _check_pair(pred, truth)
    min_h, min_w = _MIN_SIDE[protocol]
    if pred.shape[2] < min_h or pred.shape[3] < min_w:
        raise NeurocineError(f"frames of {pred.shape[2]}x{pred.shape[3]} are smaller than the "
                             f"{min_h}x{min_w} needed by SSIM protocol {protocol!r}")
    if protocol == "mindvideo-rgb":
        from ._ssim_kernel import pair_frame_ssim

        def kernel(a, b):
            index = np.arange(len(a), dtype=np.int64)
            return pair_frame_ssim(a, b, index, index)
    else:
        from ._gray_ssim_kernel import gaussian_weights, gray_frame_ssim

        weights, columnwise = gaussian_weights(), protocol == "neurons-columnwise"

        def kernel(a, b):
            return gray_frame_ssim(a, b, weights, columnwise)

    out = np.empty(pred.shape[:2])
    for start, stop in _chunks(*pred.shape[:2]):
        out[start:stop] = kernel(pred[start:stop], truth[start:stop])
        if progress is not None:
            progress(stop - start)
    return out


def psnr_per_frame(pred, truth):
    """PSNR in dB of every decoded frame against its true frame (RGB, data range 255).

    scikit-image's ``peak_signal_noise_ratio(gt, pred, data_range=255)`` frame by frame, except
    that a frame whose mean squared error is below 1e-10 (in practice: identical frames) scores
    100 dB instead of infinity, as Mind-Animator caps it, so that one perfect frame does not make
    a mean infinite.

    Parameters
    ----------
    pred, truth : uint8 ``[N, F, H, W, 3]``
        Decoded and true clips, of equal shape.

    Returns
    -------
    ndarray ``[N, F]`` of float64
    """
    from ._psnr_kernel import frame_squared_error

    pred, truth = _check_pair(pred, truth)
    mse = frame_squared_error(pred, truth) / np.prod(pred.shape[2:])
    with np.errstate(divide="ignore"):
        psnr = 10 * np.log10(255.0 ** 2 / mse)
    return np.where(mse < 1e-10, PSNR_CAP_DB, psnr)


def standardised_frames(clips, chunk=_CHUNK_FRAMES):
    """Every frame's flattened RGB values minus their mean, over their norm: float32 ``[N, F, H·W·3]``.

    The dot product of two such rows is the Pearson correlation of the two frames' pixels. A
    flat frame (every value equal) has no direction and becomes zeros: it correlates 0 with
    everything, which is what it predicts about the truth's pattern.
    """
    clips = np.asarray(clips)
    out = np.empty((clips.shape[0], clips.shape[1], int(np.prod(clips.shape[2:]))), np.float32)
    flat = clips.reshape(-1, out.shape[2])
    view = out.reshape(-1, out.shape[2])
    for start in range(0, len(flat), chunk):
        part = flat[start:start + chunk].astype(np.float64)
        part -= part.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(part, axis=1, keepdims=True)
        view[start:start + chunk] = np.divide(part, norm, out=np.zeros_like(part), where=norm > 0)
    return out


def pixcorr_per_frame(pred, truth):
    """PixCorr of every decoded frame against its true frame (MindEye's low-level metric, per frame).

    ``scipy.stats.pearsonr`` of the two frames' flattened RGB uint8 values; a frame whose values
    are all equal (a flat frame, decoded or true) correlates 0, where Pearson's r is undefined.

    Parameters
    ----------
    pred, truth : uint8 ``[N, F, H, W, 3]``
        Decoded and true clips, of equal shape.

    Returns
    -------
    ndarray ``[N, F]`` of float64
    """
    pred, truth = _check_pair(pred, truth)
    a, b = standardised_frames(pred), standardised_frames(truth)
    return np.einsum("nfd,nfd->nf", a, b, dtype=np.float64)
