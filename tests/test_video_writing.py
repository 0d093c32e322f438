"""Writing clips: H.264 mp4 (PyAV), animated GIF (Pillow), truth and prediction in the peers' grid."""

import numpy as np
import pytest

from neurocine_toolbox.data.video_writing import peer_grid, write_gif, write_mp4

COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [128, 128, 128]], np.uint8)


def _flat_frames(height=32, width=48):
    return np.broadcast_to(COLOURS[:, None, None, :], (len(COLOURS), height, width, 3)).copy()


def test_mp4_reads_back_with_frames_size_colours_and_rate(tmp_path):
    av = pytest.importorskip("av")
    frames = _flat_frames()
    path = tmp_path / "clip.mp4"
    write_mp4(path, frames, fps=3)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate
        back = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    assert back.shape == frames.shape
    error = np.abs(back.astype(int) - frames.astype(int)).mean(axis=(1, 2, 3))
    assert (error < 8).all(), error
    assert rate == 3


def test_mp4_writer_is_deterministic(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (4, 32, 48, 3), dtype=np.uint8)
    write_mp4(tmp_path / "a.mp4", frames, fps=8)
    write_mp4(tmp_path / "b.mp4", frames, fps=8)
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_peer_grid_is_make_grid_of_truth_and_reconstruction_with_a_black_border():
    """torchvision's make_grid([truth, recon], padding=2): (S + 4) high, 2S + 6 wide, truth left."""
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 256, (3, 10, 10, 3), dtype=np.uint8)  # no black pixel: the border is all the black
    recon = rng.integers(1, 256, (3, 10, 10, 3), dtype=np.uint8)
    grid = peer_grid(truth, recon)
    assert grid.shape == (3, 14, 26, 3) and grid.dtype == np.uint8
    assert np.array_equal(grid[:, 2:12, 2:12], truth)
    assert np.array_equal(grid[:, 2:12, 14:24], recon)
    black = (grid == 0).all(axis=(0, 3))
    expected = np.ones((14, 26), bool)
    expected[2:12, 2:12] = expected[2:12, 14:24] = False
    assert np.array_equal(black, expected)  # 2 px around and between, nothing else
    # Frames that are not square keep make_grid's geometry: H + 4 high, 2W + 6 wide.
    assert peer_grid(truth[:, :, :7], recon[:, :, :7]).shape == (3, 14, 20, 3)
    with pytest.raises(ValueError, match="one shape"):
        peer_grid(truth, recon[:, :, :7])


def test_gif_reads_back_with_frames_size_duration_and_loop(tmp_path):
    from PIL import Image, ImageSequence

    frames = _flat_frames()
    path = tmp_path / "clip.gif"
    write_gif(path, frames, fps=4)
    with Image.open(path) as image:
        assert image.size == (48, 32)  # Pillow's size is (width, height)
        assert image.info.get("loop") == 0
        back = [(np.array(f.convert("RGB")), f.info["duration"]) for f in ImageSequence.Iterator(image)]
    assert len(back) == len(frames)
    for (pixels, duration), frame in zip(back, frames):
        assert duration == pytest.approx(1000 / 4, abs=10)  # GIF stores centiseconds
        assert np.abs(pixels.astype(int) - frame.astype(int)).mean() < 8
