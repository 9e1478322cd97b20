"""The outbox destination: files, lines, ids and durability."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import pytest
from hub_outbox import OutboxDestination, OutboxSettings, outbox_id, read_records

from hub.contract.capabilities import Operation, SyncMode
from hub.contract.destination import BatchItem, BatchObject, LinkEnds, Outcome, link_key
from hub.contract.plugins import load_plugins
from hub.contract.testing import make_batch, make_context


def _outbox(tmp_path: Path, directory: str = "outbox/crm") -> OutboxDestination:
    return OutboxDestination(OutboxSettings(directory=Path(directory)), make_context(tmp_path))


def test_each_run_and_object_gets_its_own_file_relative_to_hub_toml(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    outbox.send(
        make_batch(
            BatchObject.ACCOUNT, Operation.UPSERT, [BatchItem("a1", {"name": "Acme"})], run_id=7
        )
    )
    outbox.send(
        make_batch(
            BatchObject.CONTACT, Operation.UPSERT, [BatchItem("u1", {"email": "e@x"})], run_id=7
        )
    )
    outbox.send(make_batch(BatchObject.CONTACT, Operation.DELETE, [BatchItem("u2", {})], run_id=8))
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jsonl"))
    assert files == [
        "outbox/crm/account/run-000007.jsonl",
        "outbox/crm/contact/run-000007.jsonl",
        "outbox/crm/contact/run-000008.jsonl",
    ]
    assert outbox.credential_id == f"outbox:{(tmp_path / 'outbox/crm').resolve()}"


def test_an_absolute_directory_is_used_as_it_is(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    outbox = OutboxDestination(
        OutboxSettings(directory=elsewhere), make_context(tmp_path / "config")
    )
    assert outbox.directory == elsewhere.resolve()


def test_lines_carry_operation_key_id_payload_and_link(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    ends = LinkEnds("u1", "a1", "outbox-c", "outbox-a", primary=True)
    results = outbox.send(
        make_batch(
            BatchObject.LINK,
            Operation.LINK,
            [BatchItem(link_key("u1", "a1"), {"role": "Owner"}, None, ends)],
        )
    )
    [line] = read_records(tmp_path / "outbox/crm/link/run-000001.jsonl")
    assert line == {
        "operation": "link",
        "key": "u1\ta1",
        "destination_id": results[0].destination_id,
        "payload": {"role": "Owner"},
        "link": {
            "contact_key": "u1",
            "account_key": "a1",
            "contact_id": "outbox-c",
            "account_id": "outbox-a",
            "primary": True,
        },
    }


def test_ids_are_the_known_one_or_a_short_hash_of_the_key(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    results = outbox.send(
        make_batch(
            BatchObject.CONTACT,
            Operation.UPSERT,
            [BatchItem("u1", {}), BatchItem("u2", {}, destination_id="crm-42")],
        )
    )
    by_key = {r.key: r for r in results}
    expected = "outbox-" + hashlib.sha256(b"u1").hexdigest()[:16]
    assert by_key["u1"].destination_id == expected == outbox_id("u1")
    assert by_key["u2"].destination_id == "crm-42"
    assert {r.outcome for r in results} == {Outcome.OK}
    # Another instance (another run) gives the same id.
    again = _outbox(tmp_path).send(
        make_batch(BatchObject.CONTACT, Operation.UPSERT, [BatchItem("u1", {})], run_id=2)
    )
    assert again[0].destination_id == expected


def test_a_batch_is_fsynced_before_send_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if Path("/proc/self/fd").exists() else "")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    outbox = _outbox(tmp_path)
    outbox.send(make_batch(BatchObject.ACCOUNT, Operation.UPSERT, [BatchItem("a1", {})]))
    path = tmp_path / "outbox/crm/account/run-000001.jsonl"
    assert len(read_records(path)) == 1  # on disk when send returns
    assert synced, "send did not fsync"
    if synced[0]:
        assert synced[0] == str(path.resolve())
        assert str(path.parent.resolve()) in synced  # the new file's directory entry too
    synced.clear()
    outbox.send(make_batch(BatchObject.ACCOUNT, Operation.UPSERT, [BatchItem("a2", {})]))
    assert len(synced) == 1  # the file exists now: only the file itself


def test_a_payload_that_is_not_json_fails_alone(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    results = outbox.send(
        make_batch(
            BatchObject.CONTACT,
            Operation.UPSERT,
            [BatchItem("good", {"seen": when}), BatchItem("bad", {"blob": object()})],
        )
    )
    by_key = {r.key: r for r in results}
    assert by_key["good"].outcome is Outcome.OK
    assert by_key["bad"].outcome is Outcome.PERMANENT
    assert "not JSON" in (by_key["bad"].reason or "")
    lines = read_records(tmp_path / "outbox/crm/contact/run-000001.jsonl")
    assert [(line["key"], line["payload"]) for line in lines] == [
        ("good", {"seen": "2024-05-01T12:30:00+00:00"})
    ]


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        "\ud800",
        [1.0, float("nan")],
        {"x": {"y": float("inf")}},
        (float("nan"),),
        {"big": 2**70, "n": float("nan")},
        MappingProxyType({"y": float("nan")}),
    ],
    ids=[
        "nan",
        "inf",
        "-inf",
        "surrogate",
        "nan-in-list",
        "inf-nested",
        "nan-tuple",
        "big-nan",
        "nan-in-a-mapping",
    ],
)
def test_lines_are_strict_json_and_a_value_json_lacks_fails_alone(
    tmp_path: Path, value: object
) -> None:
    outbox = _outbox(tmp_path)
    items = [BatchItem("good", {"n": 1.5}), BatchItem("bad", {"n": value})]
    results = {
        r.key: r for r in outbox.send(make_batch(BatchObject.CONTACT, Operation.UPSERT, items))
    }
    assert results["good"].outcome is Outcome.OK
    assert results["bad"].outcome is Outcome.PERMANENT
    raw = (tmp_path / "outbox/crm/contact/run-000001.jsonl").read_bytes()
    raw.decode("utf-8")  # valid UTF-8
    assert b"NaN" not in raw and b"Infinity" not in raw
    assert [json.loads(line)["key"] for line in raw.splitlines()] == ["good"]
    # A later batch still writes: one bad value never breaks the file or later runs.
    outbox.send(make_batch(BatchObject.CONTACT, Operation.UPSERT, [BatchItem("next", {})]))
    assert len(read_records(tmp_path / "outbox/crm/contact/run-000001.jsonl")) == 2


def test_the_registered_type_builds_an_outbox_from_its_settings(tmp_path: Path) -> None:
    outbox_type = load_plugins().destinations["outbox"]
    assert outbox_type.factory is not None
    settings = outbox_type.settings_model.model_validate({"directory": "files"})
    destination = outbox_type.factory(settings, make_context(tmp_path))
    assert isinstance(destination, OutboxDestination)
    assert destination.directory == (tmp_path / "files").resolve()
    capabilities = outbox_type.capabilities
    assert capabilities.batch_sizes == {
        Operation.UPSERT: 500,
        Operation.DELETE: 500,
        Operation.LINK: 1000,
        Operation.UNLINK: 1000,
    }
    assert capabilities.sync_modes == frozenset(SyncMode)
    assert capabilities.rate_limit is None and not capabilities.actions


def _nested(depth: int) -> list[object]:
    value: list[object] = [1]
    for _ in range(depth):
        value = [value]
    return value


def _one_line(tmp_path: Path, payload: dict[str, object]) -> bytes:
    outbox = _outbox(tmp_path)
    outbox.send(make_batch(BatchObject.CONTACT, Operation.UPSERT, [BatchItem("k", payload)]))
    raw = (tmp_path / "outbox/crm/contact/run-000001.jsonl").read_bytes()
    assert raw.count(b"\n") == 1 and raw.endswith(b"\n")
    return raw


def _expected(record: dict[str, object], payload: dict[str, object]) -> dict[str, object]:
    return {
        "operation": "upsert",
        "key": "k",
        "destination_id": record["destination_id"],
        "payload": payload,
        "link": None,
    }


def _compact(value: object) -> bytes:
    text = json.dumps(
        value, ensure_ascii=False, sort_keys=True, allow_nan=False, separators=(",", ":")
    )
    return (text + "\n").encode("utf-8")


def test_a_line_is_compact_json_with_sorted_keys(tmp_path: Path) -> None:
    """orjson writes the lines: the text ``json.dumps`` writes with compact
    separators, sorted keys and UTF-8 (escapes, dates, decimals, sets alike)."""
    payload = {
        "text": 'é \u2028 "quoted" \\ tab\t end \x7f 😀',
        "numbers": [1, 2.5, 1e16, -0.0, 2**63],
        "flags": [True, False, None],
        "nested": {"z": 1, "a": {"when": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}},
        "amount": Decimal("1.10"),
        "roles": {"Owner", "Admin"},
        "day": dt.date(2026, 1, 2),
    }
    raw = _one_line(tmp_path, payload)
    record = json.loads(raw)
    as_json = {
        **payload,
        "nested": {"z": 1, "a": {"when": "2026-01-01T00:00:00+00:00"}},
        "amount": "1.10",
        "roles": ["Admin", "Owner"],
        "day": "2026-01-02",
    }
    assert raw == _compact(_expected(record, as_json))


@pytest.mark.parametrize(
    "payload",
    [{"n": 2**70}, {"n": -(2**64)}, {"deep": _nested(300)}, {"tiny": 1e-7}],
    ids=["beyond-64-bits", "below-64-bits", "past-orjson-depth", "tiny-float"],
)
def test_what_orjson_cannot_write_is_written_all_the_same(
    tmp_path: Path, payload: dict[str, object]
) -> None:
    # Integers past 64 bits take the standard library's encoder: the same
    # compact line, the number exact; a tiny float reads back the same.
    raw = _one_line(tmp_path, payload)
    record = json.loads(raw)
    assert record == _expected(record, payload)
    assert b", " not in raw and b'": ' not in raw
