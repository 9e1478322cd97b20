"""The columnar load (:mod:`hub.sources.frame`) held to the row-by-row load.

Both read the same dirty CSV files (stray and unclosed quotes, blank lines,
bytes that are not UTF-8, carriage returns, short and long rows, duplicate
ids across files, unknown users and accounts, bad e-mails and timestamps, a
byte order mark, CRLF endings, no final newline); they must give the same
data set (the same orders, the same traits in the same order), the same
quarantine (rows, reasons, locations, order), the same counts, columns and
entity digests, or the same configuration error.

The files are read in blocks of a few bytes as well as whole, so that plain
blocks (read by Arrow) and dirty ones (read line by line) alternate.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hub.sources.tables as csv_tables
from hub.config.settings import HubSettings
from hub.config.watch import stamp
from hub.errors import ConfigError
from hub.sources.cache import ColumnsCache, KnownFile
from hub.sources.loading import LoadResult, load

_CELL = st.one_of(
    st.sampled_from(["", "x", "Ann", "42", "007", "3.5", "TRUE", "1e999", "é", "a b"]),
    st.text(alphabet='ab,"\r é\x00', max_size=4),
)
_IDS = {
    "user_id": st.sampled_from(["", "u1", "u2", "u3", "u4", "u9"]),
    "account_id": st.sampled_from(["", "a1", "a2", "a3", "a9"]),
    "email": st.sampled_from(["", "ann@x.io", "bob@", "c d@x.io", "z@y.co", "\u00a0@x.io"]),
    "role": st.sampled_from(["", "admin", "member"]),
    "event": st.sampled_from(["", "Login", "Invoice Paid"]),
    "timestamp": st.sampled_from(
        ["", "2026-10-01T00:00:00Z", "2026-10-01", "2026-10-02T01:00:00+02:00", "soon"]
    ),
}
_HEADERS = {
    "users": ["user_id", "email", "name", "age"],
    "accounts": ["account_id", "name", "domain", "stage", "plan"],
    "memberships": ["user_id", "account_id", "role", "stage", "score"],
    "events": ["event", "timestamp", "user_id", "account_id", "n"],
}


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\r\n') else cell


@st.composite
def _file(draw: st.DrawFn, table: str) -> bytes:
    """A CSV file of ``table``: a header, then rows, some of them broken."""
    header = _HEADERS[table]
    lines: list[bytes] = [",".join(header).encode()]
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["row"] * 6 + ["blank", "dirt", "short", "long", "bytes"]))
        cells = [draw(_IDS[name]) if name in _IDS else draw(_CELL) for name in header]
        if kind == "blank":
            lines.append(b"")
            continue
        if kind == "short":
            cells = cells[: draw(st.integers(1, len(cells) - 1))]
        elif kind == "long":
            cells.append(draw(_CELL))
        quote = draw(st.booleans())
        text = ",".join(_quoted(c) if quote else c for c in cells)
        if kind == "dirt":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.sampled_from(['"', "\r", '"\n"', '\n"x'])) + text[at:]
        raw = text.encode("utf-8", "surrogatepass")
        if kind == "bytes":
            raw += b"\xff\xfe"
        lines.append(raw)
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    data = ending.join(lines)
    if draw(st.booleans()):
        data += ending
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data


@st.composite
def _project(draw: st.DrawFn) -> tuple[dict[str, bytes], dict[str, Any]]:
    files: dict[str, bytes] = {}
    sources: dict[str, Any] = {}
    # Two user files, named so that hub.toml's order is not the names' order.
    for name, table in [
        ("zusers", "users"),
        ("ausers", "users"),
        ("accounts", "accounts"),
        ("memberships", "memberships"),
        ("events", "events"),
    ]:
        if name == "events" and not draw(st.booleans()):
            continue
        files[f"{name}.csv"] = draw(_file(table))
        sources[name] = {
            "kind": "csv",
            "table": table,
            "path": f"{name}.csv",
            "multiline": draw(st.booleans()),
        }
    return files, sources


def _outcome(result: LoadResult) -> dict[str, Any]:
    dataset = result.dataset
    return {
        "users": [(u, list(u.traits.items())) for u in dataset.users.values()],
        "user_keys": list(dataset.users),
        "accounts": [(a, list(a.traits.items())) for a in dataset.accounts.values()],
        "memberships": [(m, list(m.properties.items())) for m in dataset.memberships.values()],
        "membership_keys": list(dataset.memberships),
        "events": [(e, list(e.properties.items())) for e in dataset.events],
        "quarantine": list(result.quarantine.rows),
        "counts": result.counts,
        "columns": result.columns,
        "digests": result.digests,
    }


def _both(tmp_path: Path, files: dict[str, bytes], sources: dict[str, Any]) -> tuple[Any, Any]:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    settings_ = HubSettings.model_validate({"sources": sources})
    outcomes = []
    for columnar in (False, True):
        try:
            result = load(settings_, tmp_path, columnar=columnar)
        except ConfigError as error:
            outcomes.append(("refused", [str(p) for p in error.problems]))
            continue
        assert (result.frame is not None) is columnar
        outcomes.append(_outcome(result))
    return outcomes[0], outcomes[1]


@pytest.mark.parametrize("block", [7, 64, csv_tables.BLOCK])
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(project=_project())
def test_the_columnar_load_is_the_row_by_row_load(
    tmp_path: Path, block: int, project: tuple[dict[str, bytes], dict[str, Any]]
) -> None:
    files, sources = project
    with mock.patch.object(csv_tables, "BLOCK", block):
        rows, columns = _both(tmp_path, files, sources)
    assert columns == rows


def test_repeated_ids_and_pairs_are_quarantined_as_row_by_row(tmp_path: Path) -> None:
    """Duplicates the random projects seldom draw: a user in both user files,
    an account twice, a membership twice and one three times (among rows that
    are refused for other reasons), each refused with the line it repeats."""
    files = {
        "zusers.csv": b"user_id,email\nu1,a@x.io\nu2,b@x.io\n",
        "ausers.csv": b"user_id,email\nu2,c@x.io\nu3,\n",
        "accounts.csv": b"account_id,name\na1,A\na2,B\na1,C\n",
        "memberships.csv": (
            b"user_id,account_id,role\nu1,a1,admin\nu1,a1,member\nu2,a1,x\n"
            b"u9,a1,x\nu2,a1,y\nu1,a2,z\nu2,a1,\nu2,a1,w\nu3,a2,v\n"
        ),
    }
    sources = {
        name: {"kind": "csv", "table": table, "path": f"{name}.csv"}
        for name, table in [
            ("zusers", "users"),
            ("ausers", "users"),
            ("accounts", "accounts"),
            ("memberships", "memberships"),
        ]
    }
    rows, columns = _both(tmp_path, files, sources)
    assert columns == rows
    reasons = [row.reason for row in rows["quarantine"]]
    assert sum("duplicate membership u2/a1" in reason for reason in reasons) == 2
    assert sum("duplicate membership u1/a1" in reason for reason in reasons) == 1
    assert any("duplicate user_id u2" in reason for reason in reasons)
    assert any("duplicate account_id a1" in reason for reason in reasons)


def _cache(tmp_path: Path, sources: dict[str, Any]) -> ColumnsCache:
    """The files' entries, keyed as the sync keys them (any digest of the bytes)."""
    known = {}
    for name, source in sources.items():
        path = tmp_path / source["path"]
        digest = hashlib.blake2b(path.read_bytes()).hexdigest()[:32]
        seen = stamp(path)
        assert seen is not None
        known[name] = KnownFile(digest, seen)
    return ColumnsCache(tmp_path / "columns", known)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(project=_project())
def test_a_file_kept_read_loads_as_the_file_does(
    tmp_path: Path, project: tuple[dict[str, bytes], dict[str, Any]]
) -> None:
    """A load that keeps the files it reads (hub.sources.cache), then one that
    reads them from what it kept, give what a load of the files gives: the
    same data set, quarantine, counts, columns, digests or refusal. The second
    reads no file."""
    files, sources = project
    tmp_path = Path(tempfile.mkdtemp(dir=tmp_path))  # one per example
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    settings_ = HubSettings.model_validate({"sources": sources})
    outcomes: list[Any] = []
    reads: list[int] = []
    real = csv_tables.CsvSource.read_columns
    for cache in (None, _cache(tmp_path, sources), _cache(tmp_path, sources)):
        calls: list[str] = []

        def spy(self: csv_tables.CsvSource, *args: Any, calls: list[str] = calls) -> Any:
            calls.append(self.name)
            return real(self, *args)

        with mock.patch.object(csv_tables.CsvSource, "read_columns", spy):
            try:
                outcomes.append(_outcome(load(settings_, tmp_path, cache=cache)))
            except ConfigError as error:
                outcomes.append(("refused", [str(p) for p in error.problems]))
            else:
                if cache is not None:
                    cache.flush()  # as hub sync does, once the load is accepted
        reads.append(len(calls))
    assert outcomes[1] == outcomes[0]
    assert outcomes[2] == outcomes[0]
    if isinstance(outcomes[0], dict):  # loaded, not refused
        assert reads == [len(sources), len(sources), 0]
        assert len(list((tmp_path / "columns").iterdir())) == len(sources)


def test_a_csv_project_loads_column_wise_and_builds_its_data_set_on_demand(
    tmp_path: Path,
) -> None:
    files = {
        "users.csv": b"user_id,email,plan\nu1,a@b.io,pro\nu1,dup@b.io,\nu2,bad@,x\n",
        "accounts.csv": b"account_id,name\na1,Acme\n",
        "memberships.csv": b"user_id,account_id,role\nu1,a1,admin\nu1,a9,admin\n",
    }
    sources = {
        name: {"kind": "csv", "table": name, "path": f"{name}.csv"}
        for name in ("users", "accounts", "memberships")
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    result = load(HubSettings.model_validate({"sources": sources}), tmp_path)
    assert result.frame is not None
    assert result.counts == {"users": 1, "accounts": 1, "memberships": 1, "events": 0}
    assert [(row.location, row.reason) for row in result.quarantine] == [
        ("users.csv:3", "duplicate user_id u1, first seen at users.csv:2"),
        ("users.csv:4", "malformed email 'bad@'"),
        ("memberships.csv:3", "unknown account a9"),
    ]
    assert result.dataset.users["u1"].traits == {"plan": "pro"}
