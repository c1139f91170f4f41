"""Charts for the tracker and the kommune packs: matplotlib, rendered to inline SVG.

Every chart is a self-contained ``<svg>`` element (no script, no font or style from outside:
text stays text in the page's own font, ``svg.fonttype = none``), so a page works offline and
prints sharply. Lines differ by style and marker as well as colour, so they read in black and
white. Element ids are prefixed per chart, so many charts can share one page.

Rendering reuses one figure per chart kind (creating a figure costs more than drawing it),
which keeps a pack for every kommune at every nightly run affordable.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import matplotlib

matplotlib.use("svg")  # no GUI backend, nothing to display

from matplotlib import dates as mdates
from matplotlib import ticker
from matplotlib.figure import Figure

from nir.processes import cores, in_processes

Punkt = tuple[date, float]

_RC = {
    "svg.fonttype": "none",  # text as <text>: the page's font, selectable, small
    "svg.hashsalt": "nir",  # stable ids: the same data gives the same file
    "font.size": 8,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
# dark, print-safe colours (Okabe-Ito), each with its own line style and marker
_STILER = [
    ("#0072B2", "-", "o"),
    ("#D55E00", "--", "s"),
    ("#009E73", "-.", "^"),
    ("#CC79A7", ":", "D"),
    ("#000000", "-", "v"),
]
_ID = re.compile(r'\bid="([^"]+)"')


def _pct(x: float, _pos: object = None) -> str:
    return f"{x * 100:.0f} %".replace(".", ",")


def _y_ticks(lav: float) -> list[float]:
    spenn = 1.0 - lav
    steg = next(s for s in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25) if spenn / s <= 6)
    forste = -(-lav // steg) * steg
    return [round(forste + i * steg, 4) for i in range(int((1.0 - forste) / steg + 1e-9) + 1)]


def _x_ticks(start: date, slutt: date) -> list[float]:
    a, b = mdates.date2num(start), mdates.date2num(slutt)
    dager = max(1.0, b - a)
    steg = next(s for s in (1, 2, 7, 14, 28, 61, 91, 183, 365) if dager / s <= 7)
    return [a + i * steg for i in range(int(dager // steg) + 1)]


class Charts:
    """Renders the charts; one instance per batch of pages (not thread-safe).

    The n-th chart an instance draws has its element ids prefixed ``c<first + n - 1>-``.
    """

    def __init__(self, first: int = 1) -> None:
        self._counter = itertools.count(first)
        self._spark: tuple[Figure, object] | None = None
        self._figurer: dict[Any, tuple[Figure, Any, dict[str, Any]]] = {}

    # --- output ------------------------------------------------------------------------
    def _svg(self, fig: Figure, label: str) -> str:
        buf = io.StringIO()
        with matplotlib.rc_context(_RC):
            fig.savefig(buf, format="svg", metadata=_METADATA)
        text = buf.getvalue()
        text = text[text.index("<svg") :]  # drop the XML declaration and the DTD reference
        prefix = f"c{next(self._counter)}-"
        ids = set(_ID.findall(text))
        for old in sorted(ids, key=len, reverse=True):
            text = text.replace(f'id="{old}"', f'id="{prefix}{old}"')
            text = text.replace(f"url(#{old})", f"url(#{prefix}{old})")
            text = text.replace(f'href="#{old}"', f'href="#{prefix}{old}"')
        label = label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
        return text.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1).strip()

    # --- the charts ----------------------------------------------------------------------
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
        with matplotlib.rc_context(_RC):
            fig, ax, art = self._figur(storrelse, list(serier))
            alle: list[float] = [maal]
            forste: list[date] = [frist]
            fx = mdates.date2num(frist)
            for i, (label, punkter) in enumerate(serier.items()):
                linje, prognoselinje = art["linjer"][i]
                xs = [mdates.date2num(p[0]) for p in punkter]
                ys = [p[1] for p in punkter]
                linje.set_data(xs, ys)
                prognose = (prognoser or {}).get(label)
                if punkter and prognose is not None and punkter[-1][0] < frist:
                    prognoselinje.set_data([xs[-1], fx], [ys[-1], prognose])
                    alle.append(prognose)
                else:
                    prognoselinje.set_data([], [])
                if punkter:
                    alle += ys
                    forste.append(punkter[0][0])
            start = min(forste)
            art["frist"].set_xdata([fx, fx])
            art["frist_tekst"].xy = (fx, 1.0)
            art["frist_tekst"].set_text(f"frist {frist.strftime('%d.%m.%Y')}")
            art["maal"].set_ydata([maal, maal])
            art["maal_tekst"].xy = (fx, maal)
            art["maal_tekst"].set_text(f"mål {_pct(maal)}")
            lav = max(0.0, min(min(alle) - 0.02, maal - 0.05))
            ax.set_ylim(lav, 1.005)
            # fixed ticks: locating them automatically costs more than drawing the chart
            ax.yaxis.set_major_locator(ticker.FixedLocator(_y_ticks(lav)))
            ax.set_xlim(mdates.date2num(start) - 2, fx + 3)
            ax.xaxis.set_major_locator(ticker.FixedLocator(_x_ticks(start, frist)))
            # a fixed y: placing the title automatically measures every tick label
            ax.set_title(tittel, fontsize=9, loc="left", y=1.0)
            return self._svg(fig, tittel or "andel uten funn mot fristen")

    def _figur(
        self, storrelse: tuple[float, float], labels: list[str]
    ) -> tuple[Figure, Any, dict[str, Any]]:
        """The figure for this size and these lines, built once and reused: only the data
        change from one chart to the next."""
        key = (storrelse, tuple(labels))
        if key not in self._figurer:
            fig = Figure(figsize=storrelse)
            w, h = storrelse
            ax = fig.add_axes((0.65 / w, 0.35 / h, 1 - 0.8 / w, 1 - 0.65 / h))
            ax.spines[["top", "right"]].set_visible(False)
            linjer = []
            for label, (farge, strek, merke) in zip(labels, itertools.cycle(_STILER), strict=False):
                (linje,) = ax.plot(
                    [],
                    [],
                    color=farge,
                    linestyle=strek,
                    marker=merke,
                    markersize=3.5,
                    linewidth=1.4,
                    label=label,
                )
                (prognose,) = ax.plot([], [], color=farge, linestyle=":", linewidth=1.0)
                linjer.append((linje, prognose))
            art = {
                "linjer": linjer,
                "frist": ax.axvline(0, color="#444444", linewidth=1.0),
                "frist_tekst": ax.annotate(
                    "",
                    (0, 1.0),
                    xytext=(-3, -2),
                    textcoords="offset points",
                    ha="right",
                    va="top",
                    fontsize=8,
                ),
                "maal": ax.axhline(0, color="#777777", linewidth=0.8, linestyle=(0, (4, 3))),
                "maal_tekst": ax.annotate(
                    "",
                    (0, 0),
                    xytext=(-3, -3),
                    textcoords="offset points",
                    ha="right",
                    va="top",
                    fontsize=7,
                    color="#444444",
                ),
            }
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(_pct))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%d.%m"))
            ax.set_ylabel("andel uten funn")
            # fixed, where matplotlib would place it (0.506 in left of the axes): placing it
            # automatically measures every tick label at every draw
            ax.yaxis.set_label_coords(-0.506 / (w - 0.8), 0.5)
            ax.grid(axis="y", color="#dddddd", linewidth=0.6)
            if len(labels) > 1:
                ax.legend(fontsize=7, loc="lower right", frameon=False)
            self._figurer[key] = (fig, ax, art)
        return self._figurer[key]

    def sparkline(self, punkter: Sequence[Punkt], *, frist: date, maal: float, label: str) -> str:
        """A small trend line (about 160 x 40 px) with the target as a faint line."""
        with matplotlib.rc_context(_RC):
            if self._spark is None:
                fig = Figure(figsize=(1.7, 0.42))
                ax = fig.add_axes((0.02, 0.08, 0.96, 0.84))
                ax.set_axis_off()
                line = ax.plot([], [], color="#0072B2", linewidth=1.3, marker="o", markersize=2)[0]
                goal = ax.axhline(maal, color="#999999", linewidth=0.6, linestyle="--")
                end = ax.axvline(frist, color="#444444", linewidth=0.6)
                self._spark = (fig, (ax, line, goal, end))
            fig, (ax, line, goal, end) = self._spark  # type: ignore[misc]
            xs = [mdates.date2num(p[0]) for p in punkter]
            ys = [p[1] for p in punkter]
            line.set_data(xs, ys)
            goal.set_ydata([maal, maal])
            fx = mdates.date2num(frist)
            end.set_xdata([fx, fx])
            x0 = min(xs) if xs else fx - 30
            ax.set_xlim(x0 - 1, max(fx, *(xs or [fx])) + 1)
            lav = min([*ys, maal])
            ax.set_ylim(max(0.0, lav - 0.02), 1.01)
            return self._svg(fig, label)


# --- many charts at once ---------------------------------------------------------------------
# A chart costs ~30 ms of matplotlib's layout, a national run draws a few hundred: beyond this
# many charts per process a second process pays for its start (~0.5 s: importing matplotlib).
CHARTS_PER_PROCESS = 20

Request = tuple[str, dict[str, Any]]
"""A chart to draw: the :class:`Charts` method (``mot_frist``, ``sparkline``) and its
keyword arguments."""


def _draw(first: int, requests: Sequence[Request]) -> list[str]:
    charts = Charts(first)
    return [getattr(charts, method)(**kwargs) for method, kwargs in requests]


def draw_all(requests: Sequence[Request], *, processes: int | None = None) -> list[str]:
    """Draw ``requests`` in order, on up to ``processes`` processes (default: one per core,
    none beyond one per :data:`CHARTS_PER_PROCESS` charts; :mod:`nir.processes`).

    The i-th chart's ids are prefixed ``c<i + 1>-`` whichever process drew it, so the output
    is the same byte for byte as drawing them one by one with one :class:`Charts`.
    """
    if not requests:
        return []
    if processes is None:
        processes = min(cores(), len(requests) // CHARTS_PER_PROCESS)
    processes = max(1, min(processes, len(requests)))
    size = -(-len(requests) // processes)
    shares = [(_draw, (i + 1, requests[i : i + size])) for i in range(0, len(requests), size)]
    return [chart for drawn in in_processes(shares, what="drawing charts") for chart in drawn]
