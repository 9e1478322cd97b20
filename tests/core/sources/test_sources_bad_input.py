"""Dirty files: every broken row is quarantined with its line and reason, the
rows around it are read as they are, and nothing raises."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub.config.settings import HubSettings
from hub.sources.loading import LoadResult, load


def _load(tmp_path: Path, files: dict[str, bytes], sources: dict[str, Any]) -> LoadResult:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return load(HubSettings.model_validate({"sources": sources}), tmp_path)


def _users_csv(tmp_path: Path, data: bytes, **extra: Any) -> LoadResult:
    source = {"kind": "csv", "table": "users", "path": "users.csv", **extra}
    return _load(tmp_path, {"users.csv": data}, {"u": source})


def _quarantined(result: LoadResult) -> list[tuple[str, str]]:
    return [(row.location, row.reason) for row in result.quarantine]


def test_a_stray_quote_costs_its_own_line_not_the_rows_after_it(tmp_path: Path) -> None:
    data = (
        b"user_id,email,name\n"
        b'u1,a@x.io,"Ann\n'  # line 2: the quote is never closed
        b"u2,b@x.io,Bob\n"
        b"u3,c@x.io,Cy\n"
    )
    result = _users_csv(tmp_path, data)
    assert list(result.dataset.users) == ["u2", "u3"]
    assert result.dataset.users["u2"].traits == {"name": "Bob"}  # no one else's e-mail inside
    [(location, reason)] = _quarantined(result)
    assert location == "users.csv:2"
    assert "not closed on its line" in reason and "multiline = true" in reason


def test_a_quote_opened_mid_row_does_not_swallow_either(tmp_path: Path) -> None:
    # An even number of quotes, and still an open quoted cell at the end of the line.
    data = b'user_id,email,name\nu1,a@x.io,x"y,"z\nu2,b@x.io,Bob\n'
    result = _users_csv(tmp_path, data)
    assert list(result.dataset.users) == ["u2"]
    assert [loc for loc, _ in _quarantined(result)] == ["users.csv:2"]


def test_multiline_sources_keep_line_breaks_in_quoted_cells(tmp_path: Path) -> None:
    data = b'user_id,bio\nu1,"two\nlines"\nu2,ok\n'
    result = _users_csv(tmp_path, data, multiline=True)
    assert result.dataset.users["u1"].traits == {"bio": "two\nlines"}
    assert list(result.dataset.users) == ["u1", "u2"]
    assert len(result.quarantine) == 0


def test_a_bad_byte_quarantines_its_row_only(tmp_path: Path) -> None:
    data = b"user_id,name\nu1,Ann\nu2,B\xffb\nu3,Cy\n"
    result = _users_csv(tmp_path, data)
    assert list(result.dataset.users) == ["u1", "u3"]
    assert _quarantined(result) == [("users.csv:3", "invalid UTF-8: byte 0xff at column 5")]


def test_an_oversized_cell_quarantines_its_row_only(tmp_path: Path) -> None:
    data = b"user_id,name\nu1,Ann\nu2," + b"x" * (2 * 1024 * 1024) + b"\nu3,Cy\n"
    result = _users_csv(tmp_path, data)
    assert list(result.dataset.users) == ["u1", "u3"]
    [(location, reason)] = _quarantined(result)
    assert location == "users.csv:3"
    assert "longer than" in reason


def test_a_csv_number_too_large_for_a_float_stays_text(tmp_path: Path) -> None:
    result = _users_csv(tmp_path, b"user_id,score\nu1,1e999\nu2,2e3\n")
    assert result.dataset.users["u1"].traits == {"score": "1e999"}
    assert result.dataset.users["u2"].traits == {"score": 2000.0}


_BAD_JSON_ROWS = {
    "lone surrogate": '{"user_id": "u9", "name": "\\ud800"}',
    "lone surrogate key": '{"user_id": "u9", "\\udfff": 1}',
    "NaN": '{"user_id": "u9", "score": NaN}',
    "Infinity": '{"user_id": "u9", "score": -Infinity}',
    "1e999": '{"user_id": "u9", "score": 1e999}',
    "huge integer": '{"user_id": "u9", "n": ' + "9" * 5000 + "}",
    "deep nesting": '{"user_id": "u9", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "nesting past the limit": '{"user_id": "u9", "x": ' + "[" * 40 + "]" * 40 + "}",
}


@pytest.mark.parametrize("kind", ["jsonl", "segment"])
@pytest.mark.parametrize("case", sorted(_BAD_JSON_ROWS))
def test_json_rows_json_cannot_carry_are_quarantined(tmp_path: Path, kind: str, case: str) -> None:
    bad = _BAD_JSON_ROWS[case]
    if kind == "segment":
        call = '{"type": "identify", "userId": "%s", "timestamp": "2026-01-01", "traits": %s}'
        bad = call % ("u9", bad)
        good = call % ("u1", "{}")
        source = {"kind": "segment", "path": "rows.jsonl"}
    else:
        good = '{"user_id": "u1", "name": "Ann \\ud83d\\ude00"}'  # a surrogate *pair* is fine
        source = {"kind": "jsonl", "table": "users", "path": "rows.jsonl"}
    data = (good + "\n" + bad + "\n" + good.replace("u1", "u2") + "\n").encode()
    result = _load(tmp_path, {"rows.jsonl": data}, {"s": source})
    assert sorted(result.dataset.users) == ["u1", "u2"]
    [(location, reason)] = _quarantined(result)
    assert location == "rows.jsonl:2"
    assert reason  # a reason a person can read, checked per class below
    for user in result.dataset.users.values():
        json.dumps(dict(user.traits), allow_nan=False).encode("utf-8")  # strict JSON, encodable


def test_json_reasons_say_what_is_wrong(tmp_path: Path) -> None:
    lines = [_BAD_JSON_ROWS[c] for c in ("NaN", "1e999", "huge integer", "deep nesting")]
    lines.append('{"user_id": "u9", "name": "\\ud800"}')
    data = "\n".join(lines).encode() + b"\n" + b'{"user_id": "u8", "n": "\xff"}\n'
    source = {"kind": "jsonl", "table": "users", "path": "rows.jsonl"}
    result = _load(tmp_path, {"rows.jsonl": data}, {"s": source})
    reasons = [reason for _, reason in _quarantined(result)]
    assert reasons[0] == "NaN is not JSON (a number must be finite)"
    assert reasons[1].startswith("number 1e999 is out of range")
    assert reasons[2] == "an integer of 5000 digits (at most 100)"
    assert reasons[3] == "nested more than 32 levels deep"
    assert "lone UTF-16 surrogate" in reasons[4]
    assert reasons[5] == "invalid UTF-8: byte 0xff at column 25"
    assert result.dataset.users == {}
