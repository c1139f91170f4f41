"""Disclosure control and its audit year by year, each year kept between publications
(``nir.publication.years``, issue #13): the same cells hidden and the same verdict as over
everything at once, and a publication pays only for the years whose figures changed."""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import stat
from datetime import date

import numpy as np
import pandas as pd
import pytest
from test_disclosure import rollup
from test_gate_fixtures import make_snapshot

from nir.catalog import load_catalog
from nir.config import load_settings
from nir.gate import run_gate
from nir.publication.attack import audit_publication
from nir.publication.disclosure import protect
from nir.publication.publish import publish
from nir.publication.years import ALL, YearCache, decide_years, reference_years
from nir.status import published_digest

pytestmark = pytest.mark.integration

YEARS = (2021, 2022, 2023)
THRESHOLD, MIN_DENOMINATOR = 3, 5


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    full = load_catalog(load_settings(data_dir=tmp_path_factory.mktemp("d") / "data"))
    return {n: full[n] for n in ("deltakelse_aar", "resultater_aar")}


def _frames(seed: int = 7) -> dict[str, pd.DataFrame]:
    """Three years of deltakelse_aar and resultater_aar over eight kommuner in two fylker,
    with many small counts (primary cells) and the share of resultater_aar."""
    rng = np.random.default_rng(seed)
    kommuner = ["1870", "1871", "1875", "1804", "4601", "4602", "4603", "4640"]
    ages = ["18-25", "26-35", "36-45", "46-55", "56+"]
    delt = pd.DataFrame(
        [
            dict(aar=y, kommune=k, kjonn=s, aldersgruppe=a, n=int(rng.choice([0, 1, 2, 4, 9])))
            for y, k, s, a in itertools.product(YEARS, kommuner, ["K", "M"], ages)
        ]
    )
    delt = delt.assign(deltakere=delt.n + 1, nye_deltakere=delt.n, avsluttede=delt.n)
    res = pd.DataFrame(
        [
            dict(aar=y, kommune=k, kjonn=s, landbakgrunn_gruppe=g)
            for y, k, s, g in itertools.product(YEARS, kommuner, ["K", "M"], ["Syria", "Ovrige"])
        ]
    )
    res["overgang_arbeid"] = rng.choice([0, 1, 2, 5], size=len(res))
    res["overgang_utdanning"] = rng.choice([0, 1, 3], size=len(res))
    res["ikke_registrert"] = rng.choice([0, 1], size=len(res))
    res["direkte_overgang"] = res.overgang_arbeid + res.overgang_utdanning
    res["avsluttede"] = res.direkte_overgang + res.ikke_registrert + rng.choice([0, 2], len(res))
    # avsluttede is one population in both tables: deltakelse_aar's must add up to the same
    # margin (kommune x kjonn), so take it from resultater_aar, spread over the age groups
    margin = res.groupby(["aar", "kommune", "kjonn"])["avsluttede"].sum()
    delt["avsluttede"] = 0
    first = delt.groupby(["aar", "kommune", "kjonn"]).head(1).index
    delt.loc[first, "avsluttede"] = [
        margin[(r.aar, r.kommune, r.kjonn)] for r in delt.loc[first].itertuples()
    ]
    d = rollup(
        delt.drop(columns="n"),
        {"kjonn": "alle", "aldersgruppe": "alle"},
        ["deltakere", "nye_deltakere", "avsluttede"],
    )
    r = rollup(
        res,
        {"kjonn": "alle", "landbakgrunn_gruppe": "alle"},
        [
            "avsluttede",
            "direkte_overgang",
            "overgang_arbeid",
            "overgang_utdanning",
            "ikke_registrert",
        ],
    )
    r["andel_direkte_overgang"] = (r.direkte_overgang / r.avsluttede).round(3)
    frames = {"deltakelse_aar": d, "resultater_aar": r}
    return {
        n: f.sort_values(["aar", "nivaa", "region", *f.columns[1:3]]).reset_index(drop=True)
        for n, f in frames.items()
    }


def protect_and_audit(frames, catalog, **kwargs):
    """``decide_years`` and its audit, one after the other (as a publication does, without
    the writing between them)."""
    decided = decide_years(frames, catalog, **kwargs)
    try:
        return decided.protected, decided.audit()
    finally:
        decided.close()


def _whole(frames, catalog):
    protected = protect(frames, catalog, threshold=THRESHOLD, min_share_denominator=MIN_DENOMINATOR)
    return protected, audit_publication(protected.frames, frames, catalog, THRESHOLD)


def _by_year(frames, catalog, cache=None):
    return protect_and_audit(
        frames,
        catalog,
        threshold=THRESHOLD,
        min_share_denominator=MIN_DENOMINATOR,
        years=cache,
    )


def _assert_same(a, b):
    (pa, aa), (pb, ab) = a, b
    for name, f in pa.frames.items():
        pd.testing.assert_frame_equal(f, pb.frames[name])  # values, None, dtypes, prikket
    assert (pa.cells, pa.primary, pa.secondary, pa.hidden_by_rule) == (
        pb.cells,
        pb.primary,
        pb.secondary,
        pb.hidden_by_rule,
    )
    assert aa.summary() == ab.summary()
    assert aa.result.summary() == ab.result.summary()


def test_year_by_year_hides_the_same_cells_as_everything_at_once(catalog):
    frames = _frames()
    whole = _whole(frames, catalog)
    assert whole[0].primary > 50 and whole[0].secondary > 10  # a real suppression problem
    assert whole[1].result.passed
    years = reference_years(frames, catalog)
    assert {int(y) for y in np.unique(years["deltakelse_aar"])} == set(YEARS)
    _assert_same(whole, _by_year(frames, catalog))


def test_a_second_publication_decides_only_the_year_that_changed(catalog, tmp_path):
    frames = _frames()
    path = tmp_path / "disclosure.json"
    first = YearCache(path)
    _by_year(frames, catalog, first)
    first.save()
    assert (first.hits, first.misses) == ([], list(YEARS))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # holds hidden values if any leak

    # the same figures in new frames: every year is read back
    again = YearCache(path)
    copied = {n: f.copy() for n, f in frames.items()}
    _assert_same(_by_year(copied, catalog, again), _whole(frames, catalog))
    assert (again.hits, again.misses) == (list(YEARS), [])

    # 2023 from other figures (late registrations): 2021 and 2022 are read back
    other = _frames(seed=8)
    changed = {
        n: pd.concat([f[f.aar < 2023], other[n][other[n].aar == 2023]], ignore_index=True)
        for n, f in frames.items()
    }
    third = YearCache(path)
    result = _by_year(changed, catalog, third)
    assert (third.hits, third.misses) == ([2021, 2022], [2023])
    _assert_same(result, _whole(changed, catalog))


def test_years_decided_on_several_processes_give_what_one_process_gives(catalog, tmp_path):
    """Three years shared out over two and three processes (children of a forkserver): the
    same cells hidden, the same verdict, and the same kept years and components on disk."""
    from nir.publication.suppression import ComponentCache

    frames = _frames()
    files = {}
    for processes in (1, 2, 3):
        years = YearCache(tmp_path / f"years-{processes}.json")
        components = ComponentCache(tmp_path / f"components-{processes}.json")
        result = protect_and_audit(
            frames,
            catalog,
            threshold=THRESHOLD,
            min_share_denominator=MIN_DENOMINATOR,
            years=years,
            components=components,
            processes=processes,
        )
        _assert_same(result, _whole(frames, catalog))
        assert (years.hits, years.misses) == ([], list(YEARS))
        years.save()
        components.save()
        assert components.misses > 0
        files[processes] = [json.loads(p.read_text("utf-8")) for p in (years.path, components.path)]
    assert files[2] == files[1] and files[3] == files[1]


def test_a_year_that_fails_in_a_child_process_fails_the_call(catalog):
    """A year whose figures break a declared relation raises in the caller when a child
    decides it, as it does in-process (the caller's share is the largest year first, so with
    three equal years and two processes the child decides 2022)."""
    frames = _frames()
    d = frames["deltakelse_aar"]
    broken = d.assign(deltakere=d["deltakere"].where(d["aar"] != 2022, d["deltakere"] - 100))
    frames = {**frames, "deltakelse_aar": broken}
    with pytest.raises(ValueError) as serial:
        protect_and_audit(
            frames, catalog, threshold=THRESHOLD, min_share_denominator=MIN_DENOMINATOR
        )
    with pytest.raises(ValueError) as parallel:
        protect_and_audit(
            frames,
            catalog,
            threshold=THRESHOLD,
            min_share_denominator=MIN_DENOMINATOR,
            processes=2,
        )
    assert str(parallel.value) == str(serial.value)


def test_one_year_audited_in_a_child_that_prepared_while_it_was_decided(
    catalog, tmp_path, monkeypatch
):
    """A monthly publication decides one year: with a process to spare, a child works out
    the attacker's relations while this process decides, and audits once handed the
    decision. The same verdict as in one process, the handoff's private folder gone."""
    import tempfile

    import nir.publication.years as years_module

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    handed = []
    hand_over = years_module._hand_over
    monkeypatch.setattr(
        years_module,
        "_hand_over",
        lambda path, hidden: (handed.append(path), hand_over(path, hidden)),
    )
    frames = _frames()
    path = tmp_path / "disclosure.json"
    first = YearCache(path)
    _by_year(frames, catalog, first)
    first.save()
    other = _frames(seed=8)
    changed = {
        n: pd.concat([f[f.aar < 2023], other[n][other[n].aar == 2023]], ignore_index=True)
        for n, f in frames.items()
    }
    again = YearCache(path)
    result = protect_and_audit(
        changed,
        catalog,
        threshold=THRESHOLD,
        min_share_denominator=MIN_DENOMINATOR,
        years=again,
        processes=2,
    )
    assert (again.hits, again.misses) == ([2021, 2022], [2023])
    assert len(handed) == 1 and handed[0].parent.name.startswith("nir-audit-")
    _assert_same(result, _whole(changed, catalog))
    assert not list(tmp_path.glob("nir-audit-*"))


def test_one_year_that_fails_stops_the_child_waiting_for_its_decision(
    catalog, tmp_path, monkeypatch
):
    """The one year to decide breaks a declared relation: the caller raises what it raises
    in one process, the child preparing the audit stops waiting (the fork server serves the
    next publication), and the handoff's folder is removed."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    frames = {n: f[f.aar == 2022].reset_index(drop=True) for n, f in _frames().items()}
    d = frames["deltakelse_aar"]
    broken = {**frames, "deltakelse_aar": d.assign(deltakere=d["deltakere"] - 100)}
    kwargs = {"threshold": THRESHOLD, "min_share_denominator": MIN_DENOMINATOR}
    with pytest.raises(ValueError) as serial:
        protect_and_audit(broken, catalog, **kwargs)
    with pytest.raises(ValueError) as parallel:
        protect_and_audit(broken, catalog, processes=2, **kwargs)
    assert str(parallel.value) == str(serial.value)
    assert not list(tmp_path.glob("nir-audit-*"))
    _assert_same(protect_and_audit(frames, catalog, processes=2, **kwargs), _whole(frames, catalog))


def test_a_different_threshold_or_an_unreadable_file_decides_every_year(catalog, tmp_path):
    frames = _frames()
    path = tmp_path / "disclosure.json"
    cache = YearCache(path)
    _by_year(frames, catalog, cache)
    cache.save()
    other = YearCache(path)
    protect_and_audit(
        frames, catalog, threshold=4, min_share_denominator=MIN_DENOMINATOR, years=other
    )
    assert other.hits == [] and other.misses == list(YEARS)

    path.write_text("{not json", "utf-8")
    broken = YearCache(path)
    _assert_same(_by_year(frames, catalog, broken), _whole(frames, catalog))
    assert broken.misses == list(YEARS)


def test_a_year_that_is_not_one_per_partition_keeps_everything_in_one_part(catalog, caplog):
    frames = _frames()
    # a declaration whose year is not a function of the grain columns that never add up:
    # splitting by it could cut a relation, so nothing is split
    odd = dict(catalog)
    odd["resultater_aar"] = dataclasses.replace(
        catalog["resultater_aar"], aar="case when region = '1870' then aar + 1 else aar end"
    )
    with caplog.at_level(logging.WARNING, logger="nir.publication.years"):
        years = reference_years(frames, odd)
    assert all((y == ALL).all() for y in years.values())
    assert "not one per partition" in caplog.text
    cache = YearCache(os.devnull)
    _by_year(frames, odd, cache)
    assert cache.misses == [ALL]


def test_publishing_the_same_snapshot_again_reads_every_year_back(tmp_path, caplog):
    settings = load_settings(data_dir=tmp_path / "data")
    snapshot = date(2024, 2, 1)
    make_snapshot(settings, snapshot)
    run_gate(settings, snapshot)
    publish(settings, snapshot)
    first = json.loads(settings.published_record.read_text("utf-8"))
    figures = published_digest(settings.published_db)
    kept = json.loads(settings.disclosure_cache.read_text("utf-8"))["years"]
    assert len(kept) >= 2  # the synthetic warehouse has two reference years
    assert stat.S_IMODE(os.stat(settings.disclosure_cache).st_mode) == 0o600
    with caplog.at_level(logging.INFO, logger="nir.publication.publish"):
        publish(settings, snapshot)
    assert "kept from the last publication, none decided and audited" in caplog.text
    again = json.loads(settings.published_record.read_text("utf-8"))
    assert again["disclosure"] == first["disclosure"]
    assert published_digest(settings.published_db) == figures


def test_the_same_figures_from_a_newer_snapshot_are_kept(catalog, tmp_path):
    # an open year whose figures did not change this month: only the provenance columns
    # (the source snapshot, preliminary or final) differ, and they decide nothing
    def stamped(snapshot, status):
        return {
            n: f.assign(snapshot_date=pd.Timestamp(snapshot), status=status)
            for n, f in _frames().items()
        }

    path = tmp_path / "disclosure.json"
    first = YearCache(path)
    _by_year(stamped("2024-01-01", "forelopig"), catalog, first)
    first.save()
    newer = stamped("2024-02-01", "endelig")
    again = YearCache(path)
    kept = _by_year(newer, catalog, again)
    assert (again.hits, again.misses) == (list(YEARS), [])
    # and what is kept is what deciding them afresh gives, provenance columns and all
    _assert_same(kept, _whole(newer, catalog))
    assert (kept[0].frames["deltakelse_aar"]["snapshot_date"] == pd.Timestamp("2024-02-01")).all()
