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


def test_sparse_causal_attention_reads_exactly_the_frame_and_the_two_before():
    """One attention layer, gate fully open: frame i's keys and values are frames i, i−1, i−2 (clamped at 0)."""
    from diffusers.models.attention_processor import Attention

    from neurocine_toolbox.models.video_layers import FrameContext, SparseCausalAttnProcessor

    torch.manual_seed(0)
    frames, tokens, dim = 6, 5, 8
    context = FrameContext()
    context.frames = frames
    attn = Attention(query_dim=dim, heads=2, dim_head=4)
    processor = SparseCausalAttnProcessor(context, heads=2)
    with torch.no_grad():
        processor.gate.fill_(1.0)
    attn.set_processor(processor)
    x = torch.randn(frames, tokens, dim)  # one clip: its frames in the batch dimension
    with torch.no_grad():
        out = attn(x)
        for i in range(frames):
            sources = [i, max(i - 1, 0), max(i - 2, 0)]
            q = attn.to_q(x[i]).view(tokens, 2, 4).transpose(0, 1)
            kv = torch.cat([x[j] for j in sources])
            k = attn.to_k(kv).view(-1, 2, 4).transpose(0, 1)
            v = attn.to_v(kv).view(-1, 2, 4).transpose(0, 1)
            weights = torch.softmax(q @ k.transpose(1, 2) / 2.0, dim=-1)
            expected = attn.to_out[0]((weights @ v).transpose(0, 1).reshape(tokens, dim))
            assert torch.allclose(out[i], expected, atol=1e-5), i
            for j in range(frames):  # which frames can change frame i's output
                changed = x.clone()
                changed[j] += 1.0
                moved = not torch.allclose(attn(changed)[i], out[i], atol=1e-6)
                assert moved == (j in sources), (i, j)
