"""The conformance kit itself: it passes a correct destination and fails broken ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.contract.destination import DestinationContext
from hub.contract.testing import RecordingBudget

pytest_plugins = ["pytester"]

# A small in-memory destination; each test class breaks it in one way.
DESTINATIONS = """
from __future__ import annotations

import hashlib
from pathlib import Path

from hub.contract.capabilities import (
    Action, Capabilities, LinkCapability, ObjectCapability, ObjectKind, Operation, SyncMode,
)
from hub.contract.destination import BatchObject, FatalDestinationError, Outcome, RecordResult
from hub.contract.testing import DestinationConformance, make_batch
from hub.contract.destination import BatchItem

FULL = Capabilities(
    objects={
        ObjectKind.ACCOUNT: ObjectCapability(name="accounts"),
        ObjectKind.CONTACT: ObjectCapability(name="contacts"),
    },
    links=LinkCapability(carries_properties=True, primary=True),
    batch_sizes={op: 20 for op in Operation},
    sync_modes=frozenset(SyncMode),
)
CONTACTS_ONLY = Capabilities(
    objects={ObjectKind.CONTACT: ObjectCapability(name="people")},
    batch_sizes={Operation.UPSERT: 10},
)


class Memory:
    capabilities = FULL
    credential_id = "memory"

    def __init__(self) -> None:
        self.held: dict[tuple[str, str], dict] = {}
        self.sends = 0

    def id_for(self, key: str) -> str:
        return "m-" + hashlib.sha256(key.encode()).hexdigest()[:8]

    def send(self, batch):
        self.sends += 1
        results = []
        for item in batch.items:
            where = (batch.object.value, item.key)
            if item.key.startswith("fail-"):
                results.append(RecordResult.retryable(item.key, "busy", 1.0))
                continue
            if batch.operation in (Operation.DELETE, Operation.UNLINK):
                self.held.pop(where, None)
            else:
                self.held[where] = dict(item.payload)
            results.append(RecordResult.ok(item.key, self.id_for(item.key)))
        return results

    def close(self) -> None:
        pass


class OneTooFew(Memory):
    def send(self, batch):
        return super().send(batch)[:-1]


class NewIdEachTime(Memory):
    def id_for(self, key: str) -> str:
        return f"m-{key}-{self.sends}"


class LinksWithoutObjects(Memory):
    capabilities = CONTACTS_ONLY.model_copy(update={"batch_sizes": {Operation.LINK: 5}})


class ContactsOnly(Memory):
    capabilities = CONTACTS_ONLY


class TagsWithoutPerform(Memory):
    # Declares tagging but has no perform(): every playbook tag would be refused.
    capabilities = FULL.model_copy(update={"actions": frozenset({Action.TAG})})


class TagsPerformed(TagsWithoutPerform):
    def perform(self, requests):
        return [RecordResult.ok(request.key, "tagged") for request in requests]


class Base(DestinationConformance):
    destination_class = Memory

    def make_destination(self, tmp_path: Path):
        return self.destination_class()

    def read_back(self, destination, object, key):
        return destination.held.get((object.value, key))

    def failure_cases(self):
        batch = make_batch(
            BatchObject.CONTACT, Operation.UPSERT, [BatchItem("fail-1", {}), BatchItem("ok", {})]
        )
        yield batch, {"fail-1": Outcome.RETRYABLE, "ok": Outcome.OK}


class TestCorrect(Base):
    pass


class TestOneTooFew(Base):
    destination_class = OneTooFew


class TestNewIdEachTime(Base):
    destination_class = NewIdEachTime


class TestLinksWithoutObjects(Base):
    destination_class = LinksWithoutObjects


class TestContactsOnly(Base):
    destination_class = ContactsOnly


class TestTagsWithoutPerform(Base):
    destination_class = TagsWithoutPerform


class TestTagsPerformed(Base):
    destination_class = TagsPerformed


class TestMisclassified(Base):
    def failure_cases(self):
        batch = make_batch(BatchObject.CONTACT, Operation.UPSERT, [BatchItem("fail-1", {})])
        yield batch, Outcome.PERMANENT
        yield batch, FatalDestinationError
"""


def _run(pytester: pytest.Pytester, cls: str) -> tuple[dict[str, str], str]:
    """Run the kit for one test class: each test's outcome by name, and the output."""
    pytester.makepyfile(test_kit=DESTINATIONS)
    result = pytester.runpytest("-v", "-rs", "-p", "no:cacheprovider", f"test_kit.py::{cls}")
    outcomes: dict[str, str] = {}
    for line in result.stdout.lines:
        match = re.match(rf"test_kit\.py::{cls}::(\S+) (PASSED|FAILED|SKIPPED|ERROR)", line)
        if match:
            outcomes[match[1]] = match[2]
    assert outcomes, result.stdout.str()
    return outcomes, result.stdout.str()


def test_a_correct_destination_passes_every_check(pytester: pytest.Pytester) -> None:
    correct, _ = _run(pytester, "TestCorrect")
    assert set(correct.values()) <= {"PASSED", "SKIPPED"}
    assert correct["test_failures_are_classified"] == "PASSED"
    assert correct["test_link_a_full_batch_twice_is_idempotent"] == "PASSED"
    assert correct["test_delete_removes_and_a_repeated_delete_is_not_an_error[contact]"] == (
        "PASSED"
    )
    # Only the entry-point check is skipped: the class names no destination type.
    assert [k for k, v in correct.items() if v == "SKIPPED"] == [
        "test_type_is_discovered_and_never_widened"
    ]


def test_one_result_too_few_fails_the_kit(pytester: pytest.Pytester) -> None:
    broken, text = _run(pytester, "TestOneTooFew")
    assert broken["test_send_answers_each_item_of_a_full_batch[account]"] == "FAILED"
    assert broken["test_send_answers_each_item_of_a_full_batch[contact]"] == "FAILED"
    assert broken["test_results_are_typed"] == "FAILED"
    assert "exactly one result per item: 19 results for 20 items" in text


def test_new_ids_on_a_resend_fail_the_idempotency_check(pytester: pytest.Pytester) -> None:
    broken, text = _run(pytester, "TestNewIdEachTime")
    assert broken["test_sending_the_same_batch_twice_is_idempotent[contact]"] == "FAILED"
    assert broken["test_link_a_full_batch_twice_is_idempotent"] == "FAILED"
    assert broken["test_send_answers_each_item_of_a_full_batch[contact]"] == "PASSED"
    assert "re-sending a batch gave records different destination ids" in text


def test_an_inconsistent_declaration_fails(pytester: pytest.Pytester) -> None:
    broken, text = _run(pytester, "TestLinksWithoutObjects")
    assert broken["test_capabilities_validate_and_are_consistent"] == "FAILED"
    assert "batch_sizes.link declared without links" in text


def test_what_the_capabilities_lack_is_skipped_by_name(pytester: pytest.Pytester) -> None:
    contacts_only, text = _run(pytester, "TestContactsOnly")
    assert contacts_only["test_capabilities_validate_and_are_consistent"] == "PASSED"
    assert contacts_only["test_link_a_full_batch_twice_is_idempotent"] == "SKIPPED"
    assert contacts_only["test_send_answers_each_item_of_a_full_batch[account]"] == "SKIPPED"
    assert contacts_only["test_send_answers_each_item_of_a_full_batch[contact]"] == "PASSED"
    for capability in ("links", "sync_modes.mirror", "objects.account"):
        assert f"destination lacks capability {capability}" in text


def test_a_misclassified_failure_fails(pytester: pytest.Pytester) -> None:
    outcomes, text = _run(pytester, "TestMisclassified")
    assert outcomes["test_failures_are_classified"] == "FAILED"
    assert outcomes["test_send_answers_each_item_of_a_full_batch[contact]"] == "PASSED"
    assert "classified {'fail-1': <Outcome.RETRYABLE: 'retryable'>}" in text


def test_the_kit_is_a_pytest_plugin_from_the_pytest11_entry_point(
    pytestconfig: pytest.Config,
) -> None:
    import hub.contract.testing

    assert pytestconfig.pluginmanager.get_plugin("hub") is hub.contract.testing


def test_its_fixtures_need_no_import(
    hub_context: DestinationContext, hub_budget: RecordingBudget, tmp_path: Path
) -> None:
    assert hub_context.base_dir == tmp_path
    hub_context.budget.pause(2.0)
    hub_context.budget.observe(remaining=3)
    assert hub_budget.pauses == [2.0]
    assert hub_budget.observed[0]["remaining"] == 3


def test_a_declared_action_without_perform_fails(pytester: pytest.Pytester) -> None:
    broken, text = _run(pytester, "TestTagsWithoutPerform")
    assert broken["test_every_declared_action_is_performable"] == "FAILED"
    assert "declares ['tag'] but the destination has no perform()" in text
    performed, _ = _run(pytester, "TestTagsPerformed")
    assert performed["test_every_declared_action_is_performable"] == "PASSED"
