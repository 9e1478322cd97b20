"""The daemon's config watcher: an edit made while a reload reads the files
is not lost (it counts as a change at the next look)."""

from __future__ import annotations

from pathlib import Path

from daemon_support import make_project

from hub.config.validate import load_project
from hub.config.watch import ConfigWatcher


def test_an_edit_during_a_reload_is_seen_at_the_next_look(tmp_path: Path) -> None:
    config = make_project(tmp_path, "")
    project = load_project(config)
    watcher = ConfigWatcher(config, project)
    mapping = tmp_path / "mappings" / "crm.toml"

    mapping.write_text(mapping.read_text() + "\n# first edit\n")
    assert watcher.changed(project) == [str(mapping.resolve())]
    taken = watcher.seen  # what the daemon keeps before its reload reads the files
    # The reload runs; meanwhile the admin saves the mapping again.
    mapping.write_text(mapping.read_text() + "# second edit, during the reload\n")
    watcher.reset(project, taken)
    assert watcher.changed(project) == [str(mapping.resolve())]
    assert watcher.changed(project) == []


def test_a_reset_without_a_signature_takes_the_files_as_they_are(tmp_path: Path) -> None:
    config = make_project(tmp_path, "")
    project = load_project(config)
    watcher = ConfigWatcher(config, project)
    mapping = tmp_path / "mappings" / "crm.toml"
    mapping.write_text(mapping.read_text() + "\n# an edit\n")
    watcher.reset(project)
    assert watcher.changed(project) == []
