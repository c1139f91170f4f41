"""The tracker, the index and a kommune pack in a real browser (Debian's chromium, headless).

Each page is loaded from disk with a proxy that refuses everything and a network log; the test
asserts that the page made no request at all beyond its own file (and that the HTML names no
outside resource), that it rendered (the charts are there), and that sorting and filtering
work (the page's own script honours ``#sort=<column>:<asc|desc>&bak=1`` on load).

Skipped when chromium is absent, except in CI (``CI=true``), where that fails: ``.ci/run``
installs it. Screenshots go to pytest's tmp dir; with ``NIR_SCREENSHOTS=<dir>`` they are also
copied there (that is how ``docs/img/`` is made), and with ``NIR_BROWSER_DATA_DIR=<data dir>``
the pages of that data dir (e.g. the demo's) are used instead of the small fixture.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_gate_fixtures import make_snapshot
from test_tracker import _series

from nir.config import load_settings

pytestmark = pytest.mark.integration

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SNAPS = [date(2024, 1, 1), date(2024, 1, 10), date(2024, 1, 17)]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    msg = "chromium is not installed (apt-get install -y chromium)"
    if IN_CI:
        pytest.fail(f"{msg}: CI must install it (.ci/run)")
    pytest.skip(msg)


class Browser:
    def __init__(self, exe: str, tmp: Path) -> None:
        self.exe, self.tmp = exe, tmp
        self.runs = 0

    def run(self, page: Path, *, fragment: str = "", screenshot: Path | None = None) -> tuple:
        """Load ``page``; return (dumped DOM, URLs the page requested from the network)."""
        self.runs += 1
        netlog = self.tmp / f"net-{self.runs}.json"
        args = [
            self.exe, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--disable-default-apps", "--disable-extensions",
            f"--user-data-dir={self.tmp / f'profile-{self.runs}'}",
            # anything that tries the network goes to a proxy that refuses it
            "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
            f"--log-net-log={netlog}", "--hide-scrollbars", "--window-size=1280,1800",
        ]  # fmt: skip
        if screenshot is not None:
            args.append(f"--screenshot={screenshot}")
        else:
            args.append("--dump-dom")
        url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
        proc = subprocess.run(
            [*args, url], capture_output=True, text=True, timeout=120, cwd=self.tmp
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout, _page_requests(netlog)


def _page_requests(netlog: Path) -> list[str]:
    """Network requests made on behalf of a page opened from a file (Chromium's own
    background requests, which the flags mostly switch off, are not the page's)."""
    doc = json.loads(netlog.read_text("utf-8"))
    types = {v: k for k, v in doc["constants"]["logEventTypes"].items()}
    out = []
    for e in doc["events"]:
        p = e.get("params") or {}
        if types.get(e["type"]) != "URL_REQUEST_START_JOB" or "url" not in p:
            continue
        if str(p.get("network_isolation_key", "")).startswith("file://") and not p[
            "url"
        ].startswith(("file:", "data:")):
            out.append(p["url"])
    return out


class _Resources(HTMLParser):
    """Every URL a page would fetch by itself: src, href of link/script, url() in styles."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        for name in ("src", "srcset", "data", "poster", "background"):
            if a.get(name):
                self.urls.append(a[name])
        if tag in ("link", "script", "image", "use", "image") and a.get("href"):
            self.urls.append(a["href"])
        if a.get("xlink:href"):
            self.urls.append(a["xlink:href"])
        if a.get("style"):
            self.urls += re.findall(r"url\(([^)]*)\)", a["style"])


def assert_self_contained(html: str) -> None:
    parser = _Resources()
    parser.feed(html)
    outside = [u for u in parser.urls if not u.strip().strip("'\"").startswith(("#", "data:"))]
    assert not outside, outside
    # styles and scripts inline: no @import, no url() to anything but the page's own ids
    for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)", html):
        assert u.startswith("#"), u
    assert "@import" not in html
    # plain links are the only http(s) references allowed; there are none in these pages
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)


def _sorted_by(dom: str, key: str, direction: str) -> bool:
    return bool(re.search(rf'<th[^>]*data-key="{key}"[^>]*aria-sort="{direction}"', dom))


def _rows(dom: str, table_id: str) -> list[tuple[str, bool]]:
    """(data-kommune, hidden) of each body row of the table, in DOM order."""
    body = dom[dom.index(f'id="{table_id}"') :]
    body = body[body.index("<tbody>") : body.index("</tbody>")]
    return [
        (m.group(2), "hidden" in m.group(1) + m.group(3))
        for m in re.finditer(r'<tr([^>]*)data-kommune="(\d{4})"([^>]*)>', body)
    ]


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """(tracker page, index page, one pack) from NIR_BROWSER_DATA_DIR or a small fixture."""
    from nir.kommune.controllists import write_control_lists
    from nir.kommune.tracker import siste_aar, skriv_sporing

    given = os.environ.get("NIR_BROWSER_DATA_DIR")
    if given:
        settings = load_settings(data_dir=Path(given))
        aar = siste_aar(settings)
        tracker = settings.kontroll_dir / "sporing" / str(aar) / f"sporing_{aar}.html"
        lister = sorted((settings.kontroll_dir / "lister").iterdir())
        # the newest list in the correction window, so the pack shows new and fixed findings
        frist = settings.annual_deadline(aar).isoformat()
        folder = [p for p in lister if p.name <= frist][-1]
        index = folder / "index.html"
        behind = re.findall(r'data-bak="1" data-kommune="(\d{4})"', tracker.read_text("utf-8"))
        kommune = behind[0] if behind else sorted(p.name for p in folder.iterdir())[0]
        (pack,) = (folder / kommune).glob("kommunepakke_*.html")
        return tracker, index, pack
    root = tmp_path_factory.mktemp("browser")
    settings = load_settings(data_dir=root / "data")
    for snap in SNAPS:
        make_snapshot(settings, snap, kind="daily" if snap.day != 1 else "monthly")
        if snap == SNAPS[-1]:
            import duckdb

            con = duckdb.connect(str(settings.warehouse))
            con.execute(
                "delete from marts.kontrolliste where snapshot_date = ? and nir_lopenr = 1003",
                [snap],
            )
            con.close()
        out = write_control_lists(settings, snap)
    tracker = skriv_sporing(settings, 2023, rows=_series()) / "sporing_2023.html"
    return tracker, out / "index.html", out / "0301" / "kommunepakke_0301_2024-01-17.html"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    return Browser(_chromium(), tmp_path_factory.mktemp("chromium"))


def _screenshot(browser: Browser, page: Path, name: str) -> None:
    shot = browser.tmp / name
    _, requests = browser.run(page, screenshot=shot)
    assert not requests, requests
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one
    target = os.environ.get("NIR_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(target) / name)


def test_tracker_renders_offline_and_sorts(pages, browser):
    tracker, _, _ = pages
    html = tracker.read_text("utf-8")
    assert_self_contained(html)
    dom, requests = browser.run(tracker)
    assert not requests, requests
    assert "Registreringer i NIR mot fristen" in dom
    assert dom.count("<svg") >= 2  # the national chart and the small ones
    rows = _rows(dom, "kommunetabell")
    assert len(rows) >= 2
    # sorted by kommune number, descending, by the page's own script
    dom, requests = browser.run(tracker, fragment="sort=kommune:desc")
    assert not requests
    assert _sorted_by(dom, "kommune", "descending")
    sorted_rows = [k for k, _ in _rows(dom, "kommunetabell")]
    assert sorted_rows == sorted((k for k, _ in rows), reverse=True)
    # only the kommuner behind
    dom, _ = browser.run(tracker, fragment="bak=1")
    behind = re.findall(r'data-bak="1" data-kommune="(\d{4})"', html)
    shown = [k for k, hidden in _rows(dom, "kommunetabell") if not hidden]
    assert shown == behind and behind
    _screenshot(browser, tracker, "sporing.png")


def test_index_renders_offline_and_sorts_by_errors(pages, browser):
    _, index, _ = pages
    assert_self_contained(index.read_text("utf-8"))
    dom, requests = browser.run(index, fragment="sort=feil:desc")
    assert not requests, requests
    assert _sorted_by(dom, "feil", "descending")
    body = dom[dom.index('id="indeks"') :]
    errors = [int(x) for x in re.findall(r'</td><td>\d\d</td>\s*<td class="tall">(\d+)</td>', body)]
    assert errors and errors == sorted(errors, reverse=True)


def test_pack_renders_offline_with_its_chart_and_fixed_findings(pages, browser):
    _, _, pack = pages
    assert_self_contained(pack.read_text("utf-8"))
    dom, requests = browser.run(pack, fragment="sort=status:desc")
    assert not requests, requests
    assert "Kommunepakke for" in dom
    assert "<svg" in dom  # the completeness trend
    assert 'id="rettet"' in dom  # what was fixed since the previous list
    assert _sorted_by(dom, "status", "descending")
    _screenshot(browser, pack, "kommunepakke.png")


def test_the_network_check_would_see_a_page_that_reaches_out(browser, tmp_path):
    """The check itself: a page with an outside image is caught by both checks."""
    page = tmp_path / "ut.html"
    page.write_text('<!doctype html><img src="http://example.com/x.png">', "utf-8")
    with pytest.raises(AssertionError):
        assert_self_contained(page.read_text("utf-8"))
    _, requests = browser.run(page)
    assert requests == ["http://example.com/x.png"]
