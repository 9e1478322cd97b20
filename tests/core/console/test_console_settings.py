"""``[console]`` is checked by ``hub validate`` like every other setting: the
token is a secret that hub.toml may not hold, and a bad address is located."""

from __future__ import annotations

import shutil
from pathlib import Path

from console_support import ROOT, environment, hub


def _project(tmp_path: Path, extra: str) -> Path:
    for name in ("mappings", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    config = tmp_path / "hub.toml"
    config.write_text((ROOT / "hub.toml").read_text(encoding="utf-8") + extra, encoding="utf-8")
    return config


def test_the_console_token_is_refused_in_hub_toml(tmp_path: Path) -> None:
    config = _project(tmp_path, '\n[console]\ntoken = "s3cr3t-console-token"\n')
    result = hub(config, "validate")
    assert result.returncode == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    line = len(config.read_text(encoding="utf-8").splitlines())
    assert f"hub.toml:{line}:" in output
    assert "'token' is a secret (it signs admins in to the console)" in output
    assert "HUB_CONSOLE__TOKEN" in output
    assert "s3cr3t-console-token" not in output


def test_a_console_token_from_the_environment_is_accepted(tmp_path: Path) -> None:
    config = _project(tmp_path, '\n[console]\nlisten = "127.0.0.1:8499"\n')
    env = {k: v for k, v in environment().items() if not k.startswith("HUB_")}
    env["HUB_CONSOLE__TOKEN"] = "from-the-environment"
    result = hub(config, "validate", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "from-the-environment" not in result.stdout + result.stderr


def test_a_bad_console_address_is_located(tmp_path: Path) -> None:
    config = _project(tmp_path, '\n[console]\nlisten = "8400"\nin_daemon = "sometimes"\n')
    result = hub(config, "validate")
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert "console.listen: expected host:port, e.g. 127.0.0.1:8400" in output
    assert "console.in_daemon" in output
