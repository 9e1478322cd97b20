"""The projections of every shipped mapping, hashed: a change to the engine
must leave them byte for byte the same.

    python tests/bench/outputs.py                     # print the hashes
    python tests/bench/outputs.py --write FILE        # keep them
    python tests/bench/outputs.py --check FILE        # exit 1 unless they match FILE
    python tests/bench/outputs.py --per-record --check FILE   # the same, by the per-record rules

For each mapping in ``mappings/`` (with the destination type it is written for)
and each data set (the repository's sample, as of its fixed time; and a
generated one, ``--users`` of them, seed 42), it resolves the projection
through :func:`hub.sync.pipeline.resolve`, as ``hub preview`` does, and hashes
(SHA-256) the canonical JSON of every record, link and notice, in order. The
hash covers exactly what a destination would be handed.

``tests/bench/outputs.sha256`` holds the hashes of the engine as it is; an
engine change runs ``--check tests/bench/outputs.sha256`` before and after.
``resolve`` projects with the columnar engine (:mod:`hub.engine.project`), as
every command does; ``--per-record`` projects with the per-record rules
instead (``project_destination`` of ``tests/oracle/per_record.py`` on the
enriched graph), so the two are checked against one file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
from engine import EVENTS  # noqa: E402  (a sibling script: the same [events])

#: Each shipped mapping and the destination type it is written for.
MAPPINGS = {
    "crm": "outbox",
    "mailer": "outbox",
    "hubspot": "hubspot",
    "salesforce": "salesforce",
    "intercom": "intercom",
}


def _sources(data: str) -> str:
    if data == "sample":
        text = (ROOT / "hub.toml").read_text()
        return text[: text.index("[events]")]
    return "".join(
        f'[sources.{table}]\nkind = "csv"\ntable = "{table}"\npath = "data/{table}.csv"\n\n'
        for table in ("users", "accounts", "memberships")
    )


def _project(directory: Path, data: str, users: int) -> None:
    shutil.copytree(ROOT / "mappings", directory / "mappings")
    shutil.copytree(ROOT / "examples", directory / "examples")
    if data != "sample":
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "tests" / "bench" / "generate.py"),
                str(users),
                "--seed",
                "42",
                "--out",
                str(directory / "data"),
            ],
            check=True,
            capture_output=True,
        )
    destinations = "".join(
        f'[destinations.{name}]\ntype = "{kind}"\nmapping = "mappings/{name}.toml"\n\n'
        for name, kind in MAPPINGS.items()
    )
    (directory / "hub.toml").write_text(_sources(data) + "\n" + EVENTS + "\n" + destinations)


#: Placeholder credentials: the destinations are resolved, never connected to.
CREDENTIALS = {
    "HUB_DESTINATIONS__HUBSPOT__SETTINGS__TOKEN": "unused",
    "HUB_DESTINATIONS__INTERCOM__SETTINGS__ACCESS_TOKEN": "unused",
    **{
        f"HUB_DESTINATIONS__SALESFORCE__SETTINGS__{name}": "unused"
        for name in ("USERNAME", "PASSWORD", "SECURITY_TOKEN", "CLIENT_ID", "CLIENT_SECRET")
    },
}


def hashes(users: int, per_record: bool = False) -> dict[str, str]:
    """``"mapping data-set" -> "records sha256"`` for every mapping and data set."""
    os.environ.update(CREDENTIALS)
    from hub.conditions import compile_condition

    sys.path.insert(0, str(ROOT / "tests" / "oracle"))
    from per_record import project_destination  # type: ignore[import-not-found]

    from hub.records import link_to_json, notice_to_json, record_to_json
    from hub.sync.pipeline import capabilities_of, resolve

    found: dict[str, str] = {}
    for data in ("sample", f"generated-{users}"):
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            _project(directory, data, users)
            resolution = resolve(directory / "hub.toml", project_destinations=not per_record)
            for name in MAPPINGS:
                if per_record:
                    settings = resolution.project
                    projection = project_destination(
                        name,
                        resolution.graph,
                        settings.mappings[name],
                        capabilities_of(settings, resolution.plugins, name),
                        resolution.as_of,
                        compile_condition,
                    )
                else:
                    projection = resolution.projections[name]
                digest = hashlib.sha256()
                count = 0
                for record in [*projection.accounts, *projection.contacts]:
                    digest.update(json.dumps(record_to_json(record), sort_keys=True).encode())
                    count += 1
                for link in projection.links:
                    digest.update(json.dumps(link_to_json(link), sort_keys=True).encode())
                    count += 1
                for notice in projection.notices:
                    digest.update(json.dumps(notice_to_json(notice), sort_keys=True).encode())
                found[f"{name} {data}"] = f"{count} {digest.hexdigest()}"
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--write", type=Path)
    parser.add_argument("--check", type=Path)
    parser.add_argument(
        "--per-record", action="store_true", help="project with the per-record rules"
    )
    args = parser.parse_args()
    found = hashes(args.users, args.per_record)
    lines = [f"{key} {value}" for key, value in sorted(found.items())]
    for line in lines:
        print(line)
    if args.write is not None:
        args.write.write_text("\n".join(lines) + "\n")
    if args.check is not None:
        kept = set(args.check.read_text().splitlines())
        differ = [line for line in lines if line not in kept]
        if differ or len(kept) != len(lines):
            print(f"differ from {args.check}: {differ or 'another set of outputs'}")
            raise SystemExit(1)
        print(f"all {len(lines)} outputs hash as in {args.check}")


if __name__ == "__main__":
    main()
