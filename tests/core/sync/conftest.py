"""Fixtures shared by the sync tests."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture()
def csv_project(tmp_path: Path) -> Path:
    """A copy of the sample project with its CSV sources alone (no Segment
    events, no SQL), so the load is column-wise: its ``hub.toml``."""
    for name in ("mappings", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    text = (ROOT / "hub.toml").read_text()
    text = re.sub(r"\[sources\.tracking\]\n(.+\n)+\n", "", text)
    text = re.sub(r"# A billing database.*?\"\"\"\n.*?\"\"\"\n", "", text, flags=re.S)
    assert "[sources.tracking]" not in text and "[sources.billing]" not in text
    (tmp_path / "hub.toml").write_text(text)
    return tmp_path / "hub.toml"
