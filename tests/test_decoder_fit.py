"""The decoder stages and ``neurocine decode`` on a small simulated dataset (tiny preset, shortened)."""

import csv
import json

import numpy as np
import pytest
import torch

from neurocine_toolbox.errors import NeurocineError
from neurocine_toolbox.models.video_unet import VideoUNet

QUICK = ["--preset", "tiny", "--set", "pretrain.steps=2", "--set", "pretrain.batch_size=4",
         "--set", "contrastive.steps=2", "--set", "contrastive.batch_size=4",
         "--set", "decoder.pretrained=tiny-sd-random",  # random UNet, no VAE: the vae stage runs
         "--set", "vae.steps=3", "--set", "vae.batch_size=4", "--set", "decoder.resolution=32",
         "--set", "decoder_text.steps=4", "--set", "decoder_text.batch_size=2",
         "--set", "decoder_fmri.steps=3", "--set", "decoder_fmri.batch_size=2",
         "--set", "perception.enabled=true", "--set", "perception.rank=4",
         "--set", "sampling.num_inference_steps=2", "--set", "sampling.batch_size=3",
         "--set", "training.checkpoint_every=2", "--set", "training.log_every=1"]


def _fit(invoke, derivatives, *args):
    return invoke(["fit", "--subject", "01", "--derivatives", derivatives, *QUICK, *args])


def _decode(invoke, derivatives, *args):
    return invoke(["decode", "--subject", "01", "--derivatives", derivatives, *args])


@pytest.fixture(scope="module")
def trained(embedded_derivatives):
    """One run, "dec", with every stage trained (a few steps each)."""
    from neurocine_toolbox.training.fit import fit

    overrides = [QUICK[i + 1] for i, arg in enumerate(QUICK) if arg == "--set"]
    fit(embedded_derivatives, "01", preset="tiny", overrides=overrides, name="dec", progress=False)
    return embedded_derivatives


def test_killed_decoder_stage_resumes_to_the_same_weights(invoke, trained, interrupt_training):
    vae = trained / "sub-01/models/dec/vae/model"  # a trained VAE, configured: stage A alone
    args = ["--stage", "decoder-text", "--set", f"decoder.vae={vae}"]
    assert _fit(invoke, trained, "--name", "dec-straight", *args).exit_code == 0

    arm, disarm = interrupt_training
    arm(3)
    assert _fit(invoke, trained, "--name", "dec-killed", *args).exit_code == 130
    disarm()
    stage = trained / "sub-01/models/dec-killed/decoder-text"
    assert not (stage / "model").exists()
    assert _fit(invoke, trained, "--name", "dec-killed", *args, "--resume").exit_code == 0

    a = VideoUNet.from_pretrained(trained / "sub-01/models/dec-straight/decoder-text/model").state_dict()
    b = VideoUNet.from_pretrained(stage / "model").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_configured_vae_leaves_the_vae_stage_out(invoke, trained):
    vae = trained / "sub-01/models/dec/vae/model"
    result = _fit(invoke, trained, "--name", "with-vae", "--stage", "vae", "--set", f"decoder.vae={vae}")
    assert result.exit_code == 0, result.stderr
    assert "left out vae: a pretrained VAE is configured" in result.stdout
    assert not (trained / "sub-01/models/with-vae/vae").exists()


def test_missing_stable_diffusion_weights_are_one_line_before_any_training(invoke, trained, tmp_path):
    absent = _fit(invoke, trained, "--name", "no-sd", "--stage", "decoder",
                  "--set", "decoder.pretrained=some-lab/not-cached-diffusion")
    assert absent.exit_code == 1
    lines = absent.stderr.strip().splitlines()
    assert len(lines) == 1 and "some-lab/not-cached-diffusion" in lines[0] and "hf download" in lines[0]
    (tmp_path / "empty").mkdir()
    empty = _fit(invoke, trained, "--name", "no-sd", "--stage", "decoder", "--set", f"decoder.pretrained={tmp_path / 'empty'}")
    assert empty.exit_code == 1 and "has no unet/config.json" in empty.stderr
    assert not (trained / "sub-01/models/no-sd/decoder-text").exists()


def test_stage_b_needs_the_encoder_and_stage_a(invoke, trained):
    result = _fit(invoke, trained, "--name", "b-alone", "--stage", "decoder-fmri",
                  "--set", f"decoder.vae={trained / 'sub-01/models/dec/vae/model'}")
    assert result.exit_code == 1
    assert "run `neurocine fit --stage decoder-text` first" in result.stderr


def test_decode_writes_clips_gifs_frames_and_ssim_against_other_clips_truth(invoke, trained):
    result = _decode(invoke, trained, "--name", "dec")
    assert result.exit_code == 0, result.stderr
    out = trained / "sub-01/models/dec/decoded-test"
    frames = np.load(out / "frames.npz")
    n = len(frames["rows"])
    assert frames["decoded"].shape == frames["truth"].shape == (n, 6, 32, 32, 3)
    assert len(list((out / "clips").glob("*.mp4"))) == n
    assert len(list((out / "clips").glob("*_truth-vs-decoded.gif"))) == n
    record = json.loads((out / "decode.json").read_text())
    assert record["negative"] == "train_mean" and record["test_fmri_in_guidance"] is False
    ssim = record["ssim"]
    assert ssim["n"] == n and set(ssim) >= {"own", "others", "difference", "p_value", "block_length", "method"}
    # One test run of 5 windows: no circular shift 5 windows away exists, so no p-value, and it says so.
    assert ssim["n_runs"] == 1 and ssim["p_value"] is None and ssim["n_others"] == 2
    assert "SSIM to own truth" in result.stdout and "to other clips' truth" in result.stdout
    assert "MinD-Video protocol" in result.stdout and "p n/a (runs too short to shift)" in result.stdout
    # The truth is the test store's frames of each window's first TR (the clip the fMRI follows).
    from neurocine_toolbox.data.store import open_store

    with open_store(trained / "sub-01/func/sub-01_split-test_desc-neurocine_bold.h5") as store:
        assert np.array_equal(frames["truth"][0], store.frames[int(frames["rows"][0])])
        assert np.array_equal(frames["runs"], store.runs[frames["rows"]])


def test_decode_resumes_and_gives_the_same_frames(invoke, trained):
    out = trained / "sub-01/models/dec/decoded-test"
    if not (out / "frames.npz").is_file():
        assert _decode(invoke, trained, "--name", "dec").exit_code == 0
    before = np.load(out / "frames.npz")["decoded"]
    n = len(before)
    (out / "clips/clip-0004.npy").unlink()  # clip 4 is in the second batch of 3: clips 3 … 5
    redone = min(3, n - 3)
    result = _decode(invoke, trained, "--name", "dec")
    assert result.exit_code == 0, result.stderr
    assert f"decoded {redone} clips ({n - redone} done earlier)" in result.stdout
    assert np.array_equal(np.load(out / "frames.npz")["decoded"], before)

    # Clips of other settings are never mixed with earlier ones.
    other = _decode(invoke, trained, "--name", "dec", "--set", "sampling.guidance_scale=1.5")
    assert other.exit_code == 1 and "differs in: sampling" in other.stderr and "--force" in other.stderr
    forced = _decode(invoke, trained, "--name", "dec", "--set", "sampling.guidance_scale=1.5", "--force")
    assert forced.exit_code == 0 and f"decoded {n} clips (0 done earlier)" in forced.stdout
    assert not np.array_equal(np.load(out / "frames.npz")["decoded"], before)


def test_perception_stage_is_fitted_on_training_runs_and_saved_with_the_pipeline(invoke, trained, tmp_path):
    import shutil

    run = trained / "sub-01/models/dec"
    record = json.loads((run / "perception/fit.json").read_text())
    assert record["rank"] == 4 and str(record["alpha"]) in record["cv_r2"] and record["n_train_movies"] >= 2
    index = json.loads((run / "decoder-fmri/model/model_index.json").read_text())
    assert index["perception_reconstructor"] == ["neurocine_toolbox.models.perception_reconstructor",
                                                 "PerceptionReconstructor"]
    # strength < 1 starts from its clip: other frames than pure noise, same seeds.
    result = _decode(invoke, trained, "--name", "dec", "--set", "sampling.strength=0.5", "--force")
    assert result.exit_code == 0, result.stderr
    started = np.load(run / "decoded-test/frames.npz")["decoded"]
    assert _decode(invoke, trained, "--name", "dec", "--force").exit_code == 0
    assert not np.array_equal(started, np.load(run / "decoded-test/frames.npz")["decoded"])

    # Decoding in bf16 keeps the reconstructor's weights in float32, unrounded.
    from neurocine_toolbox.models.perception_reconstructor import PerceptionReconstructor
    from neurocine_toolbox.pipelines.decode_split import load_pipeline

    import logging

    seen = []  # diffusers' own logger (it does not propagate): its advice against casting stays unshown
    listener = logging.Handler()
    listener.emit = seen.append
    logging.getLogger("diffusers").addHandler(listener)
    try:
        half = load_pipeline(run / "decoder-fmri/model", "cpu", torch.bfloat16)
    finally:
        logging.getLogger("diffusers").removeHandler(listener)
    assert not [r for r in seen if "kept in float32" in r.getMessage()]
    saved = PerceptionReconstructor.from_pretrained(run / "perception/model")
    assert half.unet.dtype == torch.bfloat16 and half.perception_reconstructor.coef.dtype == torch.float32
    assert torch.equal(half.perception_reconstructor.coef, saved.coef)

    # A pipeline without one refuses strength < 1 in one line, before writing anything.
    plain = run.parent / "dec-plain"
    shutil.copytree(run / "decoder-fmri", plain / "decoder-fmri")
    shutil.copy(run / "config.yaml", plain / "config.yaml")
    shutil.rmtree(plain / "decoder-fmri/model/perception_reconstructor")
    del index["perception_reconstructor"]
    (plain / "decoder-fmri/model/model_index.json").write_text(json.dumps(index))
    refused = _decode(invoke, trained, "--name", "dec-plain", "--set", "sampling.strength=0.5")
    assert refused.exit_code == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "no perception reconstructor" in refused.stderr and not (plain / "decoded-test").exists()


def test_retrieval_perception_stage_starts_decoding_from_a_training_clip(invoke, trained):
    import shutil

    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.data.store import store_path
    from neurocine_toolbox.pipelines.decode_split import load_pipeline
    from neurocine_toolbox.training.perception_stage import perception_stage

    run = trained / "sub-01/models/dec"
    other = run.parent / "dec-retrieval"
    shutil.copytree(run, other, ignore=shutil.ignore_patterns("perception", "decoded-*"))
    overrides = [QUICK[i + 1] for i, arg in enumerate(QUICK) if arg == "--set"] + ["perception.method=retrieval"]
    config = load_config("tiny", overrides=overrides)
    perception_stage(other / "perception", other, store_path(trained, "01", "train"), config, progress=False)
    record = json.loads((other / "perception/fit.json").read_text())
    assert record["method"] == "retrieval" and set(record["cv_r2"]) == {"caption_words", "clip_image"}
    index = json.loads((other / "decoder-fmri/model/model_index.json").read_text())
    assert index["perception_reconstructor"] == ["neurocine_toolbox.models.retrieval_reconstructor",
                                                 "RetrievalReconstructor"]
    pipeline = load_pipeline(other / "decoder-fmri/model", "cpu", torch.float32)
    library = pipeline.perception_reconstructor.library_latents
    reconstructor = pipeline.perception_reconstructor
    start = reconstructor(torch.randn(3, reconstructor.config.window, reconstructor.config.num_columns))
    assert all((library == clip).flatten(1).all(1).any() for clip in start)  # top_k 1: a training clip's latents
    result = _decode(invoke, trained, "--name", "dec-retrieval", "--set", "sampling.strength=0.5", "--force")
    assert result.exit_code == 0, result.stderr


def test_decode_without_a_trained_pipeline_is_one_line(invoke, trained):
    result = _decode(invoke, trained, "--name", "no-such-run")
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "run `neurocine fit --subject 01` first" in result.stderr
    bad = _decode(invoke, trained, "--name", "dec", "--set", "decoder.beta=0.5")
    assert bad.exit_code == 1 and "sampling.* settings only" in bad.stderr


def test_evaluate_scores_decoded_clips_beside_the_baselines_and_caches_ridge(invoke, trained, monkeypatch):
    from skimage.metrics import peak_signal_noise_ratio

    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.data.clips import clip_frame_indices, frames_to_tensor, tensor_to_frames
    from neurocine_toolbox.data.dataset import window_starts
    from neurocine_toolbox.data.store import open_store
    from neurocine_toolbox.evaluation import baselines

    out = trained / "sub-01/models/dec/decoded-test"
    if not (out / "frames.npz").is_file():
        assert _decode(invoke, trained, "--name", "dec").exit_code == 0
    args = ["evaluate", "--subject", "01", "--name", "dec", "--derivatives", trained,
            "--metrics", "ssim,psnr,temporal_consistency", "--set", "evaluation.n_boot=200"]
    result = invoke([*args, "--baseline", "ridge", "--baseline", "pixel-ridge"])
    assert result.exit_code == 0, result.stderr
    record = json.loads((out / "evaluation/metrics.json").read_text())
    rows = {(r["name"], r["protocol"]): r for r in record["metrics"]}
    tc = "clip-consecutive-cosine (tiny-clip)"  # the protocol names the CLIP it used
    assert set(rows) == {("ssim", "mindvideo-rgb"), ("ssim", "gray-2d"), ("ssim", "neurons-columnwise"),
                         ("identification", "ssim:mindvideo-rgb"), ("psnr", "rgb-255"),
                         ("temporal_consistency", tc), ("temporal_consistency", tc + ", gap to true clips"),
                         ("temporal_consistency", tc + " (true clips)")}
    scored = rows[("ssim", "mindvideo-rgb")]["baselines"]
    assert all(scored[b] is not None for b in ("flat", "mean_clip", "shuffled", "ridge", "pixel_ridge"))
    assert scored["vae_oracle"] is None  # the ceiling only when asked for
    for baseline in ("ridge", "pixel_ridge"):  # fitted with penalties chosen over movies, then cached
        info = record["baselines_info"][baseline]
        assert info["median_alpha"] > 0 and "over training movies" in info["cv"]
        assert (out / f"baselines/{baseline}.npz").is_file()
    assert "| ssim | mindvideo-rgb |" in result.stdout and "mean clip" in result.stdout
    assert "pixel ridge" in result.stdout and "flat grey" in result.stdout

    # The mean clip is the mean of the training windows' clips (run's window and lag, first TR).
    config = load_config(path=trained / "sub-01/models/dec/config.yaml")
    window, lag = config["data"]["window"], config["data"]["lag"]
    with open_store(trained / "sub-01/func/sub-01_split-train_desc-neurocine_bold.h5") as store:
        starts = window_starts(store.runs, store.tr_in_run, window, lag)
        index = clip_frame_indices(store.frames_per_tr, config["decoder"]["frames"])
        clips = tensor_to_frames(frames_to_tensor(store.frames[starts][:, index], 32))
    mean = np.round(clips.astype(float).mean(axis=0)).astype(np.uint8)
    truth = np.load(out / "frames.npz")["truth"]
    with open(out / "evaluation/per_clip.csv") as f:
        first = next(csv.DictReader(f))
    expected = np.mean([peak_signal_noise_ratio(truth[0, k], mean[k], data_range=255) for k in range(6)])
    assert float(first["psnr:rgb-255@mean_clip"]) == pytest.approx(expected, rel=1e-5)

    # A second evaluation reuses the ridge baseline's clips and the mean clip instead of computing them again.
    monkeypatch.setattr(baselines.RidgeLatentBaseline, "fit", lambda *a, **k: pytest.fail("ridge trained again"))
    monkeypatch.setattr(baselines.PixelRidgeBaseline, "fit", lambda *a, **k: pytest.fail("pixel ridge trained again"))
    monkeypatch.setattr(baselines.MeanClipBaseline, "partial_fit", lambda *a, **k: pytest.fail("mean clip read again"))
    again = invoke(args)
    assert again.exit_code == 0, again.stderr
    again_rows = json.loads((out / "evaluation/metrics.json").read_text())["metrics"]
    assert again_rows[0]["baselines"]["ridge"] is not None and again_rows[0]["baselines"]["pixel_ridge"] is not None

    # A run compared with itself: every difference 0, p = 1.
    compared = invoke(["evaluate", "--subject", "01", "--derivatives", trained, "--compare", "dec", "dec"])
    assert compared.exit_code == 0, compared.stderr
    result = json.loads((trained / "sub-01/models/comparisons/dec-vs-dec-test.json").read_text())
    assert all(d["difference"] == 0 and d["p_value"] == 1 for d in result["differences"])

    # Bad input: one line, nothing written.
    for bad, message in (([*args[:7], "--metrics", "fid"], "unknown metric fid"),
                         ([*args[:7], "--set", "decoder.beta=0.5"], "evaluation.* settings only"),
                         ([*args[:4], "no-such-run", *args[5:7]], "first")):
        failed = invoke(bad)
        assert failed.exit_code == 1 and message in failed.stderr, failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1


# --- wiring: which rows, which store, which settings reach the models --------------------------

TRAIN_OFFSET, TEST_OFFSET = 10_000.0, 20_000.0


@pytest.fixture
def index_coded(trained, tmp_path):
    """A copy of the "dec" run whose stores hold, in every fMRI column, their row index (plus an
    offset per split), so that the rows a step reads can be read back from the values."""
    import shutil

    import h5py

    derivatives = tmp_path / "derivatives"
    for split, offset in (("train", TRAIN_OFFSET), ("test", TEST_OFFSET)):
        relative = f"sub-01/func/sub-01_split-{split}_desc-neurocine_bold.h5"
        (derivatives / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(trained / relative, derivatives / relative)
        with h5py.File(derivatives / relative, "r+") as f:
            rows = np.arange(f["fmri"].shape[0], dtype=np.float32)
            f["fmri"][...] = (offset + rows)[:, None] * np.ones(f["fmri"].shape[1], np.float32)
    run = derivatives / "sub-01/models/dec"
    run.mkdir(parents=True)
    shutil.copy(trained / "sub-01/models/dec/config.yaml", run)
    shutil.copytree(trained / "sub-01/models/dec/decoder-fmri", run / "decoder-fmri")
    shutil.copytree(trained / "sub-01/models/dec/vae", run / "vae")  # the run's VAE (latents of the ridges)
    return derivatives


def _spy_pipeline(monkeypatch):
    from neurocine_toolbox.pipelines import NeuroCinePipeline

    calls = []

    def call(self, fmri_windows, **kwargs):
        calls.append({"fmri": np.asarray(fmri_windows), **kwargs})
        n, size = len(fmri_windows), kwargs["height"]
        return type("Out", (), {"frames": np.zeros((n, kwargs["num_frames"], size, size, 3), np.uint8)})()

    monkeypatch.setattr(NeuroCinePipeline, "__call__", call)
    return calls


def _expected_windows(path, offset, window, lag):
    from neurocine_toolbox.data.dataset import window_starts
    from neurocine_toolbox.data.store import open_store

    with open_store(path) as store:
        starts = window_starts(store.runs, store.tr_in_run, window, lag)
    return starts, offset + starts[:, None] + lag + np.arange(window)[None, :]


@pytest.mark.parametrize("negative, offset", [("train_mean", TRAIN_OFFSET), ("test_mean", TEST_OFFSET)])
def test_decode_reads_lagged_windows_and_the_negative_from_the_right_store(index_coded, monkeypatch,
                                                                          negative, offset):
    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.pipelines.decode_split import decode_split
    from neurocine_toolbox.utils.seeds import step_seed

    calls = _spy_pipeline(monkeypatch)
    config = load_config(path=index_coded / "sub-01/models/dec/config.yaml")
    window, lag = config["data"]["window"], config["data"]["lag"]
    assert lag == 2  # the tiny preset's: a lag of 0 would hide a forgotten shift
    decode_split(index_coded, "01", name="dec", progress=False, limit=5,
                 overrides=[f"sampling.negative={negative}", "sampling.guidance_scale=3.5"])
    starts, expected = _expected_windows(index_coded / "sub-01/func/sub-01_split-test_desc-neurocine_bold.h5",
                                         TEST_OFFSET, window, lag)
    fmri = np.concatenate([c["fmri"] for c in calls])
    assert np.array_equal(fmri[:, :, 0], expected[:5]) and (fmri == fmri[..., :1]).all()
    split = "train" if negative == "train_mean" else "test"
    _, negative_rows = _expected_windows(index_coded / f"sub-01/func/sub-01_split-{split}_desc-neurocine_bold.h5",
                                         offset, window, lag)
    for call in calls:
        assert np.allclose(np.asarray(call["negative_fmri"])[:, 0], negative_rows.mean(axis=0))
        assert call["beta"] == config["decoder"]["beta"] and call["guidance_scale"] == 3.5
        assert call["num_inference_steps"] == config["sampling"]["num_inference_steps"]
    seeds = [g.initial_seed() for c in calls for g in c["generator"]]
    assert seeds == [step_seed(config["seed"], i, 6) for i in range(5)]


class _Fitted(Exception):
    """Raised by a spy in place of a ridge's fit, once it has seen what it would be fitted on."""


def test_ridges_reconstructor_mean_clip_and_negative_fit_on_training_windows_only(index_coded, monkeypatch):
    """Every linear model, the mean clip and the guidance negative read the training store's
    training windows: never the test store, never the validation movies' windows."""
    import h5py

    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.data.clips import mean_training_window
    from neurocine_toolbox.data.store import open_store
    from neurocine_toolbox.evaluation import baselines
    from neurocine_toolbox.evaluation import evaluate as evaluation
    from neurocine_toolbox.training import perception_ridge, perception_stage

    train = index_coded / "sub-01/func/sub-01_split-train_desc-neurocine_bold.h5"
    test = index_coded / "sub-01/func/sub-01_split-test_desc-neurocine_bold.h5"
    with h5py.File(train, "r+") as f:  # hold the second training movie out for validation
        f["validation"][...] = (f["stimulus"][()] == 1).astype(np.int8)
    run = index_coded / "sub-01/models/dec"
    config = load_config(path=run / "config.yaml")
    window, lag = config["data"]["window"], config["data"]["lag"]
    starts, expected = _expected_windows(train, TRAIN_OFFSET, window, lag)
    with open_store(train) as store:
        kept = store.stimulus[starts] == 0
        assert kept.any() and not kept.all()
    expected, movies = expected[kept], np.zeros(int(kept.sum()))

    seen = {}

    def spy(name):
        def fit(self, fmri, targets, groups):
            seen[name] = (np.asarray(fmri)[:, :, 0], np.asarray(groups))
            raise _Fitted
        return fit

    monkeypatch.setattr(perception_ridge.PerceptionRidge, "fit", spy("perception"))
    monkeypatch.setattr(baselines.RidgeLatentBaseline, "fit", spy("latent ridge"))
    monkeypatch.setattr(baselines.PixelRidgeBaseline, "fit", spy("pixel ridge"))
    rows = np.arange(3)
    for name, call in (("perception", lambda: perception_stage.perception_stage(run / "perception", run, train, config,
                                                                                progress=False)),
                       ("latent ridge", lambda: evaluation.ridge_latents(run, config, train, test, rows, "test",
                                                                         progress=False)),
                       ("pixel ridge", lambda: evaluation.pixel_ridge_clips(config, train, test, rows,
                                                                            run / "pixel.npz", "test"))):
        with pytest.raises(_Fitted):
            call()
        fmri, groups = seen[name]
        np.testing.assert_array_equal(fmri, expected, err_msg=name)  # training rows, lagged, validation left out
        np.testing.assert_array_equal(groups, movies, err_msg=name)  # cross-validation groups: movies
    # The guidance negative: the mean of the same windows.
    negative = mean_training_window(train, window, lag)
    np.testing.assert_allclose(negative[:, 0], expected.mean(axis=0))
    # The mean clip counts only the training windows' clips.
    counts = np.concatenate([c for _, c in evaluation.training_clips(train, window, lag, 6, 32)])
    with open_store(train) as store:
        assert counts.sum() == kept.sum() and counts[np.unique(store.frame_rows[store.stimulus == 1])].sum() == 0
    # A baseline asked for rows that are not of the split it names is refused.
    with pytest.raises(NeurocineError, match="not all validation windows"):
        evaluation._split_windows(config, train, "validation", starts[kept][:2])


def test_clip_dataset_pairs_lagged_fmri_with_the_clip_and_caption_of_its_first_tr(index_coded):
    from neurocine_toolbox.data.clips import ClipDataset
    from neurocine_toolbox.data.store import open_store

    path = index_coded / "sub-01/func/sub-01_split-train_desc-neurocine_bold.h5"
    with open_store(path) as store:
        n_clips, frame_rows = store.n_frame_rows, store.frame_rows
        states = np.asarray(store.clip_text_states[np.arange(len(store))], np.float32)
    latents = torch.arange(n_clips, dtype=torch.float32).view(-1, 1, 1, 1, 1).expand(-1, 2, 3, 2, 2)
    dataset = ClipDataset(path, latents, window=2, lag=2, with_text=True)
    starts, expected = _expected_windows(path, TRAIN_OFFSET, 2, 2)
    for index in (0, len(dataset) // 2, len(dataset) - 1):
        item = dataset[index]
        t = int(starts[index])
        assert item["fmri"][:, 0].tolist() == expected[index].tolist()
        assert (item["latents"] == frame_rows[t]).all()
        assert torch.equal(item["text_states"], torch.from_numpy(states[t]))


def test_decoder_stages_use_the_configured_beta_dropout_and_training_negative(invoke, trained, monkeypatch):
    import shutil

    from neurocine_toolbox.training import decoder_stages

    betas, conditions, means = [], [], []
    noise = decoder_stages.dependent_noise
    monkeypatch.setattr(decoder_stages, "dependent_noise",
                        lambda shape, beta, *a, **k: betas.append(beta) or noise(shape, beta, *a, **k))
    condition = decoder_stages._fmri_condition
    monkeypatch.setattr(decoder_stages, "_fmri_condition",
                        lambda negative, dropout: conditions.append((negative, dropout)) or condition(negative, dropout))
    mean = decoder_stages.mean_training_window
    monkeypatch.setattr(decoder_stages, "mean_training_window",
                        lambda path, *a: means.append(str(path)) or mean(path, *a))
    run = trained / "sub-01/models/wired"
    run.mkdir(parents=True)
    shutil.copytree(trained / "sub-01/models/dec/encoder", run / "encoder")
    vae = trained / "sub-01/models/dec/vae/model"
    result = _fit(invoke, trained, "--name", "wired", "--stage", "decoder", "--set", f"decoder.vae={vae}",
                  "--set", "decoder.beta=0.6", "--set", "decoder_fmri.condition_dropout=0.3")
    assert result.exit_code == 0, result.stderr
    assert len(betas) == 4 + 3 and set(betas) == {0.6}  # every step of stage A (4) and B (3)
    assert [d for _, d in conditions] == [0.3]
    assert means == [str(trained / "sub-01/func/sub-01_split-train_desc-neurocine_bold.h5")]


def test_condition_dropout_replaces_that_share_of_windows_by_the_negative():
    from neurocine_toolbox.training.decoder_stages import _fmri_condition

    negative = torch.full((2, 5), -7.0)
    fmri = torch.randn(4000, 2, 5)
    seen = {}

    def model(noisy, timesteps, windows):
        seen["fmri"] = windows
        return noisy

    _fmri_condition(negative, 0.3)(model, {"fmri": fmri}, None, None, torch.Generator().manual_seed(0))
    replaced = (seen["fmri"] == -7.0).all(dim=(1, 2))
    assert replaced.float().mean().item() == pytest.approx(0.3, abs=0.025)
    assert torch.equal(seen["fmri"][~replaced], fmri[~replaced])
    _fmri_condition(negative, 0.0)(model, {"fmri": fmri}, None, None, torch.Generator().manual_seed(0))
    assert torch.equal(seen["fmri"], fmri)
