"""The embedding step: tiny pretrained models, captions, CLIP embeddings in the store, CLI, windows."""

import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from neurocine_toolbox.config import load_config
from neurocine_toolbox.data import open_store
from neurocine_toolbox.data.dataset import FMRIWindowDataset
from neurocine_toolbox.data.embedding import embed_store, embed_stores
from neurocine_toolbox.data.prep import PrepOptions, prep
from neurocine_toolbox.errors import NeurocineError
from neurocine_toolbox.models.pretrained import resolve_pretrained
from neurocine_toolbox.simulate import simulate_dataset
from neurocine_toolbox.tiny_models.blip import build_tiny_blip
from neurocine_toolbox.tiny_models.clip import build_tiny_clip

# Two training movies seen twice, one test movie seen twice; 12 s each = 6 TRs of 2 s.
SIM = dict(n_train_segments=2, train_segment_seconds=12, n_test_segments=1, test_segment_seconds=12,
           test_repeats=2, movie_size=32)
TR, FRAMES_PER_TR = 2.0, 6
TEXT_DIM = EMBED_DIM = 32  # the tiny CLIP
STORE = "sub-01/func/sub-01_split-{}_desc-neurocine_bold.h5"


@pytest.fixture(scope="module")
def bids(tmp_path_factory):
    root = simulate_dataset(tmp_path_factory.mktemp("sim") / "bids", seed=0, progress=False, **SIM)
    # Separate viewings: TR rows 6-11 show the frame rows 0-5 again.
    prep(root, options=PrepOptions(frame_size=32, train_repeats="separate"), progress=False)
    return root


def tiny(**changes):
    section = load_config("tiny")["embedding"]
    section.update(changes)
    return section


def fresh_derivative(bids, tmp_path):
    """A copy of the prepared stores outside the BIDS folder (found again through SourceDatasets)."""
    out = tmp_path / "neurocine"
    shutil.copytree(bids / "derivatives" / "neurocine", out)
    return out


@pytest.fixture(scope="module")
def sidecar_store(bids, tmp_path_factory):
    out = fresh_derivative(bids, tmp_path_factory.mktemp("sidecar"))
    embed_store(out / STORE.format("train"), tiny(captions="sidecar"), progress=False)
    return out / STORE.format("train")


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def image_features(model, pixel_values):
    out = model.get_image_features(pixel_values=pixel_values)
    return getattr(out, "pooler_output", out)  # transformers 5 returns an output object


def test_tiny_models_round_trip_through_from_pretrained(tmp_path):
    from transformers import (
        BlipForConditionalGeneration, BlipProcessor, CLIPImageProcessor, CLIPModel, CLIPTokenizer,
    )

    # Built twice with one seed (a few training steps: the 200 of the cached build take 20 s).
    build_tiny_clip(tmp_path / "clip-a", seed=0, steps=5, n_pairs=256)
    build_tiny_clip(tmp_path / "clip-b", seed=0, steps=5, n_pairs=256)
    a = CLIPModel.from_pretrained(tmp_path / "clip-a")
    b = CLIPModel.from_pretrained(tmp_path / "clip-b")
    assert a.config.text_config.max_position_embeddings == 77 and a.config.projection_dim == EMBED_DIM
    for key, value in a.state_dict().items():  # seeded: the same weights every time
        torch.testing.assert_close(value, b.state_dict()[key], rtol=0, atol=0)
    tokenizer = CLIPTokenizer.from_pretrained(tmp_path / "clip-a")
    caption = "a red disc moving to the right on a dark background near a zebra"
    ids = tokenizer(caption).input_ids
    assert tokenizer.convert_ids_to_tokens(ids)[:4] == ["<|startoftext|>", "a</w>", "red</w>", "disc</w>"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == caption  # unknown words fall back to bytes
    long = tokenizer(" ".join(["background"] * 200), padding="max_length", max_length=77, truncation=True)
    assert len(long.input_ids) == 77 and long.input_ids[-1] == tokenizer.eos_token_id
    pixels = CLIPImageProcessor.from_pretrained(tmp_path / "clip-a")(
        images=[np.zeros((16, 16, 3), np.uint8)], return_tensors="pt")["pixel_values"]
    assert pixels.shape == (1, 3, 32, 32) and image_features(a, pixels).shape == (1, EMBED_DIM)

    build_tiny_blip(tmp_path / "blip")
    blip = BlipForConditionalGeneration.from_pretrained(tmp_path / "blip")
    processor = BlipProcessor.from_pretrained(tmp_path / "blip")
    images = [np.full((16, 16, 3), v, np.uint8) for v in (0, 255)]
    out = blip.generate(**processor(images=images, return_tensors="pt"), max_new_tokens=8)
    captions = processor.batch_decode(out, skip_special_tokens=True)
    words = set(processor.tokenizer.get_vocab())
    assert all(c and set(c.split()) <= words for c in captions)
    assert captions[0] != captions[1]  # captions depend on the image
    assert "[DEC]" not in " ".join(captions)


def test_tiny_names_are_built_once_into_the_cache(tiny_cache):
    first = resolve_pretrained("tiny-clip")
    assert first.is_local and first.location == str(tiny_cache / "tiny" / "tiny-clip")
    stamp = (tiny_cache / "tiny" / "tiny-clip" / "model.safetensors").stat().st_mtime_ns
    assert resolve_pretrained("tiny-clip") == first
    assert (tiny_cache / "tiny" / "tiny-clip" / "model.safetensors").stat().st_mtime_ns == stamp
    # No temporary folders (the lock files stay: they hold nothing).
    assert not [p for p in (tiny_cache / "tiny").iterdir() if p.is_dir() and p.name.startswith(".")]
    # A build by an older neurocine (another builder version) is replaced, in one rename
    # (shown on tiny-blip, which builds in a second; tiny-clip trains for 20 s).
    blip = resolve_pretrained("tiny-blip")
    marker = tiny_cache / "tiny" / "tiny-blip" / "neurocine_tiny.json"
    marker.write_text(json.dumps({"name": "tiny-blip", "builder_version": -1}))
    assert resolve_pretrained("tiny-blip") == blip
    assert json.loads(marker.read_text())["builder_version"] != -1
    assert not [p for p in (tiny_cache / "tiny").iterdir() if p.is_dir() and p.name.startswith(".")]
    hub = resolve_pretrained("openai/clip-vit-large-patch14")
    assert not hub.is_local and hub.local_files_only  # HF_HUB_OFFLINE is set by conftest
    with pytest.raises(NeurocineError, match="does not exist"):
        resolve_pretrained("./no/such/folder")


def test_embedding_datasets_have_one_row_per_frame_row(sidecar_store):
    with open_store(sidecar_store) as store:
        f = store._file
        n = f["frames"].shape[0]
        assert n == 12 and len(store) == 24
        assert f["captions"].shape == (n,)
        assert f["clip_text_states"].shape == (n, 77, TEXT_DIM) and f["clip_text_states"].dtype == np.float16
        assert f["clip_text_embeds"].shape == (n, EMBED_DIM) and f["clip_text_embeds"].dtype == np.float32
        assert f["clip_image_embeds"].shape == (n, FRAMES_PER_TR, EMBED_DIM)
        assert f["clip_image_embeds"].dtype == np.float32
        # Views are indexed by TR row, through frame_rows: the second viewing repeats the first.
        assert store.has_embeddings and store.clip_text_states.shape == (24, 77, TEXT_DIM)
        np.testing.assert_array_equal(store.clip_image_embeds[6:12], f["clip_image_embeds"][0:6])
        assert list(store.captions[6:12]) == list(f["captions"].asstr()[0:6])
        info = store.attrs["embedding"]
        assert info["captions"] == "sidecar" and info["clip_model"] == "tiny-clip"
        assert info["caption_model"] is None and info["caption_frame"] == 3
        assert info["text_dim"] == TEXT_DIM and info["embed_dim"] == EMBED_DIM
        assert info["clip_model_folder"].endswith("tiny-clip") and info["transformers_version"]
    sidecar = json.loads(sidecar_store.with_suffix(".json").read_text())
    assert sidecar["embedding"]["captions"] == "sidecar" and "voxel_selection" in sidecar


def test_sidecar_captions_are_the_clip_on_screen(sidecar_store, bids):
    with open_store(sidecar_store) as store:
        for row in range(len(store)):
            movie = store.stimulus_files[store.stimulus[row]].removesuffix(".mp4")
            clips = pd.read_csv(bids / "stimuli" / f"{movie}_clips.tsv", sep="\t")
            middle = store.stimulus_time[row] + TR / 2  # frame 3 of 6 is shown at the TR's middle
            on_screen = clips[(clips.onset <= middle) & (middle < clips.onset + clips.duration)]
            assert store.captions[row] == on_screen.caption.item()
        # seg1 (seed 0): a clip changes between rows 1 and 2, so captions are per TR, not per movie.
        assert store.captions[1] != store.captions[2]


def test_text_states_follow_the_captions(sidecar_store, tiny_cache):
    from transformers import CLIPModel, CLIPTokenizer

    with open_store(sidecar_store) as store:
        captions = np.asarray(store.captions)
        states = np.asarray(store.clip_text_states, np.float32)
        embeds = np.asarray(store.clip_text_embeds)
    same = [(i, j) for i in range(24) for j in range(i) if captions[i] == captions[j]]
    different = [(i, j) for i in range(24) for j in range(i) if captions[i] != captions[j]]
    assert same and different
    for i, j in same:
        np.testing.assert_allclose(states[i], states[j], rtol=0, atol=1e-3)
        np.testing.assert_allclose(embeds[i], embeds[j], rtol=0, atol=1e-5)
    for i, j in different:
        assert np.abs(states[i] - states[j]).max() > 0.05 and np.abs(embeds[i] - embeds[j]).max() > 1e-3
    folder = tiny_cache / "tiny" / "tiny-clip"
    model, tokenizer = CLIPModel.from_pretrained(folder), CLIPTokenizer.from_pretrained(folder)
    ids = tokenizer([captions[2]], padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        direct = model.text_model(input_ids=ids).last_hidden_state[0].numpy()
        features = model.get_text_features(input_ids=ids)
    np.testing.assert_allclose(states[2], direct, rtol=1e-2, atol=2e-3)  # stored as float16
    np.testing.assert_allclose(embeds[2], getattr(features, "pooler_output", features)[0].numpy(), atol=1e-5)


def test_image_embeds_are_clip_features_of_the_stored_frames(sidecar_store, tiny_cache):
    from transformers import CLIPImageProcessor, CLIPModel

    folder = tiny_cache / "tiny" / "tiny-clip"
    model, processor = CLIPModel.from_pretrained(folder), CLIPImageProcessor.from_pretrained(folder)
    with open_store(sidecar_store) as store:
        row = 9  # second viewing of seg1: frame row 3
        assert store.frame_rows[row] == 3
        frames = store.frames[row]
        with torch.no_grad():
            direct = image_features(model, processor(images=list(frames), return_tensors="pt")["pixel_values"])
        np.testing.assert_allclose(store.clip_image_embeds[row], direct.numpy(), rtol=1e-4, atol=1e-5)
        # Each frame has its own embedding, and other rows' embeddings are not these.
        assert np.abs(np.diff(store.clip_image_embeds[row], axis=0)).max() > 0
        assert np.abs(store.clip_image_embeds[row + 1] - direct.numpy()).max() > 1e-3


def test_model_captions_are_blip_captions_of_the_middle_frame(bids, tmp_path, tiny_cache, monkeypatch):
    import neurocine_toolbox.data.embedding as embedding
    from transformers import BlipForConditionalGeneration, BlipProcessor

    out = fresh_derivative(bids, tmp_path)
    path = out / STORE.format("test")
    captioned = []

    def spy(blip, images, max_new_tokens):
        captioned.append(np.array(images))
        return real(blip, images, max_new_tokens)

    real = embedding.blip_captions
    monkeypatch.setattr(embedding, "blip_captions", spy)
    embed_store(path, tiny(captions="model", batch_size=4, max_caption_tokens=5), progress=False)
    assert [len(c) for c in captioned] == [4, 2]  # batched: 6 frame rows, 4 at a time
    folder = tiny_cache / "tiny" / "tiny-blip"
    model, processor = BlipForConditionalGeneration.from_pretrained(folder), BlipProcessor.from_pretrained(folder)
    with open_store(path) as store:
        middle = store._file["frames"][:, FRAMES_PER_TR // 2]
        np.testing.assert_array_equal(np.concatenate(captioned), middle)
        assert (middle != store._file["frames"][:, 0]).any()  # the frames of a TR differ
        with torch.no_grad():
            ids = model.generate(**processor(images=list(middle), return_tensors="pt"), max_new_tokens=5)
        expected = [c.strip() for c in processor.batch_decode(ids, skip_special_tokens=True)]
        assert list(store._file["captions"].asstr()[()]) == expected
        assert all(0 < len(c.split()) <= 5 for c in expected)
        info = store.attrs["embedding"]
        assert info["captions"] == "model" and info["caption_model"] == "tiny-blip"
        assert info["caption_model_folder"] == str(folder.resolve())


def test_rerun_replaces_earlier_embeddings(sidecar_store, tmp_path):
    path = tmp_path / sidecar_store.name
    shutil.copy(sidecar_store, path)
    before = path.stat().st_size
    with open_store(path) as store:
        fmri, attrs = store.fmri.copy(), {k: v for k, v in store.attrs.items() if k != "embedding"}
        old_captions = list(store.captions)
    for _ in range(2):
        embed_store(path, tiny(captions="model", max_caption_tokens=3), progress=False)
    with open_store(path) as store:
        assert sorted(store._file) == sorted(["captions", "clip_image_embeds", "clip_text_embeds", "clip_text_states",
                                              "fmri", "frame_rows", "frames", "run_sources", "runs", "stimulus",
                                              "stimulus_files", "stimulus_time", "tr_in_run", "validation",
                                              "voxel_grayordinates", "voxel_rois"])
        assert list(store.captions) != old_captions and store.attrs["embedding"]["captions"] == "model"
        np.testing.assert_array_equal(store.fmri, fmri)
        new_attrs = {k: v for k, v in store.attrs.items() if k != "embedding"}
        assert json.dumps(new_attrs, sort_keys=True, default=str) == json.dumps(attrs, sort_keys=True, default=str)
    assert path.stat().st_size < 1.1 * before  # replaced, not appended
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_failure_midway_leaves_the_store_as_it_was(sidecar_store, tmp_path, monkeypatch):
    import neurocine_toolbox.data.embedding as embedding

    path = tmp_path / sidecar_store.name
    shutil.copy(sidecar_store, path)
    digest = sha256(path)
    real, calls = embedding.clip_images, []

    def fail_on_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("out of memory")
        return real(*args, **kwargs)

    monkeypatch.setattr(embedding, "clip_images", fail_on_second_batch)
    with pytest.raises(RuntimeError, match="out of memory"):
        embed_store(path, tiny(captions="model", batch_size=4), progress=False)
    assert len(calls) == 2
    assert sha256(path) == digest  # earlier embeddings kept, nothing half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left


def test_sidecar_problems_are_one_line_errors_and_write_nothing(bids, tmp_path):
    out = fresh_derivative(bids, tmp_path)
    path = out / STORE.format("train")
    digest = sha256(path)
    raw = tmp_path / "raw"
    (raw / "stimuli").mkdir(parents=True)
    with pytest.raises(NeurocineError, match=r"seg1_clips.tsv: no clip sidecar"):
        embed_store(path, tiny(captions="sidecar"), bids_dir=raw, progress=False)
    pd.DataFrame({"onset": [0.0], "duration": [12.0], "label": ["x"]}).to_csv(
        raw / "stimuli" / "seg1_clips.tsv", sep="\t", index=False)
    with pytest.raises(NeurocineError, match="lacks column.*caption"):
        embed_store(path, tiny(captions="sidecar"), bids_dir=raw, progress=False)
    pd.DataFrame({"onset": [0.0], "duration": [6.0], "caption": ["x"]}).to_csv(
        raw / "stimuli" / "seg1_clips.tsv", sep="\t", index=False)
    with pytest.raises(NeurocineError, match="no clip covers the movie time 7.000 s"):
        embed_store(path, tiny(captions="sidecar"), bids_dir=raw, progress=False)
    # Moved away from its BIDS dataset, with no SourceDatasets to follow: told to give --bids-dir.
    (out / "dataset_description.json").write_text(json.dumps({"Name": "x", "DatasetType": "derivative"}))
    with pytest.raises(NeurocineError, match="--bids-dir"):
        embed_store(path, tiny(captions="sidecar"), progress=False)
    with pytest.raises(NeurocineError, match="embedding.captions must be model or sidecar"):
        embed_store(path, tiny(captions="oracle"), progress=False)
    with pytest.raises(NeurocineError, match="batch_size must be a whole number"):
        embed_store(path, tiny(batch_size=0), progress=False)
    assert sha256(path) == digest


def test_absent_weights_stop_the_cli_with_one_line(bids, tmp_path, invoke):
    out = fresh_derivative(bids, tmp_path)
    digest = sha256(out / STORE.format("train"))
    result = invoke(["embed", out, "--preset", "tiny", "--captions", "sidecar",
                     "--set", "embedding.clip_model=neurocine-tests/no-such-clip"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("neurocine: error: CLIP model "
                                                                       "'neurocine-tests/no-such-clip'")
    assert "not in the Hugging Face cache" in result.stderr and "embedding.clip_model" in result.stderr
    assert "hf download neurocine-tests/no-such-clip" in result.stderr
    result = invoke(["embed", "--derivatives", out, "--preset", "tiny", "--captions", "model",
                     "--set", "embedding.caption_model=neurocine-tests/no-such-blip"])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "BLIP captioning model 'neurocine-tests/no-such-blip'" in result.stderr
    assert "embedding.caption_model" in result.stderr
    result = invoke(["embed", out, "--preset", "tiny", "--set", f"embedding.clip_model={tmp_path / 'nowhere'}"])
    assert result.exit_code == 1 and "CLIP model folder does not exist" in result.stderr
    # A folder with the weights but not the tokenizer (transformers would build an empty one).
    partial = tmp_path / "clip-without-tokenizer"
    shutil.copytree(resolve_pretrained("tiny-clip").location, partial,
                    ignore=shutil.ignore_patterns("vocab.json", "merges.txt", "tokenizer*"))
    result = invoke(["embed", out, "--preset", "tiny", "--captions", "sidecar",
                     "--set", f"embedding.clip_model={partial}"])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert f"{partial}: the CLIP model's tokenizer has 2 tokens" in result.stderr
    assert sha256(out / STORE.format("train")) == digest
    with open_store(out / STORE.format("train")) as store:
        assert not store.has_embeddings
        with pytest.raises(NeurocineError, match="run `neurocine embed`"):
            store.captions


def test_prep_embed_and_embed_through_the_cli(bids, tmp_path, invoke, monkeypatch):
    root = tmp_path / "bids"
    shutil.copytree(bids, root, ignore=shutil.ignore_patterns("neurocine"))
    result = invoke(["--quiet", "prep", root, "--frame-size", "32", "--embed", "--preset", "tiny",
                     "--captions", "sidecar"])
    assert result.exit_code == 0, result.stderr
    deriv = root / "derivatives" / "neurocine"
    assert result.stdout.count("embedded ") == 2
    for split in ("train", "test"):
        with open_store(deriv / STORE.format(split)) as store:
            assert store.has_embeddings and store.attrs["embedding"]["captions"] == "sidecar"
            assert store.attrs["embedding"]["caption_sidecars"] == str(root / "stimuli")
    # Without DERIVATIVES_DIR: the derivative of the BIDS dataset around the current folder.
    monkeypatch.chdir(root / "sub-01")
    result = invoke(["--quiet", "embed", "--subject", "01", "--split", "test", "--preset", "tiny",
                     "--captions", "model", "--device", "cpu"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().endswith("sub-01_split-test_desc-neurocine_bold.h5")
    with open_store(deriv / STORE.format("test")) as test, open_store(deriv / STORE.format("train")) as train:
        assert test.attrs["embedding"]["captions"] == "model"
        assert train.attrs["embedding"]["captions"] == "sidecar"  # --split test left it alone
    result = invoke(["embed", "--subject", "02", "--preset", "tiny"])
    assert result.exit_code == 1 and "no train/test store for sub-02" in result.stderr
    result = invoke(["prep", root, "--captions", "sidecar"])
    assert result.exit_code == 2 and "only with --embed" in result.stderr


def test_half_precision_models_as_on_cuda(sidecar_store, bids, tmp_path):
    """CUDA runs the models in float16; the same code path, on the CPU, gives the float32 numbers."""
    from neurocine_toolbox.data.embedding import EmbeddingModels
    from neurocine_toolbox.models.pretrained import load_clip

    path = tmp_path / sidecar_store.name
    shutil.copy(sidecar_store, path)
    half = EmbeddingModels(load_clip("tiny-clip", "cpu", torch.float16), None, torch.device("cpu"),
                           torch.float16)
    embed_store(path, tiny(captions="sidecar"), models=half, bids_dir=bids, progress=False)
    with open_store(path) as store, open_store(sidecar_store) as full:
        assert store.attrs["embedding"]["model_dtype"] == "float16"
        assert store._file["clip_image_embeds"].dtype == np.float32
        np.testing.assert_allclose(np.asarray(store.clip_image_embeds), np.asarray(full.clip_image_embeds),
                                   rtol=0.05, atol=0.05)
        np.testing.assert_allclose(np.asarray(store.clip_text_states, np.float32),
                                   np.asarray(full.clip_text_states, np.float32), rtol=0.05, atol=0.05)
    with pytest.raises(NeurocineError, match="needs a BLIP model"):
        embed_store(path, tiny(captions="model"), models=half, progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(sidecar_store):
    with pytest.raises(NeurocineError, match="no CUDA GPU"):
        embed_stores([sidecar_store], tiny(captions="sidecar"), device="cuda", progress=False)


def test_window_dataset_returns_embeddings_aligned_with_its_frames(sidecar_store, bids):
    dataset = FMRIWindowDataset(sidecar_store, window=2, with_embeddings=True)
    with open_store(sidecar_store) as store:
        index = int(np.flatnonzero(dataset.starts == 8)[0])  # a window in the second viewing of seg1
        item = dataset[index]
        assert item["row"] == 8 and item["text_embeds"].dtype == torch.float32
        assert item["text_embeds"].shape == (2, EMBED_DIM)
        assert item["image_embeds"].shape == (2, FRAMES_PER_TR, EMBED_DIM)
        assert item["text_states"].shape == (2, 77, TEXT_DIM)
        for j, row in enumerate((8, 9)):
            f = store.frame_rows[row]
            np.testing.assert_array_equal(item["frames"][j].numpy(), store._file["frames"][f])
            np.testing.assert_array_equal(item["image_embeds"][j].numpy(), store._file["clip_image_embeds"][f])
            np.testing.assert_array_equal(item["text_embeds"][j].numpy(), store._file["clip_text_embeds"][f])
            np.testing.assert_array_equal(item["text_states"][j].numpy(),
                                          store._file["clip_text_states"][f].astype(np.float32))
    assert "text_embeds" not in FMRIWindowDataset(sidecar_store, window=2)[0]
    batch = torch.utils.data.default_collate([dataset[0], dataset[1]])
    assert batch["text_states"].shape == (2, 2, 77, TEXT_DIM)
    bare = bids / "derivatives" / "neurocine" / STORE.format("test")
    with pytest.raises(NeurocineError, match="run `neurocine embed`"):
        FMRIWindowDataset(bare, window=2, with_embeddings=True)
