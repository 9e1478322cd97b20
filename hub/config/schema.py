"""JSON Schemas for ``hub.toml`` and the mapping files (``hub schema``).

Editors complete and check TOML against them: with taplo or VS Code's Even
Better TOML, put ``#:schema ./schemas/mapping.schema.json`` on the first line of a
mapping file, or associate the files in ``.taplo.toml``. The descriptions are
the models' field docstrings, so the schema says what each key is for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from hub.config.mapping import Mapping
from hub.config.settings import HubSettings

DRAFT = "https://json-schema.org/draft/2020-12/schema"

#: File name -> (model, title).
_SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "hub.config.schema.json": (HubSettings, "connector-hub hub.toml"),
    "mapping.schema.json": (Mapping, "connector-hub mapping file"),
}


def _schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    generated = model.model_json_schema(mode="validation")
    # $schema and title first, so the file reads well.
    return {"$schema": DRAFT, **generated, "title": title}


def hub_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``hub.toml``."""
    return _schema(*_SCHEMAS["hub.config.schema.json"])


def mapping_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a mapping file."""
    return _schema(*_SCHEMAS["mapping.schema.json"])


def schemas() -> dict[str, dict[str, Any]]:
    """Every schema, keyed by its file name."""
    return {name: _schema(model, title) for name, (model, title) in _SCHEMAS.items()}


def write_schemas(directory: Path) -> list[Path]:
    """Write ``hub.config.schema.json`` and ``mapping.schema.json`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, schema in schemas().items():
        path = directory / name
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
