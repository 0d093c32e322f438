"""Every stage end to end on a CUDA GPU with bf16, on the tiny models (``pytest -m cuda``).

Skipped, with the reason, on machines without CUDA (conftest.py). What they catch is what only a
GPU reaches: tensors and generators on different devices, bf16 autocast, models moved or not.
"""

import json
import shutil

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.cuda

QUICK = ["--preset", "tiny", "--set", "pretrain.steps=4", "--set", "pretrain.batch_size=4",
         "--set", "contrastive.steps=4", "--set", "contrastive.batch_size=4",
         "--set", "decoder.pretrained=tiny-sd-random", "--set", "decoder.resolution=32",
         "--set", "vae.steps=3", "--set", "vae.batch_size=4",
         "--set", "decoder_text.steps=3", "--set", "decoder_text.batch_size=2",
         "--set", "decoder_fmri.steps=3", "--set", "decoder_fmri.batch_size=2",
         "--set", "sampling.num_inference_steps=3", "--set", "sampling.batch_size=4",
         "--set", "training.checkpoint_every=2", "--set", "training.mixed_precision=bf16",
         "--set", "perception.enabled=true", "--set", "perception.rank=4"]


@pytest.fixture(scope="module")
def cuda_derivatives(embedded_derivatives, tmp_path_factory):
    """The shared small dataset's stores, embedded again here on the GPU (CLIP in float16)."""
    from neurocine_toolbox.config import load_config
    from neurocine_toolbox.data.embedding import embed_stores

    out = tmp_path_factory.mktemp("cuda") / "derivatives"
    shutil.copytree(embedded_derivatives, out, ignore=shutil.ignore_patterns("models"))
    section = dict(load_config("tiny")["embedding"], captions="sidecar")
    stores = sorted(out.glob("sub-01/func/*.h5"))
    embed_stores(stores, section, device="cuda", progress=False)
    return out


def test_embedding_on_cuda_matches_the_cpu_one(cuda_derivatives, embedded_derivatives):
    from neurocine_toolbox.data.store import open_store

    name = "sub-01/func/sub-01_split-test_desc-neurocine_bold.h5"
    with open_store(cuda_derivatives / name) as gpu, open_store(embedded_derivatives / name) as cpu:
        assert gpu.attrs["embedding"]["device"].startswith("cuda")
        a = np.asarray(gpu.clip_text_embeds[np.arange(len(gpu))], np.float32)
        b = np.asarray(cpu.clip_text_embeds[np.arange(len(cpu))], np.float32)
        cosine = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        assert cosine.min() > 0.99  # float16 on the GPU, float32 on the CPU


def test_every_stage_then_decode_on_cuda_in_bf16(invoke, cuda_derivatives, monkeypatch):
    from neurocine_toolbox.training import loop

    devices = []
    original = loop.run_training

    def spy(**kwargs):
        model, metrics = original(**kwargs)
        devices.append(next(model.parameters()).device.type)
        return model, metrics

    monkeypatch.setattr(loop, "run_training", spy)
    for module in ("encoder_stages", "decoder_stages"):
        monkeypatch.setattr(f"neurocine_toolbox.training.{module}.run_training", spy)
    result = invoke(["fit", "--subject", "01", "--derivatives", cuda_derivatives, *QUICK, "--name", "gpu"])
    assert result.exit_code == 0, result.stderr
    for stage in ("pretrain", "encoder", "vae", "decoder-text", "decoder-fmri"):
        assert f"trained {stage}" in result.stdout
        rows = (cuda_derivatives / "sub-01/models/gpu" / stage / "metrics.csv").read_text().splitlines()
        losses = [float(r.split(",")[1]) for r in rows[1:]]
        assert losses and all(np.isfinite(losses)), stage
    assert devices == ["cuda"] * 5
    retrieval = json.loads((cuda_derivatives / "sub-01/models/gpu/encoder/retrieval.json").read_text())
    assert retrieval["fmri_to_image"]["n"] > 0

    # The low-level pathway's start on the GPU: its reconstructor stays in float32 under bf16.
    decoded = invoke(["decode", "--subject", "01", "--derivatives", cuda_derivatives, "--name", "gpu", "--limit", "6",
                      "--set", "sampling.strength=0.5"])
    assert decoded.exit_code == 0, decoded.stderr
    frames = np.load(cuda_derivatives / "sub-01/models/gpu/decoded-test/frames.npz")["decoded"]
    assert frames.shape[0] == 6 and frames.std() > 0


def test_perception_reconstructor_on_cuda_matches_the_cpu():
    from neurocine_toolbox.models.perception_reconstructor import PerceptionReconstructor

    model = PerceptionReconstructor(window=2, num_columns=300, latent_shape=[4, 6, 8, 8], rank=16)
    generator = torch.Generator().manual_seed(0)
    for buffer in model.buffers():
        buffer.copy_(torch.randn(buffer.shape, generator=generator))
    windows = torch.randn(5, 2, 300, generator=generator)
    with torch.no_grad():
        cpu = model(windows)
        gpu = model.to("cuda")(windows.cuda())
    assert gpu.device.type == "cuda" and gpu.dtype == torch.float32
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-3, atol=1e-3)


def test_decoding_on_cuda_with_cpu_generators_gives_the_cpu_noise():
    """The starting noise comes from CPU generators on any device: the same clip seeds give the
    same initial latents on the GPU as on the CPU."""
    from neurocine_toolbox.models.prior_noise import dependent_noise

    gens = lambda: [torch.Generator().manual_seed(s) for s in (3, 4)]  # noqa: E731
    cpu = dependent_noise((2, 4, 6, 8, 8), 0.25, gens())
    gpu = dependent_noise((2, 4, 6, 8, 8), 0.25, gens(), device="cuda")
    assert gpu.device.type == "cuda" and torch.equal(gpu.cpu(), cpu)


def test_masked_autoencoder_and_augmentations_on_cuda():
    from neurocine_toolbox.models.fmri_mae import FMRIMaskedAutoencoder
    from neurocine_toolbox.training.augment import spatial_mask, temporal_interpolate, token_mask

    mae = FMRIMaskedAutoencoder(encoder_config={"num_voxels": 64, "patch_size": 16, "embed_dim": 16, "depth": 1,
                                                "num_heads": 2, "window_size": 1, "out_tokens": 2, "out_dim": 8,
                                                "clip_dim": 8},
                                decoder_embed_dim=8, decoder_depth=1, decoder_num_heads=2).cuda()
    g = torch.Generator().manual_seed(0)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = mae(torch.randn(3, 64, device="cuda"), generator=g)
    assert out.reconstruction.is_cuda and torch.isfinite(out.reconstruction.float()).all()
    windows = torch.randn(4, 2, 32, device="cuda")
    assert spatial_mask(windows, 0.2, g).is_cuda and temporal_interpolate(windows, 0.5, g).is_cuda
    assert token_mask(4, 2, 8, 0.2, g, device="cuda").is_cuda


def test_attention_on_cuda_matches_the_cpu():
    """The attention report's token importance: the batch follows the encoder to the GPU."""
    from neurocine_toolbox.interpretation.attention_extraction import token_importance
    from neurocine_toolbox.models.fmri_encoder import FMRIEncoder

    torch.manual_seed(0)
    encoder = FMRIEncoder(num_voxels=96, patch_size=16, embed_dim=32, depth=3, num_heads=4, window_size=2,
                          out_tokens=4, out_dim=16, clip_dim=16).eval()
    windows = np.random.default_rng(0).normal(size=(5, 2, 96)).astype(np.float32)
    cpu = token_importance(encoder, windows, [1, 3], batch_size=2)
    gpu = token_importance(encoder.to("cuda"), windows, [1, 3], batch_size=2)
    for key in cpu:
        np.testing.assert_allclose(gpu[key], cpu[key], atol=1e-3)  # cuDNN may run the patch conv in TF32
