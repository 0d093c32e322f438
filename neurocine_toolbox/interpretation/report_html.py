"""Write a :class:`~.report_content.ReportContent` as one self-contained HTML file.

Everything the page shows is inside it: figures as base64 PNG ``data:`` URIs, the meshes and
maps as JSON, plotly.js inlined from nilearn's packaged copy. It loads nothing from anywhere, so
it opens offline and can be mailed or archived as one file. Text that comes from the analysis
(captions, category names, paths) is untrusted: Jinja autoescapes it, and the JSON blocks are
written so that no string in them can close their ``<script>`` element.
"""

import base64
import json
import math
import numbers
from importlib import resources
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from neurocine_toolbox.interpretation import surface_figures
from neurocine_toolbox.interpretation.report_content import stage_rank
from neurocine_toolbox.utils.atomic import atomic_path

TEMPLATE = "report.html.j2"
SCRIPT = "report.js"
#: Where nilearn has kept its plotly.js bundle (its ``_assets`` since 0.11, ``plotting/data`` before).
PLOTLY_JS = ("_assets/js/plotly-gl3d-latest.min.js", "plotting/data/js/plotly-gl3d-latest.min.js")
#: Columns of the ROI tables, in order, with how each value is printed.
ROI_COLUMNS = {"region": str, "n_voxels": "{:d}", "mean_importance": "{:.4g}", "ci_low": "{:.4g}",
               "ci_high": "{:.4g}", "rank": "{:d}",
               "p_spatial": "{:.3g}", "n_null": "{:d}", "p_permutation": "{:.3g}", "q_spatial": "{:.3g}",
               "status": str}
TRUTH_COLUMNS = {"map": str, "truth": str, "n_parcels": "{:d}", "spearman_rho": "{:+.3f}", "ci_low": "{:+.3f}",
                 "ci_high": "{:+.3f}", "p": "{:.3g}", "p_spatial": "{:.3g}", "n_null": "{:d}"}
HEMISPHERE_COLUMNS = {"map": str, "left": "{:.4g}", "right": "{:.4g}", "ratio": "{:.3f}", "ci_low": "{:.3f}",
                      "ci_high": "{:.3f}"}
CHOICE_COLUMNS = {"map": str, "drop_top": "{:+.4f}", "drop_random": "{:+.4f}", "excess": "{:+.4f}",
                  "ci_low": "{:+.4f}", "ci_high": "{:+.4f}"}


def script_json(value):
    """``value`` as JSON that is safe inside an HTML ``<script>`` element.

    ``<``, ``>`` and ``&`` become ``\\u`` escapes, so no string can write ``</script>`` or
    ``<!--``; ``JSON.parse`` reads them back unchanged.
    """
    text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _inline_script(text, name):
    # The HTML parser ends a script at "</script" and changes state at "<!--", whatever JS
    # means by them; refuse rather than break the page.
    lowered = text.lower()
    if "</script" in lowered or "<!--" in lowered:
        raise ValueError(f"{name} contains '</script' or '<!--' and cannot be inlined")
    return text


def plotly_js():
    """The text of nilearn's packaged plotly.js (the gl3d bundle), checked safe to inline.

    Raises
    ------
    FileNotFoundError
        When this nilearn keeps it in none of the known places.
    """
    root = resources.files("nilearn")
    for relative in PLOTLY_JS:
        candidate = root.joinpath(relative)
        if candidate.is_file():
            return _inline_script(candidate.read_text(encoding="utf-8"), relative)
    raise FileNotFoundError(f"nilearn ships no plotly.js at any of {PLOTLY_JS}; the report needs it")


def _png_uri(png):
    return None if png is None else "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _format(value, spec):
    if value is None or value is pd.NA or (isinstance(value, numbers.Real) and not math.isfinite(value)):
        return "—"
    if callable(spec):
        return spec(value)
    if spec == "{:d}":
        value = int(value)
    return spec.format(value)


def roi_section(roi_table, alpha=0.05):
    """One atlas table as the template shows it: printed cells and a bar chart.

    Returns
    -------
    dict
        ``atlas``, ``map_key``, ``columns``, ``rows`` (lists of strings), ``significant`` (per
        row, ``p_spatial < alpha``), ``bars`` (PNG data URI).
    """
    table = roi_table.table
    missing = [c for c in ROI_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"ROI table {roi_table.atlas!r} lacks columns {missing}")
    rows = [[_format(record[c], spec) for c, spec in ROI_COLUMNS.items()]
            for record in table[list(ROI_COLUMNS)].to_dict("records")]
    return {
        "atlas": roi_table.atlas,
        "map_key": roi_table.map_key,
        "columns": list(ROI_COLUMNS),
        "rows": rows,
        "significant": (table["p_spatial"] < alpha).tolist(),
        "bars": _png_uri(surface_figures.roi_bars_png(table, alpha=alpha)),
    }


def table_rows(frame, columns):
    """A table's printed cells in ``columns``' order and formats (``[]`` for None)."""
    if frame is None:
        return []
    return [[_format(record[c], spec) for c, spec in columns.items()]
            for record in frame[list(columns)].to_dict("records")]


def readable(value):
    """A parameter or provenance value as text: numbers and strings as they are, others as JSON."""
    if isinstance(value, (str, numbers.Number, bool)) or value is None:
        return str(value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, Path):
        return str(value)
    return json.dumps(value, default=str)


def _environment():
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("neurocine_toolbox.interpretation", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["readable"] = readable
    return env


def _summary(content):
    stages = sorted(dict.fromkeys(m.stage for m in content.maps), key=stage_rank)
    return {
        "subject": content.subject, "run": content.run, "split": content.split,
        "n_maps": len(content.maps), "stages": stages,
        "headline": content.maps[0].key if content.maps else None,
        "categories": list(content.category_names),
    }


def write_report(content, path):
    """Render ``content`` into one self-contained HTML file at ``path``.

    Parameters
    ----------
    content : ReportContent
    path : str or Path
        The HTML file; written atomically (nothing is left there if rendering fails, and an
        earlier report stays as it was).

    Returns
    -------
    Path
    """
    path = Path(path)
    data = surface_figures.interactive_payload(content.maps)
    measure = content.methods.get("attention_measure", "received")
    figure6 = _png_uri(surface_figures.figure6_png(content.maps, measure=measure))
    stages, layers, _ = surface_figures.figure6_grid(content.maps, measure)
    choice = content.headline_choice
    template = _environment().get_template(TEMPLATE)
    script = resources.files("neurocine_toolbox.interpretation").joinpath("templates", SCRIPT)
    with atomic_path(path) as tmp:
        # Streamed: the page is tens of MB of text at most, but never held twice in memory.
        template.stream(
            content=content,
            summary=_summary(content),
            surfaces=data["surfaces"],
            data_json=script_json(data),
            plotly_js=plotly_js(),
            report_js=_inline_script(script.read_text(encoding="utf-8"), SCRIPT),
            figure6=figure6,
            figure6_stages=stages,
            figure6_layers=layers,
            panel_views=surface_figures.PANEL_VIEWS,
            rois=[roi_section(t) for t in content.roi_tables],
            figure6_measure=measure,
            truth_columns=list(TRUTH_COLUMNS),
            truth=table_rows(content.truth, TRUTH_COLUMNS),
            hemisphere_columns=list(HEMISPHERE_COLUMNS),
            hemispheres=table_rows(content.hemispheres, HEMISPHERE_COLUMNS),
            choice=choice,
            choice_columns=list(CHOICE_COLUMNS),
            choice_rows=table_rows(None if choice is None else choice.table, CHOICE_COLUMNS),
        ).dump(str(tmp), encoding="utf-8")
    return path
