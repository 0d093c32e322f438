"""From trained encoders and a split's windows to importance maps, ROI tables and checks.

For each stage's encoder:

- token importance per window (:mod:`.attention_extraction`) on the real windows and on inputs
  without a stimulus (:func:`~.attention_extraction.control_windows`); each measure's map raw,
  and divided token by token by its no-stimulus map (``<measure>-vs-<control>``: the position
  control), at patch resolution (:mod:`.voxel_projection`);
- voxel attribution (:mod:`.attribution`) where the stage is trained against CLIP;
- category-minus-rest contrasts of the headline attention measure (raw: the position cancels);
- ROI tables of the stage's headline map, every atlas (:mod:`.roi_summary`), with spatial nulls
  made on the map's own selected grayordinates (:mod:`.spatial_nulls`).

For the last stage also: the hemisphere table (left/right before and after the position
control, and the truth's), the truth correlations of both kinds of map on a simulated dataset,
and which kind heads the report (:mod:`.headline_choice`, on validation windows).
"""

import logging
from dataclasses import dataclass, field

import numpy as np

from .attention_extraction import MEASURES, control_windows, resolve_layers, token_importance
from .attribution import ATTRIBUTED_STAGES, voxel_attribution
from .hemispheres import hemisphere_table
from .report_content import RoiTable, SurfaceMap
from .roi_summary import ATLASES, roi_table, window_region_means
from .voxel_projection import columns_to_grayordinates, surfaces, tokens_to_columns

log = logging.getLogger("neurocine")

ATTRIBUTION = "attribution"


@dataclass
class AnalysisResult:
    """What :func:`analyse` found.

    Attributes
    ----------
    maps : list of SurfaceMap
        The headline map first (last stage, all windows).
    roi_tables : list of RoiTable
        Each stage's headline map, every atlas (the last stage's first); then, for the last
        stage, the HCP-MMP1.0 table of the other kind of map.
    token_importance : dict
        Per-window values: ``"<stage>/<measure>/layer-<ℓ>"`` float32 ``[N, P]`` (also
        ``<measure>-on-<control>`` for the no-stimulus inputs) and ``"<stage>/attribution"``
        ``[N, n_columns]``.
    layers : list of int
    categories : dict
        ``{name: n_windows}`` of the category contrasts made.
    headline_kind : str
        ``"attention"`` or ``"attribution"``.
    attention_measure : str
        The headline attention map's measure name (e.g. ``"read-vs-permuted"``).
    hemispheres : pandas.DataFrame or None
    truth : pandas.DataFrame or None
        Truth correlations of the last stage's maps (column ``map``), on a simulated dataset.
    headline_choice : HeadlineChoice or None
    """

    maps: list
    roi_tables: list
    token_importance: dict
    layers: list
    categories: dict
    headline_kind: str = "attention"
    attention_measure: str = "read"
    hemispheres: object = None
    truth: object = None
    headline_choice: object = None
    notes: list = field(default_factory=list)


def _surface_map(stage, layer, measure, category, n_windows, column_values, voxel_grayordinates):
    grayordinates = columns_to_grayordinates(column_values, voxel_grayordinates)
    fslr, fsaverage5 = surfaces(grayordinates)
    return SurfaceMap(stage, layer, measure, category, n_windows, grayordinates, fslr, fsaverage5)


def position_controls(encoder, windows, layers, section, seed):
    """``{control: token importance on inputs without a stimulus}`` (empty when the control is ``none``)."""
    control = section["position_control"]
    if control == "none":
        return {}
    return {control: token_importance(encoder, control_windows(windows, control, seed), layers,
                                      int(section["batch_size"]))}


def controlled_name(measure, control):
    """The name of a measure's position-controlled map (the measure itself without a control)."""
    return measure if control == "none" else f"{measure}-vs-{control}"


class _StageMaps:
    """One stage's per-window column values and maps (what the tables and checks read)."""

    def __init__(self, stage, encoder, windows, voxel_grayordinates, section, layers, seed, progress, targets):
        self.stage, self.maps, self.per_window, self.columns = stage, [], {}, {}
        patch, n_columns = encoder.config.patch_size, len(voxel_grayordinates)
        control = section["position_control"]
        # Per-window column values are kept only for what the tables and checks read (memory).
        self.keep = {(m, layers[-1]) for m in (section["measure"], controlled_name(section["measure"], control),
                                                ATTRIBUTION)}
        importance = token_importance(encoder, windows, layers, int(section["batch_size"]), progress)
        controls = position_controls(encoder, windows, layers, section, seed)
        n = len(windows)
        for (measure, layer), values in importance.items():
            self.per_window[f"{stage}/{measure}/layer-{layer}"] = values
            self.add(layer, measure, None, n, tokens_to_columns(values, patch, n_columns), voxel_grayordinates)
            for kind, table in controls.items():
                baseline = table[(measure, layer)]
                self.per_window[f"{stage}/{measure}-on-{kind}/layer-{layer}"] = baseline
                ratio = values / baseline.mean(axis=0)  # per window; its mean is the ratio of the means
                self.add(layer, controlled_name(measure, kind), None, n, tokens_to_columns(ratio, patch, n_columns),
                         voxel_grayordinates)
                if measure == section["measure"]:
                    self.add(layer, f"{measure}-on-{kind}", None, n, tokens_to_columns(baseline, patch, n_columns),
                             voxel_grayordinates)
        self.importance = importance
        self.attribution = None
        if targets is not None and stage in ATTRIBUTED_STAGES and section["attribution_steps"]:
            self.attribution = voxel_attribution(encoder, windows, targets, int(section["attribution_steps"]),
                                                 int(section["batch_size"]))
            self.per_window[f"{stage}/{ATTRIBUTION}"] = self.attribution
            self.add(layers[-1], ATTRIBUTION, None, n, self.attribution, voxel_grayordinates)

    def add_categories(self, categories, measure, layers, patch, voxel_grayordinates):
        """Category-minus-rest maps of raw ``measure`` at every layer (position cancels in the difference)."""
        for name, (inside, rest) in categories.items():  # at every stage: when does selectivity appear?
            for layer in layers:
                values = self.importance[(measure, layer)]
                contrast = values[inside].mean(axis=0) - values[rest].mean(axis=0)
                self.add(layer, measure, name, int(inside.sum()),
                         tokens_to_columns(contrast, patch, len(voxel_grayordinates)), voxel_grayordinates)

    def add(self, layer, measure, category, n, columns, voxel_grayordinates):
        """Add the map of column values (per window ``[N, n_columns]``, or one row ``[n_columns]``)."""
        surface_map = _surface_map(self.stage, layer, measure, category, n,
                                   columns.mean(axis=0) if columns.ndim > 1 else columns, voxel_grayordinates)
        self.maps.append(surface_map)
        if category is None and (measure, layer) in self.keep:
            self.columns[(measure, layer)] = (surface_map, columns)
        return surface_map


def _tables(surface_map, columns, voxel_grayordinates, section, seed, runs, atlases):
    from .spatial_nulls import moran_surrogates

    surrogates = (moran_surrogates(surface_map.grayordinates, int(section["n_surrogates"]), seed)
                  if section["n_surrogates"] else None)
    tables = []
    for atlas_name in atlases:
        window_means = window_region_means(columns, voxel_grayordinates, atlas_name)
        table = roi_table(surface_map.grayordinates, atlas_name, surrogates, int(section["n_permutations"]), seed,
                          int(section["min_voxels"]), window_means, runs, int(section["n_boot"]))
        tables.append(RoiTable(atlas_name, surface_map.key, table, window_means))
    return tables, surrogates


def analyse(encoders, windows, voxel_grayordinates, section, categories=None, seed=0, progress=None, runs=None,
            targets=None, headline_kind="attention", truth=None):
    """Importance maps, ROI tables and checks of every stage's encoder on a split's windows.

    Parameters
    ----------
    encoders : dict
        ``{stage: FMRIEncoder}`` in training order (``pretrain``, ``encoder``, ``decoder-fmri``).
    windows : ndarray ``[N, w, n_columns]``
    voxel_grayordinates : ndarray of int ``[n_columns]``
        The store's grayordinate of each column (−1: padding).
    section : dict
        The config's ``interpretation`` section.
    categories : dict, optional
        ``{name: (in bool [N], rest bool [N])}`` (:func:`.window_categories.window_categories`).
    seed : int
        Seeds the control inputs, surrogates and permutations.
    progress : callable, optional
        Called with the number of windows done (per stage).
    runs : ndarray ``[N]``, optional
        Each window's run (windows in time order), for the block-bootstrap intervals.
    targets : ndarray ``[N, d]``, optional
        Each window's CLIP target (:func:`.attribution.window_clip_targets`); without it, no
        attribution.
    headline_kind : {"attention", "attribution"}
        Which kind of map heads the report (attention where a stage has no attribution).
    truth : mapping, optional
        A simulation's true encoding model: adds truth correlations and the truth's hemispheres.

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
    control = section["position_control"]
    attention_measure = controlled_name(headline, control)
    n = len(windows)
    runs = np.zeros(n, int) if runs is None else np.asarray(runs)

    per_stage = {}
    for stage in stages:
        encoder = encoders[stage]
        if len(encoder.blocks) != depth:
            raise ValueError(f"the {stage} encoder has {len(encoder.blocks)} layers, the others {depth}")
        log.info("attention: %s encoder, layers %s, %d windows", stage, ", ".join(map(str, layers)), n)
        stage_maps = _StageMaps(stage, encoder, windows, voxel_grayordinates, section, layers, seed, progress, targets)
        stage_maps.add_categories(categories, headline, layers, encoder.config.patch_size, voxel_grayordinates)
        per_stage[stage] = stage_maps

    def headline_of(stage, kind):
        key = (ATTRIBUTION, layers[-1]) if kind == ATTRIBUTION else (attention_measure, layers[-1])
        return per_stage[stage].columns.get(key)

    last = stages[-1]
    kind = headline_kind if headline_of(last, headline_kind) else "attention"
    tables, heads, surrogates = [], {}, {}
    for stage in reversed(stages):
        stage_kind = kind if headline_of(stage, kind) else "attention"
        surface_map, columns = headline_of(stage, stage_kind)
        stage_tables, surrogates[stage] = _tables(surface_map, columns, voxel_grayordinates, section, seed, runs,
                                                  ATLASES)
        tables += stage_tables
        heads[stage] = surface_map
    other = ATTRIBUTION if kind == "attention" else "attention"
    compared = {kind: (heads[last], tables[0], surrogates[last])}
    if headline_of(last, other):
        surface_map, columns = headline_of(last, other)
        other_tables, other_surrogates = _tables(surface_map, columns, voxel_grayordinates, section, seed, runs,
                                                 ATLASES[:1])
        tables.insert(len(ATLASES), other_tables[0])
        compared[other] = (surface_map, other_tables[0], other_surrogates)

    truth_table = _truth_table(compared, truth, runs, section, seed) if truth is not None else None
    # Left/right of the last stage: raw headline attention, position-controlled, attribution.
    kept = per_stage[last].columns
    entries = {kept[key][0].key: kept[key][1] for key in ((headline, layers[-1]), (attention_measure, layers[-1]),
                                                          (ATTRIBUTION, layers[-1])) if key in kept}
    hemisphere_rows = hemisphere_table(entries, voxel_grayordinates, runs, int(section["n_boot"]), seed, truth)

    maps = [m for stage in stages for m in per_stage[stage].maps]
    headline_map = heads[last]
    maps = [headline_map] + [m for m in maps if m is not headline_map]
    per_window = {k: v for stage in stages for k, v in per_stage[stage].per_window.items()}
    return AnalysisResult(maps, tables, per_window, layers,
                          {name: int(inside.sum()) for name, (inside, _) in categories.items()},
                          headline_kind=kind, attention_measure=attention_measure, hemispheres=hemisphere_rows,
                          truth=truth_table)


def _truth_table(compared, truth, runs, section, seed):
    """Truth correlations of each compared map ``{kind: (SurfaceMap, MMP RoiTable, Surrogates)}``."""
    import pandas as pd

    from .simulation_truth import truth_correlations

    rows = [truth_correlations(mmp.table, truth, surface_map.grayordinates, surrogates, mmp.window_means, runs,
                               int(section["n_boot"]), seed).assign(map=surface_map.key)
            for surface_map, mmp, surrogates in compared.values()]
    return pd.concat(rows, ignore_index=True)


def candidate_scores(encoder, windows, targets, voxel_grayordinates, section, seed=0):
    """The two candidate headline maps of one encoder as column scores, made from ``windows``.

    ``{"attention": the last layer's position-controlled headline measure, "attribution": the
    mean voxel attribution}`` (what :func:`.headline_choice.choose_headline` compares).
    """
    layer = resolve_layers(["last"], len(encoder.blocks))
    patch, n_columns = encoder.config.patch_size, len(voxel_grayordinates)
    key = (section["measure"], layer[0])
    tokens = token_importance(encoder, windows, layer, int(section["batch_size"]))[key].mean(axis=0)
    for control in position_controls(encoder, windows, layer, section, seed).values():
        tokens = tokens / control[key].mean(axis=0)
    attribution = voxel_attribution(encoder, windows, targets, int(section["attribution_steps"]),
                                    int(section["batch_size"]))
    return {"attention": tokens_to_columns(tokens, patch, n_columns), ATTRIBUTION: attribution.mean(axis=0)}
