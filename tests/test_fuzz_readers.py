"""Fuzz the CSV and manifest readers: hostile input gives problems, never a crash.

Each test prints how many cases it tried.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import small_delivery
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from nir.config import load_settings
from nir.delivery.check import check_delivery

FUZZ = hsettings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return small_delivery.make(tmp_path_factory.mktemp("tpl"))


def _fresh(template: Path, tmp: Path) -> Path:
    d = tmp / template.name
    if d.exists():
        shutil.rmtree(d)
    shutil.copytree(template, d)
    return d


mutations = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2000),
        st.sampled_from(["insert", "delete", "replace"]),
        st.binary(min_size=1, max_size=8)
        | st.sampled_from([b";", b'"', b"\n", b"\r\n", b"\x00", b"\xff", b"=cmd()", b'""']),
    ),
    min_size=1,
    max_size=6,
)


def _mutate(data: bytes, muts) -> bytes:
    b = bytearray(data)
    for pos, op, chunk in muts:
        p = pos % (len(b) + 1)
        if op == "insert":
            b[p:p] = chunk
        elif op == "delete":
            del b[p : p + len(chunk)]
        else:
            b[p : p + len(chunk)] = chunk
    return bytes(b)


@pytest.mark.parametrize("name", ["personer.csv", "deltakelser.csv", "tiltak.csv"])
def test_mutated_csv_never_crashes(template, tmp_path, name, capsys):
    s = load_settings(data_dir=tmp_path / "data")
    tried = {"n": 0, "rejected": 0}

    @FUZZ
    @given(muts=mutations, fix_manifest=st.booleans())
    def run(muts, fix_manifest):
        d = _fresh(template, tmp_path)
        p = d / name
        p.write_bytes(_mutate(p.read_bytes(), muts))
        if fix_manifest:
            from nir.delivery.manifest import refresh_manifest

            refresh_manifest(d)
        problems = check_delivery(d, s)  # must not raise
        tried["n"] += 1
        tried["rejected"] += bool(problems)
        for pr in problems:
            text = str(pr)
            assert "\n" not in text and text.startswith(pr.file)

    run()
    with capsys.disabled():
        print(f"\n[fuzz] {name}: {tried['n']} mutated files, {tried['rejected']} rejected")
    assert tried["n"] >= 100


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def test_hostile_manifest_never_crashes(template, tmp_path, capsys):
    s = load_settings(data_dir=tmp_path / "data")
    base = json.loads((template / "manifest.json").read_text())
    keys = list(base)
    tried = {"n": 0}

    @FUZZ
    @given(
        key=st.sampled_from([*keys, "files"]),
        value=json_values,
        raw=st.none() | st.binary(max_size=64),
        file_name=st.sampled_from(
            ["../../etc/passwd", "/etc/passwd", "personer.csv/../x", "sub/tiltak.csv", "x.csv"]
        ),
    )
    def run(key, value, raw, file_name):
        d = _fresh(template, tmp_path)
        doc = json.loads(json.dumps(base))
        if key == "files" and isinstance(value, dict):
            doc["files"][file_name] = {"rows": 1, "sha256": "0" * 64}
        else:
            doc[key] = value
        if doc.get("snapshot_date") == base["snapshot_date"] and doc.get("kind") == "daily":
            doc["kind"] = "yearly"  # a daily delivery dated the 1st is valid: keep it broken
        data = raw if raw is not None else json.dumps(doc).encode()
        (d / "manifest.json").write_bytes(data)
        problems = check_delivery(d, s)
        tried["n"] += 1
        if raw is not None or doc != base:
            assert problems, "a damaged manifest must be rejected"
        assert all("\n" not in str(p) for p in problems)

    run()
    with capsys.disabled():
        print(f"\n[fuzz] manifest.json: {tried['n']} hostile manifests, all rejected")
    assert tried["n"] >= 100


def test_path_traversal_in_manifest_is_rejected(template, tmp_path):
    d = _fresh(template, tmp_path)
    doc = json.loads((d / "manifest.json").read_text())
    doc["files"]["../../outside.csv"] = {"rows": 0, "sha256": "0" * 64}
    (d / "manifest.json").write_text(json.dumps(doc))
    problems = check_delivery(d, load_settings(data_dir=tmp_path / "data"))
    assert any("not in the contract" in str(p) for p in problems)


def test_symlinked_file_is_rejected(template, tmp_path):
    d = _fresh(template, tmp_path)
    target = tmp_path / "elsewhere.csv"
    shutil.move(d / "vedtak.csv", target)
    (d / "vedtak.csv").symlink_to(target)
    problems = check_delivery(d, load_settings(data_dir=tmp_path / "data"))
    assert any("symlink" in str(p) for p in problems)


def test_oversized_file_and_field_are_rejected(template, tmp_path):
    d = _fresh(template, tmp_path)
    s = load_settings(data_dir=tmp_path / "data", max_file_bytes=100)
    assert any("over the limit" in str(p) for p in check_delivery(d, s))
    p = d / "personer.csv"
    p.write_bytes(p.read_bytes().replace(b"SYR", b"S" * 5000, 1))
    from nir.delivery.manifest import refresh_manifest

    refresh_manifest(d)
    problems = check_delivery(d, load_settings(data_dir=tmp_path / "data"))
    assert any("characters long" in str(p) and "landbakgrunn" in str(p) for p in problems)
