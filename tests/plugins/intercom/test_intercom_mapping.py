"""``mappings/intercom.toml``: valid for the intercom type, and synced end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from intercom_fake import TOKEN, IntercomFake
from intercom_project import MAPPING, TOKEN_VARIABLE, write_project

from hub.config.validate import format_problems, validate_project
from hub.contract.plugins import load_plugins
from hub.sync import sync


def _types() -> dict[str, object]:
    return dict(load_plugins().destinations.types())


def test_the_best_practice_mapping_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    problems = validate_project(write_project(tmp_path), _types())  # type: ignore[arg-type]
    assert problems == [], format_problems(problems)


def test_a_missing_token_names_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_VARIABLE, raising=False)
    problems = validate_project(write_project(tmp_path), _types())  # type: ignore[arg-type]
    assert any(TOKEN_VARIABLE in (p.hint or "") for p in problems), format_problems(problems)


def test_link_properties_and_membership_contacts_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    mapping = tmp_path / "intercom.toml"
    mapping.write_text(
        MAPPING.read_text().replace(
            'properties = { role = "relationship.role" }',
            'properties = { role = "relationship.role", stage = "relationship.stage" }',
        )
        + '\n[membership_contacts]\nenabled = true\nfields = { email = "user.email" }\n'
    )
    text = format_problems(
        validate_project(write_project(tmp_path, mapping=mapping), _types())  # type: ignore[arg-type]
    )
    assert "links.carries_properties" in text
    assert "contact.unique_by_email" in text


def test_the_sample_syncs_and_an_unchanged_rerun_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    with IntercomFake() as fake:
        config = write_project(tmp_path, fake.base_url)
        [run] = sync(config)
        assert run.status.value == "succeeded", run.message
        elon = fake.contact_by_external_id("u_elon")
        assert elon is not None and elon["name"] == "Elon Musk"
        assert "Twitter (Owner)" in elon["custom_attributes"]["accounts_summary"]
        twitter = fake.company_by_company_id("acc_twitter")
        assert (
            twitter is not None and "elon@x.example" in twitter["custom_attributes"]["admin_emails"]
        )
        assert twitter["id"] in fake.state.attached[elon["id"]]
        fake.reset_log()
        [again] = sync(config)
        assert again.status.value == "succeeded"
        assert fake.log == []
