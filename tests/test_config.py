"""Configs: presets, user files, overrides, and every value checked before any work."""

import importlib.resources

import pytest
import yaml

from neurocine_toolbox.config import config_to_yaml, defaults, list_presets, load_config, parse_override
from neurocine_toolbox.config.schema import Config
from neurocine_toolbox.errors import NeurocineError


@pytest.mark.parametrize("preset", [None, *list_presets()])
def test_every_shipped_preset_validates_and_keeps_its_yaml_values(preset):
    config = load_config(preset)
    assert config["preset"] == preset
    if preset is not None:  # the values are the YAML's, not converted copies
        text = importlib.resources.files("neurocine_toolbox.config").joinpath(f"presets/{preset}.yaml").read_text()
        shipped = yaml.safe_load(text)
        for section, values in shipped.items():
            if isinstance(values, dict):
                assert {k: config[section][k] for k in values} == values
    assert "tiny" in list_presets() and "paper-table1-exp4" in list_presets()


def test_the_schema_and_defaults_yaml_name_the_same_keys():
    def keys(model, prefix=""):
        out = set()
        for name, info in model.model_fields.items():
            inner = info.annotation
            out |= keys(inner, f"{prefix}{name}.") if isinstance(inner, type) and hasattr(inner, "model_fields") \
                else {prefix + name}
        return out

    def yaml_keys(tree, prefix=""):
        return set().union(*(yaml_keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k}
                             for k, v in tree.items()))

    assert keys(Config) == yaml_keys(defaults())


def test_new_contrastive_key_defaults_to_voxels():
    assert load_config()["contrastive"]["spatial_mask_space"] == "voxels"
    assert load_config(overrides=["contrastive.spatial_mask_space=tokens"])["contrastive"]["spatial_mask_space"] == "tokens"


# (override, the one line expected): wrong type, out of range, unknown choice, unknown key, cross-field.
BAD = [
    ("contrastive.gamma_spa=abc", "setting 'contrastive.gamma_spa' must be a number in [0, 1], not 'abc'"),
    ("contrastive.gamma_tem=1.5", "setting 'contrastive.gamma_tem' must be a number in [0, 1], not 1.5"),
    ("pretrain.mask_ratio=1", "setting 'pretrain.mask_ratio' must be a number in [0, 1), not 1"),
    ("decoder.beta=-0.1", "setting 'decoder.beta' must be a number in [0, 1], not -0.1"),
    ("decoder_fmri.condition_dropout=2", "setting 'decoder_fmri.condition_dropout' must be a number in [0, 1], not 2"),
    ("contrastive.steps=0", "setting 'contrastive.steps' must be a whole number >= 1, not 0"),
    ("pretrain.steps=1.5", "setting 'pretrain.steps' must be a whole number >= 1, not 1.5"),
    ("pretrain.batch_size=true", "setting 'pretrain.batch_size' must be a whole number >= 1, not true"),
    ("contrastive.learning_rate=0", "setting 'contrastive.learning_rate' must be a number > 0, not 0"),
    ("contrastive.temperature=-0.07", "setting 'contrastive.temperature' must be a number > 0, not -0.07"),
    ("contrastive.mu_spa=-1", "setting 'contrastive.mu_spa' must be a number >= 0, not -1"),
    ("vae.weight_decay=-1e-3", "setting 'vae.weight_decay' must be a number >= 0, not -0.001"),
    ("decoder_text.warmup_steps=-1", "setting 'decoder_text.warmup_steps' must be a whole number >= 0, not -1"),
    ("data.lag=-2", "setting 'data.lag' must be a whole number >= 0, not -2"),
    ("seed=abc", "setting 'seed' must be a whole number >= 0, not 'abc'"),
    ("encoder.temporal_attention=maybe", "setting 'encoder.temporal_attention' must be true or false, not 'maybe'"),
    ("embedding.captions=blip", "setting 'embedding.captions' must be one of model | sidecar, not 'blip'"),
    ("training.mixed_precision=fp32",
     "setting 'training.mixed_precision' must be one of auto | no | fp16 | bf16, not 'fp32'"),
    ("training.logger=wandb", "setting 'training.logger' must be one of csv | tensorboard, not 'wandb'"),
    ("sampling.negative=test", "setting 'sampling.negative' must be one of train_mean | test_mean, not 'test'"),
    ("contrastive.spatial_mask_space=patches",
     "setting 'contrastive.spatial_mask_space' must be one of voxels | tokens, not 'patches'"),
    ("decoder.pretrained=null",
     "setting 'decoder.pretrained' must be a model name (Hugging Face id, folder or tiny-… name), not null"),
    ("evaluation.top_k=[0, 5]", "setting 'evaluation.top_k' must be a non-empty list of whole numbers >= 1, not [0, 5]"),
    ("evaluation.top_k=[]", "setting 'evaluation.top_k' must be a non-empty list of whole numbers >= 1, not []"),
    ("pretrain.extra_stores=[a.h5, 3]", "setting 'pretrain.extra_stores' must be a list of paths, not ['a.h5', 3]"),
    ("decoder_text.trainable=['(']",
     "setting 'decoder_text.trainable' must be a non-empty list of module groups, 'all' or regular expressions, "
     "not ['(']"),
    ("contrastive.foo=1", "unknown setting 'contrastive.foo'"),
    ("nonsense=1", "unknown setting 'nonsense'"),
    ("contrastive=3", "setting 'contrastive' must be a mapping of settings, not 3"),
    ("encoder.num_heads=5", "setting 'encoder.num_heads' must be a divisor of encoder.embed_dim (1024), not 5"),
    ("encoder.embed_dim=1000", "setting 'encoder.embed_dim' must be a multiple of encoder.num_heads (16), not 1000"),
    ("pretrain.decoder_num_heads=3",
     "setting 'pretrain.decoder_num_heads' must be a divisor of pretrain.decoder_embed_dim (512), not 3"),
    ("contrastive.gamma_tem=0", "setting 'contrastive.gamma_tem' must be above 0 when contrastive.mu_tem is "
                                "(eq. 1 needs TRs to replace), not 0"),
    ("data.window=1", "setting 'data.window' must be at least 2 when contrastive.mu_tem is above 0 (eq. 1 "
                      "interpolates between the TRs of a window), not 1"),
    ("vae.block_out_channels=[24, 32]",
     "setting 'vae.block_out_channels' must be a list of widths, each a multiple of 24 (min(32, the first)), "
     "not [24, 32]"),
]


@pytest.mark.parametrize("override, line", BAD, ids=[b[0] for b in BAD])
def test_a_bad_value_is_one_line_naming_the_key(override, line):
    with pytest.raises(NeurocineError) as caught:
        load_config(overrides=[override])
    assert str(caught.value) == line


def test_numbers_in_exponent_notation_are_numbers(tmp_path):
    assert parse_override("contrastive.learning_rate=1e-4") == {"contrastive": {"learning_rate": 1e-4}}
    assert parse_override("contrastive.learning_rate=2.5E3") == {"contrastive": {"learning_rate": 2500.0}}
    (tmp_path / "mine.yaml").write_text("base: tiny\ncontrastive:\n  learning_rate: 3e-4\n")
    assert load_config(path=tmp_path / "mine.yaml")["contrastive"]["learning_rate"] == 3e-4


def test_an_override_that_is_not_yaml_is_one_line():
    with pytest.raises(NeurocineError, match=r"^the value of 'encoder.init_from=\[abc' is not valid YAML"):
        load_config(overrides=["encoder.init_from=[abc"])


def test_a_bad_value_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: tiny\ncontrastive:\n  gamma_spa: 2\n  bogus: 1\n")
    with pytest.raises(NeurocineError) as caught:
        load_config(path=path)
    assert str(caught.value) == f"{path}: unknown setting 'contrastive.bogus'"
    path.write_text("base: tiny\ncontrastive:\n  gamma_spa: 2\n")
    with pytest.raises(NeurocineError) as caught:
        load_config(path=path)
    assert str(caught.value) == f"{path}: setting 'contrastive.gamma_spa' must be a number in [0, 1], not 2"
    # The same value overridden on the command line: the file is no longer to blame.
    assert load_config(path=path, overrides=["contrastive.gamma_spa=0.3"])["contrastive"]["gamma_spa"] == 0.3


def test_of_two_settings_that_do_not_fit_the_last_one_set_is_named(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("base: tiny\nencoder:\n  num_heads: 8\n")  # tiny: embed_dim 64
    assert load_config(path=path)["encoder"]["num_heads"] == 8
    with pytest.raises(NeurocineError) as caught:
        load_config(path=path, overrides=["encoder.embed_dim=36"])
    assert str(caught.value) == "setting 'encoder.embed_dim' must be a multiple of encoder.num_heads (8), not 36"
    path.write_text("base: tiny\nencoder:\n  num_heads: 5\n")
    with pytest.raises(NeurocineError) as caught:
        load_config(path=path)
    assert str(caught.value) == f"{path}: setting 'encoder.num_heads' must be a divisor of encoder.embed_dim (64), not 5"
    # Fixed together: the check is on the final values, not on each layer.
    assert load_config(path=path, overrides=["encoder.embed_dim=40"])["encoder"]["embed_dim"] == 40


def test_a_runs_resolved_config_loads_back_with_its_preset(tmp_path):
    config = load_config("tiny", overrides=["contrastive.steps=5", "contrastive.learning_rate=1e-4"])
    path = tmp_path / "config.yaml"
    path.write_text(config_to_yaml(config))
    again = load_config(path=path, overrides=["sampling.guidance_scale=3"])
    assert again["preset"] == "tiny" and again["contrastive"]["steps"] == 5
    assert again["contrastive"]["learning_rate"] == 1e-4 and again["sampling"]["guidance_scale"] == 3
    assert {k: v for k, v in again.items() if k != "sampling"} == {k: v for k, v in config.items() if k != "sampling"}


def test_fit_with_a_bad_value_stops_at_once_and_writes_nothing(invoke, embedded_derivatives, monkeypatch):
    from neurocine_toolbox.training import encoder_stages

    def never(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(encoder_stages, "run_training", never)
    before = sorted(p.relative_to(embedded_derivatives) for p in embedded_derivatives.rglob("*"))
    result = invoke(["fit", "--subject", "01", "--derivatives", embedded_derivatives, "--preset", "tiny",
                     "--set", "decoder.pretrained=tiny-sd-random",  # never the 5-minute tiny-sd, even if broken
                     "--name", "bad-gamma", "--set", "contrastive.gamma_spa=abc"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "neurocine: error: setting 'contrastive.gamma_spa' must be a number in [0, 1], not 'abc'"]
    assert result.stdout == ""
    assert sorted(p.relative_to(embedded_derivatives) for p in embedded_derivatives.rglob("*")) == before
    assert not (embedded_derivatives / "sub-01/models/bad-gamma").exists()


def test_a_preset_builds_on_its_base_preset():
    tiny, best = load_config("tiny"), load_config("tiny-perception-sdedit")
    assert best["preset"] == "tiny-perception-sdedit"
    assert best["perception"]["enabled"] is True and best["sampling"]["strength"] == 0.4
    assert best["sampling"]["guidance_scale"] == 12.5 and tiny["sampling"]["guidance_scale"] == 6.0  # validation's
    # Everything else is the tiny preset's (the paper's method at tiny sizes).
    for section in ("encoder", "decoder", "decoder_text", "decoder_fmri", "contrastive"):
        assert best[section] == tiny[section]
    assert tiny["perception"]["enabled"] is False and tiny["sampling"]["strength"] == 1.0
    # Overrides still win over both layers.
    assert load_config("tiny-perception-sdedit", overrides=["sampling.strength=0.3"])["sampling"]["strength"] == 0.3


def test_the_demo_preset_is_the_low_level_path_with_fewer_steps():
    sdedit, demo = load_config("tiny-perception-sdedit"), load_config("tiny-demo")
    assert demo["perception"] == sdedit["perception"] and demo["sampling"] == sdedit["sampling"]
    # Fewer steps, so that the demo fits in 10 minutes on two cores (docs/benchmarks.md).
    for section in ("pretrain", "contrastive", "decoder_text", "decoder_fmri"):
        assert demo[section]["steps"] < sdedit[section]["steps"]
        assert {k: v for k, v in demo[section].items() if k != "steps"} == \
            {k: v for k, v in sdedit[section].items() if k != "steps"}
    assert demo["encoder"] == sdedit["encoder"] and demo["decoder"] == sdedit["decoder"]
