"""The video UNet: identity at step 0, what each new layer does, trainable groups, save/load."""

import pytest
import torch
from diffusers import UNet2DConditionModel
from einops import rearrange

from neurocine_toolbox.models.video_unet import MODULE_GROUPS, VideoUNet, select_parameters

# Deliberately unequal sizes: 5 frames, 7 conditioning tokens of width 24, 8×12 latents.
UNET = dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=24, attention_head_dim=8, norm_num_groups=8)


@pytest.fixture(scope="module")
def unet2d():
    torch.manual_seed(0)
    return UNet2DConditionModel(**UNET).eval()


def _inputs(batch=2, frames=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 4, frames, 8, 12, generator=g), torch.tensor([10, 700])[:batch],
            torch.randn(batch, 7, 24, generator=g))


def _per_frame_2d(unet2d, sample, timesteps, states):
    frames = sample.shape[2]
    out = unet2d(rearrange(sample, "b c f h w -> (b f) c h w"), timesteps.repeat_interleave(frames),
                 encoder_hidden_states=states.repeat_interleave(frames, dim=0)).sample
    return rearrange(out, "(b f) c h w -> b c f h w", f=frames)


def test_inflated_model_gives_the_2d_model_frame_by_frame_at_step_0(unet2d):
    video = VideoUNet.from_unet_2d(unet2d).eval()
    sample, timesteps, states = _inputs()
    with torch.no_grad():
        got = video(sample, timesteps, states).sample
        expected = _per_frame_2d(unet2d, sample, timesteps, states)
    assert got.shape == sample.shape
    assert torch.equal(got, expected)  # exactly: every new layer adds an exact zero


@pytest.mark.parametrize("group", ["temporal_conv", "temporal_attention", "sparse_causal_gate"])
def test_each_new_layer_mixes_frames_once_it_is_trained(unet2d, group):
    """The identity above is not vacuous: move one group's weights and frames start to interact."""
    video = VideoUNet.from_unet_2d(unet2d).eval()
    with torch.no_grad():
        for _, parameter in select_parameters(video, [group]):
            parameter.add_(0.05 * torch.randn_like(parameter) + 0.3)
    sample, timesteps, states = _inputs()
    with torch.no_grad():
        got = video(sample, timesteps, states).sample
        expected = _per_frame_2d(unet2d, sample, timesteps, states)
        alone = video(sample[:, :, :1], timesteps, states).sample  # a one-frame clip has no neighbours
    assert not torch.allclose(got, expected, atol=1e-4)
    assert torch.allclose(alone, _per_frame_2d(unet2d, sample[:, :, :1], timesteps, states), atol=1e-5)


def test_sparse_causal_attention_never_looks_ahead(unet2d):
    video = VideoUNet.from_unet_2d(unet2d, temporal_conv=False, temporal_attention=False).eval()
    with torch.no_grad():
        for _, parameter in select_parameters(video, ["sparse_causal_gate"]):
            parameter.fill_(0.7)
    sample, timesteps, states = _inputs()
    changed = sample.clone()
    changed[:, :, 3:] = torch.randn_like(changed[:, :, 3:])
    with torch.no_grad():
        a = video(sample, timesteps, states).sample
        b = video(changed, timesteps, states).sample
    assert torch.allclose(a[:, :, :3], b[:, :, :3], atol=1e-6)  # frames 0-2 ignore frames 3-4
    assert not torch.allclose(a[:, :, 3:], b[:, :, 3:])


def test_trainable_groups_select_their_modules_and_freeze_the_rest(unet2d):
    video = VideoUNet.from_unet_2d(unet2d)
    chosen = select_parameters(video, ["cross_attention", "temporal_attention"])
    names = {n for n, _ in chosen}
    assert names and all(".attn2." in n or ".temporal." in n for n in names)
    assert not any(".conv1.temporal." in n or ".conv2.temporal." in n for n in names)  # temporal_conv is separate
    trainable = {n for n, p in video.named_parameters() if p.requires_grad}
    assert trainable == names
    assert any(".attn1." in n for n, p in video.named_parameters() if not p.requires_grad)
    every = select_parameters(video, ["all"])
    assert len(every) == len(list(video.parameters()))
    with pytest.raises(ValueError, match="no_such_module"):
        select_parameters(video, ["attn2", "no_such_module"])
    assert set(MODULE_GROUPS) >= {"spatial_self_attention", "cross_attention", "temporal_attention"}


def test_save_and_load_round_trip(unet2d, tmp_path):
    video = VideoUNet.from_unet_2d(unet2d, sparse_causal=False)
    with torch.no_grad():
        for _, parameter in select_parameters(video, ["temporal_attention"]):
            parameter.add_(torch.randn_like(parameter))
    video.save_pretrained(tmp_path / "unet")
    loaded = VideoUNet.from_pretrained(tmp_path / "unet")
    assert loaded.config.sparse_causal is False and loaded.config.unet_config["cross_attention_dim"] == 24
    a, b = video.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    sample, timesteps, states = _inputs()
    with torch.no_grad():
        assert torch.equal(video.eval()(sample, timesteps, states).sample, loaded.eval()(sample, timesteps, states).sample)
