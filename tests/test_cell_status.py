"""The per-figure status of a published cell (``<measure>_status``, issue #14)."""

from __future__ import annotations

import pandas as pd

from nir.catalog import Andel, Maal, PublishedTable
from nir.publication.publish import with_status

TABLE = PublishedTable(
    name="resultater",
    description="",
    rad=("region",),
    aar=None,
    dimensjoner={},
    maal={"avsluttede": Maal("avsluttede"), "direkte": Maal("direkte")},
    andeler={"andel": Andel("andel", ("direkte",), "avsluttede")},
    columns=("region", "avsluttede", "direkte", "andel", "status"),
)


def test_status_says_hidden_no_figure_or_the_rows_status_and_never_gives_a_zero_away():
    original = pd.DataFrame(
        {
            "region": ["a", "b", "c", "d"],
            "avsluttede": [10, 0, 0, 2],
            "direkte": [4, 0, 0, 1],
            "andel": [0.4, None, None, 0.5],  # 0/0 has no share
            "status": ["endelig", "forelopig", "endelig", "endelig"],
        }
    )
    protected = original.copy()
    # b: nothing hidden; c: a 0 hidden as a secondary cell; d: a small count hidden
    protected.loc[2, ["avsluttede", "direkte"]] = None
    protected.loc[3, ["avsluttede", "direkte", "andel"]] = None
    protected["prikket"] = [False, False, True, True]

    out = with_status(TABLE, protected, original)

    assert list(out["avsluttede_status"]) == ["endelig", "forelopig", ":", ":"]
    # the share of b is 0/0 ("..", its counts are shown); c's too, but ".." beside its hidden
    # count would say the count was 0: it is ":"
    assert list(out["andel_status"]) == ["endelig", "..", ":", ":"]
    assert list(out.columns) == [*protected.columns, *TABLE.status_columns]
