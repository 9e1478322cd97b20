"""Watching the configuration files for changes (the daemon reloads on one)."""

from __future__ import annotations

import contextlib
import os
import tomllib
from pathlib import Path

from hub.config import Project

#: A file's identity at one moment: modification time, size, inode (``None``: absent).
Stamp = tuple[int, int, int] | None


def stamp_of(stat: os.stat_result) -> tuple[int, int, int]:
    """The :data:`Stamp` of a file ``stat`` describes."""
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def stamp(path: Path) -> Stamp:
    """``path``'s :data:`Stamp` now."""
    try:
        return stamp_of(path.stat())
    except OSError:
        return None


class ConfigWatcher:
    """hub.toml and every mapping file it names: those of the running
    configuration, and those the file on disk names as far as it can be read
    (a broken hub.toml still has its new mappings watched)."""

    def __init__(self, config_path: Path, project: Project) -> None:
        self.config_path = config_path
        self._seen = self.signature(project)

    def watched(self, project: Project) -> set[Path]:
        """The files to watch for ``project``."""
        paths = {self.config_path}
        for destination in project.settings.destinations.values():
            if destination.mapping is not None:
                paths.add(project.resolve(destination.mapping))
        with contextlib.suppress(Exception):
            data = tomllib.loads(self.config_path.read_text(encoding="utf-8"))
            for destination in (data.get("destinations") or {}).values():
                mapping = destination.get("mapping") if isinstance(destination, dict) else None
                if isinstance(mapping, str):
                    paths.add(project.resolve(Path(mapping)))
        return paths

    def signature(self, project: Project) -> dict[Path, Stamp]:
        """Each watched file's :data:`Stamp`."""
        return {path: stamp(path) for path in sorted(self.watched(project))}

    def changed(self, project: Project) -> list[str]:
        """The files changed since the last look (none the first time round)."""
        signature = self.signature(project)
        if signature == self._seen:
            return []
        changed = sorted(
            str(path)
            for path in set(signature) | set(self._seen)
            if signature.get(path) != self._seen.get(path)
        )
        self._seen = signature
        return changed

    @property
    def seen(self) -> dict[Path, Stamp]:
        """The signature of the last look."""
        return dict(self._seen)

    def reset(self, project: Project, taken: dict[Path, Stamp] | None = None) -> None:
        """Watch what ``project`` names from now on (after a reload).

        ``taken`` is the signature taken *before* the reload read the files:
        a file watched then keeps that stamp, so an edit made while the reload
        ran is still seen as a change. Only a file the new configuration adds
        is stamped now."""
        signature = self.signature(project)
        if taken is not None:
            signature.update({path: s for path, s in taken.items() if path in signature})
        self._seen = signature
