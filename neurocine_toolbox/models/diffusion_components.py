"""Stable Diffusion 1.5's parts for the video decoder: the 2D UNet, the VAE and the noise schedule.

Named in the config (``decoder.pretrained``, ``decoder.vae``) by Hugging Face id, local folder in
diffusers' layout (``unet/``, ``scheduler/``, ``vae/``), or a built-in name: ``tiny-sd`` (with its
VAE) or ``tiny-sd-random`` (no VAE), built in code (:mod:`neurocine_toolbox.tiny_models`).
Absent weights stop with one line naming the model and how to provide it.
"""

from pathlib import Path

from ..errors import NeurocineError
from .pretrained import absent_weights_error, first_line, resolve_pretrained

SD_LABEL, VAE_LABEL = "Stable Diffusion model", "VAE"


def _has_file(source, filename):
    if source.is_local:
        return (Path(source.location) / filename).is_file()
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(source.location, filename), str)


def _require(name, label, setting, filename):
    source = resolve_pretrained(name, label, setting)
    if source.local_files_only and not _has_file(source, filename):
        if source.is_local:
            raise NeurocineError(f"the {label} folder has no {filename} (set {setting} to a diffusers folder)",
                                 source.location)
        raise absent_weights_error(source, label, setting, OSError("not cached"))
    return source


def _from_pretrained(cls, source, label, setting, subfolder=None):
    kwargs = {"subfolder": subfolder} if subfolder else {}
    try:
        return cls.from_pretrained(source.location, local_files_only=source.local_files_only, **kwargs)
    except (OSError, ValueError, EnvironmentError) as err:
        if source.is_local:
            raise NeurocineError(f"cannot load the {label} ({first_line(err)})", source.location) from err
        raise absent_weights_error(source, label, setting, err) from err


def _read_json(source, filename, label, setting):
    """A JSON file of a local folder or of a cached Hugging Face id (its config, read without loading weights)."""
    import json

    if source.is_local:
        path = Path(source.location) / filename
    else:
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(source.location, filename)
        if not isinstance(path, str):
            raise absent_weights_error(source, label, setting, OSError(f"no {filename} cached"))
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise NeurocineError(f"cannot read the {label}'s {filename} ({first_line(err)})", path) from err


def unet_config(name, setting="decoder.pretrained"):
    """The 2D UNet's ``config.json`` of a Stable Diffusion folder or id, as a dict (no weights loaded)."""
    return _read_json(require_stable_diffusion(name, setting), "unet/config.json", SD_LABEL, setting)


def vae_config(config):
    """The configured VAE's ``config.json`` as a dict, or None when the ``vae`` stage will train one."""
    found = vae_location(config)
    if found is None:
        return None
    name, subfolder = found
    setting = "decoder.vae" if config["decoder"]["vae"] else "decoder.pretrained"
    filename = f"{subfolder}/config.json" if subfolder else "config.json"
    return _read_json(resolve_pretrained(name, VAE_LABEL, setting), filename, VAE_LABEL, setting)


def require_stable_diffusion(name, setting="decoder.pretrained"):
    """Check now that the UNet and scheduler of ``name`` can be loaded offline; return its source."""
    source = _require(name, SD_LABEL, setting, "unet/config.json")
    if source.local_files_only and not _has_file(source, "scheduler/scheduler_config.json"):
        raise NeurocineError(f"the {SD_LABEL} '{name}' has no scheduler/scheduler_config.json")
    return source


def load_unet_2d(name, setting="decoder.pretrained"):
    """The 2D ``UNet2DConditionModel`` of a Stable Diffusion folder or id."""
    from diffusers import UNet2DConditionModel

    source = require_stable_diffusion(name, setting)
    return _from_pretrained(UNet2DConditionModel, source, SD_LABEL, setting, "unet")


def load_noise_scheduler(name, kind="ddpm", setting="decoder.pretrained"):
    """The noise schedule of a Stable Diffusion folder or id, as a DDPM (training) or DDIM (sampling) scheduler."""
    from diffusers import DDIMScheduler, DDPMScheduler

    cls = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler}[kind]
    source = require_stable_diffusion(name, setting)
    return _from_pretrained(cls, source, SD_LABEL, setting, "scheduler")


def vae_location(config):
    """Where the configured VAE comes from: ``(name, subfolder)``, or None when stage ``vae`` must train one.

    ``decoder.vae`` names a VAE folder or id (a folder may hold it directly or in ``vae/``);
    when it is null, the ``vae/`` of ``decoder.pretrained`` if there is one.
    """
    setting = "decoder.vae" if config["decoder"]["vae"] else "decoder.pretrained"
    name = config["decoder"]["vae"] or config["decoder"]["pretrained"]
    source = resolve_pretrained(name, VAE_LABEL, setting)
    if config["decoder"]["vae"] and _has_file(source, "config.json"):
        return name, None
    if _has_file(source, "vae/config.json"):
        return name, "vae"
    if config["decoder"]["vae"]:
        raise absent_weights_error(source, VAE_LABEL, setting, OSError("no config.json or vae/config.json")) \
            if not source.is_local else NeurocineError("holds no VAE (config.json or vae/config.json)", source.location)
    return None


def load_vae(name, subfolder=None, setting="decoder.vae"):
    """An ``AutoencoderKL`` from a folder or id (``subfolder`` ``vae`` inside a Stable Diffusion one)."""
    from diffusers import AutoencoderKL

    source = resolve_pretrained(name, VAE_LABEL, setting)
    return _from_pretrained(AutoencoderKL, source, VAE_LABEL, setting, subfolder)
