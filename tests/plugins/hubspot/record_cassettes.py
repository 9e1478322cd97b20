"""Record ``cassettes/hubspot/*.yaml`` from the fake HubSpot (there is no
network to record HubSpot itself from). Run from the repository root::

    .venv/bin/python tests/plugins/hubspot/record_cassettes.py

Each scenario of :mod:`scenarios` runs against a fresh fake on 127.0.0.1;
vcrpy records it with the ``Authorization`` header filtered out, and the fake's
address rewritten to ``https://api.hubapi.com`` so the cassettes read like
HubSpot's. ``test_vendor_schemas.py`` checks every recorded body against
HubSpot's published OpenAPI descriptions.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import hubspot_scenarios as scenarios  # noqa: E402
import vcr  # noqa: E402
from fake_hubspot import FakeHubSpot  # noqa: E402
from hubspot_helpers import make_destination  # noqa: E402

CASSETTES = HERE.parents[2] / "cassettes" / "hubspot"
HUBSPOT = "https://api.hubapi.com"


def record(
    name: str, scenario: Callable[[Any], Any], prepare: Callable[[FakeHubSpot], None]
) -> None:
    with FakeHubSpot() as fake, tempfile.TemporaryDirectory() as tmp:
        prepare(fake)

        def rewrite(request: Any) -> Any:
            request.uri = request.uri.replace(fake.url, HUBSPOT)
            return request

        recorder = vcr.VCR(
            record_mode="all",
            filter_headers=["authorization"],
            before_record_request=rewrite,
            decode_compressed_response=True,
        )
        path = CASSETTES / f"{name}.yaml"
        path.unlink(missing_ok=True)
        with recorder.use_cassette(str(path)):
            scenario(make_destination(fake.url, Path(tmp)))
        print(f"recorded {path.relative_to(HERE.parents[2])}")


def _faults(fake: FakeHubSpot) -> None:
    # The first request of the scenario reads properties; each later batch meets its fault.
    fake.fail_next(
        429,
        {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": "c9a8a5b2-6a1e-4d4e-9a57-0d4a3c7e2b10",
            "policyName": "TEN_SECONDLY_ROLLING",
            "category": "RATE_LIMITS",
        },
        headers={},
    )
    fake.fail_next(503)
    fake.fail_next(423)
    fake.fail_next(477)


def main() -> None:
    CASSETTES.mkdir(parents=True, exist_ok=True)
    record("test_sync_replays", scenarios.sync, lambda fake: None)
    record("test_actions_replay", scenarios.actions, lambda fake: None)
    record("test_faults_replay", scenarios.faults, _faults)


if __name__ == "__main__":
    main()
