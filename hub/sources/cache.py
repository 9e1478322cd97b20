"""CSV files read column-wise, kept between runs by the digest of their bytes.

A sync hashes every source file before it loads anything
(:class:`hub.sync.inputs.SourceFiles`). Reading a file into columns
(:meth:`~hub.sources.tables.CsvSource.read_columns`) costs far more than
that hash: at a million users, three million memberships take seconds to
split, check and digest. The daemon's common run changes one file (the users)
and leaves the others as they were, so what the column-wise load made of a
file is kept under ``.hub/inputs/columns/``, one entry per file, named by a
digest of:

- the file's bytes (the sync's digest of them, taken before the load);
- how it is read: the source's name, table, label, settings key and
  ``multiline`` flag, the hub's version and :data:`REVISION`.

An entry holds exactly what reading the file gave: its header, each kept
row's line and cells, the rows quarantined with their lines and reasons, and
the row digests it added (:mod:`hub.sources.digests`). The next load of the
same bytes reads the entry instead of the file, and gives the same columns,
quarantine, digests and refusals.

An entry is written only when the file still has the stamp (modification
time, size, inode) it had when it was hashed: the columns then are those of
the hashed bytes. An entry that cannot be read (gone, cut short, of another
format) is removed, and the file read and kept again. Entries of files no source
names any more are removed after each load. An entry takes about the disk
space of its file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from hub import __version__
from hub.config.watch import Stamp, stamp
from hub.sources import one_array
from hub.sources.digests import RowDigests
from hub.sources.tables import CsvColumns, CsvSource

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["REVISION", "ColumnsCache", "KnownFile"]

log = logging.getLogger(__name__)

#: Raise it with any change to how a CSV file is read into columns (a rule of
#: the CSV layer, a reason's wording, the digests): every entry is then stale.
REVISION: Final = 2

_CELLS: Final = "cells.arrow"
_DIGESTS: Final = "digests.arrow"
_META: Final = b"hub.columns"


@dataclass(frozen=True, slots=True)
class KnownFile:
    """A source file as the sync hashed it before the load."""

    digest: str
    stamp: Stamp


class ColumnsCache:
    """The entries of one project's CSV sources (see the module doc).

    ``files``: by source name, each CSV source's file as hashed before the
    load (a source missing from it is read and not kept)."""

    def __init__(self, directory: Path, files: Mapping[str, KnownFile]) -> None:
        self.directory = directory
        self.files = dict(files)
        #: The entries this load read or wrote (the others are removed by :meth:`prune`).
        self.used: set[str] = set()
        self._pending: list[tuple[CsvSource, CsvColumns, RowDigests]] = []

    def _entry(self, source: CsvSource) -> str | None:
        known = self.files.get(source.name)
        if known is None:
            return None
        described = [
            REVISION,
            __version__,
            known.digest,
            source.name,
            source.table.value,
            source.label,
            source.key,
            source.multiline,
        ]
        encoded = json.dumps(described, separators=(",", ":")).encode()
        return hashlib.blake2b(encoded, digest_size=16).hexdigest()

    def read(self, source: CsvSource) -> tuple[CsvColumns, RowDigests] | None:
        """What reading ``source``'s file gave, when an entry for its bytes is
        kept and readable; ``None`` otherwise."""
        entry = self._entry(source)
        if entry is None:
            return None
        path = self.directory / entry
        if not (path / _CELLS).exists():
            return None
        try:
            found = _read(path)
        except Exception as error:  # any damage means: read the file, keep it anew
            log.info("%s: the kept columns of %s cannot be read (%s)", source.label, path, error)
            shutil.rmtree(path, ignore_errors=True)
            return None
        self.used.add(entry)
        return found

    def write(self, source: CsvSource, columns: CsvColumns, digests: RowDigests) -> None:
        """Keep what reading ``source``'s file gave, when :meth:`flush` is
        called (once the load is accepted: a refused one writes nothing)."""
        self._pending.append((source, columns, digests))

    def flush(self) -> None:
        """Write the entries :meth:`write` was given, then :meth:`prune`."""
        pending, self._pending = self._pending, []
        for source, columns, digests in pending:
            self._write(source, columns, digests)
        self.prune()

    def _write(self, source: CsvSource, columns: CsvColumns, digests: RowDigests) -> None:
        """Keep one entry, if the file is still as it was hashed (a failure to
        write is logged, never raised: the entry is a shortcut, not state)."""
        entry = self._entry(source)
        known = self.files.get(source.name)
        if entry is None or known is None or stamp(source.path) != known.stamp:
            return
        path = self.directory / entry
        self.used.add(entry)
        if (path / _CELLS).exists():
            return
        partial = self.directory / f"{entry}.partial-{os.getpid()}"
        try:
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            _write(partial, columns, digests)
            partial.rename(path)
        except Exception as error:  # a full disk, or anything else: the file is parsed next time
            shutil.rmtree(partial, ignore_errors=True)
            log.info("%s: its columns are not kept (%s)", source.label, error)

    def prune(self) -> None:
        """Remove the entries this load neither read nor wrote (files changed
        or gone, earlier revisions), and partial ones left by a crash."""
        try:
            kept = list(self.directory.iterdir())
        except OSError:
            return
        for path in kept:
            if path.name not in self.used:
                shutil.rmtree(path, ignore_errors=True)


def _write(path: Path, columns: CsvColumns, digests: RowDigests) -> None:
    import pyarrow as pa

    meta = json.dumps(
        {"header": columns.header, "rejected": columns.rejected}, separators=(",", ":")
    )
    cells = pa.table(
        {"line": columns.lines, **{f"c{i}": cell for i, cell in enumerate(columns.cells)}}
    ).replace_schema_metadata({_META: meta.encode()})
    _write_table(path / _CELLS, cells)
    _write_table(path / _DIGESTS, digests.rows())


def _write_table(path: Path, table: pa.Table) -> None:
    import pyarrow as pa

    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with path.open("wb") as handle:
        with pa.ipc.new_file(handle, table.schema, options=options) as writer:
            writer.write_table(table)
        handle.flush()
        os.fsync(handle.fileno())


def _read(path: Path) -> tuple[CsvColumns, RowDigests]:
    import pyarrow as pa

    cells = pa.ipc.open_file(pa.memory_map(str(path / _CELLS))).read_all()
    rows = pa.ipc.open_file(pa.memory_map(str(path / _DIGESTS))).read_all()
    meta = json.loads((cells.schema.metadata or {})[_META])
    header = [str(name) for name in meta["header"]]
    if cells.num_columns != len(header) + 1 or cells.schema.field("line").type != pa.int64():
        raise ValueError("the columns do not match the header")
    if any(cells.schema.field(i).type != pa.string() for i in range(1, cells.num_columns)):
        raise ValueError("a column is not text")
    digests = RowDigests()
    digests.extend(rows)
    columns = CsvColumns(
        header,
        one_array(cells.column("line")),
        [one_array(cells.column(f"c{i}")) for i in range(len(header))],
        [(int(line), str(reason)) for line, reason in meta["rejected"]],
    )
    return columns, digests
