"""Whether a destination's inputs changed since its last complete run.

An unchanged re-sync (the daemon's common case, every few minutes) would
otherwise read every source, project every record and fingerprint it, only
to send nothing. Before anything is loaded, the sync computes a **token** per
destination, a BLAKE2b digest of:

- every source's settings and the bytes of its file (``csv``, ``jsonl``,
  ``parquet``, ``segment``);
- the ``[events]`` settings (the as-of time aside, see below);
- the destination's mapping as validated, its type, mode and capabilities;
- the hub's version and :data:`ENGINE_REVISION`.

After a run that **succeeded**, the store keeps the token with the run
(:class:`~hub.state.InputSnapshot`). The next sync of that destination skips it
(records a run, reads, projects and sends nothing) only when all of these hold:

1. the token is the same;
2. the kept run is the destination's latest run (no other run, manual or
   with another data set, wrote its records since);
3. the store holds no record a run would send whatever the inputs
   (:meth:`~hub.state.StateStore.unsettled`: pending records, which
   ``hub retry`` makes of failed ones, and failed ones whose refused payload
   is unknown);
4. the kept load held no event, or the as-of time is the same: event windows
   end at it, so with events a moving as-of time means projecting again.

Together these say a full plan would find every record unchanged (or failed
and held), so skipping it sends exactly what it would have: nothing. The
files are stat-ed again after the run, and a file that changed meanwhile
keeps no snapshot. A ``sql`` source cannot be known unchanged without running
its queries: with one, every run projects. ``hub sync --full`` projects
whatever the snapshot says.

When only the sources' rows differ (the same :func:`config_token`, conditions
2 and 3 holding), :func:`delta_base` gives the snapshot a **delta run**
compares with (:mod:`hub.sync.delta`); a SQL source's rows, read every run, too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from hub import __version__
from hub.config.settings import SourceKind
from hub.config.validate import Project
from hub.config.watch import Stamp, stamp, stamp_of
from hub.contract.capabilities import Capabilities
from hub.records import jsonable
from hub.state import InputSnapshot, RunStatus, StateStore

__all__ = [
    "ENGINE_REVISION",
    "SourceFiles",
    "carried_plan",
    "config_token",
    "delta_base",
    "skippable",
    "snapshot_for",
    "token",
]

log = logging.getLogger(__name__)

#: Raise it with any change that makes the same inputs project differently
#: (a rule, a template, the fingerprint): every kept snapshot is then stale.
ENGINE_REVISION: Final = 1

#: Source kinds read from one file, whose bytes say whether they changed.
_FILE_KINDS: Final = frozenset(
    {SourceKind.CSV, SourceKind.JSONL, SourceKind.PARQUET, SourceKind.SEGMENT}
)


@dataclass(frozen=True, slots=True)
class SourceFiles:
    """The digest of every source's settings and file, taken before the load."""

    #: The sources' names and settings (a SQL source's URL aside: it may hold a
    #: password, and another database gives other rows, which the digests see).
    settings: str
    #: Each source's file digest, by source name (``None``: a SQL source).
    files: dict[str, str | None]
    #: Each source's kind, by name.
    kinds: dict[str, SourceKind]
    #: Each file source's path and the file's stamp (modification time, size,
    #: inode) when it was hashed, by source name.
    stats: dict[str, tuple[Path, Stamp]]

    @property
    def complete(self) -> bool:
        """True when every source is a file (no SQL): the inputs are known
        unchanged without reading them."""
        return all(digest is not None for digest in self.files.values())

    @classmethod
    def take(cls, project: Project) -> SourceFiles | None:
        """The sources' digests; ``None`` when a file cannot be read (the load
        then says why)."""
        described: dict[str, Any] = {}
        files: dict[str, str | None] = {}
        kinds: dict[str, SourceKind] = {}
        stats: dict[str, tuple[Path, Stamp]] = {}
        for name, settings in sorted(project.settings.sources.items()):
            kinds[name] = settings.kind
            described[name] = jsonable(settings.model_dump(exclude={"url"}))
            if settings.kind not in _FILE_KINDS or settings.path is None:
                files[name] = None
                continue
            path = project.resolve(settings.path)
            try:
                with path.open("rb") as handle:
                    stat = os.fstat(handle.fileno())
                    files[name] = hashlib.file_digest(handle, "blake2b").hexdigest()[:32]
            except OSError:
                return None
            stats[name] = (path, stamp_of(stat))
        return cls(_digest(described), files, kinds, stats)

    def unchanged(self) -> bool:
        """True when every file still has the stamp it had when hashed."""
        return all(stamp(path) == seen for path, seen in self.stats.values())


def _digest(value: Any) -> str:
    encoded = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(encoded, digest_size=32).hexdigest()


def config_token(
    project: Project, name: str, capabilities: Capabilities, sources: SourceFiles
) -> str:
    """Destination ``name``'s inputs but the sources' bytes: their settings, the
    ``[events]`` settings, the mapping, type, mode, capabilities and engine."""
    settings = project.settings.destinations[name]
    events = jsonable(project.settings.events.model_dump())
    events.pop("as_of", None)  # compared on its own: it matters only with events
    return _digest(
        {
            "engine": ENGINE_REVISION,
            "hub": __version__,
            "sources": sources.settings,
            "events": events,
            "mapping": jsonable(project.mappings[name].model_dump()),
            "type": settings.type,
            "mode": settings.mode.value,
            "capabilities": jsonable(capabilities.model_dump()),
        }
    )


def token(config: str, sources: SourceFiles) -> str:
    """Destination ``name``'s input token (see the module doc): its config
    token and every source file's bytes."""
    return _digest({"config": config, "files": sources.files})


def _settled(store: StateStore, name: str, kept: InputSnapshot) -> bool:
    """True when the store holds what ``kept``'s run left, all of it confirmed."""
    latest = store.runs(name, limit=1)
    if not latest or latest[0].run_id != kept.run_id or latest[0].status is not RunStatus.SUCCEEDED:
        return False
    return not store.unsettled(name)


def skippable(store: StateStore, name: str, current: str, as_of: datetime) -> InputSnapshot | None:
    """The snapshot that lets ``name`` skip this run, ``None`` when it must project."""
    kept = store.input_snapshot(name)
    if kept is None or kept.token != current:
        return None
    if kept.events and kept.as_of != as_of:
        return None
    return kept if _settled(store, name, kept) else None


def delta_base(store: StateStore, name: str, config: str) -> InputSnapshot | None:
    """The snapshot a delta run of ``name`` compares with (:mod:`hub.sync.delta`):
    the same settings, mapping and engine, whatever rows changed. ``None``:
    project everything."""
    kept = store.input_snapshot(name)
    if kept is None or kept.digests is None or kept.config != config:
        return None
    return kept if _settled(store, name, kept) else None


def carried_plan(planned: Mapping[str, int]) -> dict[str, int]:
    """What a full plan would count after a run that planned ``planned`` and
    succeeded: what it created, updated or linked is now unchanged; what it
    held back or skipped, it holds back or skips again."""
    carried = {key: 0 for key in planned}
    for key, count in planned.items():
        kind, _, action = key.partition(".")
        if action in ("create", "update", "unchanged", "link"):
            carried[f"{kind}.unchanged"] = carried.get(f"{kind}.unchanged", 0) + count
        elif action == "failed" or (kind == "skipped" and action != "delete_guard"):
            carried[key] = count
    return carried


def snapshot_for(
    run_id: int,
    current: str,
    *,
    config: str,
    sources: SourceFiles,
    digests: str | None,
    events: int,
    as_of: datetime,
    planned: Mapping[str, int],
    quarantined: Mapping[str, int],
) -> InputSnapshot:
    """The snapshot a succeeded run keeps."""
    return InputSnapshot(
        run_id=run_id,
        token=current,
        config=config,
        files=dict(sources.files),
        digests=digests,
        events=events,
        as_of=as_of,
        planned=dict(planned),
        quarantined=dict(quarantined),
    )
