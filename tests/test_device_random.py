"""Random draws are device-safe: a CPU generator works for tensors on any device.

CUDA refuses a CPU generator (``torch.rand(..., generator=cpu, device="cuda")`` raises); the
CPU does not check. The fixture below makes torch check on every device the way CUDA does, and
the stages' random draws run on the ``meta`` device (shapes only), so a draw that asks for
another device than its generator's fails here exactly as it would on a GPU.
"""

import ast
from pathlib import Path

import pytest
import torch

import neurocine_toolbox
from neurocine_toolbox.utils import device_random

META = torch.device("meta")


@pytest.fixture
def cuda_like_generators(monkeypatch):
    """torch's random factories refuse a generator on another device than the one drawn on."""
    for name in ("rand", "randn", "randint", "randperm"):
        original = getattr(torch, name)

        def strict(*args, _original=original, _name=name, **kwargs):
            generator = kwargs.get("generator")
            device = torch.device(kwargs.get("device") or "cpu")
            if generator is not None and generator.device.type != device.type:
                raise RuntimeError(f"torch.{_name}: expected a '{device.type}' device type for generator "
                                   f"but found '{generator.device.type}'")
            return _original(*args, **kwargs)

        monkeypatch.setattr(torch, name, strict)


def test_the_fixture_catches_the_gpu_mistake(cuda_like_generators):
    with pytest.raises(RuntimeError, match="device type for generator"):
        torch.rand(3, generator=torch.Generator(), device=META)


def test_draws_are_made_on_the_generator_and_moved(cuda_like_generators):
    for draw, args in ((device_random.rand, ((2, 3),)), (device_random.randn, ((2, 3),)),
                       (device_random.randint, (0, 9, (4,))), (device_random.randperm, (5,))):
        moved = draw(*args, generator=torch.Generator().manual_seed(1), device=META)
        here = draw(*args, generator=torch.Generator().manual_seed(1))
        assert moved.device == META and here.device.type == "cpu" and moved.shape == here.shape


def test_masked_autoencoder_masks_on_another_device(cuda_like_generators):
    from neurocine_toolbox.models.fmri_mae import FMRIMaskedAutoencoder

    mae = FMRIMaskedAutoencoder(encoder_config={"num_voxels": 64, "patch_size": 16, "embed_dim": 16, "depth": 1,
                                                "num_heads": 2, "window_size": 1, "out_tokens": 2, "out_dim": 8,
                                                "clip_dim": 8},
                                decoder_embed_dim=8, decoder_depth=1, decoder_num_heads=2).to(META)
    out = mae(torch.zeros(3, 64, device=META), generator=torch.Generator().manual_seed(0))
    assert out.reconstruction.device == META and out.mask.shape == (3, 4)


def test_augmentations_on_another_device(cuda_like_generators):
    from neurocine_toolbox.training.augment import spatial_mask, temporal_interpolate, token_mask

    windows = torch.zeros(4, 2, 32, device=META)
    g = torch.Generator().manual_seed(0)
    assert spatial_mask(windows, 0.2, g, torch.arange(32) < 30).device == META
    assert temporal_interpolate(windows, 1 / 3, g).device == META
    assert token_mask(4, 2, 8, 0.2, g, device=META).device == META


def test_decoder_training_draws_on_another_device(cuda_like_generators):
    from diffusers import DDPMScheduler

    from neurocine_toolbox.training.decoder_stages import _fmri_condition, diffusion_step

    seen = {}

    def model(noisy, timesteps, fmri):
        seen.update(noisy=noisy, timesteps=timesteps, fmri=fmri)
        return noisy

    condition = _fmri_condition(torch.zeros(2, 8), dropout=0.5)
    step = diffusion_step(DDPMScheduler(num_train_timesteps=50), 0.25, condition)
    batch = {"latents": torch.zeros(3, 4, 2, 4, 4, device=META), "fmri": torch.zeros(3, 2, 8, device=META)}
    _loss_on_meta(step, model, batch)
    assert seen["timesteps"].device == META and seen["fmri"].device == META and seen["noisy"].device == META


def _loss_on_meta(step, model, batch):
    """``loss.item()`` cannot run on meta tensors: stop right after the model is called."""
    try:
        return step(model, batch, torch.Generator().manual_seed(0))
    except (RuntimeError, NotImplementedError) as err:
        if "meta" not in str(err).lower():
            raise
        return None, None


def test_dependent_noise_on_another_device(cuda_like_generators):
    from neurocine_toolbox.models.prior_noise import dependent_noise

    noise = dependent_noise((2, 4, 3, 2, 2), 0.25, [torch.Generator().manual_seed(i) for i in range(2)], device=META)
    assert noise.device == META


def test_no_module_draws_with_a_generator_outside_the_one_rule():
    """Only utils/device_random.py calls torch's random factories with a generator."""
    factories = {"rand", "randn", "randint", "randperm", "normal", "bernoulli", "multinomial", "rand_like",
                 "randn_like"}
    root = Path(neurocine_toolbox.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "device_random.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in factories
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"
                    and any(k.arg == "generator" for k in node.keywords)):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not offenders, f"draw through neurocine_toolbox.utils.device_random instead: {offenders}"
