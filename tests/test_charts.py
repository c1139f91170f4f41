"""The charts of the tracker and the kommune packs, drawn on one process or several."""

from __future__ import annotations

import re
from datetime import date, timedelta

from nir.kommune.charts import Charts, Request, draw_all

FRIST = date(2025, 4, 15)


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
                    "tittel": f"Kommune {i}: andel uten funn per kontroll",
                    "storrelse": (7.0, 3.0),
                },
            )
        )
        out.append(("sparkline", {"punkter": serie, "frist": FRIST, "maal": 0.95, "label": str(i)}))
    return out


def test_charts_drawn_on_two_processes_equal_those_drawn_on_one() -> None:
    requests = _requests()
    one = draw_all(requests, processes=1)
    two = draw_all(requests, processes=2)
    assert len(one) == len(requests)
    assert two == one
    # and the same as one Charts drawing them one by one, as the pages did before
    charts = Charts()
    assert [getattr(charts, m)(**kw) for m, kw in requests] == one


def test_every_chart_of_a_batch_has_its_own_ids() -> None:
    svg = draw_all(_requests(), processes=2)
    for i, chart in enumerate(svg, start=1):
        ids = re.findall(r'\bid="([^"]+)"', chart)
        assert ids, "a chart without ids proves nothing here"
        assert all(x.startswith(f"c{i}-") for x in ids)
        # every reference points at an id of the same chart
        refs = re.findall(r'(?:url\(#|href="#)([^)"]+)', chart)
        assert set(refs) <= set(ids)


def test_a_chart_is_labelled_and_its_fixed_y_label_sits_where_matplotlib_put_it() -> None:
    (chart,) = draw_all(_requests()[:1])
    assert chart.startswith('<svg role="img" aria-label="Kommune 0: andel uten funn')
    assert "frist 15.04.2025" in chart
    # the y label is placed once (set_label_coords) instead of by measuring the tick labels
    # at every draw; it must sit where the automatic placement put it (8.45 pt from the left
    # edge of a 7 x 3 in chart, clear of the "100 %" tick labels)
    x = re.search(r'transform="rotate\(-90 ([\d.]+) [\d.]+\)"[^>]*>andel uten funn<', chart)
    assert x and abs(float(x.group(1)) - 8.45) < 0.1
