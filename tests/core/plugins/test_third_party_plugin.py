"""The tutorial's example plugin, installed like any third-party package, is
discovered through its entry point and passes the conformance kit."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hub.contract.plugins import load_plugins

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "plugin-tutorial"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the example's source copy, the directory it is pip-installed into)."""
    root = tmp_path_factory.mktemp("third-party")
    # A copy: pip builds in the source tree and would leave build/ in the repo.
    source = shutil.copytree(
        EXAMPLE,
        root / "hub-example-plugin",
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    target = root / "site-packages"
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--disable-pip-version-check",
        "--quiet",
        "--target",
        str(target),
        str(source),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, (
        "pip could not build the example plugin offline (setuptools < 70.1 needs the "
        f"'wheel' package in the environment):\n{done.stdout}\n{done.stderr}"
    )
    return source, target


def test_the_installed_plugin_is_discovered_through_its_entry_point(
    installed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, target = installed
    assert "csvdrop" not in load_plugins().destinations  # not before installing
    monkeypatch.syspath_prepend(str(target))
    try:
        plugins = load_plugins()
        csvdrop = plugins.destinations["csvdrop"]
        module = sys.modules["hub_example_plugin"]
    finally:
        sys.modules.pop("hub_example_plugin", None)
    assert plugins.distributions["csvdrop"] == "hub-example-plugin 0.1.0"
    assert Path(module.__file__ or "").is_relative_to(target)  # the installed copy
    assert csvdrop.factory is not None
    assert csvdrop.settings_model.__name__ == "CsvDropSettings"
    assert {"outbox", "webhook", "csvdrop"} <= set(plugins.destinations.types())
    assert plugins.failed == []


def test_the_installed_plugin_passes_its_conformance_tests(installed: tuple[Path, Path]) -> None:
    source, target = installed
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "tests"],
        cwd=source,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed[1]) >= 15, summary
    # csvdrop declares everything the kit checks: nothing is skipped.
    assert "skipped" not in summary and "failed" not in summary, summary
