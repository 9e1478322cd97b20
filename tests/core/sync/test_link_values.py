"""Link properties carry each membership's own value, through ``hub sync``.

Links with equal properties share one properties dict (millions of links
mostly carry a few roles). 1, 1.0 and True are equal in Python, so sharing by
value gave a link another membership's value: ``true`` where the file held
``1``. The sample's CSV sources, with a link property read from a column whose
cells type as each of those.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from hub.sync import sync

ROOT = Path(__file__).resolve().parents[3]

#: A cell per membership of the sample's first rows, and what the link carries.
CELLS = {"1": "1", "true": "true", "1.0": "1.0", "01": '"01"', "TRUE": "true"}


def test_each_link_carries_its_own_value_of_equal_ones(csv_project: Path) -> None:
    tmp_path = csv_project.parent
    mapping = tmp_path / "mappings" / "crm.toml"
    properties = (
        '[links.properties]\nrole = "relationship.role"\nstage = "relationship.stage"\n'
        'joined_at = "relationship.joined_at"\n'
    )
    text = mapping.read_text()
    assert properties in text
    # The one property: links differ by nothing else.
    mapping.write_text(
        text.replace(properties, '[links.properties]\nprojects = "relationship.projects_created"\n')
    )
    path = tmp_path / "examples" / "sample" / "memberships.csv"
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    column = rows[0].index("projects_created")
    wanted: dict[str, str] = {}
    cells = iter(CELLS.items())
    for row in rows[1:]:
        cell = next(cells, None)
        if cell is None:
            break
        row[column] = cell[0]
        wanted[f"{row[0]}\t{row[1]}"] = cell[1]
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)

    assert all(run.ok for run in sync(tmp_path / "hub.toml"))

    carried: dict[str, str] = {}
    for file in (tmp_path / "outbox" / "crm" / "link").glob("*.jsonl"):
        for line in file.read_text().splitlines():
            item = json.loads(line)
            if item["key"] in wanted:
                carried[item["key"]] = json.dumps(item["payload"]["properties"]["projects"])
    assert carried == wanted
