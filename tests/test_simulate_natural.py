"""The natural world (`simulate --preset benchmark`, shrunk): its movies, their truth, and its brain."""

import av
import numpy as np
import pandas as pd
import pytest

from neurocine_toolbox import NeurocineError
from neurocine_toolbox.data.grayordinates import mmp_labels
from neurocine_toolbox.simulate import simulate_dataset
from neurocine_toolbox.simulate.classes import CLASSES
from neurocine_toolbox.simulate.cortex import PRF_SLOPE
from neurocine_toolbox.simulate.natural_features import FEATURE_FPS, NATURAL_BLOCKS, filter_table
from neurocine_toolbox.simulate.photographs import SCENES
from neurocine_toolbox.simulate.presets import resolve_config

TINY = dict(n_subjects=2, n_train_segments=2, train_segment_seconds=16, n_test_segments=1,
            test_segment_seconds=8, test_repeats=2, movie_size=64)
#: Shapes filled at their centre: the pixel there shows the shape's colour when it is on top.
FILLED = {"disc", "square", "triangle", "diamond", "cross"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return simulate_dataset(tmp_path_factory.mktemp("natural") / "bids", preset="benchmark", seed=0,
                            progress=False, **TINY)


def _frames(path):
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])])


def _truth(world, movie):
    return np.load(world / f"derivatives/simulation/stimuli/{movie}_desc-truth_features.npz")


def _encoding(world, subject="01"):
    return np.load(world / f"derivatives/simulation/sub-{subject}/sub-{subject}_desc-truth_encoding.npz")


def test_shots_are_listed_with_their_scene_objects_and_camera(world):
    table = pd.read_csv(world / "stimuli/seg1_clips.tsv", sep="\t")
    assert list(table.columns[:8]) == ["onset", "duration", "class", "class_name", "shape", "colour",
                                       "direction", "caption"]
    assert table["duration"].between(2, 8).all()
    assert np.allclose(table["onset"], np.r_[0, np.cumsum(table["duration"])[:-1]])
    nouns = {s.name: s.noun for s in SCENES}
    for _, shot in table.iterrows():
        objects = shot["objects"].split("+")
        assert objects[0] == shot["class_name"] == CLASSES[shot["class"]].name
        assert 1 <= len(objects) <= 3 and len(set(objects)) == len(objects)
        assert f"in front of {nouns[shot['scene']]}" in shot["caption"]
        assert shot["camera"] in ("still", "pan", "zoom")


def test_frames_are_textured_not_flat(world):
    frames = _frames(world / "stimuli/seg1.mp4").astype(float)
    luma = frames @ [0.299, 0.587, 0.114]
    tiles = luma[:, :63, :63].reshape(len(luma), 9, 7, 9, 7).std(axis=(2, 4))
    # The shapes world's frames are over 90 % flat 7x7 tiles; real movie clips about a quarter.
    assert (tiles < 2).mean() < 0.5


def test_every_shape_is_where_the_truth_says(world):
    checked = 0
    for movie in ("seg1", "seg2", "test1"):
        frames = _frames(world / f"stimuli/{movie}.mp4")
        truth = _truth(world, movie)
        classes, centres = truth["frame_object_class"], truth["frame_object_centre"]
        assert classes.shape[0] == len(frames) and truth["movie_fps"] == 15
        for f in range(0, len(frames), 7):
            vc = CLASSES[classes[f, 0]]  # the shot's own shape is drawn last, so nothing covers it
            if vc.shape not in FILLED:
                continue
            row, col = np.floor(centres[f, 0]).astype(int)
            assert np.abs(frames[f, row, col] - 255 * np.asarray(vc.rgb)).max() < 40, (movie, f, vc.name)
            checked += 1
    assert checked >= 10


def test_features_are_motion_energy_then_semantics_at_15_hz(world):
    truth = _truth(world, "seg1")
    names = [str(n) for n in truth["feature_names"]]
    assert truth["fps"] == FEATURE_FPS
    assert truth["frame_features"].shape == (16 * FEATURE_FPS, len(names))
    n_energy = len(filter_table()["direction"])
    assert all(n.startswith("me_sf") for n in names[:n_energy]) and names[n_energy] == "mean_red"
    scene = truth["frame_features"][:, [names.index(f"scene_{s.name}") for s in SCENES]]
    assert np.all(scene.sum(axis=1) == 1)
    # Motion energy varies over the movie (the camera and the shapes move; cuts change the scene).
    assert truth["frame_features"][:, :n_energy].std(axis=0).mean() > 0.05


def test_receptive_fields_pool_motion_energy_around_their_centre_and_grow_from_v1_to_v4(world):
    enc = _encoding(world)
    labels = mmp_labels()
    table = filter_table()
    energy = enc["feature_blocks"] == NATURAL_BLOCKS.index("motion_energy")
    sigma = {a: np.median(enc["prf_sigma"][np.isin(labels, [f"L_{a}", f"R_{a}"])]) for a in PRF_SLOPE}
    assert sigma["V1"] < sigma["V2"] < sigma["V3"] < sigma["V4"]
    v1 = np.flatnonzero(np.isin(labels, ["L_V1", "R_V1"]))
    small = v1[np.argsort(enc["prf_sigma"][v1])[:50]]
    w = np.abs(enc["weights"][energy][:, small])
    pooled = (w[:, :, None] * table["centre"][:, None, :]).sum(0) / w.sum(0)[:, None]
    # The weighted mean of the filters' centres falls near the pRF centre (within a tenth of the frame).
    assert np.median(np.abs(pooled - enc["rf_centre"][small]).max(axis=1)) < 0.1
    left_v1 = np.isin(labels, ["L_V1"])
    assert np.all(enc["rf_centre"][left_v1, 1] >= 0.5)  # the left hemisphere sees the right hemifield


def test_each_grayordinate_has_its_snr_and_subjects_differ(world):
    enc, other = _encoding(world, "01"), _encoding(world, "02")
    responsive = np.flatnonzero(enc["responsive"])[::50]
    rows = np.concatenate([_truth(world, m)["volume_regressors"][:-4] for m in ("seg1", "seg2", "test1")])
    signal = rows.astype(np.float64) @ enc["weights"][:, responsive].astype(np.float64)
    np.testing.assert_allclose(signal.var(axis=0, ddof=1), enc["grayordinate_snr"][responsive], rtol=1e-3)
    snr = enc["grayordinate_snr"][enc["responsive"]]
    assert np.percentile(snr, 99) / np.median(snr) > 5  # reliability varies within areas
    assert not np.allclose(enc["rf_centre"], other["rf_centre"], equal_nan=True)
    assert enc["noise_rho"] != other["noise_rho"]


def test_natural_world_options_are_checked():
    with pytest.raises(NeurocineError, match="multiple of 15"):
        resolve_config("benchmark", fps=24)
    with pytest.raises(NeurocineError, match="n_scenes"):
        resolve_config("benchmark", n_scenes=11)
    with pytest.raises(NeurocineError, match="world must be one of"):
        resolve_config("small", world="cartoon")
    config = resolve_config("benchmark")
    assert config.n_test_segments >= 8 and config.test_repeats == 10 and config.train_repeats == 2
