"""Importing checkpoints users already have (MAEforFMRIContrast files, MinD-Video folders, our own).

The sources are written here, key by key, in the layouts peers use (random tensors of the right
shapes), so the test says exactly which names and shapes the importer understands.
"""

import builtins
import importlib
import json
import logging
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from neurocine_toolbox.errors import NeurocineError
from neurocine_toolbox.models import checkpoint_import
from neurocine_toolbox.models.checkpoint_import import (PickledObject, import_checkpoint, interpolate_positions,
                                                        stand_in_allowed)
from neurocine_toolbox.models.fmri_encoder import FMRIEncoder
from neurocine_toolbox.models.fmri_mae import FMRIMaskedAutoencoder

D, DEPTH, HIDDEN, PATCH = 32, 2, 64, 16  # width, blocks, MLP width (ratio 2), voxels per patch
DEC = 16  # MAE decoder width


class TrainingConfig:
    """Stands for the config classes peers pickle into their checkpoints."""

    def __init__(self):
        self.num_heads = 4


class RunsACall:
    """Pickles as a call of ``func(arg)``: what a malicious file holds. Saving it runs nothing."""

    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


def backbone(n_patches, temporal=False, seed=0, width=D):
    """ViT/MAE encoder keys with their shapes (MinD-Vis, MAEforFMRIContrast, MinD-Video)."""
    gen = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=gen)  # noqa: E731
    w, h = width, width * HIDDEN // D
    sd = {"patch_embed.proj.weight": r(w, 1, PATCH), "patch_embed.proj.bias": r(w),
          "cls_token": r(1, 1, w), "pos_embed": r(1, n_patches + 1, w)}
    for i in range(DEPTH):
        b = f"blocks.{i}."
        sd.update({b + "norm1.weight": r(w), b + "norm1.bias": r(w),
                   b + "attn.qkv.weight": r(3 * w, w), b + "attn.qkv.bias": r(3 * w),
                   b + "attn.proj.weight": r(w, w), b + "attn.proj.bias": r(w),
                   b + "norm2.weight": r(w), b + "norm2.bias": r(w),
                   b + "mlp.fc1.weight": r(h, w), b + "mlp.fc1.bias": r(h),
                   b + "mlp.fc2.weight": r(w, h), b + "mlp.fc2.bias": r(w)})
        if temporal:
            sd.update({b + "norm_temp.weight": r(w), b + "norm_temp.bias": r(w),
                       b + "attn_temp.qkv.weight": r(3 * w, w), b + "attn_temp.qkv.bias": r(3 * w),
                       b + "attn_temp.proj.weight": r(w, w), b + "attn_temp.proj.bias": r(w)})
    sd.update({"norm.weight": r(w), "norm.bias": r(w)})
    return sd


def mae_decoder(n_patches, seed=1):
    """The pre-training-only keys of MAEforFMRIContrast."""
    gen = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=gen)  # noqa: E731
    return {"mask_token": r(1, 1, DEC), "decoder_embed.weight": r(DEC, D), "decoder_embed.bias": r(DEC),
            "decoder_pos_embed": r(1, n_patches + 1, DEC),
            "decoder_blocks.0.norm1.weight": r(DEC), "decoder_blocks.0.attn.qkv.weight": r(3 * DEC, DEC),
            "decoder_norm.weight": r(DEC), "decoder_norm.bias": r(DEC),
            "decoder_pred.weight": r(PATCH, DEC), "decoder_pred.bias": r(PATCH)}


def mindvideo_head(n_patches, window, out_tokens=7, out_dim=24, use_norm=True, seed=2):
    gen = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=gen)  # noqa: E731
    sd = {"proj_head.channel_mapper.weight": r(out_tokens, n_patches * window),
          "proj_head.projection.weight": r(out_dim, D), "proj_head.fc.weight": r(out_dim, out_dim)}
    if use_norm:
        sd.update({"proj_head.layer_norm.weight": r(out_dim), "proj_head.layer_norm.bias": r(out_dim)})
    return sd


def mindvideo_state(n_patches=5, window=2, use_norm=True):
    return {**backbone(n_patches, temporal=True), **mindvideo_head(n_patches, window, use_norm=use_norm),
            "mask_token": torch.randn(1, 1, D), "logit_scale": torch.ones(())}


def mindvideo_config(n_patches=5, window=2, use_norm=True):
    return {"_class_name": "fMRIEncoder", "_diffusers_version": "0.11.1", "num_voxels": n_patches * PATCH,
            "patch_size": PATCH, "embed_dim": D, "in_chans": 1, "depth": DEPTH, "num_heads": 4,
            "mlp_ratio": HIDDEN / D, "out_channel": 7, "out_dim": 24, "use_norm": use_norm, "dropout": 0.0,
            "window_size": window, "use_temp_attn": True, "logit_scale_init_value": 1.0}


def write_mae_file(path, n_patches=5, config=None, zipfile=True):
    sd = {**backbone(n_patches), **mae_decoder(n_patches)}
    torch.save({"model": sd, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]},
                "epoch": 3, "scaler": {"scale": 65536.0, "growth_factor": 2.0, "_growth_tracker": 0},
                "config": config if config is not None else {"num_heads": 4, "embed_dim": D, "depth": DEPTH,
                                                             "patch_size": PATCH, "mask_ratio": 0.75,
                                                             "decoder_embed_dim": DEC}},
               path, _use_new_zipfile_serialization=zipfile)
    return sd


#: A peer's config module (MinD-Vis ``config.py``), written to a temporary folder. Importing it and
#: unpickling its class both leave a marker file, so a test can tell whether either happened.
PEER_CONFIG = """
import pathlib

pathlib.Path(IMPORTED).touch()


class Schedule:
    __slots__ = ("warmup_epochs", "num_epoch")

    def __init__(self):
        self.warmup_epochs, self.num_epoch = 40, 500


class Config_MBM_fMRI:
    def __init__(self):
        self.lr = 2.5e-4
        self.mask_ratio = 0.75
        self.patch_size = 16
        self.embed_dim = 32
        self.decoder_embed_dim = 16
        self.depth = 2
        self.num_heads = 8
        self.decoder_num_heads = 4
        self.mlp_ratio = 2.0
        self.include_hcp = True
        self.focus_range = None
        self.output_path = pathlib.PurePosixPath("/results/fmri_pretrain")
        self.schedule = Schedule()

    def __setstate__(self, state):
        pathlib.Path(UNPICKLED).touch()
        self.__dict__.update(state)
"""


def write_peer_checkpoint(tmp_path, path, zipfile=True):
    """An MAE pre-training file whose config is a ``fakepeer.config.Config_MBM_fMRI``; the module is
    unimportable afterwards. Returns the weights and the two marker files."""
    root = tmp_path / "peer_code"
    (root / "fakepeer").mkdir(parents=True, exist_ok=True)
    markers = {"imported": tmp_path / "peer_imported", "unpickled": tmp_path / "peer_unpickled"}
    (root / "fakepeer" / "__init__.py").write_text("")
    (root / "fakepeer" / "config.py").write_text(
        PEER_CONFIG.replace("IMPORTED", repr(str(markers["imported"])))
        .replace("UNPICKLED", repr(str(markers["unpickled"]))))
    sys.path.insert(0, str(root))
    try:
        config = importlib.import_module("fakepeer.config").Config_MBM_fMRI()
        source = write_mae_file(path, config=config, zipfile=zipfile)
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n == "fakepeer" or n.startswith("fakepeer.")]:
            del sys.modules[name]
        importlib.invalidate_caches()
    assert markers["imported"].exists()
    markers["imported"].unlink()
    with pytest.raises(ImportError):
        importlib.import_module("fakepeer.config")
    return source, markers


def write_mindvideo_folder(folder, weights="model.pth", n_patches=5, window=2, use_norm=True):
    folder.mkdir()
    sd = mindvideo_state(n_patches, window, use_norm)
    (folder / "config.json").write_text(json.dumps(mindvideo_config(n_patches, window, use_norm)))
    torch.save({"model": sd} if weights == "model.pth" else sd, folder / weights)
    return sd


def assert_accounts_for_every_key(model, source, report):
    """Every key of ours and of the source is in exactly one list of the report."""
    ours = [*report.loaded, *report.interpolated, *report.mismatched, *report.missing]
    assert sorted(ours) == sorted(model.state_dict())
    theirs = [*report.loaded, *report.interpolated, *report.mismatched, *report.dropped, *report.unexpected]
    assert sorted(theirs) == sorted(source)


def assert_loaded_equal(model, source, report):
    state = model.state_dict()
    assert report.loaded
    for key in report.loaded:
        assert torch.equal(state[key], source[key]), key


# --- MAEforFMRIContrast ---------------------------------------------------------------------------

def test_mae_file_maps_the_encoder_and_drops_the_decoder(tmp_path, caplog):
    source = write_mae_file(tmp_path / "checkpoint.pth")
    caplog.set_level(logging.INFO, logger="neurocine")
    model, report = import_checkpoint(tmp_path / "checkpoint.pth", num_voxels=80, window_size=2)

    assert report.format.startswith("MAE pre-training checkpoint")
    assert_accounts_for_every_key(model, source, report)
    assert sorted(report.loaded) == sorted(backbone(5))  # every encoder key, pos_embed included
    assert_loaded_equal(model, source, report)
    assert sorted(report.dropped) == sorted(mae_decoder(5))
    assert report.unexpected == [] and report.interpolated == {} and report.mismatched == {}
    assert set(report.missing) == {k for k in model.state_dict()
                                   if ".attn_temp." in k or ".norm_temp." in k or k.startswith(("proj_head.",
                                                                                                "clip_head."))}
    assert model.config.num_heads == 4 and model.config.embed_dim == D and model.config.depth == DEPTH
    assert model.config.mlp_ratio == 2.0 and model.config.temporal_attention and not model.training

    lines = [r.getMessage() for r in caplog.records if r.name == "neurocine" and r.levelno == logging.INFO]
    for key in [*report.loaded, *report.missing, *report.dropped]:
        assert f"  {key}" in lines, key
    assert "dropped (pre-training only):" in lines and "missing (left as initialised):" in lines

    # The imported temporal attention starts as a no-op: same tokens as without it.
    plain, _ = import_checkpoint(tmp_path / "checkpoint.pth", num_voxels=80, window_size=2,
                                 temporal_attention=False)
    x = torch.randn(3, 2, 80)
    with torch.no_grad():
        torch.testing.assert_close(model(x).hidden_states, plain(x).hidden_states, rtol=0, atol=1e-5)


def test_mae_file_for_another_voxel_count_interpolates_positions(tmp_path):
    source = write_mae_file(tmp_path / "checkpoint.pth", n_patches=5)
    model, report = import_checkpoint(tmp_path / "checkpoint.pth", num_voxels=9 * PATCH, window_size=2)

    assert report.interpolated == {"pos_embed": ((1, 6, D), (1, 10, D))}
    assert "pos_embed" not in report.loaded
    assert_accounts_for_every_key(model, source, report)
    assert_loaded_equal(model, source, report)  # the per-patch weights load as they are
    pos = model.pos_embed
    assert pos.shape == (1, 10, D)
    torch.testing.assert_close(pos[:, 0], source["pos_embed"][:, 0], rtol=0, atol=0)  # CLS row
    # 4 gaps become 8: every second new position coincides with an old one.
    torch.testing.assert_close(pos[:, 1::2], source["pos_embed"][:, 1:], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(pos[:, 2], (source["pos_embed"][:, 1] + source["pos_embed"][:, 2]) / 2)
    assert model(torch.randn(2, 2, 9 * PATCH)).text_states.shape == (2, 77, 768)


def test_interpolation_with_the_same_patch_count_is_the_identity():
    table = torch.randn(1, 8, 6)
    assert torch.equal(interpolate_positions(table, 7), table)
    shrunk = interpolate_positions(table, 4)
    assert shrunk.shape == (1, 5, 6) and torch.equal(shrunk[:, 0], table[:, 0])
    torch.testing.assert_close(shrunk[:, [1, 4]], table[:, [1, 7]])  # first and last patches kept


def test_mae_file_without_num_heads_assumes_the_vit_convention(tmp_path):
    write_mae_file(tmp_path / "checkpoint.pth", config={"mask_ratio": 0.75})
    with pytest.raises(NeurocineError, match="pass num_heads"):  # width 32 is not a multiple of 64
        import_checkpoint(tmp_path / "checkpoint.pth", num_voxels=80)
    model, report = import_checkpoint(tmp_path / "checkpoint.pth", num_voxels=80, num_heads=2)
    assert model.config.num_heads == 2 and not any("num_heads" in note for note in report.notes)

    torch.save({"model": backbone(5, width=128)}, tmp_path / "wide.pth")
    model, report = import_checkpoint(tmp_path / "wide.pth", num_voxels=80)
    assert model.config.num_heads == 2 and model.config.embed_dim == 128
    assert any("assumed 2" in note for note in report.notes)
    assert report.format == "state dict file"


def test_shapes_win_over_the_recorded_config(tmp_path):
    write_mae_file(tmp_path / "checkpoint.pth", config={"num_heads": 4, "embed_dim": 1024, "depth": 24})
    model, report = import_checkpoint(tmp_path / "checkpoint.pth", num_voxels=80)
    assert (model.config.embed_dim, model.config.depth) == (D, DEPTH)
    assert any("embed_dim=1024" in note for note in report.notes)


def test_mae_file_with_a_ddp_prefix(tmp_path):
    source = {f"module.{k}": v for k, v in backbone(5).items()}
    torch.save({"model": source, "epoch": 1}, tmp_path / "ddp.pth")
    model, report = import_checkpoint(tmp_path / "ddp.pth", num_voxels=80, num_heads=4)
    assert sorted(report.loaded) == sorted(backbone(5))
    assert any("module." in note for note in report.notes)
    assert torch.equal(model.state_dict()["norm.weight"], source["module.norm.weight"])


# --- MinD-Video -------------------------------------------------------------------------------------

@pytest.mark.parametrize("weights", ["model.pth", "diffusion_pytorch_model.bin"])
def test_mindvideo_folder_maps_every_key(tmp_path, weights):
    source = write_mindvideo_folder(tmp_path / "fmri_encoder", weights)
    model, report = import_checkpoint(tmp_path / "fmri_encoder", num_voxels=80)

    assert report.format == "MinD-Video fMRIEncoder folder"
    assert_accounts_for_every_key(model, source, report)
    assert_loaded_equal(model, source, report)
    assert sorted(report.loaded) == sorted(set(source) - {"mask_token", "logit_scale"})
    assert report.dropped == ["mask_token"]
    assert report.unexpected == ["logit_scale"]
    assert sorted(report.missing) == ["clip_head.0.bias", "clip_head.0.weight", "clip_head.1.bias",
                                      "clip_head.1.weight"]
    config = model.config
    assert (config.window_size, config.temporal_attention, config.out_tokens, config.out_dim, config.head_norm,
            config.num_heads) == (2, True, 7, 24, True, 4)
    assert any("CLS" in note for note in report.notes) and any(weights in note for note in report.notes)
    assert model(torch.randn(3, 2, 80)).text_states.shape == (3, 7, 24)


def test_mindvideo_use_norm_false_means_no_head_norm(tmp_path):
    source = write_mindvideo_folder(tmp_path / "enc", "diffusion_pytorch_model.bin", use_norm=False)
    model, report = import_checkpoint(tmp_path / "enc", num_voxels=80)
    assert model.config.head_norm is False
    assert not any(k.startswith("proj_head.layer_norm") for k in model.state_dict())
    assert_accounts_for_every_key(model, source, report)
    assert report.missing == ["clip_head.0.weight", "clip_head.0.bias", "clip_head.1.weight", "clip_head.1.bias"]


def test_mindvideo_for_another_voxel_count_or_window(tmp_path):
    source = write_mindvideo_folder(tmp_path / "enc", n_patches=5, window=2)
    fresh = FMRIEncoder(num_voxels=4 * PATCH, embed_dim=D, depth=DEPTH, num_heads=4, mlp_ratio=2.0,
                        out_tokens=7, out_dim=24)
    model, report = import_checkpoint(tmp_path / "enc", num_voxels=4 * PATCH)
    assert report.mismatched == {"proj_head.channel_mapper.weight": ((7, 10), (7, 8))}
    assert report.interpolated == {"pos_embed": ((1, 6, D), (1, 5, D))}
    assert_accounts_for_every_key(model, source, report)
    assert_loaded_equal(model, source, report)
    assert model.proj_head.channel_mapper.weight.shape == fresh.proj_head.channel_mapper.weight.shape
    assert "proj_head.projection.weight" in report.loaded and "blocks.1.attn_temp.qkv.weight" in report.loaded

    model, report = import_checkpoint(tmp_path / "enc", num_voxels=80, window_size=1)
    assert report.mismatched == {"proj_head.channel_mapper.weight": ((7, 10), (7, 5))}
    assert report.interpolated == {} and "pos_embed" in report.loaded


def test_mindvideo_with_the_same_mapper_size_but_other_patches_is_not_loaded(tmp_path):
    # 10 patches × window 1 has as many inputs as 5 patches × window 2, but not the same meaning.
    write_mindvideo_folder(tmp_path / "enc", n_patches=5, window=2)
    model, report = import_checkpoint(tmp_path / "enc", num_voxels=10 * PATCH, window_size=1)
    assert list(report.mismatched) == ["proj_head.channel_mapper.weight"]


def test_safetensors_file(tmp_path):
    source = mindvideo_state()
    save_file(source, tmp_path / "encoder.safetensors")
    model, report = import_checkpoint(tmp_path / "encoder.safetensors", num_voxels=80, num_heads=4)
    assert report.format == "MinD-Video fMRIEncoder weights"
    assert_accounts_for_every_key(model, source, report)
    assert_loaded_equal(model, source, report)
    assert model.config.window_size == 2  # read from the channel mapper: 10 inputs / 5 patches


# --- neurocine's own folders -------------------------------------------------------------------------

def test_own_folder_loads_with_from_pretrained(tmp_path):
    torch.manual_seed(0)
    saved = FMRIEncoder(num_voxels=80, embed_dim=D, depth=DEPTH, num_heads=4, out_tokens=7, out_dim=24,
                        clip_dim=12).eval()
    saved.save_pretrained(tmp_path / "enc")
    model, report = import_checkpoint(tmp_path / "enc", num_voxels=80)
    assert report.format == "neurocine FMRIEncoder folder"
    assert report.loaded == list(saved.state_dict()) and not report.missing
    for key, value in saved.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key

    # Another voxel count goes through the mapping, keeping the saved num_heads and clip_dim.
    model, report = import_checkpoint(tmp_path / "enc", num_voxels=96)
    assert (model.config.num_heads, model.config.clip_dim, model.num_patches) == (4, 12, 6)
    assert list(report.interpolated) == ["pos_embed"]
    assert list(report.mismatched) == ["proj_head.channel_mapper.weight"]
    assert "clip_head.1.weight" in report.loaded and not report.missing and not report.unexpected


def test_own_mae_folder_gives_its_encoder(tmp_path):
    torch.manual_seed(0)
    mae = FMRIMaskedAutoencoder(encoder_config=dict(num_voxels=80, embed_dim=D, depth=DEPTH, num_heads=4),
                                decoder_embed_dim=DEC, decoder_depth=1, decoder_num_heads=2)
    mae.save_pretrained(tmp_path / "mae")
    model, report = import_checkpoint(tmp_path / "mae", num_voxels=80)
    assert report.format == "neurocine FMRIMaskedAutoencoder folder"
    assert report.loaded == list(mae.encoder.state_dict())
    assert report.renamed["cls_token"] == "encoder.cls_token"
    assert report.dropped and all(not k.startswith("encoder.") for k in report.dropped)
    assert not report.missing and not report.unexpected
    for key, value in mae.encoder.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


# --- refusals ---------------------------------------------------------------------------------------

def one_line(error):
    message = str(error.value)
    assert "\n" not in message
    return message


needs_stand_ins = pytest.mark.skipif(not checkpoint_import._CAN_STAND_IN,
                                     reason="allowlisting a global under another name needs PyTorch 2.6")


@needs_stand_ins
@pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
def test_pickled_config_class_is_read_without_its_code(tmp_path, zipfile):
    source, markers = write_peer_checkpoint(tmp_path, tmp_path / "checkpoint.pth", zipfile)
    model, report = import_checkpoint(tmp_path / "checkpoint.pth", num_voxels=80, window_size=2)

    assert report.format.startswith("MAE pre-training checkpoint")
    assert model.config.num_heads == 8  # width 32 gives no default: it can only come from the config
    assert_accounts_for_every_key(model, source, report)
    assert_loaded_equal(model, source, report)
    assert any("pickled fakepeer.config.Config_MBM_fMRI object, read without running its code: num_heads=8"
               in note for note in report.notes)
    assert any("fakepeer.config.Config_MBM_fMRI, fakepeer.config.Schedule, pathlib.PurePosixPath were read "
               "without importing their classes" in note for note in report.notes)
    assert not any("embed_dim" in note or "assumed" in note for note in report.notes)  # config agrees
    # The peer's module was neither imported nor its __setstate__ run.
    assert not markers["imported"].exists() and not markers["unpickled"].exists()
    assert "fakepeer" not in sys.modules and "fakepeer.config" not in sys.modules

    with pytest.raises(NeurocineError, match="trained with num_heads=8; num_heads=4 was asked for") as error:
        import_checkpoint(tmp_path / "checkpoint.pth", num_voxels=80, num_heads=4)
    one_line(error)

    # What the stand-ins hold: __dict__ (NEWOBJ + BUILD), __slots__ ((None, slots) state), REDUCE arguments.
    content, stood_in = checkpoint_import._torch_load(tmp_path / "checkpoint.pth")
    config = content["config"]
    assert stood_in == ["fakepeer.config.Config_MBM_fMRI", "fakepeer.config.Schedule", "pathlib.PurePosixPath"]
    assert isinstance(config, PickledObject) and config.pickled_name == "fakepeer.config.Config_MBM_fMRI"
    assert config.num_heads == 8 and config.state["decoder_embed_dim"] == 16 and config.focus_range is None
    assert config.schedule.state == {"warmup_epochs": 40, "num_epoch": 500}
    assert config.output_path.pickled_name == "pathlib.PurePosixPath"
    assert config.output_path.args == ("/", "results", "fmri_pretrain")  # PurePath pickles its parts
    with pytest.raises(AttributeError):
        config.no_such_setting
    assert not markers["unpickled"].exists()


@needs_stand_ins
def test_pickled_config_without_architecture_settings(tmp_path):
    torch.save({"model": backbone(5), "epoch": 3, "config": TrainingConfig()}, tmp_path / "a.pth")
    model, report = import_checkpoint(tmp_path / "a.pth", num_voxels=80)
    assert model.config.num_heads == 4
    assert any("TrainingConfig object, read without running its code: num_heads=4" in n for n in report.notes)

    training = TrainingConfig()
    del training.num_heads
    training.lr = 1e-4
    torch.save({"model": backbone(5, width=128), "epoch": 3, "config": training}, tmp_path / "b.pth")
    model, report = import_checkpoint(tmp_path / "b.pth", num_voxels=80)
    assert model.config.num_heads == 2  # the ViT convention, 64 channels per head
    assert any("records no architecture settings" in note for note in report.notes)


@pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("call", ["os.system", "builtins.eval", "subprocess.Popen", "after a config class"])
def test_pickled_code_is_refused_in_one_line_and_never_run(tmp_path, zipfile, call):
    marker = tmp_path / "pwned"
    if call == "builtins.eval":
        payload, refused = RunsACall(builtins.eval, f"open({str(marker)!r}, 'w').close()"), "builtins.eval"
    elif call == "subprocess.Popen":
        # Pickle protocol 2 writes subprocess under its Python 2 name.
        payload = RunsACall(subprocess.Popen, ["touch", str(marker)])
        refused = "subprocess.Popen, pickled as commands.Popen"
    else:
        payload, refused = RunsACall(os.system, f"touch {marker}"), f"{os.system.__module__}.system"
    if call == "after a config class":
        # A legacy file names one global per refusal: the config class is stood in for, then this one is met.
        payload = {"training": TrainingConfig(), "hook": payload}
    write_mae_file(tmp_path / "evil.pth", config=payload, zipfile=zipfile)
    assert not marker.exists()  # saving pickled the call without making it

    with pytest.raises(NeurocineError) as error:
        import_checkpoint(tmp_path / "evil.pth", num_voxels=80)
    message = one_line(error)
    assert "evil.pth" in message and "pickled Python objects" in message and f"({refused})" in message
    assert "torch.save(" in message  # says how to re-save the weights alone
    assert not marker.exists()


@pytest.mark.parametrize("name, allowed", [
    ("config.Config_MBM_fMRI", True), ("fakepeer.config.Config_MBM_fMRI", True), ("__main__.Config", True),
    ("pathlib.PurePosixPath", True), ("argparse.Namespace", True),
    ("posix.system", False), ("nt.system", False), ("os.system", False), ("builtins.eval", False),
    ("builtins.Exception", False), ("subprocess.Popen", False), ("os.PathLike", False),
    ("importlib.machinery.SourceFileLoader", False), ("pickle.Unpickler", False),
    ("copyreg._reconstructor", False), ("functools.partial", False), ("torch._C.Generator", False),
    ("torch._C._nn.Foo", False), ("_io.FileIO", False), ("sys.Modules", False), ("config.make_config", False),
    ("commands.Popen", False), ("__builtin__.Exception", False), ("exceptions.StandardError", False),
    ("Config", False), ("config..Config", False), ("config.Config ; x", False), ("cönfig.Config", False),
])
def test_which_pickled_names_are_stood_in_for(name, allowed):
    assert stand_in_allowed(name) is allowed


def test_missing_path_and_unreadable_files_are_refused_in_one_line(tmp_path):
    with pytest.raises(NeurocineError, match="no such checkpoint file or folder") as error:
        import_checkpoint(tmp_path / "nowhere.pth", num_voxels=80)
    assert "nowhere.pth" in one_line(error)

    (tmp_path / "garbage.pth").write_bytes(b"not a torch file")
    with pytest.raises(NeurocineError, match="not a readable PyTorch file") as error:
        import_checkpoint(tmp_path / "garbage.pth", num_voxels=80)
    one_line(error)

    (tmp_path / "empty").mkdir()
    with pytest.raises(NeurocineError, match="holds no weights file") as error:
        import_checkpoint(tmp_path / "empty", num_voxels=80)
    one_line(error)


def test_contradictions_are_errors(tmp_path):
    sd = backbone(5)
    sd["patch_embed.proj.weight"] = torch.randn(D, 2, PATCH)
    torch.save({"model": sd}, tmp_path / "two_channels.pth")
    with pytest.raises(NeurocineError, match="2 input channels") as error:
        import_checkpoint(tmp_path / "two_channels.pth", num_voxels=80, num_heads=4)
    one_line(error)

    write_mindvideo_folder(tmp_path / "enc")
    with pytest.raises(NeurocineError, match="embed_dim=32; embed_dim=64 was asked for"):
        import_checkpoint(tmp_path / "enc", num_voxels=80, embed_dim=64)
    with pytest.raises(NeurocineError, match="num_heads=4; num_heads=8"):
        import_checkpoint(tmp_path / "enc", num_voxels=80, num_heads=8)
    with pytest.raises(NeurocineError, match="unknown encoder argument"):
        import_checkpoint(tmp_path / "enc", num_voxels=80, heads=8)
    model, _ = import_checkpoint(tmp_path / "enc", num_voxels=80, dropout=0.1, embed_dim=D, depth=DEPTH)
    assert model.config.dropout == 0.1
