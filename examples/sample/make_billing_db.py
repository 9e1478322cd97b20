"""Write the sample's billing database, ``billing.db`` (SQLite), read by the
``billing`` source of the root hub.toml through SQLAlchemy.

It holds what a billing system knows: one paid invoice per month for each
paying account. Deterministic: the same rows every time.

    python examples/sample/make_billing_db.py [OUT_DIR]
"""

from __future__ import annotations

import csv
import sqlite3
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Invoices are paid on these days (the sample's as_of is 2026-11-01).
PAID_ON = ("2026-08-03T09:00:00Z", "2026-09-02T09:00:00Z", "2026-10-02T09:00:00Z")
PRICES = {"Enterprise": 4900, "Business": 990, "Pro": 290, "Starter": 49}


def write_billing_db(out_dir: Path) -> Path:
    """(Re)write ``out_dir/billing.db`` from ``accounts.csv`` beside this script."""
    target = out_dir / "billing.db"
    target.unlink(missing_ok=True)
    with (HERE / "accounts.csv").open(newline="", encoding="utf-8") as handle:
        paying = [row for row in csv.DictReader(handle) if row["stage"] == "Customer"]
    db = sqlite3.connect(target)
    try:
        db.execute(
            "CREATE TABLE invoices (id TEXT PRIMARY KEY, account_id TEXT NOT NULL,"
            " amount_cents INTEGER NOT NULL, currency TEXT NOT NULL, paid_at TEXT NOT NULL)"
        )
        rows = [
            (
                f"in_{row['account_id']}_{paid_at[:7]}",
                row["account_id"],
                PRICES.get(row.get("plan", ""), 99) * 100,
                "USD",
                paid_at,
            )
            for row in sorted(paying, key=lambda r: r["account_id"])
            for paid_at in PAID_ON
        ]
        db.executemany("INSERT INTO invoices VALUES (?, ?, ?, ?, ?)", rows)
        db.commit()
    finally:
        db.close()
    return target


if __name__ == "__main__":
    print(write_billing_db(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
