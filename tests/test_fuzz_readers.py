"""Fuzz the delivery boundary: hostile bytes give problems, never a crash, never a value.

Every test is seeded (``derandomize=True``) so CI runs the same cases every time, and every
input that ever broke the boundary is kept as a named ``@example``. Cases per run (CI):

- ``test_mutated_csv_is_refused_cleanly``: 4 files x 1 700 mutated files   = 6 800
- ``test_hostile_manifest_document``: 1 800 manifests (JSON values)         = 1 800
- ``test_hostile_manifest_bytes``: 1 200 manifests (raw bytes, huge, deep)  = 1 200
- ``test_hostile_csv_lines``: 400 files (lone CR, NUL, huge, nested quotes)  =   400
- ``test_planted_fodselsnummer_is_never_shown``: 60 plants (full value checks, slower)
- ``test_every_column_of_every_file``: every column once (deterministic)

about 10 260 generated cases in total (a mutated file gets a corrected manifest one time in
40, so that most cases stay cheap while some reach the value checks). A problem is one line,
says where (file, line, column), shows no run of 11 digits and at most 80 characters of any
value, and the boundary's catch-all ("cannot be read (SomeError)") never explains a case:
each kind of bad input has its own message.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import small_delivery
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from stdnum.no.fodselsnummer import calc_check_digit1, calc_check_digit2
from stdnum.no.fodselsnummer import is_valid as fnr_valid

from nir.config import load_settings
from nir.contracts import nir_export as spec
from nir.delivery.check import check_delivery
from nir.delivery.manifest import refresh_manifest


def fuzz(n: int) -> hsettings:
    return hsettings(
        max_examples=n,
        deadline=None,
        derandomize=True,  # seeded: the same cases on every run
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
        database=None,
        print_blob=True,
    )


_ELEVEN = re.compile(r"\d{11}")


def assert_clean(problems, secrets: set[str] = frozenset()) -> None:
    """Where, never what: one bounded line per problem, no identity number, no catch-all."""
    assert problems, "a damaged delivery must be rejected"
    for p in problems:
        text = str(p)
        assert "\n" not in text and "\r" not in text, text
        assert len(text) <= 600, text
        assert not _ELEVEN.search(text), text
        for s in secrets:
            assert s not in text, text
        assert "cannot be read (" not in text, f"only the catch-all explains this case: {text}"


# --- the template delivery -------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return small_delivery.make(tmp_path_factory.mktemp("tpl"))


@pytest.fixture(scope="module")
def fnrs() -> set[str]:
    return set(small_delivery.identity_numbers(small_delivery.tables()))


class Scratch:
    """One working copy of the template; each case rewrites a file and puts it back."""

    def __init__(self, template: Path, tmp: Path) -> None:
        self.dir = tmp / template.name
        if self.dir.exists():
            shutil.rmtree(self.dir)
        shutil.copytree(template, self.dir)
        self.original = {p.name: p.read_bytes() for p in self.dir.iterdir()}
        self.dirty: set[str] = set()

    def write(self, name: str, data: bytes, *, fix_manifest: bool = False) -> Path:
        for n in self.dirty | {name, spec.MANIFEST}:  # undo what the previous case changed
            p = self.dir / n
            p.unlink(missing_ok=True)
            p.write_bytes(self.original[n])
        self.dirty = {name, spec.MANIFEST}
        (self.dir / name).write_bytes(data)
        if fix_manifest:
            refresh_manifest(self.dir)
        return self.dir


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=tmp_path / "data")


# --- CSV files: byte mutations ----------------------------------------------------------------
HOSTILE_CHUNKS = [
    b";",
    b'"',
    b"\n",
    b"\r\n",
    b"\r",  # a lone CR: old Mac line ends
    b"\x00",
    b"\xff",
    b"\xef\xbb\xbf",
    b"=cmd()",
    b'""',
    b'"' * 50,  # nested quotes
    b"9" * 30,  # a huge integer
    b"01110097111",  # an 11-digit number in whatever column it lands
    b"\xe2\x80\xa8",  # U+2028 LINE SEPARATOR
]

mutations = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2000),
        st.sampled_from(["insert", "delete", "replace"]),
        st.binary(min_size=1, max_size=8) | st.sampled_from(HOSTILE_CHUNKS),
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


@pytest.mark.parametrize("name", list(spec.FILES_BY_NAME))
def test_mutated_csv_is_refused_cleanly(template, tmp_path, settings, fnrs, name, capsys):
    scratch = Scratch(template, tmp_path)
    tried = {"n": 0}

    @fuzz(1700)
    @given(muts=mutations, fix_manifest=st.integers(0, 39).map(lambda i: i == 0))
    # regressions: each crashed the reader with a traceback before issue #12
    @example(muts=[(0, "replace", b"\r")], fix_manifest=True)  # stray CR in the header
    @example(muts=[(30, "insert", b"\r")], fix_manifest=True)
    @example(muts=[(0, "insert", b"\r\r\r")], fix_manifest=True)
    @example(muts=[(5, "insert", b"\x00")], fix_manifest=True)
    @example(muts=[(200, "insert", b'"' * 50)], fix_manifest=True)
    def run(muts, fix_manifest):
        data = _mutate(scratch.original[name], muts)
        if data == scratch.original[name]:
            return
        d = scratch.write(name, data, fix_manifest=fix_manifest)
        tried["n"] += 1
        problems = check_delivery(d, settings)  # must not raise
        if fix_manifest and not problems:
            return  # a mutation that is still a valid delivery (e.g. another valid code)
        assert_clean(problems, fnrs)

    run()
    # CR-only line ends for the whole file
    d = scratch.write(name, scratch.original[name].replace(b"\n", b"\r"), fix_manifest=True)
    assert_clean(check_delivery(d, settings), fnrs)
    with capsys.disabled():
        print(f"\n[fuzz] {name}: {tried['n']} mutated files")
    assert tried["n"] >= 1600


hostile_lines = st.lists(
    st.sampled_from(
        [b"\r", b"\x00", b";", b'"', b'""', b"\n", b"x" * 5000, b"7" * 5000, b'"' * 999]
    )
    | st.binary(max_size=6),
    min_size=1,
    max_size=8,
).map(b"".join)


def test_hostile_csv_lines(template, tmp_path, settings, fnrs, capsys):
    """A whole hostile data line in any file: lone CR, NUL, huge fields, nested quotes."""
    scratch = Scratch(template, tmp_path)
    tried = {"n": 0}

    @fuzz(400)
    @given(
        name=st.sampled_from(list(spec.FILES_BY_NAME)),
        line=hostile_lines,
        where=st.integers(1, 3),
    )
    @example(name="personer.csv", line=b"1;" + b"7" * 5000 + b";K", where=1)
    @example(name="vedtak.csv", line=b"\r", where=1)
    def run(name, line, where):
        lines = scratch.original[name].split(b"\n")
        lines.insert(min(where, len(lines) - 1), line)
        d = scratch.write(name, b"\n".join(lines), fix_manifest=True)
        tried["n"] += 1
        problems = check_delivery(d, settings)
        if problems:
            assert_clean(problems, fnrs)

    run()
    with capsys.disabled():
        print(f"\n[fuzz] hostile lines: {tried['n']} files")
    assert tried["n"] >= 350


# --- the manifest ------------------------------------------------------------------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["01110097111", "x" * 500, "\r\n", "\x00"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def test_hostile_manifest_document(template, tmp_path, settings, capsys):
    scratch = Scratch(template, tmp_path)
    base = json.loads(scratch.original[spec.MANIFEST])
    tried = {"n": 0}

    @fuzz(1800)
    @given(
        key=st.sampled_from([*base, "files"]),
        value=json_values,
        file_name=st.sampled_from(
            ["../../etc/passwd", "/etc/passwd", "personer.csv/../x", "sub/tiltak.csv", "x.csv"]
        ),
    )
    @example(key="kind", value="x" * 500, file_name="x.csv")
    @example(key="snapshot_date", value="01110097111", file_name="x.csv")
    def run(key, value, file_name):
        doc = json.loads(json.dumps(base))
        if key == "files" and isinstance(value, dict):
            doc["files"][file_name] = {"rows": 1, "sha256": "0" * 64}
        else:
            doc[key] = value
        if doc.get("snapshot_date") == base["snapshot_date"] and doc.get("kind") == "daily":
            doc["kind"] = "yearly"  # a daily delivery dated the 1st is valid: keep it broken
        if doc == base:
            return
        d = scratch.write(spec.MANIFEST, json.dumps(doc).encode())
        tried["n"] += 1
        problems = check_delivery(d, settings)
        assert_clean(problems)
        assert all(len(str(p)) < 400 for p in problems)

    run()
    with capsys.disabled():
        print(f"\n[fuzz] manifest.json: {tried['n']} hostile documents, all rejected")
    assert tried["n"] >= 1500


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


manifest_bytes = st.one_of(
    st.binary(max_size=64),
    st.integers(1, 200_000).map(_deep),
    st.integers(4300, 6000).map(lambda n: b'{"contract_version": ' + b"9" * n + b"}"),
    st.integers(0, 10).map(lambda n: b'{"a": ' + b'"' + b"x" * (n * 10_000) + b'"}'),
    st.sampled_from([b"NaN", b"Infinity", b'{"rows": -Infinity}', b"\xff\xfe{}", b"\x00"]),
)


def test_hostile_manifest_bytes(template, tmp_path, settings, capsys):
    scratch = Scratch(template, tmp_path)
    tried = {"n": 0}

    @fuzz(1200)
    @given(raw=manifest_bytes)
    # regressions from issue #12: a traceback (exit 1) before
    @example(raw=b'{"contract_version": ' + b"9" * 5000 + b"}")  # 5000-digit integer
    @example(raw=_deep(100_000))  # nested 100 000 deep
    @example(raw=b'{"kind": "' + b"x" * 5_000_000 + b'"}')  # a 5 MB string
    @example(raw=b'{"kind": ' + _deep(50) + b"}")
    def run(raw):
        d = scratch.write(spec.MANIFEST, raw)
        tried["n"] += 1
        problems = check_delivery(d, settings)
        assert_clean(problems)
        assert all(len(str(p)) < 400 for p in problems)

    run()
    with capsys.disabled():
        print(f"\n[fuzz] manifest.json: {tried['n']} hostile byte strings, all rejected")
    assert tried["n"] >= 1000


# --- a fødselsnummer in the wrong column -------------------------------------------------------
def make_fnr(birth: str, ind: int) -> str | None:
    base = f"{birth}{ind:03d}"
    k1 = calc_check_digit1(base)
    number = base + k1 + calc_check_digit2(base + k1)
    return number if len(number) == 11 and fnr_valid(number) else None


valid_fnrs = st.builds(
    make_fnr,
    st.dates(min_value=__import__("datetime").date(1930, 1, 1)).map(lambda d: d.strftime("%d%m%y")),
    st.integers(0, 499),
).filter(lambda x: x is not None)

ALL_COLUMNS = [(f.name, c.name) for f in spec.FILES for c in f.columns]


def _plant(data: bytes, column: str, header: list[str], value: str, row: int = 1) -> bytes:
    lines = data.split(b"\n")
    fields = lines[row].split(b";")
    fields[header.index(column)] = value.encode()
    lines[row] = b";".join(fields)
    return b"\n".join(lines)


def test_planted_fodselsnummer_is_never_shown(template, tmp_path, settings, capsys):
    scratch = Scratch(template, tmp_path)
    tried = {"n": 0}

    @fuzz(60)
    @given(where=st.sampled_from(ALL_COLUMNS), number=valid_fnrs, row=st.integers(1, 2))
    @example(where=("personer.csv", "bosatt_kommune"), number="01110097111", row=2)
    def run(where, number, row):
        name, column = where
        if column == "fodselsnummer":
            return  # its own column: the number is expected there
        fs = spec.FILES_BY_NAME[name]
        d = scratch.write(
            name, _plant(scratch.original[name], column, fs.header, number, row), fix_manifest=True
        )
        tried["n"] += 1
        for p in check_delivery(d, settings):
            assert number not in str(p) and number not in json.dumps(p.as_dict())

    run()
    with capsys.disabled():
        print(f"\n[fuzz] planted fødselsnummer: {tried['n']} deliveries")
    assert tried["n"] >= 50


def test_every_column_of_every_file(template, tmp_path, settings):
    scratch = Scratch(template, tmp_path)
    number = make_fnr("011100", 971) or make_fnr("150185", 123)
    assert number
    for name, column in ALL_COLUMNS:
        fs = spec.FILES_BY_NAME[name]
        d = scratch.write(
            name, _plant(scratch.original[name], column, fs.header, number), fix_manifest=True
        )
        for p in check_delivery(d, settings):
            assert number not in str(p), (name, column, str(p))


# --- structure ---------------------------------------------------------------------------------
def test_path_traversal_in_manifest_is_rejected(template, tmp_path, settings):
    d = Scratch(template, tmp_path).dir
    doc = json.loads((d / "manifest.json").read_text())
    doc["files"]["../../outside.csv"] = {"rows": 0, "sha256": "0" * 64}
    (d / "manifest.json").write_text(json.dumps(doc))
    problems = check_delivery(d, settings)
    assert any("not in the contract" in str(p) for p in problems)


def test_symlinked_file_is_rejected(template, tmp_path, settings):
    d = Scratch(template, tmp_path).dir
    target = tmp_path / "elsewhere.csv"
    shutil.move(d / "vedtak.csv", target)
    (d / "vedtak.csv").symlink_to(target)
    problems = check_delivery(d, settings)
    assert any("symlink" in str(p) for p in problems)


def test_symlinked_manifest_is_rejected(template, tmp_path, settings):
    d = Scratch(template, tmp_path).dir
    target = tmp_path / "elsewhere.json"
    shutil.move(d / "manifest.json", target)
    (d / "manifest.json").symlink_to(target)
    problems = check_delivery(d, settings)
    assert [p.file for p in problems] == ["manifest.json"]
    assert "symlink" in str(problems[0])


def test_oversized_file_and_field_are_rejected(template, tmp_path):
    d = Scratch(template, tmp_path).dir
    s = load_settings(data_dir=tmp_path / "data", max_file_bytes=100)
    assert any("over the limit" in str(p) for p in check_delivery(d, s))
    p = d / "personer.csv"
    p.write_bytes(p.read_bytes().replace(b"SYR", b"S" * 5000, 1))
    refresh_manifest(d)
    problems = check_delivery(d, load_settings(data_dir=tmp_path / "data"))
    assert any("characters long" in str(p) and "landbakgrunn" in str(p) for p in problems)
