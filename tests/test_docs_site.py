"""The offline docs (`nir docs`, `make docs`): dbt's docs as one static page, one gate page
per snapshot linking the suites' results, an index; nothing loaded from the network."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import pytest
from test_gate_fixtures import make_snapshot

from nir.config import load_settings
from nir.docs_site import write_docs
from nir.gate import _shown, run_gate
from nir.warehouse.dbt import build_publishing, dbt_dir, project_key, run_dbt

pytestmark = pytest.mark.integration

SNAP = date(2024, 2, 1)
# a tag that loads something: script/img/iframe src, stylesheet/icon link, CSS import or url()
EXTERNAL = re.compile(
    r"<(?:script|img|iframe|source|embed)\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//"
    r"|<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//"
    r"|@import\s+(?:url\()?[\"']?(?:https?:)?//"
    r"|url\(\s*[\"']?(?:https?:)?//",
    re.I,
)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    settings = load_settings(data_dir=tmp_path_factory.mktemp("docs") / "data")
    make_snapshot(settings, SNAP, ikke_registrert_2023=0.0)
    # 4 of Kinn's 40 programmes ended in 2023 without a reason: a kommune warning, no failure
    con = duckdb.connect(str(settings.warehouse))
    con.execute(
        """update marts.fct_programmer set ikke_registrert = true
           where programkommune = '4602' and year(sluttdato) = 2023
             and nir_lopenr in (select nir_lopenr from marts.fct_programmer
                                where programkommune = '4602' and year(sluttdato) = 2023
                                order by nir_lopenr limit 4)"""
    )
    con.close()
    run_gate(settings, SNAP)
    build_publishing(settings, SNAP)
    index = write_docs(settings)
    return settings, index


def test_the_site_has_an_index_dbt_docs_and_a_gate_page(site):
    settings, index = site
    docs = settings.data_dir / "docs"
    assert index == docs / "index.html"
    assert sorted(p.name for p in docs.iterdir()) == [
        "dbt.html",
        "dbt.html.key",
        "gate-2024-02-01.html",
        "index.html",
    ]
    text = index.read_text("utf-8")
    assert "href='gate-2024-02-01.html'" in text and "href='dbt.html'" in text
    dbt = (docs / "dbt.html").read_text("utf-8")
    assert '"model.nir.resultater_aar"' in dbt and '"model.nir.etiketter"' in dbt


def test_no_page_loads_anything_from_the_network(site):
    settings, _ = site
    pages = [*(settings.data_dir / "docs").glob("*.html")]
    pages += (settings.gx_dir / SNAP.isoformat()).glob("docs/*/results.html")
    assert len(pages) >= 5
    for page in pages:
        found = EXTERNAL.findall(page.read_text("utf-8"))
        assert found == [], f"{page.name}: {found[:3]}"


def test_the_gate_page_links_every_suite_results_page(site):
    settings, _ = site
    page = settings.data_dir / "docs" / "gate-2024-02-01.html"
    text = page.read_text("utf-8")
    assert "Gate of snapshot 2024-02-01: <span class='passed'>passed</span>" in text
    links = re.findall(r'href="([^"]+results\.html)"', text)
    assert {Path(h).parent.name for h in links} == {"completeness", "marts"}
    for href in links:
        assert (page.parent / href).resolve().is_file(), href


def test_shares_are_in_percent_with_the_limits_precision(site):
    settings, _ = site
    text = (settings.data_dir / "docs" / "gate-2024-02-01.html").read_text("utf-8")
    assert "<td>share spells with error finding</td><td>5.0%</td><td>10.0%</td>" in text
    assert "0.05<" not in text


def test_failing_kommune_checks_name_the_kommuner(site):
    settings, _ = site
    gate_page = (settings.data_dir / "docs" / "gate-2024-02-01.html").read_text("utf-8")
    assert "4602: ikke registrert 10.0% &gt; 5.0%" in gate_page
    suite_page = settings.gx_dir / "2024-02-01" / "docs" / "completeness" / "results.html"
    assert "4602: ikke registrert 10.0% &gt; 5.0%" in suite_page.read_text("utf-8")


@pytest.mark.parametrize(
    ("observed", "limit", "shown"),
    [(0.01667, "5.0%", "1.7%"), ("0.05", "10.0%", "5.0%"), (0.125, "5%", "12%"), (2, "", "2")],
)
def test_a_share_is_shown_with_its_limits_precision(observed, limit, shown):
    assert _shown(observed, limit) == shown


def test_dbt_docs_are_generated_again_only_when_the_project_changed(site):
    """The monthly run writes the docs every time; dbt's page costs a dbt run only when the
    project changed (its key is the project's hash)."""
    settings, _ = site
    docs = settings.data_dir / "docs"
    generated = dbt_dir(settings) / "target" / "static_index.html"
    assert (docs / "dbt.html.key").read_text("utf-8") == project_key(settings)
    generated.unlink()
    write_docs(settings)
    assert not generated.exists()  # dbt did not run: the page was current
    (docs / "dbt.html.key").write_text("an older project", "utf-8")
    write_docs(settings)
    assert generated.is_file()
    assert (docs / "dbt.html.key").read_text("utf-8") == project_key(settings)


def test_a_failing_gate_writes_its_page_without_starting_dbt(tmp_path):
    from nir import pipeline
    from nir.gate import GateFailed

    settings = load_settings(data_dir=tmp_path / "data")
    make_snapshot(settings, SNAP, ikke_registrert_2023=0.2)  # over the 5 % limit
    with pytest.raises(GateFailed):  # records its results: the gate's views read them
        run_gate(settings, SNAP)
    # the gate's views, as `nir build` leaves them (the fixture writes the marts directly)
    run_dbt(settings, ["run", "--select", "staging.gate"], what="dbt run", snapshot=SNAP)
    assert not (settings.data_dir / "docs").exists()
    with pytest.raises(GateFailed):
        pipeline.gate(settings, SNAP)
    docs = settings.data_dir / "docs"
    assert sorted(p.name for p in docs.iterdir()) == ["gate-2024-02-01.html", "index.html"]
    page = (docs / "gate-2024-02-01.html").read_text("utf-8")
    assert "Gate of snapshot 2024-02-01: <span class='failed'>FAILED</span>" in page
    assert "make docs" in (docs / "index.html").read_text("utf-8")


def test_a_passing_gate_leaves_its_pages_to_the_docs_step_and_a_failed_publication_writes_them(
    tmp_path, monkeypatch
):
    """Rendering is off the path to the publication: the docs step after publish writes the
    pages of a passed gate; a run that stops at publish writes them there."""
    from nir import pipeline
    from nir.gate import PublicationRejected

    settings = load_settings(data_dir=tmp_path / "data")
    make_snapshot(settings, SNAP, ikke_registrert_2023=0.0)
    run_gate(settings, SNAP)
    run_dbt(settings, ["run", "--select", "staging.gate"], what="dbt run", snapshot=SNAP)
    pipeline.gate(settings, SNAP)
    docs = settings.data_dir / "docs"
    assert not docs.exists()  # passed: nothing rendered yet

    def rejected(settings, snapshot):
        raise PublicationRejected("publication audit failed")

    monkeypatch.setattr("nir.publication.publish.publish", rejected)
    with pytest.raises(PublicationRejected):
        pipeline.publish(settings, SNAP)
    page = (docs / "gate-2024-02-01.html").read_text("utf-8")
    assert "Gate of snapshot 2024-02-01: <span class='passed'>" in page
