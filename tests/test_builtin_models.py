"""Built-in model names: found through entry points, built once with a log line and progress bars."""

import json
import logging

import pytest

from neurocine_toolbox.errors import NeurocineError
from neurocine_toolbox.models import pretrained
from neurocine_toolbox.models.pretrained import build_tiny, builtin_builder, builtin_models, resolve_pretrained

NAMES = ["tiny-blip", "tiny-clip", "tiny-clip-natural", "tiny-sd", "tiny-sd-natural", "tiny-sd-random",
         "tiny-videomae", "tiny-videomae-natural", "tiny-vit", "tiny-vit-natural"]
#: The version of the folders every cache holds today: bump it only when a builder's output changes.
VERSIONS = {"tiny-blip": 4, "tiny-clip": 4, "tiny-sd": 6, "tiny-sd-random": 4, "tiny-videomae": 1, "tiny-vit": 1,
            "tiny-clip-natural": 1, "tiny-sd-natural": 1, "tiny-videomae-natural": 1, "tiny-vit-natural": 1}


def test_the_names_are_registered_with_their_builders_and_versions():
    assert sorted(builtin_models()) == NAMES
    for name in NAMES:
        builder = builtin_builder(name)
        assert builder.__module__.startswith("neurocine_toolbox.tiny_models.")
        assert builder.builder_version == VERSIONS[name]
        assert builder.build_duration and builder.build_description


def test_an_unknown_builtin_name_is_one_line_listing_the_known_ones():
    with pytest.raises(NeurocineError) as caught:
        resolve_pretrained("tiny-sdxl", "Stable Diffusion model", "decoder.pretrained")
    assert str(caught.value) == ("unknown built-in model 'tiny-sdxl' (known: tiny-blip, tiny-clip, tiny-clip-natural, "
                                 "tiny-sd, tiny-sd-natural, tiny-sd-random, tiny-videomae, tiny-videomae-natural, "
                                 "tiny-vit, tiny-vit-natural) (set in decoder.pretrained)")
    with pytest.raises(NeurocineError, match="^unknown built-in model 'tiny-x' "):
        build_tiny("tiny-x")
    assert not resolve_pretrained("org/tiny-model").is_local  # a Hugging Face id, not a built-in name


def test_a_local_folder_named_like_a_builtin_model_is_a_folder(tmp_path, monkeypatch):
    (tmp_path / "tiny-sd-finetuned").mkdir()
    monkeypatch.chdir(tmp_path)
    source = resolve_pretrained("tiny-sd-finetuned", "Stable Diffusion model", "decoder.pretrained")
    assert source.is_local and source.location == "tiny-sd-finetuned"


def test_without_registered_builders_the_message_says_to_reinstall(monkeypatch):
    monkeypatch.setattr(pretrained, "builtin_models", dict)
    with pytest.raises(NeurocineError, match=r"no built-in models are registered.*pip install -e \."):
        resolve_pretrained("tiny-clip")


def test_a_build_is_announced_and_shows_progress_unless_quiet(tmp_path, monkeypatch, caplog):
    calls = []

    def builder(folder, progress):
        calls.append(progress)
        (folder / "weights.bin").write_text("w")

    builder.builder_version, builder.build_duration, builder.build_description = 7, "~1 s", "writing one file"
    monkeypatch.setattr(pretrained, "builtin_builder", lambda name: builder)
    logger = logging.getLogger("neurocine")

    logger.setLevel(logging.WARNING)  # `--quiet`: no line, no bars
    build_tiny("tiny-fake", tmp_path / "quiet")
    logger.setLevel(logging.INFO)
    with caplog.at_level(logging.INFO, logger="neurocine"):
        folder = build_tiny("tiny-fake", tmp_path / "cache")
        again = build_tiny("tiny-fake", tmp_path / "cache")  # cached: neither built nor announced
    assert calls == [False, True]
    assert folder == again == tmp_path / "cache" / "tiny-fake" and (folder / "weights.bin").is_file()
    assert json.loads((folder / "neurocine_tiny.json").read_text()) == {"name": "tiny-fake", "builder_version": 7}
    assert [r.getMessage() for r in caplog.records] == [
        f"building tiny-fake once into {tmp_path / 'cache'} (~1 s): writing one file"]
    build_tiny("tiny-fake", tmp_path / "cache", progress=False)
    assert calls == [False, True]

    builder.builder_version = 8  # a new builder: the cached folder is rebuilt, in one rename
    build_tiny("tiny-fake", tmp_path / "cache", progress=False)
    assert calls == [False, True, False]
    assert json.loads((folder / "neurocine_tiny.json").read_text())["builder_version"] == 8
    # No temporary folders left (the lock file may stay: it holds nothing).
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.is_dir()] == ["tiny-fake"]


def test_processes_that_need_one_model_at_once_build_it_once(tmp_path, monkeypatch):
    import threading
    import time

    calls = []

    def builder(folder, progress):
        calls.append(folder)
        time.sleep(0.5)  # long enough for the other thread to find no finished build
        (folder / "weights.bin").write_text("w")

    builder.builder_version, builder.build_duration, builder.build_description = 1, "~1 s", "one slow file"
    monkeypatch.setattr(pretrained, "builtin_builder", lambda name: builder)
    folders = []  # two threads stand in for two processes: each opens the lock file on its own
    threads = [threading.Thread(target=lambda: folders.append(build_tiny("tiny-fake", tmp_path, progress=False)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1  # one built, the other waited for it
    assert folders == [tmp_path / "tiny-fake"] * 2 and (tmp_path / "tiny-fake" / "weights.bin").is_file()
