"""The charts of the tracker and the kommune packs: fixed-layout SVG (nir.kommune.charts)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

from nir.kommune.charts import Charts, Request, draw_all

FRIST = date(2025, 4, 15)
SVG = "{http://www.w3.org/2000/svg}"


def _requests() -> list[Request]:
    start = date(2025, 1, 1)
    out: list[Request] = []
    for i in range(5):
        serie = [(start + timedelta(days=7 * d), 0.8 + 0.03 * d - 0.01 * i) for d in range(6)]
        out.append(
            (
                "mot_frist",
                {
                    "serier": {"Avslutningsårsak": serie, "Vedtak": serie[:3]},
                    "frist": FRIST,
                    "maal": 0.95,
                    "prognoser": {"Avslutningsårsak": 0.97, "Vedtak": None},
                    "tittel": f"Kommune {i}: andel uten funn per kontroll",
                    "storrelse": (7.0, 3.0),
                },
            )
        )
        out.append(("sparkline", {"punkter": serie, "frist": FRIST, "maal": 0.95, "label": str(i)}))
    return out


def test_every_chart_is_well_formed_svg_with_its_own_ids() -> None:
    svg = draw_all(_requests())
    assert len(svg) == 10
    for i, chart in enumerate(svg, start=1):
        ET.fromstring(chart)  # parses: a page can hold it inline
        ids = re.findall(r'\bid="([^"]+)"', chart)
        assert ids, "a chart without ids proves nothing here"
        assert all(x.startswith(f"c{i}-") for x in ids)
        # every reference points at an id of the same chart
        refs = re.findall(r'(?:url\(#|href="#)([^)"]+)', chart)
        assert refs and set(refs) <= set(ids)
    # the same data give the same file
    assert draw_all(_requests()) == svg


def test_a_chart_is_labelled_and_its_y_label_clears_the_tick_labels() -> None:
    (chart,) = draw_all(_requests()[:1])
    assert chart.startswith('<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Kom')
    assert 'aria-label="Kommune 0: andel uten funn per kontroll"' in chart
    assert ">frist 15.04.2025<" in chart and ">mål 95 %<" in chart
    # where matplotlib's automatic layout put it: 8.45 pt from the left edge, clear of "100 %"
    x = re.search(r'transform="rotate\(-90 ([\d.]+) [\d.]+\)">andel uten funn<', chart)
    assert x and abs(float(x.group(1)) - 8.45) < 0.1


def _shapes(chart: str) -> ET.Element:
    return ET.fromstring(chart)


def test_a_point_on_the_deadline_at_the_target_sits_where_the_two_lines_cross() -> None:
    """The data are mapped onto the axes: a point dated the deadline with the target share is
    drawn on the deadline's vertical line and the target's horizontal line."""
    serie = [(date(2025, 3, 1), 0.9), (FRIST, 0.95)]
    root = _shapes(Charts().mot_frist({"Avslutningsårsak": serie}, frist=FRIST, maal=0.95))
    lines = root.findall(f".//{SVG}line")
    frist = next(ln for ln in lines if ln.get("stroke") == "#444444")
    maal = next(ln for ln in lines if ln.get("stroke-dasharray") == "3.2 2.4")
    marks = root.findall(f".//{SVG}use")
    assert len(marks) == 2  # one marker per point, no legend for a single line
    last = marks[-1]
    assert float(last.get("x")) == float(frist.get("x1"))
    assert float(last.get("y")) == float(maal.get("y1"))
    # and the earlier, lower point lies left of and below it
    assert float(marks[0].get("x")) < float(last.get("x"))
    assert float(marks[0].get("y")) > float(last.get("y"))


def test_each_line_has_its_own_dash_and_marker_and_the_legend_names_them() -> None:
    (chart,) = draw_all(_requests()[:1])
    root = _shapes(chart)
    polylines = [p for p in root.findall(f".//{SVG}polyline") if p.get("stroke-width") == "1.4"]
    assert len(polylines) == 2
    dashes = {p.get("stroke-dasharray") for p in polylines}
    assert len(dashes) == 2  # readable in black and white
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Avslutningsårsak" in texts and "Vedtak" in texts
    # the projection: a dotted line from the last point of the line that has one
    dotted = [p for p in root.findall(f".//{SVG}polyline") if p.get("stroke-dasharray") == "1 1.65"]
    assert len(dotted) == 1


def test_text_from_the_data_is_escaped() -> None:
    chart = Charts().mot_frist(
        {'<script>"x"</script> & co': [(date(2025, 3, 1), 0.9)], "b": []},
        frist=FRIST,
        maal=0.95,
        tittel="Aure & <Smøla>",
    )
    assert "<script>" not in chart
    assert "&lt;script&gt;" in chart and "Aure &amp; &lt;Smøla&gt;" in chart
    ET.fromstring(chart)


def test_a_sparkline_without_points_still_marks_target_and_deadline() -> None:
    root = _shapes(Charts().sparkline([], frist=FRIST, maal=0.9, label="Tom"))
    assert root.get("aria-label") == "Tom"
    assert len(root.findall(f".//{SVG}line")) == 2
    assert root.findall(f".//{SVG}polyline") == []
