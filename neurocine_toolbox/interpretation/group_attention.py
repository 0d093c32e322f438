"""Where subjects agree: one page over the attention reports of several subjects of a run.

``neurocine attention-report --subject 02 03 04 --name RUN`` writes each subject's own report
(:mod:`.attention_report`, in its ``sub-XX/models/RUN/``), then this page: each subject's headline
map (the map its own report leads with), and where they agree:

- the **mean map**: each subject's map z-scored over its selected grayordinates, then averaged;
- the **conjunction map**: per grayordinate, the share of subjects for whom it is in their own
  top fifth;
- **pairwise agreement**: Spearman's rho between two subjects' maps over the grayordinates both
  have, one-sided p against Moran surrogates of the first map (:mod:`.spatial_nulls`: nulls that
  keep the map's spatial autocorrelation, so smooth maps do not agree by chance);
- **regions**: the HCP-MMP1.0 regions ranked by the mean over subjects of their z-scored mean, with
  each subject's rank.

The subjects' maps are read in the run's shared space: for anatomical alignment the same
grayordinates; for functional alignment or adapters, the columns keep their grayordinates (the
maps are block-diagonal within visual areas) but what a column reads mixes its area's voxels.

Writes ``<derivatives>/group/models/RUN/attention-<split>/`` (or ``group/attention/RUN-<split>/``
when the subjects' runs are their own): ``group_report.html``, ``agreement.json``, ``maps.npz``.
"""

import base64
import datetime
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .._version import __version__
from ..utils.atomic import atomic_dir
from .report_content import SurfaceMap
from .roi_summary import atlas
from .spatial_nulls import moran_surrogates
from .surface_figures import figure6_png
from .voxel_projection import surfaces

#: A grayordinate in a subject's top fifth counts for the conjunction.
TOP_SHARE = 0.2


def headline_map(summary):
    """The map a subject's report leads with (its first region table's map)."""
    key = summary["roi_tables"][0].map_key
    return next(m for m in summary["maps"] if m.key == key)


def zscored(values):
    """A grayordinate map z-scored over its finite entries (NaN elsewhere)."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    out = np.full_like(values, np.nan)
    spread = values[finite].std()
    out[finite] = (values[finite] - values[finite].mean()) / (spread if spread > 0 else 1.0)
    return out


def conjunction(maps, share=TOP_SHARE):
    """Per grayordinate, the share of maps (of those that have it) in whose top ``share`` it lies."""
    maps = np.asarray(maps, np.float64)
    counts, have = np.zeros(maps.shape[1]), np.zeros(maps.shape[1])
    for values in maps:
        finite = np.isfinite(values)
        cut = np.quantile(values[finite], 1 - share)
        counts[finite] += values[finite] >= cut
        have[finite] += 1
    with np.errstate(invalid="ignore"):
        return np.where(have > 0, counts / np.maximum(have, 1), np.nan)


def pairwise_agreement(maps, labels, n_surrogates, seed=0):
    """Spearman's rho of every pair of maps over their common grayordinates, with a spatial-null p.

    Returns
    -------
    pandas.DataFrame
        ``a``, ``b``, ``n_grayordinates``, ``spearman_rho``, ``p_spatial`` (one-sided, Moran
        surrogates of ``a``'s map; NaN without surrogates).
    """
    rows = []
    surrogates = {}
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            a, b = np.asarray(maps[i], np.float64), np.asarray(maps[j], np.float64)
            common = np.isfinite(a) & np.isfinite(b)
            rho = float(stats.spearmanr(a[common], b[common])[0])
            p = np.nan
            if n_surrogates:
                if i not in surrogates:
                    surrogates[i] = moran_surrogates(a, n_surrogates, seed=seed + i)
                drawn = surrogates[i]
                keep = np.isin(drawn.grayordinates, np.flatnonzero(common))
                null = drawn.values[keep]
                modelled = np.isfinite(null).all(axis=1)
                if modelled.sum() > 2:
                    target = b[drawn.grayordinates[keep][modelled]]
                    null_rho = np.array([stats.spearmanr(null[modelled, k], target)[0]
                                         for k in range(null.shape[1])])
                    p = float((1 + np.sum(null_rho >= rho)) / (1 + len(null_rho)))
            rows.append({"a": labels[i], "b": labels[j], "n_grayordinates": int(common.sum()),
                         "spearman_rho": rho, "p_spatial": p})
    return pd.DataFrame(rows)


def region_agreement(maps, labels, top=15):
    """HCP-MMP1.0 regions by the mean over subjects of their z-scored map's region mean; each subject's rank."""
    region_of, names = atlas("HCP-MMP1.0")
    columns = {}
    for label, values in zip(labels, maps):
        z = zscored(values)
        frame = pd.DataFrame({"region": region_of, "value": z}).dropna()
        columns[label] = frame[frame.region > 0].groupby("region")["value"].mean()
    table = pd.DataFrame(columns)
    table["mean"] = table.mean(axis=1)
    for label in labels:
        table[f"rank {label}"] = table[label].rank(ascending=False).astype("Int64")
    table = table.sort_values("mean", ascending=False).head(top)
    table.insert(0, "name", [names.get(int(r), str(r)) for r in table.index])
    return table.reset_index(drop=True)


def _as_surface_map(template, name, values):
    fslr, fsaverage5 = surfaces(values)
    return replace(template, stage=name, grayordinates=values, fslr=fslr, fsaverage5=fsaverage5)


def group_attention_report(out_dir, summaries, run_name, split, n_surrogates, seed=0):
    """Write the page over several subjects' reports.

    Parameters
    ----------
    out_dir : Path
        Where ``group_report.html``, ``agreement.json`` and ``maps.npz`` go (written together).
    summaries : dict
        ``{subject: attention_report(...)'s summary}``.
    run_name, split : str
    n_surrogates : int
        Moran surrogates per map for the pairwise p (``interpretation.n_surrogates``; 0: none).

    Returns
    -------
    dict
        ``{"report", "pairs" (DataFrame), "regions" (DataFrame), "maps" (list of SurfaceMap)}``.
    """
    labels = [f"sub-{s}" for s in summaries]
    heads = [headline_map(summary) for summary in summaries.values()]
    grayordinates = [np.asarray(m.grayordinates, np.float64) for m in heads]
    stacked = np.stack([zscored(g) for g in grayordinates])
    have = np.isfinite(stacked).any(axis=0)
    mean = np.full(stacked.shape[1], np.nan)
    mean[have] = np.nanmean(stacked[:, have], axis=0)  # NaN where no subject has the grayordinate
    shared = conjunction(grayordinates)
    maps = [replace(m, stage=label) for m, label in zip(heads, labels)]
    maps.append(_as_surface_map(heads[0], "mean (z)", mean))
    maps.append(_as_surface_map(heads[0], f"share in own top {round(TOP_SHARE * 100)} %", shared))
    pairs = pairwise_agreement(grayordinates, labels, n_surrogates, seed)
    regions = region_agreement(grayordinates, labels)
    record = {"run": run_name, "split": split, "subjects": labels,
              "headline_maps": {label: m.key for label, m in zip(labels, heads)},
              "pairs": pairs.to_dict(orient="records"), "regions": regions.to_dict(orient="records"),
              "n_surrogates": int(n_surrogates), "top_share": TOP_SHARE, "neurocine_version": __version__,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    png = figure6_png(maps, measure=heads[0].measure)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        np.savez_compressed(tmp / "maps.npz", **{label: g.astype(np.float32) for label, g in zip(labels, grayordinates)},
                            mean_z=mean.astype(np.float32), conjunction=shared.astype(np.float32))
        (tmp / "agreement.json").write_text(json.dumps(record, indent=2, default=float) + "\n")
        (tmp / "group_report.html").write_text(_html(record, pairs, regions, png, heads[0]))
    return {"report": out_dir / "group_report.html", "pairs": pairs, "regions": regions, "maps": maps}


def _html(record, pairs, regions, png, head):
    from .report_html import _environment

    image = base64.b64encode(png).decode() if png else None
    template = _environment().get_template("group_report.html.j2")
    return template.render(record=record, pairs=pairs.to_dict(orient="records"),
                           regions=regions.to_dict(orient="records"), region_columns=list(regions.columns),
                           image=image, measure=head.measure, layer=head.layer, top=round(TOP_SHARE * 100))


def summary_lines(result):
    """A few terminal lines: the page, and each pair's agreement."""
    lines = [f"where the subjects agree: {result['report']}"]
    for row in result["pairs"].itertuples():
        p = "n/a" if not np.isfinite(row.p_spatial) else f"{row.p_spatial:.3g}"
        lines.append(f"  {row.a} ~ {row.b}: Spearman rho {row.spearman_rho:+.3f} over {row.n_grayordinates} "
                     f"grayordinates, p_spatial {p} (Moran surrogates)")
    return lines


def group_report_for_run(derivatives_dir, summaries, name, split, overrides=()):
    """:func:`group_attention_report` for the subjects' reports of run ``name``, into the shared run's
    folder (or ``group/attention/`` when each subject has a run of its own by that name)."""
    from ..alignment.run_views import group_run_dir
    from ..config import load_run_config

    first = next(iter(summaries.values()))
    root = Path(first["out_dir"]).parent
    run_name = name or root.name
    config = load_run_config(root, overrides, "interpretation", "attention-report")
    split = split or config["interpretation"]["split"]
    shared = group_run_dir(derivatives_dir, run_name)
    out_dir = shared / f"attention-{split}" if shared.is_dir() else \
        Path(derivatives_dir) / "group" / "attention" / f"{run_name}-{split}"
    return group_attention_report(out_dir, summaries, run_name, split, int(config["interpretation"]["n_surrogates"]),
                                  seed=int(config["seed"]))
