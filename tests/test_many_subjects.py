"""Several subjects: maps into one space, the pooled training store, runs across subjects, fine-tunes,
and a new subject decoded without training."""

import json
import os
import shutil

import h5py
import numpy as np
import pytest
import torch

from neurocine_toolbox.alignment.adapters import SubjectAdapters
from neurocine_toolbox.alignment.subject_map import SubjectMap, parcels
from neurocine_toolbox.alignment.training_store import write_training_store
from neurocine_toolbox.data.dataset import FMRIWindowDataset, window_starts
from neurocine_toolbox.data.store import open_store, store_path
from neurocine_toolbox.errors import NeurocineError

QUICK = ["--preset", "tiny", "--set", "pretrain.steps=2", "--set", "pretrain.batch_size=4",
         "--set", "contrastive.steps=2", "--set", "contrastive.batch_size=4",
         "--set", "decoder.pretrained=tiny-sd-random", "--set", "vae.steps=2", "--set", "vae.batch_size=4",
         "--set", "decoder.resolution=32", "--set", "decoder_text.steps=2", "--set", "decoder_text.batch_size=2",
         "--set", "decoder_fmri.steps=2", "--set", "decoder_fmri.batch_size=2",
         "--set", "perception.enabled=true", "--set", "perception.rank=4", "--set", "sampling.strength=0.5",
         "--set", "sampling.num_inference_steps=2", "--set", "sampling.batch_size=4",
         "--set", "training.checkpoint_every=2", "--set", "training.log_every=1"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three simulated subjects who watched the same movies (5 training movies, one held out for
    validation; one test movie), prepared with 32² frames and embedded with the tiny CLIP."""
    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.data.embedding import embed_store
    from neurocine_toolbox.data.prep import PrepOptions, prep
    from neurocine_toolbox.simulate import simulate_dataset

    root = simulate_dataset(tmp_path_factory.mktemp("subjects") / "bids", seed=0, progress=False, n_subjects=3,
                            n_train_segments=5, train_segment_seconds=16, n_test_segments=1,
                            test_segment_seconds=16, test_repeats=2, movie_size=32)
    prep(root, options=PrepOptions(frame_size=32), progress=False)
    out = root / "derivatives" / "neurocine"
    section = dict(load_config("tiny")["embedding"], captions="sidecar")
    for subject in ("01", "02", "03"):
        for split in ("train", "test"):
            embed_store(store_path(out, subject, split), section, progress=False)
    return out


@pytest.fixture(scope="module")
def shared(world):
    """A run on subjects 02 and 03 (anatomical alignment), every stage a few steps."""
    from neurocine_toolbox.training.fit import fit

    overrides = [QUICK[i + 1] for i, arg in enumerate(QUICK) if arg == "--set"]
    summary = fit(world, ["02", "03"], preset="tiny", overrides=overrides, name="both", progress=False)
    assert summary["views"] == [world / "sub-02/models/both", world / "sub-03/models/both"]
    return summary["root"]


def test_a_subject_map_is_block_diagonal_and_round_trips(tmp_path):
    rois = np.array(["L_V1", "L_V1", "R_V1", "R_V1", "R_V1", ""])
    rng = np.random.default_rng(0)
    blocks = [(columns, rng.normal(size=(len(columns), len(columns)))) for _, columns in parcels(rois)]
    fitted = SubjectMap.from_blocks(blocks, len(rois))
    rows = rng.normal(size=(7, len(rois))).astype(np.float32)
    expected = rows.copy()
    for columns, block in blocks:
        expected[:, columns] = rows[:, columns] @ block  # each area through its own block
    np.testing.assert_allclose(fitted.apply(rows), expected, rtol=1e-5, atol=1e-5)
    assert fitted.apply(rows)[:, 5].tolist() == rows[:, 5].tolist(), "padding passes through"
    windows = rows[:6].reshape(3, 2, 6)
    np.testing.assert_allclose(fitted.apply(windows), expected[:6].reshape(3, 2, 6), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(SubjectMap.load(fitted.save(tmp_path / "m.npz")).apply(rows), fitted.apply(rows))
    np.testing.assert_array_equal(SubjectMap.load(SubjectMap.identity(6).save(tmp_path / "i.npz")).apply(rows), rows)
    with pytest.raises(NeurocineError, match="same voxel selection"):
        fitted.apply(rows[:, :5])


def test_adapters_start_at_the_identity_and_match_their_maps():
    rois = np.array(["L_V1"] * 3 + ["R_V2"] * 4 + [""])
    adapters = SubjectAdapters(2, rois)
    fmri = torch.randn(5, 2, 8)
    subject = torch.tensor([0, 1, 1, 0, 1])
    torch.testing.assert_close(adapters(fmri, subject), fmri)
    assert adapters.distance_from_identity().item() == 0.0
    with torch.no_grad():
        for weight in adapters.weights:
            weight.add_(0.3 * torch.randn_like(weight))
    out = adapters(fmri, subject).detach().numpy()
    maps = adapters.subject_maps(8)  # what the later stages apply must be what the encoder was trained behind
    for i, s in enumerate(subject.tolist()):
        np.testing.assert_allclose(out[i], maps[s].apply(fmri[i].numpy()), rtol=1e-5, atol=1e-5)
    assert out[:, :, 7].tolist() == fmri[:, :, 7].tolist()
    adapters(fmri, torch.tensor([1, 1, 1, 1, 1])).sum().backward()  # only the subjects present learn
    for weight in adapters.weights:
        assert weight.grad[0].abs().sum() == 0 and weight.grad[1].abs().sum() > 0


def test_baselines_of_a_view_of_a_one_subject_run_learn_from_that_runs_subject(tmp_path):
    """decode --from a one-subject run: the new subject's baselines learn from the run's training store."""
    from neurocine_toolbox.alignment.run_space import VIEW_RECORD, training_store

    theirs, own, view = tmp_path / "sub-02_train.h5", tmp_path / "sub-01_train.h5", tmp_path / "view"
    view.mkdir()
    theirs.write_bytes(b"")
    (view / "provenance.json").write_text(json.dumps({"stores": {"train": str(theirs)}}))
    assert training_store(view, own) == own, "a subject's own run reads its own store"
    (view / VIEW_RECORD).write_text("{}")
    assert training_store(view, own) == theirs
    theirs.unlink()
    with pytest.raises(NeurocineError, match="training store of the run this folder shows is gone"):
        training_store(view, own)


def test_the_training_store_pools_subjects_apart_and_keeps_a_share_of_movies(world, tmp_path):
    paths = [store_path(world, s, "train") for s in ("02", "03")]
    scale = SubjectMap.from_blocks([(np.arange(4192), 2 * np.eye(4192))], 4192)
    record = write_training_store(tmp_path / "pooled.h5", [(paths[0], SubjectMap.identity(4192), 0.5),
                                                           (paths[1], scale, 1.0)])
    assert record["02"]["training_movies"] == ["seg1.mp4", "seg2.mp4"]  # the first half of 4, in order
    assert record["03"]["training_movies"] == ["seg1.mp4", "seg2.mp4", "seg3.mp4", "seg4.mp4"]
    with open_store(tmp_path / "pooled.h5") as pooled, open_store(paths[1]) as third:
        assert pooled.subjects == ["02", "03"]
        second = pooled.row_subjects == 1
        np.testing.assert_allclose(pooled.fmri[second], 2 * third.fmri)  # through its map
        assert not set(pooled.runs[second]) & set(pooled.runs[~second]), "no run spans two subjects"
        starts = window_starts(pooled.runs, pooled.tr_in_run, 2, 2)
        assert (pooled.row_subjects[starts] == pooled.row_subjects[starts + 3]).all()
        assert pooled.n_frame_rows == 5 * 8, "a movie both watched is stored once"
        assert pooled.validation.sum() == 2 * 8 and pooled.validation_movies == ["seg5.mp4"]
        np.testing.assert_array_equal(pooled.frames[np.flatnonzero(second)], third.frames[np.arange(len(third))])
        assert list(pooled.captions[np.flatnonzero(second)]) == list(third.captions[np.arange(len(third))])
        only = FMRIWindowDataset(tmp_path / "pooled.h5", window=2, lag=2, with_frames=False, subjects=["02"])
        assert len(only) and all(only[i]["subject"] == 0 for i in range(len(only)))
    again = write_training_store(tmp_path / "again.h5", [(tmp_path / "pooled.h5", SubjectMap.identity(4192), 1.0),
                                                          (store_path(world, "01", "train"), SubjectMap.identity(4192), 0.25)])
    assert list(again) == ["02", "03", "01"] and again["01"]["training_movies"] == ["seg1.mp4"]
    with pytest.raises(NeurocineError, match="sub-02 would enter the run twice"):
        write_training_store(tmp_path / "twice.h5", [(tmp_path / "pooled.h5", SubjectMap.identity(4192), 1.0),
                                                     (paths[0], SubjectMap.identity(4192), 1.0)])
    assert not (tmp_path / "twice.h5").exists()


def test_functional_alignment_brings_subjects_closer_on_movies_it_was_not_fitted_on(world, invoke):
    result = invoke(["fit", "--subject", "02", "03", "--alignment", "functional", "--stage", "alignment",
                     "--name", "functional", "--derivatives", world, *QUICK])
    assert result.exit_code == 0, result.output + result.stderr
    model = world / "group/models/functional/alignment/model"
    record = json.loads((model / "alignment.json").read_text())
    agreement = record["agreement"]
    assert agreement["movies"] == "validation"
    for subject in ("02", "03"):
        assert agreement["mapped"][subject] > agreement["anatomical"][subject] + 0.05
    fitted = SubjectMap.load(model / "maps" / "sub-02.npz")
    assert not fitted.is_identity
    template = np.load(model / "template.npz")
    assert len(template["movies"]) == 4 * 8 and "seg5.mp4" not in set(template["movies"])  # training movies only


def test_a_run_on_two_subjects_decodes_each_and_a_third_without_training(shared, world, invoke):
    view = world / "sub-02/models/both"
    assert (view / "decoder-fmri").is_symlink() and (view / "decoder-fmri/model/model_index.json").is_file()
    assert json.loads((shared / "alignment/model/alignment.json").read_text())["subjects"] == ["02", "03"]
    with open_store(shared / "alignment/train.h5") as pooled:
        assert pooled.subjects == ["02", "03"] and len(pooled) == 80
    decoded = invoke(["decode", "--subject", "03", "--name", "both", "--derivatives", world])
    assert decoded.exit_code == 0, decoded.output + decoded.stderr
    assert (world / "sub-03/models/both/decoded-test/frames.npz").is_file()
    assert not (shared / "decoded-test").exists(), "each subject's outputs stay in its own folder"
    map_file = shared / "alignment/model/maps/sub-03.npz"
    before = map_file.stat().st_mtime_ns
    os.utime(map_file, ns=(before, before + 10**9))  # the subject's map refitted: old clips must not be mixed in
    remapped = invoke(["decode", "--subject", "03", "--name", "both", "--derivatives", world])
    os.utime(map_file, ns=(before, before))
    assert remapped.exit_code == 1 and "subject_map" in remapped.stderr

    missing = invoke(["decode", "--subject", "01", "--name", "both", "--derivatives", world])
    assert missing.exit_code == 1 and "no trained pipeline" in missing.stderr
    new = invoke(["decode", "--subject", "01", "--from", "both", "--derivatives", world])
    assert new.exit_code == 0, new.output + new.stderr
    record = json.loads((world / "sub-01/models/both/shared-run.json").read_text())
    assert record["trained_on_subject"] is False and "no data of this subject" in record["note"]
    frames = np.load(world / "sub-01/models/both/decoded-test/frames.npz")
    assert len(frames["rows"]) > 0
    trained = invoke(["decode", "--subject", "02", "--from", "both", "--derivatives", world])
    assert trained.exit_code == 1 and "sub-02 was trained in this run" in trained.stderr


def test_a_fine_tune_starts_from_the_shared_run_and_learns_from_both(shared, world, invoke, monkeypatch):
    from neurocine_toolbox.training import decoder_stages, encoder_stages

    trained_on = {}
    for module, name in ((encoder_stages, "FMRIWindowDataset"), (decoder_stages, "ClipDataset")):
        def spy(*args, _cls=getattr(module, name), _name=name, **kwargs):
            dataset = _cls(*args, **kwargs)
            trained_on[_name] = len(dataset)
            return dataset
        monkeypatch.setattr(module, name, spy)
    result = invoke(["fit", "--subject", "01", "--from", "both", "--train-fraction", "0.5", "--name", "tuned",
                     "--derivatives", world])
    assert result.exit_code == 0, result.output + result.stderr
    root = world / "sub-01/models/tuned"
    assert trained_on == {"FMRIWindowDataset": 2 * 5, "ClipDataset": 2 * 5}, "fine-tuned on the new subject only"
    assert "left out pretrain: the encoder starts from both's" in result.stdout
    assert "skipped decoder-text" in result.stdout and (root / "decoder-text").is_symlink()
    assert "starting from" in result.stderr and "both/decoder-fmri/model/fmri_encoder" in result.stderr
    record = json.loads((root / "alignment/model/alignment.json").read_text())
    rows = record["training_rows"]
    assert rows["01"]["training_movies"] == ["seg1.mp4", "seg2.mp4"] and rows["02"]["rows"] == 40
    perception = json.loads((root / "perception/fit.json").read_text())
    # 5 windows a movie: 4 movies of each shared subject, and the new subject's 2 (alone it would have 10)
    assert perception["n_train_windows"] == (2 * 4 + 2) * 5, "the closed-form fit learns from every subject's windows"
    config = (root / "config.yaml").read_text()
    assert "train_fraction: 0.5" in config and "steps: 2" in config  # the shared run's config, overridden
    again = invoke(["fit", "--subject", "02", "--from", "both", "--name", "again", "--derivatives", world])
    assert again.exit_code == 1 and "sub-02 would enter the run twice" in again.stderr
    assert not (world / "sub-02/models/again/alignment/model").exists()


def test_the_attention_report_of_a_shared_run_shows_each_subject_and_where_they_agree(shared, world, invoke):
    result = invoke(["attention-report", "--subject", "02", "03", "--name", "both", "--derivatives", world,
                     "--set", "interpretation.n_surrogates=0", "--set", "interpretation.attribution_steps=0",
                     "--set", "interpretation.n_permutations=0", "--set", "interpretation.layers=[last]"])
    assert result.exit_code == 0, result.output + result.stderr
    for subject in ("02", "03"):
        assert (world / f"sub-{subject}/models/both/attention-test/report.html").is_file()
    page = shared / "attention-test"
    record = json.loads((page / "agreement.json").read_text())
    assert record["subjects"] == ["sub-02", "sub-03"] and len(record["pairs"]) == 1
    maps = np.load(page / "maps.npz")
    both = np.isfinite(maps["sub-02"]) & np.isfinite(maps["sub-03"])
    from scipy import stats

    rho = stats.spearmanr(maps["sub-02"][both], maps["sub-03"][both])[0]
    assert record["pairs"][0]["spearman_rho"] == pytest.approx(rho)
    assert "sub-02 ~ sub-03: Spearman rho" in result.stdout
    html = (page / "group_report.html").read_text()
    assert "Pairwise agreement" in html and "data:image/png;base64," in html


def test_adapters_need_training_for_a_new_subject(world, invoke):
    result = invoke(["fit", "--subject", "02", "03", "--alignment", "adapter", "--name", "adapted",
                     "--stage", "alignment", "--stage", "encoder", "--derivatives", world, *QUICK,
                     "--set", "alignment.adapter_penalty=0.1"])
    assert result.exit_code == 0, result.output + result.stderr
    encoder = world / "group/models/adapted/encoder"
    for subject in ("02", "03"):  # each subject's held-out retrieval, through its adapter
        scored = json.loads((encoder / f"retrieval-sub-{subject}.json").read_text())
        assert scored["test_store"] == str(store_path(world, subject, "test"))
        assert f"held-out retrieval (sub-{subject}, test split" in result.output
    maps = {s: SubjectMap.load(encoder / "subject-maps" / f"sub-{s}.npz") for s in ("02", "03")}
    with open_store(encoder / "train.h5") as learned, open_store(store_path(world, "03", "train")) as own:
        np.testing.assert_allclose(learned.fmri[learned.row_subjects == 1], maps["03"].apply(own.fmri),
                                   rtol=1e-4, atol=1e-5)
    refused = invoke(["decode", "--subject", "01", "--from", "adapted", "--derivatives", world])
    assert refused.exit_code == 1
    assert "learned an adapter per subject" in refused.stderr or "no trained run" in refused.stderr


def test_subjects_prepared_differently_are_refused_before_training(world, invoke, tmp_path):
    other = tmp_path / "derivatives"
    other.mkdir()
    shutil.copy(world / "dataset_description.json", other)
    for subject in ("01", "02"):
        for split in ("train", "test"):
            target = store_path(other, subject, split)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(store_path(world, subject, split), target)
    with h5py.File(store_path(other, "02", "train"), "r+") as f:
        f["voxel_grayordinates"][0] = 91281
    result = invoke(["fit", "--subject", "01", "02", "--stage", "alignment", "--name", "mixed",
                     "--derivatives", other, *QUICK])
    assert result.exit_code == 1
    assert "voxel columns differ from sub-01's" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (other / "group/models/mixed/alignment/model").exists()
    assert not (other / "group/models/mixed/alignment/train.h5").exists()


def test_a_subject_folder_in_use_stops_a_shared_run_before_anything_is_written(world, invoke):
    own = world / "sub-03/models/clash"
    own.mkdir(parents=True)
    (own / "config.yaml").write_text("seed: 1\n")
    result = invoke(["fit", "--subject", "02", "03", "--name", "clash", "--derivatives", world, *QUICK])
    assert result.exit_code == 1 and "already holds a run of sub-03 of its own" in result.stderr
    assert not (world / "group/models/clash").exists() and not (world / "sub-02/models/clash").exists()


def test_all_names_every_subject_with_a_training_store(world, invoke):
    result = invoke(["fit", "--subject", "all", "--stage", "alignment", "--name", "everyone", "--derivatives", world,
                     *QUICK])
    assert result.exit_code == 0, result.output + result.stderr
    record = json.loads((world / "group/models/everyone/alignment/model/alignment.json").read_text())
    assert record["subjects"] == ["01", "02", "03"] and record["method"] == "anatomical"
    twice = invoke(["fit", "--subject", "02", "sub-02", "--name", "twice", "--derivatives", world, *QUICK])
    assert twice.exit_code == 1 and "a subject is named twice" in twice.stderr


def test_the_adapter_penalty_adds_its_weighted_distance_and_pulls_adapters_towards_the_identity():
    from neurocine_toolbox.alignment.adapters import AdaptedEncoder
    from neurocine_toolbox.models.fmri_encoder import FMRIEncoder
    from neurocine_toolbox.training.encoder_stages import contrastive_step

    torch.manual_seed(0)
    encoder = FMRIEncoder(num_voxels=32, patch_size=16, embed_dim=16, depth=1, num_heads=2, window_size=2,
                          out_tokens=2, out_dim=8, clip_dim=4).eval()
    adapters = SubjectAdapters(2, np.array(["L_V1"] * 12 + ["R_V1"] * 20))
    model = AdaptedEncoder(encoder, adapters)
    with torch.no_grad():
        for weight in adapters.weights:
            weight.add_(0.2 * torch.randn_like(weight))
    g = torch.Generator().manual_seed(1)
    batch = {"fmri": torch.randn(6, 2, 32, generator=g), "text_embeds": torch.randn(6, 2, 4, generator=g),
             "image_embeds": torch.randn(6, 2, 3, 4, generator=g), "subject": torch.tensor([0, 0, 0, 1, 1, 1])}
    section = {"mu_spa": 0.0, "mu_tem": 0.0, "mu_text": 1.0, "mu_image": 1.0, "temperature": 0.1,
               "gamma_spa": 0.2, "gamma_tem": 0.5, "spatial_mask_space": "voxels"}
    without, _ = contrastive_step(section, adapter_penalty=0.0)(model, batch, torch.Generator())
    with_penalty, parts = contrastive_step(section, adapter_penalty=3.0)(model, batch, torch.Generator())
    distance = adapters.distance_from_identity().item()
    assert distance > 0 and parts["adapter_distance"] == pytest.approx(distance)
    assert (with_penalty - without).item() == pytest.approx(3.0 * distance, rel=1e-4)
    # Alone, the penalty's gradient points each adapter back towards the identity.
    model.zero_grad()
    (with_penalty - without).backward()
    for weight in adapters.weights:
        eye = torch.eye(weight.shape[-1])
        torch.testing.assert_close(weight.grad, 6.0 * (weight.detach() - eye))
