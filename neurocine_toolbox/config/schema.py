"""The type and range of every config value, checked when a config is loaded.

``defaults.yaml`` stays the source of the values and their comments; these pydantic models only
say what each value may be, so that a bad value stops ``load_config`` with one line naming the
key, before anything is trained or written (``--set contrastive.gamma_spa=abc`` used to run
pre-training for hours and then fail in the encoder stage). Every field is required and
``extra="forbid"``: a key missing here or in ``defaults.yaml`` is caught by the tests of the shipped
config. Types are strict (``true`` is not a number, ``1.5`` is not a step count); whole numbers
are accepted where a real number is expected.

Each constraint carries its own description (``Field(description=…)``), which is the text of the
error: ``setting 'contrastive.gamma_spa' must be a number in [0, 1], not 'abc'``.
"""

import re
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

__all__ = ["Config", "ConfigValueError", "check_config"]


# --- value types -----------------------------------------------------------------------------


def _rule(annotation, description, **constraints):
    return Annotated[annotation, Field(description=description, **constraints)]


Fraction = _rule(float, "a number in [0, 1]", ge=0, le=1)
BelowOne = _rule(float, "a number in [0, 1)", ge=0, lt=1)
Positive = _rule(float, "a number > 0", gt=0)
NonNegative = _rule(float, "a number >= 0", ge=0)
Count = _rule(int, "a whole number >= 1", ge=1)
Strength = _rule(float, "a number in (0, 1]", gt=0, le=1)
WholeNonNegative = _rule(int, "a whole number >= 0", ge=0)
Flag = _rule(bool, "true or false")
ModelName = _rule(str, "a model name (Hugging Face id, folder or tiny-… name)", min_length=1)
OptionalModel = _rule(Optional[Annotated[str, Field(min_length=1)]],
                      "a model name (Hugging Face id, folder or tiny-… name) or null")
OptionalPath = _rule(Optional[Annotated[str, Field(min_length=1)]], "a path or null")
Paths = _rule(list[Annotated[str, Field(min_length=1)]], "a list of paths")
Counts = _rule(list[Annotated[int, Field(ge=1)]], "a non-empty list of whole numbers >= 1", min_length=1)


def _choice(*options):
    return _rule(Literal[options], f"one of {' | '.join(options)}")


def _compiles(patterns):
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as err:  # reported with the field's description
            raise ValueError(str(err)) from None
    return patterns


Trainable = Annotated[
    list[str], Field(min_length=1, description="a non-empty list of module groups, 'all' or regular expressions"),
    AfterValidator(_compiles),
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _pair_error(first, first_rule, second, second_rule):
    """Two settings that do not fit together; the message names whichever the user set last."""
    return PydanticCustomError("neurocine_pair", "{first} and {second} do not fit together",
                               {"first": first, "second": second, "rules": {first: first_rule, second: second_rule}})


def _divides(section, whole, part, prefix):
    """``section.whole`` must be a multiple of ``section.part`` (``prefix``: the section's key, for messages)."""
    a, b = getattr(section, whole), getattr(section, part)
    if a % b:
        raise _pair_error(whole, f"a multiple of {prefix}.{part} ({b})", part, f"a divisor of {prefix}.{whole} ({a})")
    return section


# --- sections ----------------------------------------------------------------------------------


class Data(_Section):
    window: Count
    lag: WholeNonNegative
    train_fraction: _rule(float, "a number in (0, 1]", gt=0, le=1)


class Alignment(_Section):
    method: _choice("anatomical", "functional", "adapter")
    template_iterations: Count
    adapter_penalty: NonNegative


class Embedding(_Section):
    captions: _choice("model", "sidecar")
    caption_model: ModelName
    clip_model: ModelName
    batch_size: Count
    max_caption_tokens: Count


class Encoder(_Section):
    patch_size: Count
    embed_dim: Count
    depth: Count
    num_heads: Count
    mlp_ratio: Positive
    temporal_attention: Flag
    out_tokens: Count
    out_dim: Count
    clip_dim: Count
    dropout: BelowOne
    init_from: OptionalPath

    @model_validator(mode="after")
    def _heads(self):
        return _divides(self, "embed_dim", "num_heads", "encoder")


class _Optimisation(_Section):
    steps: Count
    batch_size: Count
    learning_rate: Positive
    weight_decay: NonNegative
    warmup_steps: WholeNonNegative


class Pretrain(_Optimisation):
    mask_ratio: BelowOne
    decoder_embed_dim: Count
    decoder_depth: Count
    decoder_num_heads: Count
    temperature: Positive
    weight_reconstruction: NonNegative
    weight_self_contrast: NonNegative
    weight_cross_contrast: NonNegative
    extra_stores: Paths
    include_test_fmri: Flag

    @model_validator(mode="after")
    def _heads(self):
        return _divides(self, "decoder_embed_dim", "decoder_num_heads", "pretrain")


class Contrastive(_Optimisation):
    gamma_spa: Fraction
    gamma_tem: Fraction
    spatial_mask_space: _choice("voxels", "tokens")
    mu_spa: NonNegative
    mu_tem: NonNegative
    mu_text: NonNegative
    mu_image: NonNegative
    temperature: Positive

    @model_validator(mode="after")
    def _interpolation(self):
        # Eq. 1 with γ_tem = 0 would replace no TR: the L_tem pair would be the window itself.
        if self.mu_tem > 0 and self.gamma_tem == 0:
            raise _pair_error("gamma_tem", "above 0 when contrastive.mu_tem is (eq. 1 needs TRs to replace)",
                              "mu_tem", "0 when contrastive.gamma_tem is 0")
        return self


class Decoder(_Section):
    pretrained: ModelName
    vae: OptionalModel
    frames: Count
    resolution: Count
    beta: Fraction
    temporal_conv: Flag
    temporal_attention: Flag
    sparse_causal: Flag
    latent_batch_size: Count


class DecoderText(_Optimisation):
    trainable: Trainable


class DecoderFmri(_Optimisation):
    trainable: Trainable
    train_encoder: Flag
    condition_dropout: Fraction


class Vae(_Optimisation):
    block_out_channels: Counts
    layers_per_block: Count
    mid_block_attention: Flag
    latent_channels: Count
    kl_weight: NonNegative

    @model_validator(mode="after")
    def _groups(self):
        # The VAE normalises in min(32, first width) groups: every width must split into them.
        channels = self.block_out_channels
        groups = min(32, channels[0])
        if any(c % groups for c in channels):
            raise PydanticCustomError(
                "neurocine_rule", "{field} must be {rule}", {"field": "block_out_channels",
                                       "rule": f"a list of widths, each a multiple of {groups} (min(32, the first))"})
        return self


#: The retrieval reconstructor's feature spaces (``training/perception_stage.py`` reads them).
RETRIEVAL_SPACES = ("caption_words", "clip_image", "clip_text")


class Perception(_Section):
    enabled: Flag
    method: _choice("ridge", "retrieval")
    spaces: _rule(list[Literal[RETRIEVAL_SPACES]], f"a non-empty list of {', '.join(RETRIEVAL_SPACES)}",
                  min_length=1)
    top_k: Count
    rank: Count
    alphas: _rule(list[Annotated[float, Field(gt=0)]], "a non-empty list of numbers > 0", min_length=1)
    n_folds: _rule(int, "a whole number >= 2", ge=2)


class Sampling(_Section):
    num_inference_steps: Count
    strength: Strength
    guidance_scale: NonNegative
    eta: Fraction
    negative: _choice("train_mean", "test_mean")
    batch_size: Count
    precision: _choice("auto", "fp32", "bf16", "fp16")


class Training(_Section):
    mixed_precision: _choice("auto", "no", "fp16", "bf16")
    gradient_accumulation_steps: Count
    gradient_checkpointing: Flag
    checkpoint_every: Count
    keep_checkpoints: Count
    log_every: Count
    logger: _choice("csv", "tensorboard")
    num_workers: WholeNonNegative


Metric = Literal["ssim", "psnr", "pixcorr", "frame_nway", "clip_nway", "temporal_consistency"]


class Evaluation(_Section):
    top_k: Counts
    metrics: _rule(list[Metric], "a non-empty list of ssim | psnr | pixcorr | frame_nway | clip_nway | "
                   "temporal_consistency",
                   min_length=1)
    frame_classifier: ModelName
    clip_classifier: ModelName
    clip_model: OptionalModel
    n_way: _rule(list[Annotated[int, Field(ge=2)]], "a non-empty list of whole numbers >= 2", min_length=1)
    n_trials: Count
    precision: _choice("auto", "fp32", "fp16", "bf16")
    batch_size: Count
    n_boot: Count
    n_null: Count
    identification_others: Count


LayerName = Annotated[int, Field(ge=1)] | Literal["first", "middle", "last"]


class Interpretation(_Section):
    split: _choice("test", "validation", "train")
    layers: _rule(list[LayerName], "a non-empty list of first | middle | last or layer numbers >= 1", min_length=1)
    measure: _choice("read", "received", "cls", "rollout")
    position_control: _choice("permuted", "zero", "none")
    attribution_steps: WholeNonNegative
    headline: _choice("auto", "attention", "attribution")
    deletion_share: _rule(float, "a number in (0, 1)", gt=0, lt=1)
    categories: _rule(Literal["auto", "none"] | list[str], "auto, none or a list of caption keywords")
    max_categories: WholeNonNegative
    min_windows: Count
    n_surrogates: WholeNonNegative
    n_permutations: WholeNonNegative
    min_voxels: Count
    max_windows: WholeNonNegative
    n_boot: Count
    batch_size: Count


class Config(_Section):
    """A whole resolved config (without its ``preset`` record)."""

    seed: WholeNonNegative
    data: Data
    alignment: Alignment
    embedding: Embedding
    encoder: Encoder
    pretrain: Pretrain
    contrastive: Contrastive
    decoder: Decoder
    decoder_text: DecoderText
    decoder_fmri: DecoderFmri
    vae: Vae
    perception: Perception
    sampling: Sampling
    training: Training
    evaluation: Evaluation
    interpretation: Interpretation

    @model_validator(mode="after")
    def _window(self):
        if self.contrastive.mu_tem > 0 and self.data.window < 2:
            raise _pair_error("data.window", "at least 2 when contrastive.mu_tem is above 0 (eq. 1 interpolates "
                                             "between the TRs of a window)",
                              "contrastive.mu_tem", "0 when data.window is 1")
        return self


# --- errors --------------------------------------------------------------------------------------


class ConfigValueError(ValueError):
    """A config value of the wrong type or out of range.

    Attributes
    ----------
    key : str
        The dotted key, e.g. ``"contrastive.gamma_spa"``.
    message : str
        One line: ``setting 'contrastive.gamma_spa' must be a number in [0, 1], not 'abc'``
        (``unknown setting '…'`` for a key the schema does not know).
    """

    def __init__(self, key, message):
        self.key = key
        self.message = message
        super().__init__(message)


def show(value):
    """A value as the user wrote it in YAML: ``'abc'``, ``0.5``, ``true``, ``null``, ``[1, 5]``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value)


def _field_info(loc):
    """The dotted key of a field and its FieldInfo, from an error location like ``("evaluation", "top_k", 0)``."""
    model, parts, info = Config, [], None
    for part in loc:
        if not (isinstance(part, str) and isinstance(model, type) and part in model.model_fields):
            break
        info = model.model_fields[part]
        parts.append(part)
        model = info.annotation
    return ".".join(parts), info


def _lookup(config, key):
    value = config
    for part in key.split("."):
        value = value[part]
    return value


def _first_error(error, config, rank):
    """Turn pydantic's first error into a :class:`ConfigValueError`.

    ``rank(key)`` says how late a key was set (later layers rank higher); of two settings that do
    not fit together, the one set last is named.
    """
    detail = error.errors()[0]
    key, info = _field_info(detail["loc"])
    kind = detail["type"]
    if kind == "extra_forbidden":
        key = ".".join(str(p) for p in detail["loc"])
        return ConfigValueError(key, f"unknown setting '{key}'")
    if kind == "missing":
        key = ".".join(str(p) for p in detail["loc"])
        return ConfigValueError(key, f"setting '{key}' is missing (defaults.yaml should give it)")
    if kind == "neurocine_pair":
        ctx = detail["ctx"]
        dotted = lambda f: ".".join(p for p in (key, f) if p)  # noqa: E731  (a section's or the root's)
        name = max((ctx["first"], ctx["second"]), key=lambda f: rank(dotted(f)))
        key, rule = dotted(name), ctx["rules"][name]
    elif kind == "neurocine_rule":
        key, rule = f"{key}.{detail['ctx']['field']}", detail["ctx"]["rule"]
    elif info is not None and info.description:
        rule = info.description
    elif kind == "model_type" or kind == "dict_type":
        rule = "a mapping of settings"
    else:  # not reached with the models above; pydantic's own words rather than nothing
        rule = detail["msg"].removeprefix("Input should be ").removeprefix("Value error, ")
    return ConfigValueError(key, f"setting '{key}' must be {rule}, not {show(_lookup(config, key))}")


def check_config(config, rank=None):
    """Check every value of a resolved config against :class:`Config`.

    Parameters
    ----------
    config : dict
        The merged config, without its ``preset`` key.
    rank : callable, optional
        ``rank(dotted_key) -> int``: how late each key was set (see :func:`_first_error`).

    Raises
    ------
    ConfigValueError
        The first bad value, in one line naming its key.
    """
    try:
        Config.model_validate(config)
    except ValidationError as err:
        raise _first_error(err, config, rank or (lambda key: 0)) from None
