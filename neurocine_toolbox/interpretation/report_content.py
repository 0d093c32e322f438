"""What the attention report shows: the analysis's results, handed to the HTML writer.

The analysis (:mod:`.attention_analysis`) fills these; :mod:`.report_html` renders them. The
writer computes nothing scientific: every number it prints is here.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


#: Stages with an fMRI encoder, in training order (the order the report lists them in).
STAGE_ORDER = ("pretrain", "encoder", "decoder-fmri")


def stage_rank(stage):
    """Sort key: training order, unknown stages last."""
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER)


@dataclass
class SurfaceMap:
    """One importance map, on every surface the report draws.

    Attributes
    ----------
    stage : str
        Checkpoint it comes from: ``"pretrain"``, ``"encoder"`` or ``"decoder-fmri"``.
    layer : int
        Encoder layer, counted from 1 (the paper's 1, 12, 24); for ``measure="rollout"``, the
        last layer the rollout runs through.
    measure : str
        ``"read"`` (patch rows of attention rollout weighted by what the projection head reads),
        ``"received"`` (attention a token receives, averaged over heads and queries),
        ``"cls"`` (the CLS token's attention to each token) or ``"rollout"`` (the CLS row of
        attention rollout through layers 1..``layer``); ``"<measure>-vs-<control>"`` the same
        divided token by token by its map on inputs without a stimulus, ``"<measure>-on-<control>"``
        that no-stimulus map itself; ``"attribution"`` the mean voxel attribution (listed under
        the last layer; it is the whole encoder's).
    category : str or None
        ``None``: averaged over all windows of the split. Otherwise a class or caption keyword;
        the map is then the category's mean minus the mean of the other windows.
    n_windows : int
        Windows averaged (for a category: the windows in it).
    grayordinates : ndarray, float ``[91282]``
        Importance per HCP 91k grayordinate; NaN where the store has no voxel.
    fslr : tuple of ndarray, float ``([32492], [32492])``
        Left and right fs_LR 32k hemispheres; NaN off the selected voxels and on the medial wall.
    fsaverage5 : tuple of ndarray, float ``([10242], [10242])``
        The same carried to fsaverage5.
    """

    stage: str
    layer: int
    measure: str
    category: str | None
    n_windows: int
    grayordinates: np.ndarray
    fslr: tuple
    fsaverage5: tuple

    @property
    def key(self):
        """A short unique name, e.g. ``"encoder/layer-12/received/all"``."""
        return f"{self.stage}/layer-{self.layer}/{self.measure}/{self.category or 'all'}"

    @property
    def is_contrast(self):
        """True for a signed map (category minus rest, or attribution): drawn with a diverging colour map."""
        return self.category is not None or self.measure == "attribution"


@dataclass
class RoiTable:
    """Importance by region of one atlas, for one map.

    Attributes
    ----------
    atlas : str
        ``"HCP-MMP1.0"``, ``"Yeo 7"``, ``"Yeo 17"``, ``"Cole-Anticevic networks"``.
    map_key : str
        :attr:`SurfaceMap.key` of the map summarised.
    table : pandas.DataFrame
        One row per region holding at least one selected voxel (:func:`.roi_summary.roi_table`):
        ``region``, ``n_voxels``, ``mean_importance``, ``ci_low``/``ci_high`` (95 % block
        bootstrap over windows, the model fixed), ``rank`` (1 = highest; none below
        ``min_voxels``), ``p_spatial`` (Moran surrogates), ``n_null``, ``p_permutation``,
        ``q_spatial`` (Benjamini–Hochberg), ``status``.
    window_means : ndarray ``[N, n_regions + 1]`` or None
        Each window's mean per region (by the atlas's label), for intervals of what is derived
        from the table (e.g. the truth correlation).
    """

    atlas: str
    map_key: str
    table: pd.DataFrame
    window_means: np.ndarray | None = None


@dataclass
class ReportContent:
    """Everything the report shows.

    Attributes
    ----------
    title : str
    subject : str
        Without ``sub-``.
    run : str
        The models' run name (``sub-XX/models/<run>``).
    split : str
        The store split whose windows were averaged.
    maps : list of SurfaceMap
        Every map; the first is the headline map (shown first and summarised in the tables).
    roi_tables : list of RoiTable
        Per atlas, for the headline map (and possibly others).
    methods : dict
        Every parameter used, ``name -> value`` (printed in the methods paragraph and a table).
    methods_text : str
        The methods paragraph (plain text; the writer escapes it).
    provenance : dict
        Run, config, checkpoint paths and hashes, store path and hash, versions, command.
    category_names : list of str
        The categories maps exist for (classes or caption keywords), in display order.
    notes : list of str
        Plain-text remarks to show (e.g. a stage whose checkpoint is missing).
    truth : pandas.DataFrame or None
        On a simulated dataset: Spearman correlations across HCP-MMP1.0 parcels between the
        headline map's mean importance and the true encoding model
        (:func:`~.simulation_truth.truth_correlations`, column ``map``: which map); None otherwise.
    hemispheres : pandas.DataFrame or None
        Left/right ratios of the headline maps before and after the position control, and the
        truth's (:func:`.hemispheres.hemisphere_table`).
    headline_choice : HeadlineChoice or None
        The validation windows' deletion test that chose the headline (:mod:`.headline_choice`).
    flags : dict
        Opt-in settings that let test data into training (e.g. ``pretrain.include_test_fmri``).
    """

    title: str
    subject: str
    run: str
    split: str
    maps: list
    roi_tables: list
    methods: dict
    methods_text: str
    provenance: dict
    category_names: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    truth: pd.DataFrame | None = None
    hemispheres: pd.DataFrame | None = None
    headline_choice: object = None
    flags: dict = field(default_factory=dict)
