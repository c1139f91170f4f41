"""JSON-stat 2.0 files of the published tables, read back by independent readers.

The published database here is made by hand (the tables as `nir publish` writes them, with
the label tables); the files are read back with pyjstat (a JSON-stat reader from PyPI) and
checked against the JSON-stat 2.0 schema with jsonstat-validator: neither shares code with
our writer.
"""

from __future__ import annotations

import json
import math
from datetime import date

import duckdb
import pytest
from jsonstat_validator import validate_jsonstat
from pyjstat import pyjstat

from nir.catalog import load_catalog
from nir.config import load_settings
from nir.publication.jsonstat import write_jsonstat

SNAPSHOT = date(2024, 3, 1)
PUBLISHED_AT = "2024-03-02T01:00:00+00:00"
TABLES = ("resultater_aar", "tiltak_aar", "deltakelse_maaned")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """The real declarations (dbt parse once per module)."""
    settings = load_settings(data_dir=tmp_path_factory.mktemp("jsonstat") / "data")
    full = load_catalog(settings)
    return {t: full[t] for t in TABLES}


def _published(con: duckdb.DuckDBPyConnection) -> None:
    """A small published database: three tables and the label tables."""
    con.execute("create schema statistikk")
    con.execute(
        """
        create table statistikk.resultater_aar as select * from (values
          (date '2024-03-01', 'endelig', 2023, 'land', '0000', 'Norge', 'alle', 'alle',
           40, 30, 20, 10, 2, 0.750::decimal(4,3), false),
          (date '2024-03-01', 'endelig', 2023, 'fylke', '18', 'Nordland', 'alle', 'alle',
           6, 4, 3, 1, null, 0.667::decimal(4,3), true),
          (date '2024-03-01', 'forelopig', 2024, 'land', '0000', 'Norge', 'alle', 'alle',
           12, 9, 5, 4, 1, 0.750::decimal(4,3), false),
          (date '2024-03-01', 'forelopig', 2024, 'land', '0000', 'Norge', 'K', 'Ukraina',
           2, null, null, null, null, null, true)
        ) as t (snapshot_date, status, aar, nivaa, region, region_navn, kjonn,
                landbakgrunn_gruppe, avsluttede, direkte_overgang, overgang_arbeid,
                overgang_utdanning, ikke_registrert, andel_direkte_overgang, prikket)
        """
    )
    con.execute(
        """
        create table statistikk.tiltak_aar as select * from (values
          (date '2024-03-01', 'forelopig', 2024, 'land', '0000', 'Norge', 'NORSK', 25,
           1200.5::decimal(12,1), false),
          (date '2024-03-01', 'forelopig', 2024, 'kommune', '1804', 'Bodø', 'NORSK', null,
           null, true),
          (date '2024-03-01', 'forelopig', 2024, 'kommune', '1804', 'Bodø', 'SAMF', 7,
           300.0::decimal(12,1), false)
        ) as t (snapshot_date, status, aar, nivaa, region, region_navn, tiltakskode,
                deltakere, timer, prikket)
        """
    )
    con.execute(
        """
        create table statistikk.deltakelse_maaned as select * from (values
          (date '2024-02-01', 'forelopig', '2024-01', 'land', '0000', 'Norge', 50, 5, 3, false),
          (date '2024-03-01', 'forelopig', '2024-02', 'land', '0000', 'Norge', 52, 4, null,
           true)
        ) as t (snapshot_date, status, periode, nivaa, region, region_navn, i_program,
                startet, avsluttet, prikket)
        """
    )
    con.execute(
        """
        create table statistikk.etiketter as select * from (values
          ('kjonn', 'alle', 'Begge kjønn', null, 1), ('kjonn', 'K', 'Kvinner', null, 2),
          ('kjonn', 'M', 'Menn', null, 3),
          ('landbakgrunn_gruppe', 'alle', 'Alle landbakgrunner', null, 1),
          ('landbakgrunn_gruppe', 'Ukraina', 'Ukraina', null, 2),
          ('landbakgrunn_gruppe', 'Ovrige', 'Øvrige', null, 3),
          ('tiltakskode', 'NORSK', 'Norskopplæring', null, 1),
          ('tiltakskode', 'SAMF', 'Samfunnskunnskap', null, 2)
        ) as t (kodeliste, kode, etikett, beskrivelse, rekkefolge)
        """
    )
    con.execute(
        """
        create table statistikk.regioner as select * from (values
          ('land', '0000', 'Norge', date '1900-01-01', null::date),
          ('fylke', '18', 'Nordland', date '1900-01-01', null::date),
          ('kommune', '1804', 'Bodø', date '1900-01-01', null::date)
        ) as t (nivaa, region, region_navn, gyldig_fra, gyldig_til)
        """
    )


@pytest.fixture(scope="module")
def written(catalog, tmp_path_factory):
    out = tmp_path_factory.mktemp("jsonstat-out")
    con = duckdb.connect()
    try:
        con.execute(f"attach '{out / 'pub.duckdb'}' as ny")
        con.execute("use ny")
        _published(con)
        paths = write_jsonstat(
            con, catalog, out / "jsonstat", snapshot=SNAPSHOT, published_at=PUBLISHED_AT
        )
        tables = {t: _fetch(con, t) for t in catalog}  # the truth to compare with
    finally:
        con.close()
    return {p.stem: p for p in paths}, tables


def _fetch(con, table):
    cur = con.execute(f"select * from statistikk.{table}")
    names = [c[0] for c in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _read_back(path):
    """(values, statuses): {(dimension codes..., measure): value} read by pyjstat."""
    text = path.read_text("utf-8")
    ds = pyjstat.Dataset.read(text)
    values = ds.write("dataframe", naming="id")
    statuses = pyjstat.Dataset.read(text).write("dataframe", naming="id", value="status")
    dims = [c for c in values.columns if c != "value"]
    v = {tuple(r[d] for d in dims): r["value"] for _, r in values.iterrows()}
    s = {tuple(r[d] for d in dims): r["status"] for _, r in statuses.iterrows()}
    return dims, v, s


def test_one_valid_jsonstat_dataset_per_table(written, catalog):
    paths, _ = written
    assert set(paths) == set(catalog)
    for path in paths.values():
        doc = json.loads(path.read_text("utf-8"))
        assert validate_jsonstat(doc) is True
        assert doc["version"] == "2.0" and doc["class"] == "dataset"
        assert doc["extension"]["snapshot"] == "2024-03-01"
        assert doc["updated"] == PUBLISHED_AT


def test_files_are_compact_utf8_json_as_json_dumps_writes_it(written):
    """msgspec writes the files: what ``json.dumps(ensure_ascii=False)`` with compact
    separators writes for the same document, Norwegian letters as UTF-8, byte for byte for
    the tables' figures; numbers that need an exponent are the same numbers written shorter
    (1e16 for 1e+16, 1e-7 for 1e-07)."""
    from nir.publication import jsonstat

    paths, _ = written
    for path in paths.values():
        raw = path.read_bytes()
        assert (
            raw == json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":")).encode()
        )
    edge = {"a": [0.1, 1e16, 1e-7, 2.5, -0.0, 123456789.123, None, 7], "ø": 'Tromsø "x"\n\u2028'}
    encoded = jsonstat.msgspec.json.encode(edge)
    assert json.loads(encoded) == edge
    assert "Tromsø".encode() in encoded


@pytest.mark.parametrize("table", TABLES)
def test_values_and_status_read_back_equal_the_table(written, catalog, table):
    paths, frames = written
    dims, values, statuses = _read_back(paths[table])
    grain = [c for c in catalog[table].rad if c != "nivaa"]
    assert dims == [*grain, "ContentsCode"]
    doc = json.loads(paths[table].read_text("utf-8"))
    measures = doc["dimension"]["ContentsCode"]["category"]["index"]
    frame = frames[table]
    checked = 0
    for row in frame:
        for m in measures:
            key = (*(str(row[d]) for d in grain), m)
            expected = row[m]
            got = values[key]
            if expected is None:
                assert _missing(got), key
                assert statuses[key] == ":", key
            else:
                assert float(got) == pytest.approx(float(expected)), key
                expected_status = "*" if row["status"] == "forelopig" else None
                got_status = None if _missing(statuses[key]) else statuses[key]
                assert got_status == expected_status, key
            checked += 1
    assert checked == len(frame) * len(measures)


def test_hidden_cell_is_marked_per_cell_not_per_row(written):
    """The Nordland 2023 row is prikket with only ikke_registrert hidden: one cell says ':'."""
    paths, _ = written
    _, values, statuses = _read_back(paths["resultater_aar"])
    row = ("2023", "18", "alle", "alle")
    assert statuses[(*row, "ikke_registrert")] == ":"
    assert values[(*row, "avsluttede")] == 6
    assert _missing(statuses[(*row, "avsluttede")])  # final and shown: no status


def test_labels_come_from_the_label_tables_and_region_names(written):
    paths, _ = written
    doc = json.loads(paths["tiltak_aar"].read_text("utf-8"))
    dim = doc["dimension"]
    assert dim["tiltakskode"]["category"]["label"] == {
        "NORSK": "Norskopplæring",
        "SAMF": "Samfunnskunnskap",
    }
    assert dim["region"]["category"]["label"] == {"0000": "Norge", "1804": "Bodø"}
    assert doc["extension"]["nivaa"] == {"0000": "land", "1804": "kommune"}
    assert doc["role"] == {"metric": ["ContentsCode"], "time": ["aar"], "geo": ["region"]}
    units = dim["ContentsCode"]["category"]["unit"]
    assert units["timer"] == {"label": "timer", "decimals": 1}
    by_label = pyjstat.Dataset.read(paths["tiltak_aar"].read_text("utf-8")).write("dataframe")
    assert "Bodø" in set(by_label["region"]) and "Samfunnskunnskap" in set(by_label["tiltak"])


def test_a_combination_the_table_lacks_is_marked_missing(written):
    """resultater_aar has no 2023 row for Ukraina: its cells are '..', not hidden."""
    paths, _ = written
    _, values, statuses = _read_back(paths["resultater_aar"])
    key = ("2023", "0000", "K", "Ukraina", "avsluttede")
    assert statuses[key] == ".."
    assert _missing(values[key])
