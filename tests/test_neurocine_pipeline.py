"""``NeuroCinePipeline``: frames out, guidance against the negative fMRI, seeds, save/load round-trip."""

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

from neurocine_toolbox.models.fmri_encoder import FMRIEncoder
from neurocine_toolbox.models.prior_noise import dependent_noise
from neurocine_toolbox.models.video_unet import VideoUNet
from neurocine_toolbox.pipelines import NeuroCinePipeline, NeuroCinePipelineOutput
from neurocine_toolbox.tiny_models.diffusion import SD15_SCHEDULE

VOXELS, WINDOW = 70, 2


@pytest.fixture(scope="module")
def pipeline():
    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32),
                                layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=24,
                                attention_head_dim=8, norm_num_groups=8)
    vae = AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8,
                        layers_per_block=1)
    encoder = FMRIEncoder(num_voxels=VOXELS, patch_size=16, embed_dim=32, depth=1, num_heads=4,
                          window_size=WINDOW, out_tokens=7, out_dim=24, clip_dim=16)
    scheduler = DDIMScheduler.from_config({k: v for k, v in SD15_SCHEDULE.items()})
    pipe = NeuroCinePipeline(vae=vae.eval(), unet=VideoUNet.from_unet_2d(unet).eval(), scheduler=scheduler,
                             fmri_encoder=encoder.eval())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _windows(n, seed=0):
    return torch.randn(n, WINDOW, VOXELS, generator=torch.Generator().manual_seed(seed))


def _generators(seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def _decode(pipe, windows, seeds, **kwargs):
    kwargs = {"num_inference_steps": 3, "num_frames": 3, "height": 16, "width": 24, **kwargs}
    return pipe(windows, generator=_generators(seeds), **kwargs).frames


def test_frames_come_out_as_uint8_clips(pipeline):
    out = pipeline(_windows(2), num_inference_steps=2, num_frames=3, height=16, width=24,
                   generator=_generators([0, 1]))
    assert isinstance(out, NeuroCinePipelineOutput)
    assert out.frames.shape == (2, 3, 16, 24, 3) and out.frames.dtype == np.uint8
    assert out.frames.std() > 0


def test_same_seed_same_clip_whatever_the_batch(pipeline):
    windows = _windows(3)
    batch = _decode(pipeline, windows, [5, 6, 7])
    again = _decode(pipeline, windows, [5, 6, 7])
    alone = _decode(pipeline, windows[1:2], [6])
    other_seed = _decode(pipeline, windows[1:2], [8])
    assert np.array_equal(batch, again)
    # Another batch size may take other CPU kernels: at most one grey level apart.
    assert np.abs(batch[1].astype(int) - alone[0]).max() <= 1
    assert np.abs(other_seed[0].astype(int) - alone[0]).mean() > 1


def test_guidance_pushes_away_from_the_negative_fmri(pipeline):
    windows = _windows(1)
    zeros, shifted = np.zeros((WINDOW, VOXELS), np.float32), np.full((WINDOW, VOXELS), 2.0, np.float32)
    a = _decode(pipeline, windows, [1], guidance_scale=5.0, negative_fmri=zeros)
    b = _decode(pipeline, windows, [1], guidance_scale=5.0, negative_fmri=shifted)
    c = _decode(pipeline, windows, [1], guidance_scale=1.0, negative_fmri=zeros)
    d = _decode(pipeline, windows, [1], guidance_scale=1.0, negative_fmri=shifted)
    assert not np.array_equal(a, b)  # the negative matters when guiding …
    assert np.array_equal(c, d)  # … and not at all without guidance


def test_bad_inputs_are_refused(pipeline):
    bad = _windows(1)
    bad[0, 0, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        pipeline(bad, num_inference_steps=1)
    with pytest.raises(ValueError, match=r"\[N, 2, 70\]"):
        pipeline(torch.zeros(1, 3, VOXELS), num_inference_steps=1)
    with pytest.raises(ValueError, match="multiples of 2"):
        pipeline(_windows(1), num_inference_steps=1, height=15, width=16)


def test_save_and_load_round_trip_gives_the_same_frames(pipeline, tmp_path):
    pipeline.save_pretrained(tmp_path / "pipeline")
    loaded = NeuroCinePipeline.from_pretrained(tmp_path / "pipeline")
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded.unet, VideoUNet) and isinstance(loaded.fmri_encoder, FMRIEncoder)
    assert isinstance(loaded.scheduler, DDIMScheduler)
    windows = _windows(2, seed=3)
    assert np.array_equal(_decode(pipeline, windows, [0, 1], guidance_scale=3.0),
                          _decode(loaded, windows, [0, 1], guidance_scale=3.0))
    half = NeuroCinePipeline.from_pretrained(tmp_path / "pipeline").to("cpu", torch.bfloat16)  # as decode loads it
    assert {half.unet.dtype, half.vae.dtype, half.fmri_encoder.dtype} == {torch.bfloat16}


def test_guidance_is_negative_plus_scale_times_conditional_minus_negative(pipeline, monkeypatch):
    """A stub UNet whose prediction is a fixed projection of its conditioning states: the scheduler
    must get ``uncond + g · (cond − uncond)``, with uncond from the negative fMRI and cond from the window."""
    windows = _windows(2, seed=4)
    negative = torch.full((WINDOW, VOXELS), 0.5)
    # Not the states' mean: they leave a final LayerNorm, so their mean is ~1e-8 whatever the input.
    probe = torch.randn(7 * 24, generator=torch.Generator().manual_seed(9))

    def level(states):
        return states.float().flatten(1) @ probe

    def stub(sample, timestep, encoder_hidden_states, **kwargs):
        return NeuroCineStubOutput(level(encoder_hidden_states).view(-1, 1, 1, 1, 1).expand_as(sample).clone())

    monkeypatch.setattr(pipeline.unet, "forward", stub)
    seen = []
    step = pipeline.scheduler.step
    monkeypatch.setattr(pipeline.scheduler, "step", lambda out, t, latents, **kw: seen.append(out) or step(out, t, latents, **kw))
    with torch.no_grad():
        cond = level(pipeline.fmri_encoder(windows).text_states)
        uncond = level(pipeline.fmri_encoder(negative[None]).text_states)
    # The stub tells the halves apart (and the two clips), so swapping them or guiding from cond fails.
    assert (cond - uncond).abs().min() > 0.5 and (cond[0] - cond[1]).abs() > 0.5
    for scale in (1.0, 4.0):
        seen.clear()
        _decode(pipeline, windows, [0, 1], guidance_scale=scale, negative_fmri=negative.numpy())
        expected = uncond + scale * (cond - uncond) if scale > 1 else cond
        assert len(seen) == 3
        for prediction in seen:
            assert prediction.shape[0] == 2  # one prediction per clip, after combining the halves
            assert torch.allclose(prediction.flatten(1).mean(1), expected, rtol=1e-5, atol=1e-4)
            assert torch.allclose(prediction.flatten(1).std(1), torch.zeros(2), atol=1e-5)


class NeuroCineStubOutput:
    def __init__(self, sample):
        self.sample = sample


def test_bf16_pipeline_decodes_like_the_fp32_one(pipeline):
    """The dtype path a GPU takes (sampling.precision auto → bf16 on CUDA), run here on the CPU."""
    import copy

    from neurocine_toolbox.pipelines.decode_split import sampling_dtype

    if torch.cuda.is_available():
        expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        assert sampling_dtype({"precision": "auto"}, "cuda") == expected
    assert sampling_dtype({"precision": "bf16"}, "cpu") == torch.bfloat16
    assert sampling_dtype({"precision": "auto"}, "cpu") == torch.float32
    half = copy.deepcopy(pipeline).to(torch.bfloat16)
    assert half.unet.dtype == torch.bfloat16 and half.fmri_encoder.dtype == torch.bfloat16
    windows = _windows(2, seed=5)
    a = _decode(pipeline, windows, [0, 1], guidance_scale=3.0).astype(float)
    b = _decode(half, windows, [0, 1], guidance_scale=3.0).astype(float)
    assert b.shape == a.shape and np.abs(a - b).mean() < 8  # grey levels, of 255


def test_ddim_eta_noise_comes_from_the_clips_generators(pipeline):
    """With η > 0 DDIM draws noise at every step: from each clip's generator, not the global one."""
    windows = _windows(2, seed=6)
    torch.manual_seed(0)
    a = _decode(pipeline, windows, [0, 1], eta=1.0)
    torch.manual_seed(1)  # another global state changes nothing
    b = _decode(pipeline, windows, [0, 1], eta=1.0)
    c = _decode(pipeline, windows, [0, 2], eta=1.0)
    assert np.array_equal(a, b)
    assert np.array_equal(a[0], c[0]) and not np.array_equal(a[1], c[1])


def test_sdedit_starts_from_the_given_latents_and_runs_the_last_steps(pipeline, monkeypatch):
    """strength s: the init latents noised to the first of the last round(s·steps) timesteps."""
    windows = _windows(2)
    init = torch.randn(2, 4, 3, 8, 12, generator=torch.Generator().manual_seed(3))  # the VAE halves 16×24
    seen = []
    original = pipeline.unet.forward

    def spy(sample, t, states, **kwargs):
        seen.append(int(t))
        return original(sample, t, states, **kwargs)

    monkeypatch.setattr(pipeline.unet, "forward", spy)
    _decode(pipeline, windows, [0, 1], num_inference_steps=10, init_latents=init, strength=0.3)
    pipeline.scheduler.set_timesteps(10)
    assert seen == [int(t) for t in pipeline.scheduler.timesteps[-3:]]
    monkeypatch.undo()

    # A tiny strength keeps the decoded clip close to the init latents' own decoding; pure noise does not.
    target = _decode(pipeline, windows, [0, 1], num_inference_steps=1000, init_latents=init, strength=0.001,
                     guidance_scale=1.0)
    with torch.no_grad():
        direct = (pipeline.decode_latents(init).permute(0, 1, 3, 4, 2) * 255).round().numpy()
    assert np.abs(target.astype(float) - direct).mean() < 2.0
    free = _decode(pipeline, windows, [0, 1], num_inference_steps=3, guidance_scale=1.0)
    assert np.abs(free.astype(float) - direct).mean() > 5.0
    # strength 1 with init latents is pure noise: the same clip as without them.
    same = _decode(pipeline, windows, [0, 1], init_latents=init, strength=1.0)
    np.testing.assert_array_equal(same, _decode(pipeline, windows, [0, 1]))


def test_sdedit_inputs_are_checked(pipeline):
    windows = _windows(2)
    with pytest.raises(ValueError, match="needs init_latents or a perception reconstructor"):
        _decode(pipeline, windows, [0, 1], strength=0.5)
    with pytest.raises(ValueError, match="strength must be in"):
        _decode(pipeline, windows, [0, 1], init_latents=torch.zeros(2, 4, 3, 8, 12), strength=0)
    with pytest.raises(ValueError, match="init_latents must be"):
        _decode(pipeline, windows, [0, 1], init_latents=torch.zeros(2, 4, 3, 4, 4), strength=0.5)


def test_strength_below_one_starts_from_the_perception_reconstructor(pipeline, tmp_path):
    """With a reconstructor, strength < 1 starts from its latents of the windows; saved and loaded with the pipeline."""
    from diffusers import DDIMScheduler as Scheduler

    from neurocine_toolbox.models.perception_reconstructor import PerceptionReconstructor

    reconstructor = PerceptionReconstructor(window=WINDOW, num_columns=VOXELS, latent_shape=[4, 3, 8, 12], rank=2)
    generator = torch.Generator().manual_seed(4)
    for buffer in (reconstructor.coef, reconstructor.components, reconstructor.mean):
        buffer.copy_(torch.randn(buffer.shape, generator=generator) * 0.1)
    with_it = NeuroCinePipeline(vae=pipeline.vae, unet=pipeline.unet, fmri_encoder=pipeline.fmri_encoder,
                                scheduler=Scheduler.from_config(pipeline.scheduler.config),
                                perception_reconstructor=reconstructor.eval())
    with_it.set_progress_bar_config(disable=True)
    windows = _windows(2, seed=5)
    with torch.no_grad():
        init = reconstructor(windows)
    started = _decode(with_it, windows, [0, 1], num_inference_steps=10, strength=0.4)
    np.testing.assert_array_equal(started, _decode(pipeline, windows, [0, 1], num_inference_steps=10,
                                                   init_latents=init, strength=0.4))
    # strength 1 (the paper's) ignores it.
    np.testing.assert_array_equal(_decode(with_it, windows, [0, 1]), _decode(pipeline, windows, [0, 1]))

    with_it.save_pretrained(tmp_path / "pipeline")
    loaded = NeuroCinePipeline.from_pretrained(tmp_path / "pipeline")
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded.perception_reconstructor, PerceptionReconstructor)
    np.testing.assert_array_equal(_decode(loaded, windows, [0, 1], num_inference_steps=10, strength=0.4), started)
    # A pipeline saved without one loads with none.
    pipeline.save_pretrained(tmp_path / "plain")
    assert NeuroCinePipeline.from_pretrained(tmp_path / "plain").perception_reconstructor is None


def _first_unet_input(pipe, monkeypatch, windows, seeds, **kwargs):
    """The latents the first denoising step sees (guidance off, and DDIM's input scaling is none)."""
    seen = []
    original = pipe.unet.forward

    def spy(sample, t, states, **kw):
        seen.append((sample.clone(), int(t)))
        return original(sample, t, states, **kw)

    monkeypatch.setattr(pipe.unet, "forward", spy)
    _decode(pipe, windows, seeds, guidance_scale=1.0, **kwargs)
    monkeypatch.undo()
    return seen[0]


def test_pure_noise_start_is_the_dependent_prior_noise_of_the_given_beta(pipeline, monkeypatch):
    """strength 1: the loop starts from eq. 7's noise with the caller's β (not i.i.d. noise) from the clips' generators."""
    windows = _windows(2)
    shape = (2, 4, 3, 8, 12)  # the VAE halves 16×24
    start, _ = _first_unet_input(pipeline, monkeypatch, windows, [0, 1], beta=0.6)
    expected = dependent_noise(shape, 0.6, _generators([0, 1])) * pipeline.scheduler.init_noise_sigma
    assert not torch.allclose(expected, dependent_noise(shape, 0.0, _generators([0, 1])))
    torch.testing.assert_close(start, expected, rtol=0, atol=1e-6)


def test_sdedit_start_is_the_init_noised_to_the_first_step_that_runs_with_beta(pipeline, monkeypatch):
    """strength 0.3 of 10 steps runs timesteps[-3:]: the init latents get the noise level of the
    first of them (not of the last, nor of the full schedule's first), with eq. 7's noise of the given β."""
    windows = _windows(2)
    init = torch.randn(2, 4, 3, 8, 12, generator=torch.Generator().manual_seed(3))
    start, t = _first_unet_input(pipeline, monkeypatch, windows, [0, 1], num_inference_steps=10,
                                 init_latents=init, strength=0.3, beta=0.6)
    scheduler = pipeline.scheduler
    scheduler.set_timesteps(10)
    running = scheduler.timesteps[-3:]
    assert t == int(running[0]) and running[0] != running[-1]

    def noised(beta, timestep):
        noise = dependent_noise(tuple(init.shape), beta, _generators([0, 1]))
        return scheduler.add_noise(init, noise, torch.full((2,), int(timestep)))

    torch.testing.assert_close(start, noised(0.6, running[0]), rtol=0, atol=1e-6)
    for wrong in (noised(0.0, running[0]), noised(0.6, running[-1]), noised(0.6, scheduler.timesteps[0])):
        assert (start - wrong).abs().max() > 0.1  # each careless start would be told apart
