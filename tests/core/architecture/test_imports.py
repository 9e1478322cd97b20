"""The house in rooms: the core imports one way, the plugin contract is its floor.

Read by grimp (import-linter's graph), every import counts, deferred ones
(inside functions) included:

- no import circle anywhere in ``hub`` or in a first-party plugin;
- :mod:`hub.contract` (what plugins touch) imports nothing else of the hub;
- plugins import the hub through :mod:`hub.contract` only;
- the core's stages, bottom to top (:data:`LAYERS`), never import upward: a
  module imports its own layer or those below. A newcomer finds a stage by
  its layer: configuration, sources and state, resolution and projections,
  validation, planning, execution and playbooks, the sync, the daemon, the CLI.
"""

from __future__ import annotations

import grimp
import pytest

PLUGINS = (
    "hub_outbox",
    "hub_webhook",
    "hub_hubspot",
    "hub_salesforce",
    "hub_intercom",
    "hub_slack",
)

#: Bottom first. A module belongs to the first entry that is it or its package.
LAYERS: tuple[tuple[str, ...], ...] = (
    # the floor: errors, the plugin contract, the data model, TOML positions
    (
        "hub",
        "hub.errors",
        "hub.contract",
        "hub.config.locations",
        "hub.redaction",
        "hub.model",
        "hub.schedules",
    ),
    # references, values and the configuration models
    (
        "hub.references",
        "hub.values",
        "hub.getters",
        "hub.config.settings",
        "hub.config.mapping",
        "hub.quarantine",
        "hub.records",
        "hub.sync.fingerprint",
    ),
    # reading configuration, conditions, state, sources
    ("hub.config", "hub.conditions", "hub.state", "hub.sources"),
    # loading and resolution: the dataset, the relationship graph, the projections,
    # the engine's rule queries
    (
        "hub.sources.loading",
        "hub.sources.frame",
        "hub.projections.resolver",
        "hub.projections",
        "hub.engine",
    ),
    # validation (hands the layers above a way in: ProjectCheck)
    ("hub.config.validate",),
    # planning, playbook files, the JSON schema of the configuration
    ("hub.sync.planner", "hub.playbooks.spec", "hub.config.schema"),
    # the pipeline, execution, running playbooks
    ("hub.sync.pipeline", "hub.sync.executor", "hub.playbooks.engine", "hub.playbooks"),
    # the sync and what reports on it
    ("hub.sync", "hub.reports", "hub.alerts", "hub.observability"),
    # the web console: those reports in a browser
    ("hub.console",),
    ("hub.daemon",),
    ("hub.cli", "hub.__main__"),
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("hub", *PLUGINS)


def _layer(module: str) -> int:
    best, found = -1, None
    for index, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, found = len(name), index
    assert found is not None, f"{module} belongs to no layer: add it to LAYERS"
    return found


def test_no_import_circle(graph: grimp.ImportGraph) -> None:
    circles = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            if graph.find_shortest_chain(importer=imported, imported=importer):
                circles.add(" <-> ".join(sorted((importer, imported))))
    assert not circles, sorted(circles)


def test_the_contract_imports_nothing_else_of_the_hub(graph: grimp.ImportGraph) -> None:
    outside = {
        (importer, imported)
        for importer in graph.modules
        if importer.startswith("hub.contract")
        for imported in graph.find_modules_directly_imported_by(importer)
        if imported.startswith("hub.") and not imported.startswith("hub.contract")
    }
    assert not outside, sorted(outside)


def test_plugins_reach_the_hub_through_the_contract_only(graph: grimp.ImportGraph) -> None:
    reached = {
        (importer, imported)
        for importer in graph.modules
        if importer.split(".")[0] in PLUGINS
        for imported in graph.find_modules_directly_imported_by(importer)
        if imported.split(".")[0] == "hub" and not imported.startswith("hub.contract")
    }
    assert not reached, sorted(reached)


def test_the_core_never_imports_upward(graph: grimp.ImportGraph) -> None:
    upward = sorted(
        f"{importer} (layer {_layer(importer)}) -> {imported} (layer {_layer(imported)})"
        for importer in graph.modules
        if importer.split(".")[0] == "hub"
        for imported in graph.find_modules_directly_imported_by(importer)
        if imported.split(".")[0] == "hub" and _layer(imported) > _layer(importer)
    )
    assert not upward, upward


def test_every_core_module_has_a_layer(graph: grimp.ImportGraph) -> None:
    for module in graph.modules:
        if module.split(".")[0] == "hub":
            _layer(module)
