"""The attention report's HTML: escaped, self-contained, faithful to its content, written atomically."""

import base64
import dataclasses
import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape
from report_factory import HOSTILE_ATTRIBUTE, HOSTILE_SCRIPT

from neurocine_toolbox.interpretation import report_html, surface_figures
from neurocine_toolbox.interpretation.report_content import RoiTable
from neurocine_toolbox.interpretation.report_html import roi_section, script_json, write_report

CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")\s]*)", re.IGNORECASE)


class _Page(HTMLParser):
    """Every element with its attributes, every script's text and every style sheet."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.elements, self.scripts, self.styles, self._open = [], [], [], None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._open = tag if tag in ("script", "style") else None
        if tag == "script":
            self.scripts.append((dict(attrs), ""))

    def handle_data(self, data):
        if self._open == "script":
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        elif self._open == "style":
            self.styles.append(data)

    def handle_endtag(self, tag):
        self._open = None


@pytest.fixture(scope="module")
def page(attention_report):
    _, path = attention_report
    text = path.read_text(encoding="utf-8")
    return text, _Page(text)


def _report_data(parsed):
    (text,) = [t for a, t in parsed.scripts if a.get("id") == "report-data"]
    return json.loads(text)


def test_hostile_text_appears_only_escaped(page):
    text, parsed = page
    assert HOSTILE_SCRIPT not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # title, summary, category name
    assert "&lt;img src=x onerror=alert(1)&gt;" in text  # category name, provenance path
    # Exactly our four scripts (error collector, data, plotly.js, ours) and no injected element.
    assert len(parsed.scripts) == 4
    assert not [a for tag, a in parsed.elements if tag == "img" and a.get("src") == "x"]
    assert not [a for _, a in parsed.elements if "onerror" in a]
    # The JSON block carries the names unchanged for the dropdowns, with no '<' in it.
    (raw,) = [t for a, t in parsed.scripts if a.get("id") == "report-data"]
    assert "<" not in raw
    categories = {m["category"] for m in _report_data(parsed)["maps"]}
    assert {HOSTILE_SCRIPT, HOSTILE_ATTRIBUTE} <= categories


def test_script_json_cannot_close_its_script():
    text = script_json({"a": "</script><!-- & >"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><!-- & >"}
    with pytest.raises(ValueError, match="cannot be inlined"):
        report_html._inline_script("var a = '</SCRIPT>';", "x.js")


def test_page_refers_to_nothing_outside_itself(page):
    _, parsed = page
    outside = [(tag, name, value) for tag, attrs in parsed.elements for name, value in attrs.items()
               if name in ("src", "href", "action", "poster", "data") and value is not None
               and not value.startswith(("data:", "#"))]
    outside += [("style", "url()", u) for style in parsed.styles for u in CSS_URL.findall(style)
                if not u.startswith(("data:", "#"))]
    outside += [(tag, "style url()", u) for tag, attrs in parsed.elements
                for u in CSS_URL.findall(attrs.get("style") or "") if not u.startswith(("data:", "#"))]
    assert not outside, outside
    # plotly.js inlined once, from nilearn's file.
    plotly = [t for a, t in parsed.scripts if "* plotly.js (" in t]
    assert len(plotly) == 1 and plotly[0] == report_html.plotly_js()
    assert sum(1 for tag, a in parsed.elements if tag == "img" and a["src"].startswith("data:image/png;base64,")) == 5


def test_each_mesh_once_and_each_map_as_colour_indices(page, attention_report):
    content, _ = attention_report
    data = _report_data(page[1])
    assert [s["name"] for s in data["surfaces"]] == ["fslr", "fsaverage5"]
    assert [s["n_vertices"] for s in data["surfaces"]] == [2 * 32492, 2 * 10242]
    assert [m["key"] for m in data["maps"]] == [m.key for m in content.maps]
    for surface in data["surfaces"]:
        xyz = np.frombuffer(base64.b64decode(surface["xyz"]), "<f4").reshape(-1, 3)
        n_left = surface["n_left"]
        assert xyz[:n_left, 0].max() < 0 < xyz[n_left:, 0].min()  # side by side, no overlap
        dtype = {"uint16": "<u2", "uint32": "<u4"}[surface["face_dtype"]]
        faces = np.frombuffer(base64.b64decode(surface["faces"]), dtype).reshape(-1, 3)
        assert faces.max() == surface["n_vertices"] - 1 and faces[-1].min() >= n_left
    for surface_map, encoded in zip(content.maps, data["maps"]):
        assert encoded["signed"] == surface_map.is_contrast
        if encoded["signed"]:
            assert encoded["vmin"] == -encoded["vmax"]
        values, codes = [], []
        for name, surface in zip(("fslr", "fsaverage5"), data["surfaces"]):
            values.append(np.concatenate(getattr(surface_map, name)))
            codes.append(np.frombuffer(base64.b64decode(encoded["values"][name]), np.uint8))
            assert len(codes[-1]) == surface["n_vertices"]
            assert np.array_equal(codes[-1] == surface_figures.NAN_CODE, np.isnan(values[-1]))
        # One colour range for both surfaces: the extreme value of either takes an end colour.
        values, codes = np.concatenate(values), np.concatenate(codes)
        assert codes[np.nanargmax(values)] == 254
        if encoded["signed"]:
            assert codes[np.nanargmin(values)] < 127 < codes[np.nanargmax(values)]
        else:
            assert codes[np.nanargmin(values)] == 0


def test_colour_range_and_encoding():
    assert surface_figures.colour_range([np.nan, -1.0, 3.0], signed=True) == (-3.0, 3.0)
    assert surface_figures.colour_range([np.nan, 1.0, 3.0], signed=False) == (1.0, 3.0)
    low, high = surface_figures.colour_range([2.0, 2.0], signed=False)
    assert low < 2.0 < high
    codes = np.frombuffer(base64.b64decode(surface_figures.encode_values([1.0, np.nan, 3.0, 2.0, 9.0], 1.0, 3.0)),
                          np.uint8)
    assert codes.tolist() == [0, 255, 254, 127, 254]


def test_methods_provenance_and_notes_are_rendered(page, attention_report):
    content, _ = attention_report
    text, _ = page
    for name in content.methods:
        assert f"<td>{name}</td>" in text
    assert "<code>[1, 12, 24]</code>" in text  # a list parameter, readable
    for key in ("checkpoints", "encoder", "sha256", "versions", "store"):
        assert f"<dt>{key}</dt>" in text
    assert "/data/&#34;&gt;&lt;img src=x onerror=alert(1)&gt;/encoder.safetensors" in text
    assert str(escape(content.notes[0])) in text and str(escape(content.methods_text)) in text
    # The truth section: every correlation, signed, with its p-value.
    assert "Against the simulation's truth" in text
    assert ("<td class=\"num\">stimulus_driven</td><td class=\"num\">24</td><td class=\"num\">+0.410</td>"
            "<td class=\"num\">+0.050</td><td class=\"num\">+0.700</td>") in text
    assert "<td class=\"num\">+0.200</td><td class=\"num\">0.58</td><td class=\"num\">0.7</td>" in text
    # The headline choice, the hemispheres and the flags, with their intervals.
    assert "Chosen: <strong>attribution</strong>" in text and "-0.0190" in text and "[-0.0300, -0.0080]" in text
    assert ("<td>encoder/layer-24/received/all</td><td class=\"num\">0.52</td><td class=\"num\">0.48</td>"
            "<td class=\"num\">1.083</td><td class=\"num\">1.050</td><td class=\"num\">1.110</td>") in text
    assert "<code>pretrain.include_test_fmri</code></th><td>off</td>" in text


def test_roi_section_prints_every_row_and_marks_spatial_null_hits():
    table = pd.DataFrame({"region": ["V1", "V2", "<b>V3</b>"], "n_voxels": [10, 12, 2],
                          "mean_importance": [0.5, 0.25, 0.125], "ci_low": [0.4, 0.2, 0.1],
                          "ci_high": [0.6, 0.3, 0.15], "rank": pd.array([1, 2, pd.NA], dtype="Int64"),
                          "p_spatial": [0.01, 0.2, np.nan], "n_null": [1000, 1000, 0],
                          "p_permutation": [0.02, 0.3, np.nan], "q_spatial": [0.02, 0.2, np.nan],
                          "status": ["tested", "tested", "too few voxels"]})
    section = roi_section(RoiTable("Yeo 7", "encoder/layer-12/received/all", table))
    assert section["rows"][0] == ["V1", "10", "0.5", "0.4", "0.6", "1", "0.01", "1000", "0.02", "0.02", "tested"]
    assert section["rows"][2][5] == "—" and section["rows"][2][6] == "—"  # no rank, no p
    assert section["rows"][2][0] == "<b>V3</b>"  # escaped by the template
    assert section["significant"] == [True, False, False]
    assert section["bars"].startswith("data:image/png;base64,")
    with pytest.raises(ValueError, match="lacks columns"):
        roi_section(RoiTable("Yeo 7", "x", table.drop(columns="q_spatial")))


def test_roi_tables_in_the_page(page, attention_report):
    content, _ = attention_report
    text, parsed = page
    rows = [a for tag, a in parsed.elements if tag == "tr" and a.get("class") == "significant"]
    assert len(rows) == sum(int((t.table["p_spatial"] < 0.05).sum()) for t in content.roi_tables)
    for roi in content.roi_tables:
        assert f"<td>{roi.table['region'].iloc[-1]}</td>" in text  # every row, not only the top 15


class _Unprintable:
    def __str__(self):
        raise RuntimeError("cannot print this provenance value")


def test_failure_mid_render_leaves_nothing_and_keeps_an_earlier_report(attention_report, tmp_path, monkeypatch):
    # Skip the slow static panels: the failure comes later, while the page streams to disk.
    monkeypatch.setattr(surface_figures, "figure6_png", lambda maps, **kwargs: None)
    content = dataclasses.replace(attention_report[0], provenance={"run": _Unprintable()})
    target = tmp_path / "out" / "report.html"
    with pytest.raises(RuntimeError, match="cannot print"):
        write_report(content, target)
    assert list((tmp_path / "out").iterdir()) == []
    target.write_text("an earlier report")
    with pytest.raises(RuntimeError, match="cannot print"):
        write_report(content, target)
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]
    assert target.read_text() == "an earlier report"


def test_figure6_grid_rows_are_stages_and_columns_layers(attention_report):
    content, _ = attention_report
    stages, layers, cells = surface_figures.figure6_grid(content.maps)
    assert stages == ["pretrain", "encoder", "decoder-fmri"] and layers == [1, 12, 24]
    assert all(m.measure == "received" and m.category is None for m in cells.values())
    assert len(cells) == 9
