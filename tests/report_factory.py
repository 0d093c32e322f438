"""A small but real :class:`ReportContent` for the report writer's tests.

Smooth maps on the real meshes (Gaussian blobs over fs_LR 32k midthickness coordinates), kept on
posterior cortex only (the rest NaN, like a visual-cortex voxel selection), carried to fsaverage5
by the shipped table; several stages, layers and measures, two categories, four atlases' tables.
Names can be replaced with hostile text to test escaping.
"""

import numpy as np
import pandas as pd

from neurocine_toolbox.data.grayordinates import N_GRAYORDINATES, hcp
from neurocine_toolbox.interpretation.headline_choice import HeadlineChoice
from neurocine_toolbox.interpretation.report_content import ReportContent, RoiTable, SurfaceMap
from neurocine_toolbox.interpretation.surface_resampling import fslr_to_fsaverage5

STAGES = ("pretrain", "encoder", "decoder-fmri")
LAYERS = (1, 12, 24)
MEASURES = ("received", "cls", "rollout")
ATLASES = ("HCP-MMP1.0", "Yeo 7", "Yeo 17", "Cole-Anticevic networks")


def _smooth_maps(n_maps, rng):
    """``n_maps`` smooth fs_LR maps per hemisphere ``[32492, n_maps]``, NaN off posterior cortex."""
    h = hcp()
    out = []
    for hemi, gray in (("left", h.vertex_info.grayl), ("right", h.vertex_info.grayr)):
        xyz = np.asarray(getattr(h.mesh, f"midthickness_{hemi}")[0], np.float64)
        centres = xyz[rng.choice(gray, size=(n_maps, 3))]  # three blobs a map
        d2 = ((xyz[:, None, None, :] - centres[None]) ** 2).sum(-1)
        values = np.exp(-d2 / (2 * 25.0 ** 2)).sum(-1) + 0.05 * rng.random((len(xyz), n_maps))
        keep = np.zeros(len(xyz), bool)
        keep[gray] = True
        keep &= xyz[:, 1] < -30  # posterior cortex: the "selected voxels"
        values[~keep] = np.nan
        out.append(values)
    return out


def _grayordinates(left, right):
    h = hcp()
    values = np.full(N_GRAYORDINATES, np.nan)
    n_left = len(h.vertex_info.grayl)
    values[:n_left] = left[h.vertex_info.grayl]
    values[n_left:n_left + len(h.vertex_info.grayr)] = right[h.vertex_info.grayr]
    return values


def _roi_table(atlas, map_key, n_rows, rng):
    importance = np.sort(rng.random(n_rows))[::-1]
    p_spatial = rng.random(n_rows) * 0.2
    ranked = np.arange(n_rows) < n_rows - 1  # the last region has too few voxels: no rank, no p
    p_spatial[~ranked] = np.nan
    return RoiTable(atlas, map_key, pd.DataFrame({
        "region": [f"{atlas} region {i}" for i in range(n_rows)],
        "n_voxels": np.where(ranked, rng.integers(10, 400, n_rows), 3),
        "mean_importance": importance,
        "ci_low": importance - 0.05,
        "ci_high": importance + 0.05,
        "rank": pd.array([i + 1 if r else pd.NA for i, r in enumerate(ranked)], dtype="Int64"),
        "p_spatial": p_spatial,
        "n_null": np.where(ranked, 1000, 0),
        "p_permutation": np.where(ranked, rng.random(n_rows), np.nan),
        "q_spatial": np.minimum(p_spatial * n_rows / np.arange(1, n_rows + 1), 1.0),
        "status": np.where(ranked, "tested", "too few voxels"),
    }))


def synthetic_content(categories=("faces", "vehicles"), title="Attention report (synthetic)",
                      provenance_path="/data/sub-01/models/run-1/encoder.safetensors", seed=0):
    """A ReportContent: every stage × layer × measure over all windows, then one map a category.

    Parameters
    ----------
    categories : sequence of str
        Category names (category maps: encoder, last layer, received; signed).
    title, provenance_path : str
        Free text the report must escape.
    seed : int

    Returns
    -------
    ReportContent
    """
    rng = np.random.default_rng(seed)
    specs = [(s, layer, m, None) for s in STAGES for layer in LAYERS for m in MEASURES]
    specs += [("encoder", LAYERS[-1], "received", c) for c in categories]
    left, right = _smooth_maps(len(specs), rng)
    # Category maps are contrasts: centre them so they carry both signs.
    for values in (left, right):
        for index, spec in enumerate(specs):
            if spec[3] is not None:
                values[:, index] -= np.nanmean(values[:, index])
    fs5_left, fs5_right = fslr_to_fsaverage5(left, right)
    maps = [
        SurfaceMap(stage=s, layer=layer, measure=m, category=c, n_windows=120 if c is None else 17,
                   grayordinates=_grayordinates(left[:, i], right[:, i]),
                   fslr=(left[:, i], right[:, i]), fsaverage5=(fs5_left[:, i], fs5_right[:, i]))
        for i, (s, layer, m, c) in enumerate(specs)
    ]
    headline = maps[0].key
    tables = [_roi_table(atlas, headline, n, rng) for atlas, n in zip(ATLASES, (24, 7, 12, 9))]
    return ReportContent(
        title=title, subject="01", run="tiny", split="test", maps=maps, roi_tables=tables,
        methods={"n_surrogates": 1000, "n_permutations": 1000, "layers": list(LAYERS), "alpha": 0.05,
                 "rollout_discard_ratio": 0.0},
        methods_text="Attention received by each token, averaged over heads and queries, mapped back "
                     "to grayordinates and carried to the surfaces.",
        provenance={"run": "tiny", "command": "neurocine attention-report /data --subject 01",
                    "checkpoints": {"encoder": {"path": provenance_path, "sha256": "ab" * 32}},
                    "versions": {"neurocine": "0.0", "nilearn": "0.14"},
                    "store": {"path": "/data/derivatives/neurocine", "hash": "cd" * 8}},
        category_names=list(categories),
        notes=["Synthetic maps: Gaussian blobs on posterior cortex, not a model's attention."],
        truth=pd.DataFrame({"map": [headline] * 2, "truth": ["stimulus_driven", "gain_class"], "n_parcels": [24, 24],
                            "spearman_rho": [0.41, -0.12], "ci_low": [0.05, -0.4], "ci_high": [0.7, 0.2],
                            "p": [0.046, 0.58], "p_spatial": [0.03, 0.7], "n_null": [1000, 1000]}),
        hemispheres=pd.DataFrame({"map": ["encoder/layer-24/received/all", "truth: summed gain"],
                                  "left": [0.52, 1.0], "right": [0.48, 1.0], "ratio": [1.0833, 1.0],
                                  "ci_low": [1.05, np.nan], "ci_high": [1.11, np.nan]}),
        headline_choice=HeadlineChoice(
            pd.DataFrame({"map": ["attention", "attribution"], "drop_top": [0.012, 0.031], "drop_random": 0.004,
                          "excess": [0.008, 0.027], "ci_low": [0.001, 0.015], "ci_high": [0.015, 0.039]}),
            {"first": "attention", "second": "attribution", "mean": -0.019, "ci_low": -0.03, "ci_high": -0.008},
            "attribution", 26, 0.1),
        flags={"pretrain.include_test_fmri": False},
    )


#: Text that would run script if the report did not escape it.
HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_ATTRIBUTE = '"><img src=x onerror=alert(1)>'


def hostile_content():
    """:func:`synthetic_content` with hostile text in the title, a category and a path."""
    return synthetic_content(categories=("faces", HOSTILE_SCRIPT, HOSTILE_ATTRIBUTE),
                             title=f"Report {HOSTILE_SCRIPT}",
                             provenance_path=f"/data/{HOSTILE_ATTRIBUTE}/encoder.safetensors")
