"""A temporary project syncing the sample data to Intercom (a local fake) with
``mappings/intercom.toml``; the repository's hub.toml stays credential-free."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "examples" / "sample"
MAPPING = ROOT / "mappings" / "intercom.toml"
TOKEN_VARIABLE = "HUB_DESTINATIONS__INTERCOM__SETTINGS__ACCESS_TOKEN"


def write_project(
    directory: Path,
    base_url: str | None = None,
    *,
    mapping: Path = MAPPING,
    mode: str = "upsert",
    requests_per_minute: int | None = None,
) -> Path:
    """``directory/hub.toml``: the sample sources and one ``intercom`` destination."""
    settings = ['region = "us"']
    if base_url is not None:
        settings.append(f'base_url = "{base_url}"')
    if requests_per_minute is not None:
        settings.append(f"requests_per_minute = {requests_per_minute}")
    config = directory / "hub.toml"
    config.write_text(
        f"""
[sources.users]
kind = "csv"
table = "users"
path = "{SAMPLE / "users.csv"}"

[sources.accounts]
kind = "csv"
table = "accounts"
path = "{SAMPLE / "accounts.csv"}"

[sources.memberships]
kind = "csv"
table = "memberships"
path = "{SAMPLE / "memberships.csv"}"

[sources.tracking]
kind = "segment"
path = "{SAMPLE / "events.jsonl"}"

[events]
as_of = 2026-11-01T00:00:00Z

[[events.rollups]]
property = "last_seen_at"
level = "user"
kind = "last_seen"

[state]
url = "sqlite:///{directory / "state.db"}"

[destinations.intercom]
type = "intercom"
mapping = "{mapping}"
mode = "{mode}"

[destinations.intercom.settings]
{chr(10).join(settings)}
"""
    )
    return config
