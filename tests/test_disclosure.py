"""Disclosure control over hand-made published tables: the leaks the classic rule left.

Each case is one of the recoveries an audit found in the old output (issue #11), rebuilt as a
small table with the real declarations (the dbt models' ``meta.publisert``). For each:
the exact cells hidden, the independent audit finds nothing recoverable, and the classic rule
("a total with exactly one hidden part gets a second"), run on the same table, leaves a
primary cell recoverable.
"""

from __future__ import annotations

import itertools
from datetime import date

import pandas as pd
import pytest

from nir.catalog import load_catalog
from nir.config import load_settings
from nir.publication.attack import audit_publication
from nir.publication.disclosure import protect
from nir.tools.bench import classic_rule

pytestmark = pytest.mark.integration
SNAP = date(2023, 3, 1)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return load_catalog(load_settings(data_dir=tmp_path_factory.mktemp("d") / "data"))


def rollup(
    finest: pd.DataFrame, dims: dict[str, str], measures: list[str], parts=("aar",)
) -> pd.DataFrame:
    """Kommune rows at the finest breakdown -> every region level and breakdown total."""
    rows = []
    levels = [
        ("kommune", finest["kommune"]),
        ("fylke", finest["kommune"].str[:2]),
        ("land", pd.Series("0000", index=finest.index)),
    ]
    for (nivaa, region), r in itertools.product(levels, range(len(dims) + 1)):
        for combo in itertools.combinations(list(dims), r):
            keys = [region.rename("region"), *(finest[c] for c in [*parts, *combo])]
            g = finest.groupby(keys)[measures].sum().reset_index()
            for d in dims:
                if d not in combo:
                    g[d] = dims[d]
            g["nivaa"] = nivaa
            rows.append(g)
    out = pd.concat(rows, ignore_index=True)
    out["snapshot_date"] = SNAP
    out["status"] = "forelopig"
    out["region_navn"] = "navn " + out["region"]
    return out


def deltakelse(values: dict[tuple[str, str, str], int]) -> pd.DataFrame:
    """deltakelse_aar 2022 from {(kommune, kjonn, aldersgruppe): count} (all three measures)."""
    ages = ["18-25", "26-35", "36-45", "46-55", "56+"]
    kommuner = sorted({k for k, _, _ in values})
    finest = pd.DataFrame(
        [
            dict(aar=2022, kommune=k, kjonn=s, aldersgruppe=a, n=values.get((k, s, a), 0))
            for k, s, a in itertools.product(kommuner, ["K", "M"], ages)
        ]
    )
    finest = finest.assign(deltakere=finest.n, nye_deltakere=finest.n, avsluttede=finest.n)
    return rollup(
        finest.drop(columns="n"),
        {"kjonn": "alle", "aldersgruppe": "alle"},
        ["deltakere", "nye_deltakere", "avsluttede"],
    )


def run(catalog, frames):
    cat = {n: catalog[n] for n in frames}
    keyed = {n: f.sort_values(list(cat[n].rad)).reset_index(drop=True) for n, f in frames.items()}
    protected = protect(keyed, cat, threshold=3, min_share_denominator=5)
    attack = audit_publication(protected.frames, keyed, cat, 3)
    _, classic = classic_rule(keyed, cat, 3)
    old = audit_publication(classic, keyed, cat, 3)
    return protected, attack, old


def hidden(protected, table, column):
    f = protected.frames[table]
    return sorted(
        tuple(str(v) for v in r)
        for r in f.loc[f[column].isna(), ["nivaa", "region", "kjonn", "aldersgruppe"]].values
    )


def test_hidden_total_with_visible_parts(catalog):
    # kommune 1870: K has 3 participants in three age groups, M one (a primary cell)
    values = {
        ("1870", "K", "18-25"): 1,
        ("1870", "K", "26-35"): 1,
        ("1870", "K", "46-55"): 1,
        ("1870", "M", "36-45"): 1,
        ("1871", "K", "18-25"): 7,
        ("1871", "M", "36-45"): 9,
        ("1875", "K", "26-35"): 6,
        ("1875", "M", "46-55"): 8,
    }
    protected, attack, old = run(catalog, {"deltakelse_aar": deltakelse(values)})
    assert attack.result.recoverable == []
    assert any(f.primary for f in old.result.recoverable)  # the classic rule leaked
    assert hidden(protected, "deltakelse_aar", "deltakere") == [
        ("fylke", "18", "K", "18-25"),
        ("fylke", "18", "K", "26-35"),
        ("fylke", "18", "K", "46-55"),
        ("fylke", "18", "alle", "18-25"),
        ("fylke", "18", "alle", "26-35"),
        ("fylke", "18", "alle", "46-55"),
        ("kommune", "1870", "K", "18-25"),
        ("kommune", "1870", "K", "26-35"),
        ("kommune", "1870", "K", "46-55"),
        ("kommune", "1870", "K", "alle"),
        ("kommune", "1870", "M", "36-45"),
        ("kommune", "1870", "M", "alle"),
        ("kommune", "1870", "alle", "18-25"),
        ("kommune", "1870", "alle", "26-35"),
        ("kommune", "1870", "alle", "36-45"),
        ("kommune", "1870", "alle", "46-55"),
        ("kommune", "1871", "K", "18-25"),
        ("kommune", "1871", "K", "alle"),
        ("kommune", "1871", "M", "36-45"),
        ("kommune", "1871", "M", "alle"),
        ("kommune", "1871", "alle", "18-25"),
        ("kommune", "1871", "alle", "36-45"),
        ("land", "0000", "K", "26-35"),
        ("land", "0000", "K", "46-55"),
        ("land", "0000", "alle", "26-35"),
        ("land", "0000", "alle", "46-55"),
    ]
    # the kommune's total of 4 stays visible: with its parts hidden it gives nothing away
    f = protected.frames["deltakelse_aar"]
    total = f[(f.region == "1870") & (f.kjonn == "alle") & (f.aldersgruppe == "alle")]
    assert total["deltakere"].tolist() == [4]


def test_a_zero_is_never_the_partner_of_a_hidden_cell(catalog):
    # kommune 1531: the only participants aged 18-25 are one K; every 26-35 cell is 0
    values = {
        ("1531", "K", "18-25"): 1,
        ("1531", "K", "36-45"): 6,
        ("1531", "M", "36-45"): 7,
        ("1531", "K", "46-55"): 5,
        ("1531", "M", "56+"): 9,
        ("1532", "K", "18-25"): 8,
        ("1532", "M", "26-35"): 6,
    }
    protected, attack, _ = run(catalog, {"deltakelse_aar": deltakelse(values)})
    assert attack.result.recoverable == []
    f = protected.frames["deltakelse_aar"]
    true = deltakelse(values).sort_values(list(catalog["deltakelse_aar"].rad))
    zeros = true.reset_index(drop=True)["deltakere"] == 0
    assert f.loc[zeros, "deltakere"].notna().all()  # no zero is hidden
    assert ("kommune", "1531", "K", "18-25") in hidden(protected, "deltakelse_aar", "deltakere")


def test_kommune_equal_to_its_fylke_is_hidden_with_it(catalog):
    # tiltak 2021, ARBEID_DELTID: Oslo (fylke 03, one kommune) has 3 persons, fylke 46 has 2
    # (a primary cell). The classic rule hides fylke 03 as the partner of fylke 46 under the
    # country's total, but fylke 03 equals the visible kommune 0301: it comes back, and
    # protects nothing.
    finest = pd.DataFrame(
        [
            dict(aar=2021, kommune="0301", tiltakskode="ARBEID_DELTID", deltakere=3, timer=954.6),
            dict(aar=2021, kommune="0301", tiltakskode="NORSK", deltakere=40, timer=9000.0),
            dict(aar=2021, kommune="4601", tiltakskode="ARBEID_DELTID", deltakere=2, timer=300.0),
            dict(aar=2021, kommune="4601", tiltakskode="NORSK", deltakere=30, timer=7000.0),
        ]
    )
    tiltak = rollup(finest, {}, ["deltakere", "timer"], parts=("aar", "tiltakskode"))
    protected, attack, old = run(catalog, {"tiltak_aar": tiltak})
    assert attack.result.recoverable == []
    given_back = [f.cell for f in old.result.recoverable]
    assert ("tiltak_aar", ("2021", "fylke", "03", "ARBEID_DELTID"), "deltakere") in given_back
    f = protected.frames["tiltak_aar"]
    arbeid = f[f.tiltakskode == "ARBEID_DELTID"].set_index(["nivaa", "region"])["deltakere"]
    hidden_cells = arbeid.isna().to_dict()
    assert hidden_cells[("fylke", "46")] and hidden_cells[("kommune", "4601")]  # primary
    assert hidden_cells[("fylke", "03")] == hidden_cells[("kommune", "0301")]  # one cell
    assert f.loc[f.deltakere.isna(), "timer"].isna().all()  # hours hidden with their count


def test_the_same_measure_in_two_tables_is_protected_across_them(catalog):
    # avsluttede 2022 in kommune 1528: 2 men; deltakelse_aar and resultater_aar share it
    values = {
        ("1528", "M", "26-35"): 2,
        ("1528", "K", "26-35"): 6,
        ("1528", "K", "36-45"): 5,
        ("1529", "M", "26-35"): 7,
        ("1529", "K", "46-55"): 8,
    }
    delt = deltakelse(values)
    rows = []
    for (k, s, _a), n in values.items():
        for i in range(n):
            rows.append(
                dict(
                    aar=2022,
                    kommune=k,
                    kjonn=s,
                    landbakgrunn_gruppe="Ovrige",
                    arbeid=int(i % 3 == 0),
                    utd=int(i % 3 == 1),
                )
            )
    persons = pd.DataFrame(rows)
    finest = (
        persons.groupby(["aar", "kommune", "kjonn", "landbakgrunn_gruppe"])
        .agg(
            avsluttede=("arbeid", "size"),
            overgang_arbeid=("arbeid", "sum"),
            overgang_utdanning=("utd", "sum"),
        )
        .reset_index()
    )
    finest["direkte_overgang"] = finest.overgang_arbeid + finest.overgang_utdanning
    finest["ikke_registrert"] = 0
    res = rollup(
        finest,
        {"kjonn": "alle", "landbakgrunn_gruppe": "alle"},
        [
            "avsluttede",
            "direkte_overgang",
            "overgang_arbeid",
            "overgang_utdanning",
            "ikke_registrert",
        ],
    )
    res["andel_direkte_overgang"] = (res.direkte_overgang / res.avsluttede).round(3)
    protected, attack, _ = run(catalog, {"deltakelse_aar": delt, "resultater_aar": res})
    assert attack.result.recoverable == []
    d, r = protected.frames["deltakelse_aar"], protected.frames["resultater_aar"]
    # the two tables' common margin (kommune 1528, M) is hidden in both or shown in both
    dm = d[(d.region == "1528") & (d.kjonn == "M") & (d.aldersgruppe == "alle")]["avsluttede"]
    rm = r[(r.region == "1528") & (r.kjonn == "M") & (r.landbakgrunn_gruppe == "alle")][
        "avsluttede"
    ]
    assert dm.isna().tolist() == rm.isna().tolist() == [True]
