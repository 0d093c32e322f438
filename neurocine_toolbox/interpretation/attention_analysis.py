"""From trained encoders and a split's windows to importance maps and ROI tables.

For each stage's encoder: token importance per window (:mod:`.attention_extraction`), averaged
over the windows, spread over voxels and grayordinates (:mod:`.voxel_projection`), carried to
fs_LR 32k and fsaverage5; category-minus-rest contrasts of the headline measure at every stage
and layer; ROI tables of each stage's headline map (last layer) for every atlas
(:mod:`.roi_summary`).
"""

import logging
from dataclasses import dataclass

import numpy as np

from .attention_extraction import MEASURES, resolve_layers, token_importance
from .report_content import RoiTable, SurfaceMap
from .roi_summary import ATLASES, roi_table, spin_samples, window_region_means
from .voxel_projection import columns_to_grayordinates, patch_column_shares, surfaces, tokens_to_columns

log = logging.getLogger("neurocine")


@dataclass
class AnalysisResult:
    """What :func:`analyse` found.

    Attributes
    ----------
    maps : list of SurfaceMap
        The headline map first (last stage, headline measure, last layer, all windows).
    roi_tables : list of RoiTable
        Each stage's headline map (last layer), every atlas; the last stage's first.
    token_importance : dict
        ``{"<stage>/<measure>/layer-<ℓ>": float32 [N, P]}``, every window (per-sample values).
    layers : list of int
    categories : dict
        ``{name: n_windows}`` of the category contrasts made.
    """

    maps: list
    roi_tables: list
    token_importance: dict
    layers: list
    categories: dict


def _surface_map(stage, layer, measure, category, n_windows, token_values, shares, voxel_grayordinates):
    columns = tokens_to_columns(token_values, shares, len(voxel_grayordinates))
    grayordinates = columns_to_grayordinates(columns, voxel_grayordinates)
    fslr, fsaverage5 = surfaces(grayordinates)
    return SurfaceMap(stage, layer, measure, category, n_windows, grayordinates, fslr, fsaverage5)


def analyse(encoders, windows, voxel_grayordinates, section, categories=None, seed=0, progress=None, runs=None):
    """Importance maps and ROI tables of every stage's encoder on a split's windows.

    Parameters
    ----------
    encoders : dict
        ``{stage: FMRIEncoder}`` in training order (``pretrain``, ``encoder``, ``decoder-fmri``).
    windows : ndarray ``[N, w, n_columns]``
    voxel_grayordinates : ndarray of int ``[n_columns]``
        The store's grayordinate of each column (−1: padding).
    section : dict
        The config's ``interpretation`` section (``layers``, ``measure``, ``batch_size``,
        ``n_spins``, ``n_permutations``, ``min_voxels``, ``n_boot``).
    categories : dict, optional
        ``{name: (in bool [N], rest bool [N])}`` (:func:`.window_categories.window_categories`).
    seed : int
        Seeds the spins and permutations.
    progress : callable, optional
        Called with the number of windows done (per stage).
    runs : ndarray ``[N]``, optional
        Each window's run (windows in time order): for the ROI means' block-bootstrap intervals
        (default: all in one run).

    Returns
    -------
    AnalysisResult
    """
    if not encoders:
        raise ValueError("no trained encoder to take attention from")
    categories = categories or {}
    stages = list(encoders)
    depth = len(encoders[stages[-1]].blocks)
    layers = resolve_layers(section["layers"], depth)
    headline = section["measure"]
    if headline not in MEASURES:
        raise ValueError(f"interpretation.measure must be one of {', '.join(MEASURES)}, not {headline!r}")
    n = len(windows)

    runs = np.zeros(n, int) if runs is None else np.asarray(runs)
    maps, per_window, heads, head_columns = [], {}, {}, {}
    for stage in stages:
        encoder = encoders[stage]
        if len(encoder.blocks) != depth:
            raise ValueError(f"the {stage} encoder has {len(encoder.blocks)} layers, the others {depth}")
        log.info("attention: %s encoder, layers %s, %d windows", stage, ", ".join(map(str, layers)), n)
        importance = token_importance(encoder, windows, layers, int(section["batch_size"]), progress)
        shares = patch_column_shares(encoder)
        for (measure, layer), values in importance.items():
            per_window[f"{stage}/{measure}/layer-{layer}"] = values
            surface_map = _surface_map(stage, layer, measure, None, n, values.mean(axis=0), shares,
                                       voxel_grayordinates)
            maps.append(surface_map)
            if measure == headline and layer == layers[-1]:
                heads[stage] = surface_map
                head_columns[stage] = tokens_to_columns(values, shares, len(voxel_grayordinates))
        for name, (inside, rest) in categories.items():  # at every stage: when does selectivity appear?
            for layer in layers:
                values = importance[(headline, layer)]
                contrast = values[inside].mean(axis=0) - values[rest].mean(axis=0)
                maps.append(_surface_map(stage, layer, headline, name, int(inside.sum()), contrast,
                                         shares, voxel_grayordinates))

    spins = spin_samples(int(section["n_spins"]), seed) if section["n_spins"] else None
    tables = []
    for stage in reversed(stages):
        for atlas_name in ATLASES:
            window_means = window_region_means(head_columns[stage], voxel_grayordinates, atlas_name)
            table = roi_table(heads[stage].grayordinates, atlas_name, spins, int(section["n_permutations"]), seed,
                              int(section["min_voxels"]), window_means, runs, int(section["n_boot"]))
            tables.append(RoiTable(atlas_name, heads[stage].key, table, window_means))
    headline_map = heads[stages[-1]]
    maps = [headline_map] + [m for m in maps if m is not headline_map]
    return AnalysisResult(maps, tables, per_window, layers,
                          {name: int(inside.sum()) for name, (inside, _) in categories.items()})
