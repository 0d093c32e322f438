"""The ``paper-table1-exp*`` presets are the rows of the paper's Table 1, exactly."""

import pytest

from neurocine_toolbox.config import list_presets, load_config

# NeuroCine (Sun et al. 2024), Table 1, transcribed: exp → (γ_spa, γ_tem, μ_spa, μ_tem, β, SSIM).
# "–" in the paper (a term not used) is 0 here; "no dependent noise" is β = 0 (i.i.d. noise).
TABLE1 = {
    0: (0.0, 0.0, 0.0, 0.0, 0.0, 0.171),
    1: (0.2, 1 / 3, 1.0, 1.0, 0.0, 0.204),
    2: (0.4, 1 / 3, 1.0, 1.0, 0.0, 0.184),
    3: (0.6, 1 / 3, 1.0, 1.0, 0.0, 0.184),
    4: (0.2, 1 / 2, 1.0, 1.0, 0.0, 0.186),
    5: (0.2, 1 / 3, 0.5, 0.5, 0.0, 0.191),
    6: (0.2, 1 / 3, 0.25, 0.75, 0.0, 0.186),
    7: (0.2, 1 / 3, 0.75, 0.25, 0.0, 0.185),
    8: (0.2, 1 / 3, 1.0, 1.0, 0.25, 0.242),
    9: (0.2, 1 / 3, 1.0, 1.0, 0.5, 0.230),
    10: (0.2, 1 / 3, 1.0, 1.0, 0.75, 0.225),
}


def test_there_is_one_preset_per_row_and_no_other():
    assert sorted(p for p in list_presets() if p.startswith("paper-table1")) == sorted(
        f"paper-table1-exp{exp}" for exp in TABLE1)


@pytest.mark.parametrize("exp", sorted(TABLE1))
def test_preset_matches_its_row(exp):
    gamma_spa, gamma_tem, mu_spa, mu_tem, beta, ssim = TABLE1[exp]
    config = load_config(f"paper-table1-exp{exp}")
    c = config["contrastive"]
    assert (c["gamma_spa"], c["gamma_tem"], c["mu_spa"], c["mu_tem"]) == pytest.approx(
        (gamma_spa, gamma_tem, mu_spa, mu_tem), abs=1e-9)
    assert config["decoder"]["beta"] == beta
    # Everything else is the paper's shared setting: both CLIP terms on, the defaults elsewhere.
    assert (c["mu_text"], c["mu_image"]) == (1.0, 1.0)
    defaults = load_config()
    for section in ("data", "encoder", "pretrain", "decoder_text", "decoder_fmri", "sampling"):
        assert config[section] == defaults[section]


def test_presets_name_the_papers_ssim_of_their_row():
    from importlib.resources import files

    for exp, row in TABLE1.items():
        text = files("neurocine_toolbox.config").joinpath(f"presets/paper-table1-exp{exp}.yaml").read_text()
        assert f"SSIM (subject 1, MinD-Video protocol): {row[-1]:.3f}" in text
