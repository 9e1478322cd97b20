"""From configuration to projections: load, validate, enrich, project.

This is the one place that strings the pure core together with its edges
(files, databases, plugins). The CLI and, later, the sync engine call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hub.config.validate import Project, data_problems, known_attributes, load_project
from hub.contract.capabilities import Capabilities
from hub.contract.plugins import Plugins, load_plugins
from hub.errors import ConfigError, Problem
from hub.model import Dataset
from hub.playbooks.spec import PLAYBOOK_CHECKS
from hub.projections.resolver import Graph, enrich
from hub.quarantine import Quarantine
from hub.records import DestinationProjection
from hub.sources.cache import ColumnsCache
from hub.sources.loading import LoadResult, load


@dataclass(slots=True)
class Resolution:
    """Everything one resolution produced.

    The enriched data set and its graph are computed when first read: a delta
    run (:mod:`hub.sync.delta`) projects from a part of them instead."""

    project: Project
    plugins: Plugins
    loaded: LoadResult
    as_of: datetime
    projections: dict[str, DestinationProjection]
    #: The destinations resolved, in order.
    destinations: list[str]
    _dataset: Dataset | None = None
    _graph: Graph | None = None

    @property
    def dataset(self) -> Dataset:
        """The loaded data set with the ``[events]`` rollups."""
        if self._dataset is None:
            self._dataset = enrich(self.loaded.dataset, self.project.settings.events, self.as_of)
        return self._dataset

    @property
    def graph(self) -> Graph:
        """:attr:`dataset`, indexed for the projections."""
        if self._graph is None:
            self._graph = Graph(self.dataset)
        return self._graph


def resolve_as_of(project: Project, as_of: datetime | None) -> datetime:
    """The time event windows end at: the argument, hub.toml's ``events.as_of``, or now."""
    chosen = as_of or project.settings.events.as_of or datetime.now(UTC)
    return chosen if chosen.tzinfo else chosen.replace(tzinfo=UTC)


def open_project(config_path: Path, plugins: Plugins | None = None) -> tuple[Project, Plugins]:
    """Load and validate hub.toml and its mappings against the installed plugins."""
    plugins = plugins or load_plugins()
    project = load_project(
        config_path, destination_types=plugins.destinations.types(), checks=PLAYBOOK_CHECKS
    )
    return project, plugins


def selected_destinations(
    project: Project, config_path: Path, destinations: list[str] | None
) -> list[str]:
    """``destinations`` (default: every enabled one), each checked to be enabled."""
    names = list(project.mappings)
    if not destinations:
        return names
    unknown = [name for name in destinations if name not in project.mappings]
    if unknown:
        raise ConfigError(
            [
                Problem(
                    f"no enabled destination named {name!r}",
                    file=str(config_path),
                    key="destinations",
                    expected="one of: " + ", ".join(names),
                )
                for name in unknown
            ]
        )
    return list(destinations)


def resolve(
    config_path: Path,
    *,
    as_of: datetime | None = None,
    destinations: list[str] | None = None,
    plugins: Plugins | None = None,
    project: Project | None = None,
    dataset: Dataset | None = None,
    project_destinations: bool = True,
    cache: ColumnsCache | None = None,
) -> Resolution:
    """Load every source and compute every enabled destination's projection.

    :param project: an already loaded and validated project (the daemon keeps
        running the last good one while the files on disk are broken).
    :param dataset: a data set to use instead of reading the sources
        (benchmarks, embedding); it is enriched like a loaded one.
    :param project_destinations: False leaves ``projections`` empty, for
        callers that stream each destination's projection themselves.
    :param cache: CSV files read column-wise in earlier runs (:mod:`hub.sources.cache`).
    """
    if project is None:
        project, plugins = open_project(config_path, plugins)
    plugins = plugins or load_plugins()
    names = selected_destinations(project, config_path, destinations)
    moment = resolve_as_of(project, as_of)
    if dataset is None:
        loaded = load(project.settings, project.base_dir, cache=cache)
        if loaded.columns is not None:
            # A reference to an attribute no source holds would sync null into
            # every record (blanking the destination's field): refuse it now.
            known = known_attributes(loaded.columns, project.settings.events)
            problems = data_problems(project, known)
            if problems:
                raise ConfigError(problems)
    else:
        counts = {
            "users": len(dataset.users),
            "accounts": len(dataset.accounts),
            "memberships": len(dataset.memberships),
            "events": len(dataset.events),
        }
        loaded = LoadResult(dataset, Quarantine(), counts)
    resolution = Resolution(project, plugins, loaded, moment, {}, names)
    if project_destinations:
        from hub.engine.project import project as engine_project

        for name in names:
            resolution.projections[name] = engine_project(
                name,
                loaded.data,
                project.mappings[name],
                capabilities_of(project, plugins, name),
                moment,
                project.settings.events.rollups,
            )
    return resolution


def capabilities_of(project: Project, plugins: Plugins, name: str) -> Capabilities:
    """The declared capabilities of destination ``name``'s type."""
    return plugins.destinations[project.settings.destinations[name].type].capabilities
