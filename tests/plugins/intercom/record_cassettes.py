"""Record ``cassettes/intercom/*.yaml`` against the local fake Intercom.

    python tests/plugins/intercom/record_cassettes.py

The fake's address is rewritten to ``https://api.intercom.io`` and the
``Authorization`` header dropped, so the cassettes hold no token and replay
as if recorded from Intercom. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from intercom_fake import TOKEN, IntercomFake, error_list
from intercom_scenarios import CASSETTES, SCENARIOS, builder, make_vcr


def record() -> dict[str, object]:
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1"
    CASSETTES.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, object] = {}
    for name, scenario in SCENARIOS.items():
        path = CASSETTES / f"{name}.yaml"
        path.unlink(missing_ok=True)
        with IntercomFake(search_delay=60 if name == "contact_conflict" else 0) as fake:
            if name == "errors":
                fake.fail("POST", "/companies", 500)
                fake.fail(
                    "POST",
                    "/companies",
                    400,
                    body=error_list("parameter_invalid", "name is too long"),
                )
            with (
                tempfile.TemporaryDirectory() as tmp,
                make_vcr("all", fake.base_url).use_cassette(path.name),
            ):
                outcomes[name] = scenario(builder(fake.base_url, Path(tmp), TOKEN))
        text = path.read_text()
        assert TOKEN not in text and "127.0.0.1" not in text, f"{path} leaks the fake's details"
    return outcomes


if __name__ == "__main__":
    print(json.dumps(record(), indent=2))
