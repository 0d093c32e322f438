"""Writing clips: H.264 mp4 (PyAV), animated GIF (Pillow), side-by-side truth | prediction."""

import numpy as np
import pytest

from neurocine_toolbox.data.video_writing import side_by_side, write_gif, write_mp4

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


def test_side_by_side_places_halves_around_a_black_gap():
    rng = np.random.default_rng(0)
    left = rng.integers(1, 256, (3, 10, 7, 3), dtype=np.uint8)
    right = rng.integers(1, 256, (3, 10, 7, 3), dtype=np.uint8)
    out = side_by_side(left, right, gap=2)
    assert out.shape == (3, 10, 16, 3) and out.dtype == np.uint8
    assert np.array_equal(out[:, :, :7], left)
    assert (out[:, :, 7:9] == 0).all()
    assert np.array_equal(out[:, :, 9:], right)
    assert side_by_side(left, right, gap=0).shape == (3, 10, 14, 3)


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
