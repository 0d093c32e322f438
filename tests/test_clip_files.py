"""Reading clips as peers publish them: make_grid gifs, and folders of clips paired by name."""

import numpy as np
import pytest
from PIL import Image

from neurocine_toolbox.data.video_writing import write_mp4
from neurocine_toolbox.errors import NeurocineError
from neurocine_toolbox.evaluation.clip_files import read_clip_folders, read_frames, read_peer_grid_gifs


def _few_colour_clip(rng, frames, height, width):
    """Frames drawn from 40 colours (one gif palette holds two of them exactly), all distinct."""
    palette = rng.integers(1, 256, (40, 3), dtype=np.uint8)
    return palette[rng.integers(0, 40, (frames, height, width))]


def _grid(truth, recon):
    """What torchvision's make_grid([truth, recon], padding=2) draws: black 2-px border around and between."""
    frames, size = truth.shape[:2]
    grid = np.zeros((frames, size + 4, 2 * size + 6, 3), np.uint8)
    grid[:, 2:2 + size, 2:2 + size] = truth
    grid[:, 2:2 + size, size + 4:2 * size + 4] = recon
    return grid


def _write_gif(path, frames):
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=330, loop=0)


def _peer_folder(folder, names, size=20, frames=6, seed=0):
    """Peer gifs in ``folder``; returns truth and reconstructions ``{name: [F, S, S, 3]}``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(exist_ok=True)
    truth, recon = {}, {}
    for name in names:
        truth[name] = _few_colour_clip(rng, frames, size, size)
        recon[name] = _few_colour_clip(rng, frames, size, size)
        _write_gif(folder / f"{name}.gif", _grid(truth[name], recon[name]))
    return truth, recon


def _tree(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*"))


@pytest.fixture
def untouched(tmp_path, monkeypatch):
    """Run in ``tmp_path`` and check afterwards that the test's failing reads wrote nothing there."""
    monkeypatch.chdir(tmp_path)
    before = []

    def snapshot():
        before[:] = _tree(tmp_path)

    yield snapshot
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("size", [20, 13])
def test_exact_crop_returns_the_frames_written(tmp_path, size):
    truth, recon = _peer_folder(tmp_path / "gifs", ["test10", "test2", "test1"], size=size)
    pred_clips, truth_clips, names = read_peer_grid_gifs(tmp_path / "gifs")
    assert names == ["test1", "test2", "test10"]  # numerically, not as text
    assert pred_clips.dtype == truth_clips.dtype == np.uint8
    assert pred_clips.shape == truth_clips.shape == (3, 6, size, size, 3)
    for i, name in enumerate(names):
        np.testing.assert_array_equal(truth_clips[i], truth[name])
        np.testing.assert_array_equal(pred_clips[i], recon[name])


def test_peer_split_keeps_the_border_and_shifts_the_reconstruction(tmp_path):
    size = 16
    truth, recon = _peer_folder(tmp_path / "gifs", ["test1", "test2"], size=size)
    pred_halves, truth_halves, _ = read_peer_grid_gifs(tmp_path / "gifs", peer_split=True)
    assert pred_halves.shape == truth_halves.shape == (2, 6, size + 4, size + 3, 3)
    # Truth pixel (r, c) sits at (r + 2, c + 2) of its half, reconstruction pixel (r, c) at (r + 2, c + 1).
    np.testing.assert_array_equal(truth_halves[1, :, 2:2 + size, 2:2 + size], truth["test2"])
    np.testing.assert_array_equal(pred_halves[1, :, 2:2 + size, 1:1 + size], recon["test2"])
    assert pred_halves[0, 3, 7, 1 + 5].tolist() == recon["test1"][3, 5, 5].tolist()
    assert truth_halves[0, 3, 7, 5].tolist() == truth["test1"][3, 5, 3].tolist()
    assert not pred_halves[:, :, :, 0].any() and not pred_halves[:, :, :, size + 1:].any()
    assert not truth_halves[:, :, :, :2].any() and not truth_halves[:, :, :, size + 2].any()
    assert not truth_halves[:, :, :2].any() and not pred_halves[:, :, size + 2:].any()


def test_other_names_are_read_in_natural_order_and_hidden_files_skipped(tmp_path):
    _peer_folder(tmp_path / "gifs", ["clip_b10", "clip_b9", "Clip_a3"], frames=3)
    (tmp_path / "gifs" / "._clip_b9.gif").write_bytes(b"macOS resource fork")
    (tmp_path / "gifs" / "notes.txt").write_text("not a clip")
    assert read_peer_grid_gifs(tmp_path / "gifs")[2] == ["Clip_a3", "clip_b9", "clip_b10"]


def _smooth_clip(rng, frames, height, width):
    y, x = np.mgrid[0:height, 0:width] / width
    base = rng.uniform(40, 200, 3)
    return np.stack([np.clip(base + 40 * np.sin(3 * x + f)[..., None] + 30 * y[..., None], 0, 255)
                     for f in range(frames)]).astype(np.uint8)


def test_clip_folders_pair_mp4_and_gif_files_by_name(tmp_path):
    rng = np.random.default_rng(3)
    (tmp_path / "pred").mkdir()
    (tmp_path / "truth").mkdir()
    clips = {}
    for name, pred_kind, truth_kind in (("b10", "mp4", "gif"), ("a", "gif", "gif"), ("b9", "mp4", "mp4")):
        clips[name] = {}
        for role, kind in (("pred", pred_kind), ("truth", truth_kind)):
            # Smooth frames survive H.264 nearly unchanged; few-colour ones survive a gif exactly.
            frames = _smooth_clip(rng, 4, 32, 48) if kind == "mp4" else _few_colour_clip(rng, 4, 32, 48)
            path = tmp_path / role / f"{name}.{kind}"
            write_mp4(path, frames, fps=3) if kind == "mp4" else _write_gif(path, frames)
            clips[name][role], clips[name][role + "_kind"] = frames, kind
    pred, truth, names = read_clip_folders(tmp_path / "pred", tmp_path / "truth")
    assert names == ["a", "b9", "b10"]
    assert pred.shape == truth.shape == (3, 4, 32, 48, 3) and pred.dtype == np.uint8
    for i, name in enumerate(names):
        for role, got in (("pred", pred[i]), ("truth", truth[i])):
            want = clips[name][role]
            if clips[name][role + "_kind"] == "gif":
                np.testing.assert_array_equal(got, want)
            else:  # H.264 is lossy: close, and far closer than any other clip
                assert np.abs(got.astype(int) - want).mean() < 3


def _one_line(err):
    message = str(err.value)
    assert "\n" not in message
    return message


def test_peer_gifs_bad_input(tmp_path, untouched):
    (tmp_path / "empty").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "test1.txt").write_text("no gif here")
    _peer_folder(tmp_path / "frames", ["test1", "test2", "test3"], frames=6)
    _peer_folder(tmp_path / "frames", ["test2"], frames=5, seed=1)
    _peer_folder(tmp_path / "sizes", ["test1", "test2"], size=20)
    _peer_folder(tmp_path / "sizes", ["test2"], size=18, seed=1)
    _peer_folder(tmp_path / "layout", ["test1"])
    _write_gif(tmp_path / "layout" / "test2.gif", np.zeros((6, 25, 46, 3), np.uint8))  # 46 wide needs 24 high
    _peer_folder(tmp_path / "odd", ["test1"])
    _write_gif(tmp_path / "odd" / "test2.gif", np.zeros((6, 24, 47, 3), np.uint8))
    _peer_folder(tmp_path / "corrupt", ["test1", "test2"])
    data = (tmp_path / "corrupt" / "test2.gif").read_bytes()
    (tmp_path / "corrupt" / "test2.gif").write_bytes(data[:-40])  # last frame cut short
    _peer_folder(tmp_path / "text", ["test1"])
    (tmp_path / "text" / "test2.gif").write_text("GIF89a? no")
    untouched()

    cases = [
        ("missing", "missing: is not a folder"),
        ("empty", "empty: holds no .gif files"),
        ("texts", "texts: holds no .gif files"),
        ("frames", "test2.gif: has 5 frames but test1.gif has 6"),
        ("sizes", "test2.gif: frames are 18x18 (width x height) but test1.gif's are 20x20"),
        ("layout", "test2.gif: is 46x25 (width x height), not a peer grid"),
        ("odd", "test2.gif: is 47x24"),
        ("corrupt", "test2.gif: unreadable gif (OSError: image file is truncated"),
        ("text", "test2.gif: unreadable gif"),
    ]
    for folder, expected in cases:
        with pytest.raises(NeurocineError) as err:
            read_peer_grid_gifs(tmp_path / folder)
        assert expected in _one_line(err), folder
    with pytest.raises(NeurocineError) as err:
        read_peer_grid_gifs(tmp_path / "frames", peer_split=True)
    assert "has 5 frames" in _one_line(err)


def test_clip_folders_bad_input(tmp_path, untouched):
    rng = np.random.default_rng(4)

    def clip_folder(name, clips):
        (tmp_path / name).mkdir()
        for file_name, frames in clips.items():
            path = tmp_path / name / file_name
            write_mp4(path, frames, fps=3) if file_name.endswith(".mp4") else _write_gif(path, frames)

    clip = _few_colour_clip(rng, 4, 16, 24)
    clip_folder("truth", {f"c{k}.gif": clip for k in range(1, 6)})
    clip_folder("unpaired", {f"c{k}.gif": clip for k in (1, 2, 7, 8, 9, 10)})
    clip_folder("short", {**{f"c{k}.gif": clip for k in (1, 2, 3, 5)}, "c4.gif": clip[:3]})
    clip_folder("all_short", {f"c{k}.gif": clip[:3] for k in range(1, 6)})
    clip_folder("small", {**{f"c{k}.gif": clip for k in (1, 2, 3, 4)}, "c5.gif": clip[:, :, :20]})
    clip_folder("twice", {**{f"c{k}.gif": clip for k in range(1, 6)}, "c3.mp4": clip})
    clip_folder("broken", {f"c{k}.gif": clip for k in (1, 2, 3, 4)})
    write_mp4(tmp_path / "broken" / "c5.mp4", clip, fps=3)
    data = (tmp_path / "broken" / "c5.mp4").read_bytes()
    (tmp_path / "broken" / "c5.mp4").write_bytes(data[:len(data) // 2])  # its index (moov) is at the end
    (tmp_path / "empty").mkdir()
    untouched()

    cases = [
        (("empty", "truth"), "empty: holds no .mp4 or .gif files"),
        (("truth", "empty"), "empty: holds no .mp4 or .gif files"),
        (("unpaired", "truth"), "unpaired: 4 clip(s) have no partner of the same name in"),
        (("unpaired", "truth"), "(c7.gif, c8.gif, c9.gif, …)"),
        (("truth", "unpaired"), "truth: 3 clip(s) have no partner of the same name in"),
        (("truth", "unpaired"), "(c3.gif, c4.gif, c5.gif)"),
        (("short", "truth"), "c4.gif: has 3 frames of 24x16 but its truth"),
        (("all_short", "truth"), "c1.gif: has 3 frames of 24x16 but its truth"),
        (("small", "truth"), "c5.gif: has 4 frames of 20x16 but its truth"),
        (("twice", "truth"), "twice: holds two clips named 'c3' (c3."),
        (("broken", "truth"), "c5.mp4: unreadable video"),
    ]
    for (pred_dir, truth_dir), expected in cases:
        with pytest.raises(NeurocineError) as err:
            read_clip_folders(tmp_path / pred_dir, tmp_path / truth_dir)
        assert expected in _one_line(err), (pred_dir, truth_dir)
    # Pairs agree but clips differ from each other: both folders short by one frame in one clip.
    with pytest.raises(NeurocineError) as err:
        read_clip_folders(tmp_path / "short", tmp_path / "short")
    assert "c4.gif: has 3 frames but c1.gif has 4 (gif writers merge identical consecutive frames)" \
        in _one_line(err)
    with pytest.raises(NeurocineError) as err:
        read_clip_folders(tmp_path / "small", tmp_path / "small")
    assert "c5.gif: frames are 20x16 (width x height) but c1.gif's are 24x16" in _one_line(err)


def test_read_frames_of_a_video_without_frames_or_stream(tmp_path, untouched):
    import av

    with av.open(str(tmp_path / "sound.mp4"), mode="w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    untouched()
    with pytest.raises(NeurocineError) as err:
        read_frames(tmp_path / "sound.mp4")
    assert "sound.mp4: has no video stream" in _one_line(err)


def test_decode_gifs_are_peer_grids_that_evaluate_reads_back_exactly(tmp_path, invoke):
    """``neurocine decode``'s gifs, written as decode writes them into clips/ beside its mp4 and npy
    files, are the peers' grid: read_peer_grid_gifs (and so ``evaluate --gifs``) gives back the
    truth and the decoded clips."""
    import csv
    import json

    from neurocine_toolbox.evaluation.pixel_metrics import ssim_per_frame
    from neurocine_toolbox.pipelines.decode_split import _write_clip

    rng = np.random.default_rng(6)
    n, size = 11, 16
    # 40 colours per clip, so at most 81 per grid image with the black border (no clip colour is
    # black). Pillow writes each RGB frame with an adaptive palette of up to 256 entries, which
    # keeps every colour of a frame with this few: the gif is lossless here and the reading
    # exact (decoded clips with thousands of colours are quantised, as the peers' are).
    truth = np.stack([_few_colour_clip(rng, 6, size, size) for _ in range(n)])
    decoded = np.stack([_few_colour_clip(rng, 6, size, size) for _ in range(n)])
    out = tmp_path / "decoded-test"
    for i in range(n):
        _write_clip(out, i, decoded[i], truth[i], fps=3)
    clips = out / "clips"
    # What an interrupted write leaves behind (utils.atomic's hidden temporary name) is skipped too.
    (clips / ".clip-0011_truth-vs-decoded.gif.x1y2.tmp").write_bytes(b"GIF89a, cut short")

    pred_back, truth_back, names = read_peer_grid_gifs(clips)
    assert names == [f"clip-{i:04d}_truth-vs-decoded" for i in range(n)]
    np.testing.assert_array_equal(truth_back, truth)
    np.testing.assert_array_equal(pred_back, decoded)
    grid = read_frames(clips / "clip-0003_truth-vs-decoded.gif")
    assert grid.shape == (6, size + 4, 2 * size + 6, 3)  # (2S + 6) wide, (S + 4) high
    border = np.ones((size + 4, 2 * size + 6), bool)
    border[2:size + 2, 2:size + 2] = border[2:size + 2, size + 4:2 * size + 4] = False
    assert not grid[:, border].any()
    np.testing.assert_array_equal(grid[:, 2:size + 2, 2:size + 2], truth[3])  # truth on the left

    result = invoke(["evaluate", "--gifs", clips, "--out", tmp_path / "scores", "--metrics", "ssim,psnr",
                     "--set", "evaluation.n_boot=100"])
    assert result.exit_code == 0, result.stderr
    record = json.loads((tmp_path / "scores/metrics.json").read_text())
    assert record["n_clips"] == n
    row = next(r for r in record["metrics"] if r["protocol"] == "mindvideo-rgb")
    assert row["value"] == pytest.approx(ssim_per_frame(decoded, truth, "mindvideo-rgb").mean())
    with open(tmp_path / "scores/per_clip.csv") as f:
        assert [line["id"] for line in csv.DictReader(f)] == names
