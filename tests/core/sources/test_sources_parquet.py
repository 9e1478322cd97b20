"""``kind = "parquet"``: a Parquet file of one table, read through DuckDB, with
the checks every source gets; and the sample converted to Parquet syncs to the
same outbox lines as its CSV through ``hub sync``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from hub.config.settings import HubSettings
from hub.errors import ConfigError
from hub.sources.loading import load
from hub.sync import sync

ROOT = Path(__file__).resolve().parents[3]


def _parquet(path: Path, select: str) -> None:
    with duckdb.connect() as connection:
        connection.execute(f"COPY ({select}) TO '{path}' (FORMAT parquet)")


def test_typed_values_arrive_and_bad_rows_are_quarantined_with_their_row(tmp_path: Path) -> None:
    _parquet(
        tmp_path / "users.parquet",
        """SELECT * FROM (VALUES
            ('u1', 'a@x.example', 3, TIMESTAMP '2024-03-12 14:53:55', TRUE, 0.5::DOUBLE),
            ('u2', 'b@x.example', 1, TIMESTAMP '2025-01-06 16:35:53', FALSE, 'NaN'::DOUBLE),
            (NULL, 'c@x.example', 2, NULL, NULL, 1.0::DOUBLE),
            ('u1', 'd@x.example', 4, NULL, NULL, 2.0::DOUBLE)
        ) AS t(user_id, email, seats, signed_up_at, admin, score)""",
    )
    source = {"kind": "parquet", "table": "users", "path": "users.parquet"}
    result = load(HubSettings.model_validate({"sources": {"app": source}}), tmp_path)
    users = result.dataset.users
    assert set(users) == {"u1"}
    u1 = users["u1"].traits
    assert u1["seats"] == 3 and u1["admin"] is True and u1["score"] == 0.5
    assert u1["signed_up_at"].isoformat() == "2024-03-12T14:53:55+00:00"
    reasons = {row.location: row.reason for row in result.quarantine}
    assert set(reasons) == {"users.parquet row 2", "users.parquet row 3", "users.parquet row 4"}
    assert "nan" in reasons["users.parquet row 2"].lower()
    assert result.columns is not None and "seats" in result.columns["users"]


def test_a_file_that_is_not_parquet_is_refused_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "users.parquet").write_text("user_id,email\nu1,a@x.example\n")
    source = {"kind": "parquet", "table": "users", "path": "users.parquet"}
    with pytest.raises(ConfigError) as refused:
        load(HubSettings.model_validate({"sources": {"app": source}}), tmp_path)
    [problem] = refused.value.problems
    assert problem.file == "users.parquet" and "not a readable Parquet file" in problem.message


def test_the_sample_as_parquet_syncs_like_the_csv(tmp_path: Path) -> None:
    """The sample's users, accounts and memberships written as Parquet (their CSV
    read by DuckDB, which types the columns as the CSV source's numbers and
    times come out): the outbox gets the same records, payload for payload."""
    outputs = {}
    for kind in ("csv", "parquet"):
        project = tmp_path / kind
        shutil.copytree(ROOT / "examples", project / "examples")
        shutil.copytree(ROOT / "mappings", project / "mappings")
        config = (ROOT / "hub.toml").read_text()
        if kind == "parquet":
            for table in ("users", "accounts", "memberships"):
                csv = project / "examples" / "sample" / f"{table}.csv"
                target = csv.with_suffix(".parquet")
                _parquet(target, f"SELECT * FROM read_csv('{csv}')")
                before = f'kind = "csv"\ntable = "{table}"\npath = "examples/sample/{table}'
                after = before.replace('"csv"', '"parquet"')
                config = config.replace(f'{before}.csv"', f'{after}.parquet"')
            assert config.count('kind = "parquet"') == 3, "hub.toml's sources changed shape"
        (project / "hub.toml").write_text(config)
        runs = sync(project / "hub.toml", sleep=lambda seconds: None)
        assert all(run.ok for run in runs), [run.message for run in runs]
        lines = []
        for path in sorted((project / "outbox").rglob("*.jsonl")):
            for line in path.read_text().splitlines():
                record = json.loads(line)
                lines.append((path.parent.name, record["key"], json.dumps(record["payload"])))
        outputs[kind] = sorted(lines)
    assert outputs["parquet"] == outputs["csv"]
    assert len(outputs["csv"]) > 100
