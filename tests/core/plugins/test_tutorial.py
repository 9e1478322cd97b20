"""The plugin tutorial (``docs/plugin-tutorial.md``) works as written: its
"Install and run" steps run in a copy of the project, in order, and each
succeeds; the destination it builds then syncs the sample.

The commands are the page's, word for word, with three programs pointed at
this interpreter: ``pip install -e DIR`` installs DIR offline into a private
folder (never into the test environment), ``hub`` is ``python -m hub`` and
``pytest`` is ``python -m pytest``, both seeing that folder."""

from __future__ import annotations

import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TUTORIAL = ROOT / "docs" / "plugin-tutorial.md"


def _steps() -> tuple[list[str], dict[str, str]]:
    """The section's commands (``$ ...`` lines of console blocks) and its TOML
    files (blocks whose first line is ``# <path>``)."""
    text = TUTORIAL.read_text(encoding="utf-8")
    section = text[text.index("### 7. Install and run") :]
    commands: list[str] = []
    files: dict[str, str] = {}
    for kind, body in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S):
        if kind == "console":
            commands += [line[2:].strip() for line in body.splitlines() if line.startswith("$ ")]
        elif kind == "toml":
            first, _, rest = body.partition("\n")
            files[first.removeprefix("#").strip()] = rest
    return commands, files


def _run(command: str, cwd: Path, site: Path) -> subprocess.CompletedProcess[str]:
    words = shlex.split(command)
    if words[:3] == ["pip", "install", "-e"]:
        argv = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation"]
        argv += ["--no-index", "--disable-pip-version-check", "--quiet", "--target", str(site)]
        argv += words[3:]
    elif words[0] in ("hub", "pytest"):
        argv = [sys.executable, "-m", words[0], *words[1:]]
        if words[0] == "pytest":
            argv[3:3] = ["-p", "no:cacheprovider"]
    else:
        raise AssertionError(f"the tutorial runs a command this test does not know: {command}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    env.pop("HUB_CONFIG", None)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_plugin_tutorial_runs_as_written(tmp_path: Path) -> None:
    commands, files = _steps()
    assert commands[:3] == [
        "pip install -e examples/plugin-tutorial",
        "hub plugins",
        "pytest examples/plugin-tutorial/tests",
    ], commands
    assert set(files) == {"mappings/sheets.toml", "hub.toml"}
    project = tmp_path / "checkout"
    for part in ("examples", "mappings"):
        shutil.copytree(
            ROOT / part,
            project / part,
            ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".pytest_cache"),
        )
    shutil.copy(ROOT / "hub.toml", project / "hub.toml")
    (project / "mappings" / "sheets.toml").write_text(files["mappings/sheets.toml"])
    with (project / "hub.toml").open("a") as config:
        config.write("\n" + files["hub.toml"])
    site = tmp_path / "site"
    outputs = {}
    for command in commands:
        done = _run(command, project, site)
        assert done.returncode == 0, f"$ {command}\n{done.stdout}\n{done.stderr}"
        outputs[command] = done.stdout
    assert "csvdrop" in outputs["hub plugins"]
    assert " passed" in outputs["pytest examples/plugin-tutorial/tests"]
    with (project / "drop" / "sheets" / "account.csv").open() as handle:
        accounts = list(csv.DictReader(handle))
    assert {row["key"] for row in accounts} >= {"acc_twitter", "acc_tesla"}
    assert (project / "drop" / "sheets" / "link.csv").exists()
