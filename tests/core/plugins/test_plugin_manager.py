"""The plugin manager: entry points, broken plugins, the hook surface."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from hub.contract import hookspecs
from hub.contract.capabilities import Capabilities, ObjectCapability, ObjectKind
from hub.contract.hookspecs import hookimpl
from hub.contract.plugins import DestinationRegistry, DestinationType, PluginError, load_plugins


def _fake_distribution(root: Path, name: str, entry_points: str) -> None:
    """A minimal installed distribution on ``root``, found by importlib.metadata."""
    info = root / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_first_party_outbox_is_found_through_its_entry_point() -> None:
    plugins = load_plugins()
    assert "outbox" in plugins.destinations
    assert plugins.distributions["outbox"].startswith("connector-hub ")
    outbox = plugins.destinations["outbox"]
    assert ObjectKind.CONTACT in outbox.capabilities.objects
    assert outbox.capabilities.links is not None


def test_a_plugin_that_fails_to_import_is_reported_and_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(tmp_path, "broken_plugin", "[hub]\nbroken = no_such_module_for_hub\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("HUB_STRICT_PLUGINS", raising=False)
    plugins = load_plugins()
    assert [f.name for f in plugins.failed] == ["broken"]
    assert "no_such_module_for_hub" in plugins.failed[0].error
    assert "outbox" in plugins.destinations  # the rest still loads


def test_strict_mode_makes_a_broken_plugin_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(tmp_path, "broken_plugin", "[hub]\nbroken = no_such_module_for_hub\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("HUB_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="broken"):
        load_plugins()


def test_a_third_party_plugin_on_the_path_registers_its_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "acme_dest.py").write_text(
        "from hub.contract.hookspecs import hookimpl\n"
        "from hub.contract.plugins import DestinationType\n"
        "from hub.contract.capabilities import Capabilities, ObjectCapability, ObjectKind\n"
        "@hookimpl\n"
        "def hub_register_destinations(registry):\n"
        "    registry.add(DestinationType(name='acme', capabilities=Capabilities(\n"
        "        objects={ObjectKind.CONTACT: ObjectCapability(name='people')})))\n"
    )
    _fake_distribution(tmp_path, "acme_dest", "[hub]\nacme = acme_dest\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = load_plugins()
    assert plugins.destinations["acme"].capabilities.objects[ObjectKind.CONTACT].name == "people"
    assert plugins.distributions["acme"] == "acme_dest 0.1"


def test_registering_the_same_destination_type_twice_is_an_error() -> None:
    class Twice:
        @hookimpl
        def hub_register_destinations(self, registry: DestinationRegistry) -> None:
            registry.add(
                DestinationType(
                    name="outbox",
                    capabilities=Capabilities(
                        objects={ObjectKind.CONTACT: ObjectCapability(name="c")}
                    ),
                )
            )

    # The later plugin is reported and skipped; the first keeps its type.
    plugins = load_plugins(extra=[Twice()])
    [failed] = plugins.failed
    assert "registered twice" in failed.error
    assert plugins.destinations["outbox"].description != ""  # the real outbox
    with (
        pytest.raises(PluginError, match="registered twice"),
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("HUB_STRICT_PLUGINS", "1")
        load_plugins(extra=[Twice()])


def test_a_plugin_whose_hook_raises_is_reported_and_the_rest_load() -> None:
    class Broken:
        @hookimpl
        def hub_register_destinations(self, registry: DestinationRegistry) -> None:
            registry.add(
                DestinationType(
                    name="half",
                    capabilities=Capabilities(
                        objects={ObjectKind.CONTACT: ObjectCapability(name="c")}
                    ),
                )
            )
            raise RuntimeError("boom")

    plugins = load_plugins(extra=[Broken()])
    assert [f.error for f in plugins.failed] == ["boom"]
    assert "half" not in plugins.destinations  # what it registered is dropped
    assert {"outbox", "webhook", "hubspot"} <= set(plugins.destinations.types())


def test_disabled_plugins_are_not_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DISABLED_PLUGINS", "slack, intercom")
    plugins = load_plugins()
    names = set(plugins.destinations.types())
    assert "slack" not in names and "intercom" not in names
    assert {"outbox", "hubspot", "salesforce"} <= names
    assert plugins.failed == []


def test_an_implementation_of_an_unknown_hook_is_refused() -> None:
    class Misspelled:
        @hookimpl
        def hub_register_destination(self, registry: DestinationRegistry) -> None:
            """Misspelled: singular."""

    with pytest.raises(Exception, match="unknown hook"):
        load_plugins(extra=[Misspelled()])


def test_every_hookspec_is_typed_and_documented_with_its_parameters() -> None:
    specs = [
        (name, fn)
        for name, fn in vars(hookspecs).items()
        if name.startswith("hub_") and callable(fn)
    ]
    assert specs, "no hook specifications found"
    for name, fn in specs:
        doc = inspect.getdoc(fn) or ""
        signature = inspect.signature(fn)
        for parameter in signature.parameters:
            assert f":param {parameter}:" in doc, f"{name} does not document {parameter}"
            assert signature.parameters[parameter].annotation is not inspect.Parameter.empty
        assert signature.return_annotation is not inspect.Signature.empty


def test_a_plugin_without_its_extra_says_which_and_the_rest_load() -> None:
    """In a fresh interpreter where simple-salesforce cannot be imported (the
    [salesforce] extra not installed), the salesforce plugin is skipped, saying
    which extra to install; every other plugin loads."""
    import subprocess
    import sys

    script = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "simple_salesforce":
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, Block())
import importlib.util
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "simple_salesforce" else real(name, *a)
from hub.contract.plugins import load_plugins
plugins = load_plugins()
print(sorted(plugins.destinations.types()))
print([(f.name, f.error) for f in plugins.failed])
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    types, failed = done.stdout.strip().splitlines()
    assert "salesforce" not in types and "hubspot" in types and "intercom" in types
    assert "pip install 'connector-hub[salesforce]'" in failed
