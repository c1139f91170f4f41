"""Charts for the tracker and the kommune packs: fixed-layout inline SVG from Jinja2 templates.

Every chart is a self-contained ``<svg>`` element (no script, no font or style from outside:
text stays text in the page's own font), so a page works offline and prints sharply. Lines
differ by dash pattern and marker as well as colour, so they read in black and white.
Element ids are prefixed per chart, so many charts can share one page.

Why not a plotting library: the two chart kinds have a fixed layout (the same size, axes and
places for the labels on every page), and a pack for every kommune is drawn at every monthly
and nightly run, a few hundred charts a run. matplotlib, which drew them before, spent ~30 ms
a chart laying out what never moves (3-4 s of every demo run, ~6 s of a national one, on
both cores); here the layout is fixed once in the templates (``templates/graf_*.svg.j2``),
the code maps data to coordinates, and a chart costs about a millisecond. Text goes
through Jinja2's autoescaping like the pages' own text.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

Punkt = tuple[date, float]

# dark, print-safe colours (Okabe-Ito), each with its own dash pattern and marker
# (the dash patterns are matplotlib's "--", "-." and ":" at the lines' width of 1.4 pt)
_STILER = [
    ("#0072B2", "", "o"),
    ("#D55E00", "5.18 2.24", "s"),
    ("#009E73", "8.96 2.24 1.4 2.24", "^"),
    ("#CC79A7", "1.4 2.31", "D"),
    ("#000000", "", "v"),
]
#: marker shapes around (0, 0): matplotlib's markersize 3.5 with its 1 pt edge, ~4.5 pt across
_MERKER = {
    "o": '<circle r="2.25"/>',
    "s": '<rect x="-2" y="-2" width="4" height="4"/>',
    "^": '<path d="M0 -2.5 L2.4 1.9 L-2.4 1.9 Z"/>',
    "D": '<path d="M0 -2.6 L2.6 0 L0 2.6 L-2.6 0 Z"/>',
    "v": '<path d="M0 2.5 L2.4 -1.9 L-2.4 -1.9 Z"/>',
}
PT = 72.0  # points per inch: sizes are given in inches, drawn in points


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def _n(x: float) -> str:
    """A coordinate: two decimals, no trailing zeros (the same data gives the same file)."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _y_ticks(lav: float) -> list[float]:
    spenn = 1.0 - lav
    steg = next(s for s in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25) if spenn / s <= 6)
    forste = -(-lav // steg) * steg
    return [round(forste + i * steg, 4) for i in range(int((1.0 - forste) / steg + 1e-9) + 1)]


def _x_ticks(start: date, slutt: date) -> list[int]:
    a, b = start.toordinal(), slutt.toordinal()
    dager = max(1, b - a)
    steg = next(s for s in (1, 2, 7, 14, 28, 61, 91, 183, 365) if dager / s <= 7)
    return [a + i * steg for i in range(dager // steg + 1)]


@dataclass(frozen=True)
class _Skala:
    """Data to points: x in days (date ordinals), y as a share; the SVG's y grows downward."""

    x0: float
    x1: float
    y0: float
    y1: float
    venstre: float
    hoyre: float
    bunn: float
    topp: float

    def x(self, dag: float) -> float:
        return self.venstre + (dag - self.x0) / (self.x1 - self.x0) * (self.hoyre - self.venstre)

    def y(self, andel: float) -> float:
        return self.bunn - (andel - self.y0) / (self.y1 - self.y0) * (self.bunn - self.topp)

    def punkter(self, punkter: Sequence[Punkt]) -> list[tuple[str, str]]:
        return [(_n(self.x(d.toordinal())), _n(self.y(v))) for d, v in punkter]


def _points(punkter: Sequence[tuple[str, str]]) -> str:
    """A polyline's ``points``: ``x,y`` pairs, each followed by a space."""
    return "".join(f"{x},{y} " for x, y in punkter)


def _uses(punkter: Sequence[tuple[str, str]], href: str) -> Any:
    """A ``<use>`` of the marker ``href`` at every point, one per line: a chart's markers
    in one call, not one template loop step per point. Every value is escaped, as the
    template would."""
    from markupsafe import Markup, escape

    ref = escape(href)
    return Markup(
        "".join(f'<use href="#{ref}" x="{escape(x)}" y="{escape(y)}"/>\n' for x, y in punkter)
    )


@cache
def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("nir.kommune", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # package files: compiled once per process
    )
    env.filters["n"] = _n
    env.filters["points"] = _points
    env.filters["uses"] = _uses
    return env


class Charts:
    """Renders the charts; one instance per batch of pages.

    The n-th chart an instance draws has its element ids prefixed ``c<first + n - 1>-``.
    """

    def __init__(self, first: int = 1) -> None:
        self._counter = itertools.count(first)

    def mot_frist(
        self,
        serier: Mapping[str, Sequence[Punkt]],
        *,
        frist: date,
        maal: float,
        prognoser: Mapping[str, float | None] | None = None,
        tittel: str = "",
        storrelse: tuple[float, float] = (7.5, 3.4),
    ) -> str:
        """Share without findings per control over time, toward the deadline.

        ``serier`` maps a line label to its points; ``prognoser`` (same labels) the projected
        share at the deadline, drawn as a dotted line from the last point. The deadline and
        the target share are marked.
        """
        w, h = storrelse[0] * PT, storrelse[1] * PT
        fx = frist.toordinal()
        # each line's points and, where it has one, its projection from the last point
        serier_ = [
            (
                label,
                punkter,
                (punkter[-1], (frist, prognose))
                if punkter
                and (prognose := (prognoser or {}).get(label)) is not None
                and punkter[-1][0] < frist
                else None,
            )
            for label, punkter in serier.items()
        ]
        alle = [maal, *(v for _, punkter, _ in serier_ for _, v in punkter)]
        alle += [p[1][1] for _, _, p in serier_ if p]
        start = min([fx, *(punkter[0][0].toordinal() for _, punkter, _ in serier_ if punkter)])
        lav = max(0.0, min(min(alle) - 0.02, maal - 0.05))
        # the axes: 0.65 in from the left, 0.35 in from the bottom, 0.15 in and 0.3 in to spare
        s = _Skala(
            x0=start - 2,
            x1=fx + 3,
            y0=lav,
            y1=1.005,
            venstre=0.65 * PT,
            hoyre=w - 0.15 * PT,
            bunn=h - 0.35 * PT,
            topp=0.3 * PT,
        )
        linjer = [
            {
                "label": label,
                "farge": farge,
                "strek": strek,
                "merke": f"m{i % len(_STILER)}",
                "punkter": s.punkter(punkter),
                "prognose": s.punkter(prognose) if prognose else None,
            }
            for i, ((label, punkter, prognose), (farge, strek, _)) in enumerate(
                zip(serier_, itertools.cycle(_STILER), strict=False)
            )
        ]
        bredest = max((len(linje["label"]) for linje in linjer), default=0)
        return self._render(
            "graf_mot_frist.svg.j2",
            tittel or "andel uten funn mot fristen",
            w=w,
            h=h,
            s=s,
            tittel=tittel,
            # clear of the widest tick label ("100 %"), where matplotlib's layout put it
            ylabel_x=s.venstre - 38.35,
            yticks=[(s.y(v), _pct(v)) for v in _y_ticks(lav)],
            xticks=[
                (s.x(d), date.fromordinal(d).strftime("%d.%m"))
                for d in _x_ticks(date.fromordinal(start), frist)
            ],
            frist_x=s.x(fx),
            frist_tekst=f"frist {frist.strftime('%d.%m.%Y')}",
            maal_y=s.y(maal),
            maal_tekst=f"mål {_pct(maal)}",
            linjer=linjer,
            merker={f"m{i}": _MERKER[m] for i, (_, _, m) in enumerate(_STILER)},
            # the legend in the lower right corner: the labels start where the longest
            # (at ~0.6 em a character, 7 pt type) ends clear of the right edge
            forklaring_x=s.hoyre - 6 - bredest * 7 * 0.6 if len(linjer) > 1 else None,
        )

    def sparkline(self, punkter: Sequence[Punkt], *, frist: date, maal: float, label: str) -> str:
        """A small trend line (about 160 x 40 px) with the target as a faint line."""
        w, h = 1.7 * PT, 0.42 * PT
        fx = frist.toordinal()
        xs = [p[0].toordinal() for p in punkter]
        x0 = min(xs) if xs else fx - 30
        lav = min([*(p[1] for p in punkter), maal])
        s = _Skala(
            x0=x0 - 1,
            x1=max(fx, *xs) + 1 if xs else fx + 1,
            y0=max(0.0, lav - 0.02),
            y1=1.01,
            venstre=0.02 * w,
            hoyre=0.98 * w,
            bunn=0.92 * h,
            topp=0.08 * h,
        )
        return self._render(
            "graf_sparkline.svg.j2",
            label,
            w=w,
            h=h,
            s=s,
            punkter=s.punkter(punkter),
            maal_y=s.y(maal),
            frist_x=s.x(fx),
        )

    def _render(self, template: str, label: str, **context: Any) -> str:
        return (
            _environment()
            .get_template(template)
            .render(id=f"c{next(self._counter)}-", label=label, **context)
            .strip()
        )


# --- many charts at once ---------------------------------------------------------------------
Request = tuple[str, dict[str, Any]]
"""A chart to draw: the :class:`Charts` method (``mot_frist``, ``sparkline``) and its
keyword arguments."""


def draw_all(requests: Sequence[Request]) -> list[str]:
    """Draw ``requests`` in order; the i-th chart's ids are prefixed ``c<i + 1>-``."""
    charts = Charts()
    return [getattr(charts, method)(**kwargs) for method, kwargs in requests]
