"""The fMRI encoder and its masked autoencoder: shapes, attention, positions, masking, round trips.

Models are tiny and built in code (widths 16–32, depth 2) with deliberately unequal sizes, so a
transposed axis or a mixed-up window/batch dimension changes a shape or a number.
"""

import copy
import inspect
import math

import pytest
import torch
import torch.nn.functional as F

from neurocine_toolbox.models.fmri_encoder import FMRIEncoder
from neurocine_toolbox.models.fmri_mae import FMRIMaskedAutoencoder

# 80 voxels → 5 patches; window 2; 4 heads of width 8; head 7 × 24; pooled 12. No two alike.
ENCODER = dict(num_voxels=80, patch_size=16, embed_dim=32, depth=2, num_heads=4, mlp_ratio=2.0,
               window_size=2, temporal_attention=True, out_tokens=7, out_dim=24, clip_dim=12,
               dropout=0.0, head_norm=True)
N_PATCHES = 5


def public(config):
    return {k: v for k, v in config.items() if not k.startswith("_")}


def make_encoder(seed=0, **changes):
    torch.manual_seed(seed)
    return FMRIEncoder(**{**ENCODER, **changes}).eval()


def make_mae(seed=0, **changes):
    torch.manual_seed(seed)
    encoder = dict(ENCODER, num_voxels=80, embed_dim=16, num_heads=2, window_size=1)
    args = dict(encoder_config=encoder, decoder_embed_dim=8, decoder_depth=2, decoder_num_heads=2,
                mask_ratio=0.6)
    return FMRIMaskedAutoencoder(**{**args, **changes}).eval()


def fmri(n=3, window=2, voxels=80, seed=1):
    return torch.randn(n, window, voxels, generator=torch.Generator().manual_seed(seed))


def sgd_step(model, loss, lr=0.5):
    """One plain gradient step on every parameter (torch.optim's first use costs seconds)."""
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= lr * p.grad


def randomise_temporal(model, seed=2):
    """Give the (zero-initialised) temporal attention non-zero output weights."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.blocks:
            block.attn_temp.proj.weight.copy_(0.3 * torch.randn(block.attn_temp.proj.weight.shape, generator=gen))


# --- config and save/load -----------------------------------------------------------------------

def test_encoder_config_carries_every_constructor_argument():
    model = make_encoder()
    arguments = set(inspect.signature(FMRIEncoder.__init__).parameters) - {"self"}
    stored = public(model.config)
    assert set(stored) == arguments
    assert stored == ENCODER  # every value as given (all differ from the defaults but two)


def test_encoder_round_trip_gives_identical_outputs(tmp_path):
    model = make_encoder()
    randomise_temporal(model)
    model.save_pretrained(tmp_path / "enc")
    assert (tmp_path / "enc" / "diffusion_pytorch_model.safetensors").is_file()
    loaded = FMRIEncoder.from_pretrained(tmp_path / "enc").eval()
    assert public(loaded.config) == public(model.config)
    x = fmri()
    with torch.no_grad():
        a, b = model(x), loaded(x)
    for name in ("text_states", "embeds", "hidden_states"):
        assert torch.equal(a[name], b[name]), name
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_mae_round_trip_gives_identical_outputs(tmp_path):
    mae = make_mae()
    stored = public(mae.config)
    assert set(stored) == set(inspect.signature(FMRIMaskedAutoencoder.__init__).parameters) - {"self"}
    mae.save_pretrained(tmp_path / "mae")
    loaded = FMRIMaskedAutoencoder.from_pretrained(tmp_path / "mae").eval()
    assert public(loaded.encoder.config) == public(mae.encoder.config)
    assert loaded.config.mask_ratio == 0.6 and loaded.config.decoder_embed_dim == 8
    x = fmri(n=4, window=1)[:, 0]
    keep, _ = mae.random_mask(4, torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = mae(x, keep_index=keep), loaded(x, keep_index=keep)
    assert torch.equal(a.reconstruction, b.reconstruction)
    assert torch.equal(a.mask, b.mask)


# --- shapes and input checks ---------------------------------------------------------------------

def test_output_shapes():
    model = make_encoder()
    out = model(fmri(n=3), output_attentions=True)
    assert out.text_states.shape == (3, 7, 24)
    assert out.embeds.shape == (3, 12)
    assert out.hidden_states.shape == (3, 2, 1 + N_PATCHES, 32)
    assert len(out.attentions) == len(out.temporal_attentions) == 2
    assert all(a.shape == (3, 2, 4, 1 + N_PATCHES, 1 + N_PATCHES) for a in out.attentions)
    assert all(a.shape == (3, 1 + N_PATCHES, 4, 2, 2) for a in out.temporal_attentions)
    as_tuple = model(fmri(n=3), output_attentions=True, return_dict=False)
    assert torch.equal(as_tuple[0], out.text_states) and len(as_tuple) == 5

    plain = make_encoder(temporal_attention=False, window_size=1)
    out = plain(torch.randn(4, 80), output_attentions=True)  # [N, voxels] is a window of one TR
    assert out.text_states.shape == (4, 7, 24)
    assert out.temporal_attentions is None


@pytest.mark.parametrize("shape", [(3, 3, 80), (3, 1, 80), (3, 2, 64), (3, 80), (2, 2, 80, 1)])
def test_check_input_rejects_wrong_window_or_voxel_count(shape):
    model = make_encoder()
    with pytest.raises(ValueError, match=r"fMRI windows \[N, 2, 80\], not \[" + ", ".join(map(str, shape))):
        model(torch.zeros(shape))


def test_a_last_partial_patch_is_zero_padded():
    torch.manual_seed(0)
    whole = FMRIEncoder(**{**ENCODER, "num_voxels": 80}).eval()
    partial = FMRIEncoder(**{**ENCODER, "num_voxels": 70}).eval()
    assert partial.num_patches == whole.num_patches == 5
    partial.load_state_dict(whole.state_dict())
    x = torch.randn(3, 2, 70)
    padded = torch.cat([x, torch.zeros(3, 2, 10)], dim=2)
    assert torch.allclose(partial(x).text_states, whole(padded).text_states, atol=1e-6)


# --- attention ------------------------------------------------------------------------------------

def test_attention_weights_are_softmax_weights_and_explicit_path_matches_sdpa():
    model = make_encoder()
    randomise_temporal(model)
    x = fmri()
    with torch.no_grad():
        explicit = model(x, output_attentions=True)
        fast = model(x)
    for weights in (*explicit.attentions, *explicit.temporal_attentions):
        assert (weights >= 0).all()
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    for name in ("text_states", "embeds", "hidden_states"):
        torch.testing.assert_close(explicit[name], fast[name], rtol=1e-5, atol=1e-5)


def test_layer0_spatial_attention_recomputed_by_hand():
    """Rebuild layer 0's attention from the raw weights, with the standard ViT qkv layout."""
    model = make_encoder()
    x = fmri(n=2)
    with torch.no_grad():
        got = model(x, output_attentions=True).attentions[0]  # [N, w, heads, 1+P, 1+P]

        d, heads = ENCODER["embed_dim"], ENCODER["num_heads"]
        conv = model.patch_embed.proj
        patches = x.reshape(2 * 2, N_PATCHES, 16)  # TRs in window order, patches of 16 voxels
        tokens = patches @ conv.weight.reshape(d, 16).T + conv.bias + model.pos_embed[0, 1:]
        cls = (model.cls_token[0, 0] + model.pos_embed[0, 0]).expand(4, 1, d)
        tokens = torch.cat([cls, tokens], dim=1)
        block = model.blocks[0]
        mean = tokens.mean(-1, keepdim=True)
        var = tokens.var(-1, unbiased=False, keepdim=True)
        normed = (tokens - mean) / torch.sqrt(var + block.norm1.eps) * block.norm1.weight + block.norm1.bias
        qkv = normed @ block.attn.qkv.weight.T + block.attn.qkv.bias
        q, k = qkv[..., :d], qkv[..., d:2 * d]  # [q | k | v], each split into heads of d/heads
        q = q.reshape(4, 1 + N_PATCHES, heads, d // heads).transpose(1, 2)
        k = k.reshape(4, 1 + N_PATCHES, heads, d // heads).transpose(1, 2)
        expected = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // heads), dim=-1)
    torch.testing.assert_close(got.reshape(4, heads, 1 + N_PATCHES, 1 + N_PATCHES), expected,
                               rtol=1e-5, atol=1e-6)


# --- temporal attention -------------------------------------------------------------------------

def temporal_twins():
    """Encoders with and without temporal attention sharing every other weight."""
    spatial = make_encoder(seed=3, temporal_attention=False)
    temporal = make_encoder(seed=4, temporal_attention=True)
    state = temporal.state_dict()
    temporal_keys = {k for k in state if ".attn_temp." in k or ".norm_temp." in k}
    assert temporal_keys and set(state) - temporal_keys == set(spatial.state_dict())
    state.update(spatial.state_dict())
    temporal.load_state_dict(state, strict=True)
    return spatial, temporal


def test_temporal_attention_is_a_no_op_at_construction_and_not_after_a_step():
    spatial, temporal = temporal_twins()
    x = fmri()
    with torch.no_grad():
        before_s, before_t = spatial(x), temporal(x)
    for name in ("text_states", "embeds", "hidden_states"):
        torch.testing.assert_close(before_t[name], before_s[name], rtol=0, atol=1e-6)

    # One step; then put every non-temporal weight back, so only attn_temp/norm_temp differ.
    temporal.train()
    out = temporal(x)
    sgd_step(temporal, out.text_states.pow(2).mean() + out.embeds.pow(2).mean())
    temporal.eval()
    assert temporal.blocks[0].attn_temp.proj.weight.abs().sum() > 0
    state = temporal.state_dict()
    state.update(spatial.state_dict())
    temporal.load_state_dict(state)
    with torch.no_grad():
        after = temporal(x)
    assert not torch.allclose(after.hidden_states, before_s.hidden_states, atol=1e-4)


def test_trs_interact_only_through_temporal_attention():
    x = fmri(n=2)
    changed = x.clone()
    changed[0, 1] += 1.0  # second TR of the first window
    with torch.no_grad():
        plain = make_encoder(temporal_attention=False)
        a, b = plain(x), plain(changed)
        torch.testing.assert_close(a.hidden_states[0, 0], b.hidden_states[0, 0], rtol=0, atol=1e-6)
        assert not torch.allclose(a.hidden_states[0, 1], b.hidden_states[0, 1])

        mixing = make_encoder()
        randomise_temporal(mixing)
        a, b = mixing(x), mixing(changed)
        assert not torch.allclose(a.hidden_states[0, 0], b.hidden_states[0, 0], atol=1e-4)


def test_windows_are_independent_across_the_batch():
    model = make_encoder()
    randomise_temporal(model)
    x = fmri(n=3)
    changed = x.clone()
    changed[1] = torch.randn(2, 80)
    with torch.no_grad():
        a, b = model(x, output_attentions=True), model(changed, output_attentions=True)
    for name in ("text_states", "embeds", "hidden_states"):
        torch.testing.assert_close(a[name][0], b[name][0], rtol=0, atol=1e-6)
        torch.testing.assert_close(a[name][2], b[name][2], rtol=0, atol=1e-6)
        assert not torch.allclose(a[name][1], b[name][1])
    torch.testing.assert_close(a.temporal_attentions[1][0], b.temporal_attentions[1][0], rtol=0, atol=1e-6)


# --- fixed positions ----------------------------------------------------------------------------

def test_sincos_positions_are_a_fixed_buffer():
    model = make_encoder()
    assert "pos_embed" in dict(model.named_buffers())
    assert "pos_embed" not in dict(model.named_parameters())
    assert "pos_embed" in model.state_dict()  # saved with the model (it may be interpolated)
    table = model.pos_embed[0]
    d = ENCODER["embed_dim"]
    assert table.shape == (1 + N_PATCHES, d)
    assert torch.equal(table[0], torch.zeros(d))
    for p in (0, 1, 4):
        for k in (0, 1, 7, d // 2 - 1):
            omega = 10000.0 ** (-k / (d / 2))
            assert table[1 + p, k].item() == pytest.approx(math.sin(p * omega), abs=1e-6)
            assert table[1 + p, d // 2 + k].item() == pytest.approx(math.cos(p * omega), abs=1e-6)

    assert not model.pos_embed.requires_grad
    before = model.pos_embed.clone()
    model.train()
    sgd_step(model, model(fmri()).text_states.sum())
    assert torch.equal(model.pos_embed, before)
    assert not torch.equal(model.cls_token, make_encoder().cls_token)  # the step did train


# --- masked autoencoder ---------------------------------------------------------------------------

def test_mask_keeps_the_right_number_of_patches_and_reproduces():
    mae = make_mae()
    keep, mask = mae.random_mask(8, torch.Generator().manual_seed(5))
    n_keep = round(N_PATCHES * (1 - 0.6))
    assert keep.shape == (8, n_keep)
    assert (mask.sum(1) == N_PATCHES - n_keep).all()
    assert torch.equal(mask.gather(1, keep), torch.zeros(8, n_keep))
    assert (keep[:, 1:] > keep[:, :-1]).all()  # sorted, no repeats
    again, _ = mae.random_mask(8, torch.Generator().manual_seed(5))
    other, _ = mae.random_mask(8, torch.Generator().manual_seed(6))
    assert torch.equal(keep, again)
    assert not torch.equal(keep, other)

    out = mae(torch.randn(8, 80), generator=torch.Generator().manual_seed(5))
    assert torch.equal(out.mask, mask)
    assert out.reconstruction.shape == (8, 80)


def test_encoder_never_sees_hidden_patches():
    mae = make_mae()
    x = torch.randn(6, 80)
    keep, mask = mae.random_mask(6, torch.Generator().manual_seed(0))
    hidden = mask.bool().repeat_interleave(16, dim=1)  # [N, voxels]
    changed = torch.where(hidden, torch.randn(6, 80) * 10, x)
    with torch.no_grad():
        a, _, _ = mae.encoder.encode_tokens(x, keep_index=keep)
        b, _, _ = mae.encoder.encode_tokens(changed, keep_index=keep)
        assert a.shape == (6, 1 + keep.shape[1], 16)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(mae(x, keep_index=keep).reconstruction,
                                   mae(changed, keep_index=keep).reconstruction, rtol=0, atol=0)
        # A visible patch does reach the encoder.
        visible = torch.where(hidden, x, x + 1.0)
        c, _, _ = mae.encoder.encode_tokens(visible, keep_index=keep)
        assert not torch.allclose(a, c)


def test_pretrained_parameters_exclude_heads_and_temporal_attention():
    mae = make_mae()
    chosen = {id(p) for p in mae.pretrained_parameters()}
    names = {name for name, p in mae.named_parameters() if id(p) in chosen}
    excluded = {name for name, _ in mae.named_parameters()} - names
    assert excluded and all(
        n.startswith(("encoder.proj_head.", "encoder.clip_head.")) or ".attn_temp." in n or ".norm_temp." in n
        for n in excluded)
    assert any(".attn_temp." in n for n in excluded) and any("proj_head" in n for n in excluded)
    assert {"encoder.patch_embed.proj.weight", "encoder.cls_token", "encoder.blocks.1.attn.qkv.weight",
            "encoder.norm.weight", "mask_token", "decoder_pred.weight"} <= names


# --- gradient checkpointing ---------------------------------------------------------------------

def loss_and_grads(model, x):
    model.zero_grad()
    out = model(x)
    loss = out.text_states.pow(2).mean() + out.embeds.pow(2).mean()
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_gradient_checkpointing_gives_the_same_loss_and_gradients():
    model = make_encoder()
    randomise_temporal(model)
    model.train()
    checkpointed = copy.deepcopy(model)
    calls = []

    def counting_checkpoint(module, *args):
        calls.append(type(module).__name__)
        return torch.utils.checkpoint.checkpoint(module, *args, use_reentrant=False)

    checkpointed.enable_gradient_checkpointing(counting_checkpoint)
    assert checkpointed.is_gradient_checkpointing
    x = fmri()
    loss, grads = loss_and_grads(model, x)
    loss_c, grads_c = loss_and_grads(checkpointed, x)
    assert calls == ["Block", "Block"]
    torch.testing.assert_close(loss_c, loss)
    assert set(grads_c) == set(grads) and ".attn_temp." in " ".join(grads)
    for name in grads:
        torch.testing.assert_close(grads_c[name], grads[name], rtol=1e-5, atol=1e-7, msg=name)

    checkpointed.enable_gradient_checkpointing()  # diffusers' default function
    loss_c, grads_c = loss_and_grads(checkpointed, x)
    torch.testing.assert_close(loss_c, loss)
    for name in grads:
        torch.testing.assert_close(grads_c[name], grads[name], rtol=1e-5, atol=1e-7, msg=name)


def test_mae_gradient_checkpointing_reaches_the_encoder():
    mae = make_mae().train()
    checkpointed = copy.deepcopy(mae)
    checkpointed.enable_gradient_checkpointing()
    assert checkpointed.encoder.gradient_checkpointing
    x = torch.randn(4, 80)
    keep, mask = mae.random_mask(4, torch.Generator().manual_seed(0))
    results = []
    for model in (mae, checkpointed):
        model.zero_grad()
        out = model(x, keep_index=keep)
        loss = (F.mse_loss(out.reconstruction, x, reduction="none").view(4, -1, 16).mean(-1) * mask).sum()
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()
                                        if p.grad is not None}))
    (loss, grads), (loss_c, grads_c) = results
    torch.testing.assert_close(loss_c, loss)
    assert set(grads_c) == set(grads)
    for name in grads:
        torch.testing.assert_close(grads_c[name], grads[name], rtol=1e-5, atol=1e-7, msg=name)
