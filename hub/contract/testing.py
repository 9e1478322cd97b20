"""The conformance kit for destination plugins, shipped as a pytest plugin.

Installing connector-hub registers this module with pytest (entry point
``pytest11``), so a plugin's tests can use its fixtures (``hub_budget``,
``hub_context``) and subclass :class:`DestinationConformance`::

    from hub.contract.testing import DestinationConformance, make_context

    class TestCsvDropConformance(DestinationConformance):
        destination_type = "csvdrop"          # optional: check the entry point too

        def make_destination(self, tmp_path):
            return CsvDropDestination(CsvDropSettings(), make_context(tmp_path))

The class runs the same checks against every destination, like vdirsyncer's
storage suite: the capability declaration, one typed result per item at the
declared batch size, idempotent re-sends, and deletes, links and unlinks where
the capabilities say the destination has them (skipped, naming the
capability, where they do not). Optional hooks add checks: :meth:`read_back`
(what the destination now holds) and :meth:`failure_cases` (batches the
destination must classify as retryable, permanent or fatal).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeAlias

import pytest

from hub.contract.capabilities import (
    Action,
    Capabilities,
    IdentityKey,
    ObjectKind,
    Operation,
    SyncMode,
)
from hub.contract.destination import (
    Batch,
    BatchItem,
    BatchObject,
    Destination,
    DestinationContext,
    LinkEnds,
    Outcome,
    RecordResult,
    link_key,
    link_payload,
)

__all__ = [
    "DestinationConformance",
    "Expected",
    "FailureCase",
    "RecordingBudget",
    "check_results",
    "make_batch",
    "make_context",
]


# -- test doubles and builders -------------------------------------------------


@dataclass(slots=True)
class RecordingBudget:
    """A :class:`~hub.contract.destination.RateBudget` that never waits and records every call."""

    acquired: int = 0
    observed: list[dict[str, Any]] = field(default_factory=list)
    pauses: list[float] = field(default_factory=list)

    def acquire(self, requests: int = 1) -> None:
        self.acquired += requests

    def observe(
        self,
        *,
        limit: int | None = None,
        remaining: int | None = None,
        reset_after: float | None = None,
        daily_remaining: int | None = None,
    ) -> None:
        self.observed.append(
            {
                "limit": limit,
                "remaining": remaining,
                "reset_after": reset_after,
                "daily_remaining": daily_remaining,
            }
        )

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)


def make_context(
    base_dir: Path,
    name: str = "conformance",
    *,
    budget: RecordingBudget | None = None,
    timeout: float = 5.0,
    **extras: Any,
) -> DestinationContext:
    """A :class:`~hub.contract.destination.DestinationContext` for tests: ``base_dir`` as
    the hub.toml directory, a :class:`RecordingBudget`, a short timeout."""
    return DestinationContext(
        name=name,
        base_dir=base_dir,
        budget=budget if budget is not None else RecordingBudget(),
        timeout=timeout,
        extras=extras,
    )


def make_batch(
    object: BatchObject,
    operation: Operation,
    items: Iterable[BatchItem],
    *,
    run_id: int = 1,
    destination: str = "conformance",
    object_name: str = "",
    match: tuple[IdentityKey, ...] = (IdentityKey.EXTERNAL_ID,),
) -> Batch:
    """A :class:`~hub.contract.destination.Batch` of ``items`` (``match``: its match chain)."""
    return Batch(
        destination=destination,
        object=object,
        operation=operation,
        items=tuple(items),
        run_id=run_id,
        object_name=object_name,
        match=match,
    )


def check_results(batch: Batch, results: Sequence[RecordResult]) -> dict[str, RecordResult]:
    """Assert the contract of :meth:`Destination.send`'s answer and index it by key:
    exactly one :class:`RecordResult` per item, each well formed."""
    assert isinstance(results, Sequence), (
        f"send() must return a sequence of RecordResult, not {type(results).__name__}"
    )
    for result in results:
        assert isinstance(result, RecordResult), (
            f"send() returned a {type(result).__name__}, not a RecordResult"
        )
        assert isinstance(result.outcome, Outcome), (
            f"{result.key!r}: outcome {result.outcome!r} is not an Outcome"
        )
        assert isinstance(result.key, str)
        assert result.destination_id is None or isinstance(result.destination_id, str), (
            f"{result.key!r}: destination_id must be a str or None, "
            f"not {type(result.destination_id).__name__}"
        )
        if result.outcome is Outcome.OK:
            assert result.retry_after is None, f"{result.key!r}: ok with a retry_after"
        else:
            assert isinstance(result.reason, str) and result.reason.strip(), (
                f"{result.key!r}: a {result.outcome.value} result must say why (reason)"
            )
        if result.retry_after is not None:
            assert result.outcome is Outcome.RETRYABLE, (
                f"{result.key!r}: only a retryable result has a retry_after"
            )
            assert isinstance(result.retry_after, int | float) and result.retry_after >= 0, (
                f"{result.key!r}: retry_after must be a number of seconds >= 0"
            )
    expected = Counter(item.key for item in batch.items)
    answered = Counter(result.key for result in results)
    missing = sorted((expected - answered).elements())
    extra = sorted((answered - expected).elements())
    assert not missing and not extra, (
        f"send() must return exactly one result per item: {len(results)} results for "
        f"{len(batch.items)} items; missing {missing[:5]}, unexpected or repeated {extra[:5]}"
    )
    return {result.key: result for result in results}


def _assert_all_ok(answers: Mapping[str, RecordResult], what: str) -> None:
    failed = {key: r for key, r in answers.items() if r.outcome is not Outcome.OK}
    assert not failed, f"{what}: {len(failed)} items not ok, e.g. " + "; ".join(
        f"{key}: {r.outcome.value} ({r.reason})" for key, r in list(failed.items())[:3]
    )


#: What a failure case expects: one outcome for every item, an outcome per
#: key, or an exception type ``send`` must raise (:class:`FatalDestinationError`).
Expected: TypeAlias = Outcome | Mapping[str, Outcome] | type[BaseException]


@dataclass(frozen=True, slots=True)
class FailureCase:
    """A batch and how the destination must classify it."""

    batch: Batch
    expected: Expected
    name: str = ""


# -- fixtures every test session gets ------------------------------------------


@pytest.fixture
def hub_budget() -> RecordingBudget:
    """A rate budget that never waits and records acquire/observe/pause calls."""
    return RecordingBudget()


@pytest.fixture
def hub_context(tmp_path: Path, hub_budget: RecordingBudget) -> DestinationContext:
    """A destination context rooted at ``tmp_path``, with :func:`hub_budget`."""
    return make_context(tmp_path, budget=hub_budget)


# -- the suite -----------------------------------------------------------------


def _skip_without(capability: str) -> None:
    pytest.skip(f"destination lacks capability {capability}")


class DestinationConformance:
    """The checks every destination passes. Subclass it as ``Test...`` and
    implement :meth:`make_destination`; the optional hooks add checks.
    """

    #: The destination type's name in the ``hub`` entry-point group; when set,
    #: the kit checks it is discovered there with a factory, and that an
    #: instance only ever narrows the type's declared capabilities.
    destination_type: ClassVar[str | None] = None
    #: The run id the kit's batches carry.
    run_id: ClassVar[int] = 1

    # -- hooks a subclass implements --------------------------------------

    def make_destination(self, tmp_path: Path) -> Destination:
        """A fresh destination instance, writing only under ``tmp_path``."""
        raise NotImplementedError("a DestinationConformance subclass implements make_destination")

    def read_back(
        self, destination: Destination, object: BatchObject, key: str
    ) -> Mapping[str, Any] | None:
        """What ``destination`` now holds for ``key`` (the payload last
        upserted; a link's properties), ``None`` when it holds nothing.
        Optional: without it, side-effect checks are skipped."""
        raise NotImplementedError

    def failure_cases(self) -> Iterable[FailureCase | tuple[Batch, Expected]]:
        """Batches the destination must classify: yield ``(batch, Outcome)``
        (every item), ``(batch, {key: Outcome})`` or
        ``(batch, FatalDestinationError)``. Optional."""
        return ()

    def sample_payload(self, object: BatchObject, index: int) -> dict[str, Any]:
        """The payload of the ``index``-th sample record (override for a
        destination that requires particular fields)."""
        if object is BatchObject.ACCOUNT:
            return {"name": f"Account {index}", "domain": f"account{index}.example"}
        if object is BatchObject.CONTACT:
            return {"email": f"user{index}@example.com", "first_name": f"User {index}"}
        return {"role": "Admin" if index % 2 else "User"}

    # -- helpers ------------------------------------------------------------

    @pytest.fixture
    def conformance_destination(self, tmp_path: Path) -> Iterator[Destination]:
        """The destination under test; closed afterwards."""
        destination = self.make_destination(tmp_path)
        yield destination
        destination.close()

    def _read_back(
        self, destination: Destination, object: BatchObject, key: str
    ) -> Mapping[str, Any] | None:
        try:
            return self.read_back(destination, object, key)
        except NotImplementedError:
            pytest.skip("the test class has no read_back hook")

    def _has_read_back(self) -> bool:
        return type(self).read_back is not DestinationConformance.read_back

    @staticmethod
    def _object_name(capabilities: Capabilities, object: BatchObject) -> str:
        if object is BatchObject.LINK:
            return "links"
        declared = capabilities.object(ObjectKind(object.value))
        return declared.name if declared is not None else object.value

    def _batch(
        self,
        destination: Destination,
        object: BatchObject,
        operation: Operation,
        items: Iterable[BatchItem],
    ) -> Batch:
        return make_batch(
            object,
            operation,
            items,
            run_id=self.run_id,
            object_name=self._object_name(destination.capabilities, object),
        )

    def _records(self, object: BatchObject, count: int, start: int = 0) -> list[BatchItem]:
        prefix = "acct" if object is BatchObject.ACCOUNT else "user"
        return [
            BatchItem(key=f"{prefix}-{i:04d}", payload=self.sample_payload(object, i))
            for i in range(start, start + count)
        ]

    def _send(self, destination: Destination, batch: Batch) -> dict[str, RecordResult]:
        return check_results(batch, destination.send(batch))

    def _upsert_all(
        self, destination: Destination, object: BatchObject, items: Sequence[BatchItem]
    ) -> dict[str, RecordResult]:
        size = destination.capabilities.batch_size(Operation.UPSERT)
        answers: dict[str, RecordResult] = {}
        for start in range(0, len(items), size):
            batch = self._batch(destination, object, Operation.UPSERT, items[start : start + size])
            answers.update(self._send(destination, batch))
        _assert_all_ok(answers, f"upserting {len(items)} {object.value}s")
        return answers

    @staticmethod
    def _object_supported(destination: Destination, object: BatchObject) -> None:
        if destination.capabilities.object(ObjectKind(object.value)) is None:
            _skip_without(f"objects.{object.value}")

    # -- the declaration ----------------------------------------------------

    def test_destination_follows_the_protocol(self, conformance_destination: Destination) -> None:
        assert isinstance(conformance_destination, Destination), (
            "the destination must have capabilities, credential_id, send() and close()"
        )
        assert isinstance(conformance_destination.capabilities, Capabilities)
        credential_id = conformance_destination.credential_id
        assert isinstance(credential_id, str) and credential_id.strip(), (
            "credential_id must be a non-empty string (it keys the shared rate budget)"
        )

    def test_capabilities_validate_and_are_consistent(
        self, conformance_destination: Destination
    ) -> None:
        capabilities = conformance_destination.capabilities
        # A round trip re-runs every validator (model_copy(update=...) skips them).
        assert Capabilities.model_validate(capabilities.model_dump()) == capabilities
        assert capabilities.objects, "a destination holds at least one object kind"
        for kind, declared in capabilities.objects.items():
            assert declared.name.strip(), f"objects.{kind.value}: the name is empty"
            assert declared.identity_keys, f"objects.{kind.value}: no identity key"
            if declared.unique_by_email:
                assert IdentityKey.EMAIL in declared.identity_keys, (
                    f"objects.{kind.value}: unique_by_email without the email identity key"
                )
        for operation, size in capabilities.batch_sizes.items():
            assert isinstance(size, int) and size > 0, f"batch_sizes.{operation.value}: {size}"
        assert SyncMode.UPSERT in capabilities.sync_modes, "sync_modes must include upsert"
        if capabilities.links is not None:
            assert {ObjectKind.CONTACT, ObjectKind.ACCOUNT} <= set(capabilities.objects), (
                "links need both the contact and the account object kinds"
            )
        else:
            for operation in (Operation.LINK, Operation.UNLINK):
                assert operation not in capabilities.batch_sizes, (
                    f"batch_sizes.{operation.value} declared without links"
                )
        if SyncMode.MIRROR not in capabilities.sync_modes:
            assert Operation.DELETE not in capabilities.batch_sizes, (
                "batch_sizes.delete declared without the mirror sync mode"
            )
        if capabilities.rate_limit is not None:
            assert capabilities.rate_limit.requests > 0 and capabilities.rate_limit.per_seconds > 0

    def test_type_is_discovered_and_never_widened(
        self, conformance_destination: Destination
    ) -> None:
        if self.destination_type is None:
            pytest.skip("destination_type is not set on the test class")
        from hub.contract.plugins import load_plugins

        plugins = load_plugins()
        assert self.destination_type in plugins.destinations, (
            f"destination type {self.destination_type!r} is not registered through the "
            f"'hub' entry-point group (failed plugins: {plugins.failed})"
        )
        declared_type = plugins.destinations[self.destination_type]
        assert declared_type.factory is not None, "the destination type has no factory"
        declared = declared_type.capabilities
        instance = conformance_destination.capabilities
        assert set(instance.objects) <= set(declared.objects), "an instance adds object kinds"
        assert instance.sync_modes <= declared.sync_modes, "an instance adds sync modes"
        assert instance.actions <= declared.actions, "an instance adds actions"
        if declared.links is None:
            assert instance.links is None, "an instance adds links"
        for operation in Operation:
            assert instance.batch_size(operation) <= declared.batch_size(operation), (
                f"batch_sizes.{operation.value}: the instance allows more than its type"
            )
        if declared.rate_limit is not None:
            assert instance.rate_limit is not None, "an instance drops its type's rate limit"
            declared_rate = declared.rate_limit.requests / declared.rate_limit.per_seconds
            instance_rate = instance.rate_limit.requests / instance.rate_limit.per_seconds
            assert instance_rate <= declared_rate, "an instance widens its type's rate limit"

    # -- upserts ------------------------------------------------------------

    @pytest.mark.parametrize("object", [BatchObject.ACCOUNT, BatchObject.CONTACT], ids=str)
    def test_send_answers_each_item_of_a_full_batch(
        self, conformance_destination: Destination, object: BatchObject
    ) -> None:
        self._object_supported(conformance_destination, object)
        size = conformance_destination.capabilities.batch_size(Operation.UPSERT)
        batch = self._batch(
            conformance_destination, object, Operation.UPSERT, self._records(object, size)
        )
        answers = self._send(conformance_destination, batch)
        _assert_all_ok(answers, f"a full upsert batch of {size} {object.value}s")

    def test_results_are_typed(self, conformance_destination: Destination) -> None:
        object = (
            BatchObject.CONTACT
            if conformance_destination.capabilities.object(ObjectKind.CONTACT)
            else BatchObject.ACCOUNT
        )
        batch = self._batch(
            conformance_destination, object, Operation.UPSERT, self._records(object, 3)
        )
        results = conformance_destination.send(batch)
        check_results(batch, results)
        assert all(type(result) is RecordResult for result in results)
        assert all(type(result.outcome) is Outcome for result in results)

    @pytest.mark.parametrize("object", [BatchObject.ACCOUNT, BatchObject.CONTACT], ids=str)
    def test_sending_the_same_batch_twice_is_idempotent(
        self, conformance_destination: Destination, object: BatchObject
    ) -> None:
        self._object_supported(conformance_destination, object)
        items = self._records(object, 5)
        batch = self._batch(conformance_destination, object, Operation.UPSERT, items)
        first = self._send(conformance_destination, batch)
        _assert_all_ok(first, "the first send")
        # The engine re-sends a batch it never saw confirmed (a crash, a timeout).
        second = self._send(conformance_destination, batch)
        _assert_all_ok(second, "the same batch sent again")
        assert {k: r.destination_id for k, r in second.items()} == {
            k: r.destination_id for k, r in first.items()
        }, "re-sending a batch gave records different destination ids"
        # And once confirmed, the engine sends the ids it was given.
        known = [
            BatchItem(item.key, item.payload, first[item.key].destination_id) for item in items
        ]
        third = self._send(
            conformance_destination,
            self._batch(conformance_destination, object, Operation.UPSERT, known),
        )
        _assert_all_ok(third, "the batch sent with its destination ids")
        for key, result in third.items():
            if first[key].destination_id is not None:
                assert result.destination_id == first[key].destination_id, (
                    f"{key}: the destination id changed on an update"
                )

    @pytest.mark.parametrize("object", [BatchObject.ACCOUNT, BatchObject.CONTACT], ids=str)
    def test_an_update_replaces_what_the_destination_holds(
        self, conformance_destination: Destination, object: BatchObject
    ) -> None:
        self._object_supported(conformance_destination, object)
        if not self._has_read_back():
            pytest.skip("the test class has no read_back hook")
        items = self._records(object, 2)
        first = self._upsert_all(conformance_destination, object, items)
        for item in items:
            assert self._read_back(conformance_destination, object, item.key) == dict(
                item.payload
            ), f"{item.key}: read_back does not give the payload just upserted"
        changed = [
            BatchItem(
                item.key,
                {**item.payload, **self.sample_payload(object, 100 + i)},
                first[item.key].destination_id,
            )
            for i, item in enumerate(items)
        ]
        self._upsert_all(conformance_destination, object, changed)
        for item in changed:
            assert self._read_back(conformance_destination, object, item.key) == dict(
                item.payload
            ), f"{item.key}: read_back does not give the updated payload"

    # -- deletes (mirror) ---------------------------------------------------

    @pytest.mark.parametrize("object", [BatchObject.ACCOUNT, BatchObject.CONTACT], ids=str)
    def test_delete_removes_and_a_repeated_delete_is_not_an_error(
        self, conformance_destination: Destination, object: BatchObject
    ) -> None:
        if SyncMode.MIRROR not in conformance_destination.capabilities.sync_modes:
            _skip_without("sync_modes.mirror")
        self._object_supported(conformance_destination, object)
        size = conformance_destination.capabilities.batch_size(Operation.DELETE)
        items = self._records(object, size)
        upserted = self._upsert_all(conformance_destination, object, items)
        deletes = [BatchItem(item.key, {}, upserted[item.key].destination_id) for item in items]
        batch = self._batch(conformance_destination, object, Operation.DELETE, deletes)
        _assert_all_ok(self._send(conformance_destination, batch), "a full delete batch")
        if self._has_read_back():
            for item in items[:3]:
                assert self._read_back(conformance_destination, object, item.key) is None, (
                    f"{item.key}: still there after its delete"
                )
        # A delete re-sent after a crash finds the record gone: still ok.
        _assert_all_ok(self._send(conformance_destination, batch), "the same delete again")

    # -- links --------------------------------------------------------------

    def _linked(self, destination: Destination, count: int) -> list[BatchItem]:
        """Upsert what ``count`` links need and return the link items."""
        accounts = self._records(BatchObject.ACCOUNT, 2)
        contacts = self._records(BatchObject.CONTACT, math.ceil(count / 2))
        account_ids = self._upsert_all(destination, BatchObject.ACCOUNT, accounts)
        contact_ids = self._upsert_all(destination, BatchObject.CONTACT, contacts)
        links = destination.capabilities.links
        assert links is not None
        items: list[BatchItem] = []
        for i in range(count):
            # Contact i//2 joins both accounts: many-to-many where declared.
            contact = contacts[i // 2 if links.many_to_many else i % len(contacts)]
            account = accounts[i % 2 if links.many_to_many else 0]
            ends = LinkEnds(
                contact_key=contact.key,
                account_key=account.key,
                contact_id=contact_ids[contact.key].destination_id,
                account_id=account_ids[account.key].destination_id,
                primary=links.primary and i % 2 == 0,
            )
            properties = (
                self.sample_payload(BatchObject.LINK, i) if links.carries_properties else {}
            )
            # Exactly what the engine sends: see hub.contract.destination.link_payload.
            payload = link_payload(properties, ends.primary)
            items.append(BatchItem(link_key(contact.key, account.key), payload, None, ends))
        return list({item.key: item for item in items}.values())

    def test_link_a_full_batch_twice_is_idempotent(
        self, conformance_destination: Destination
    ) -> None:
        if conformance_destination.capabilities.links is None:
            _skip_without("links")
        size = conformance_destination.capabilities.batch_size(Operation.LINK)
        items = self._linked(conformance_destination, size)
        batch = self._batch(conformance_destination, BatchObject.LINK, Operation.LINK, items)
        first = self._send(conformance_destination, batch)
        _assert_all_ok(first, f"a link batch of {len(items)}")
        second = self._send(conformance_destination, batch)
        _assert_all_ok(second, "the same link batch again")
        assert {k: r.destination_id for k, r in second.items()} == {
            k: r.destination_id for k, r in first.items()
        }, "re-sending a link batch gave links different destination ids"

    def test_unlink_removes_links_and_a_repeated_unlink_is_not_an_error(
        self, conformance_destination: Destination
    ) -> None:
        if conformance_destination.capabilities.links is None:
            _skip_without("links")
        size = min(
            conformance_destination.capabilities.batch_size(Operation.UNLINK),
            conformance_destination.capabilities.batch_size(Operation.LINK),
        )
        items = self._linked(conformance_destination, size)
        linked = self._send(
            conformance_destination,
            self._batch(conformance_destination, BatchObject.LINK, Operation.LINK, items),
        )
        _assert_all_ok(linked, "linking")
        if self._has_read_back():
            held = self._read_back(conformance_destination, BatchObject.LINK, items[0].key)
            # Either the link's properties, or the whole payload the engine sent.
            assert held in (dict(items[0].payload["properties"]), dict(items[0].payload)), (
                "read_back does not give a link's properties"
            )
        unlinks = [
            BatchItem(item.key, {}, linked[item.key].destination_id, item.link) for item in items
        ]
        batch = self._batch(conformance_destination, BatchObject.LINK, Operation.UNLINK, unlinks)
        primary = {item.key for item in items if item.link and item.link.primary}
        self._assert_unlinked(self._send(conformance_destination, batch), primary, "unlinking")
        if self._has_read_back():
            # A destination may keep a contact's primary link (Salesforce's direct
            # relation follows Contact.AccountId): only non-primary links must go.
            gone = next(item for item in items if item.link and not item.link.primary)
            assert self._read_back(conformance_destination, BatchObject.LINK, gone.key) is None
        self._assert_unlinked(
            self._send(conformance_destination, batch), primary, "the same unlink again"
        )

    @staticmethod
    def _assert_unlinked(results: Mapping[str, RecordResult], primary: set[str], what: str) -> None:
        """Every unlink ok, except that a primary link a destination cannot remove
        (only a primary change can) may be refused for good, saying why: never a
        silent success, never a retry that cannot succeed."""
        for key, result in results.items():
            if key in primary and result.outcome is Outcome.PERMANENT:
                assert result.reason, f"{what}: {key} refused without a reason"
                continue
            assert result.outcome is Outcome.OK, f"{what}: {key} is {result.outcome}"

    # -- classification -----------------------------------------------------

    def action_params(self, action: Action) -> dict[str, Any]:
        """The params of the kit's request for ``action`` (override for a
        destination that needs particular ones, a real list id)."""
        return {
            "tag": "conformance",
            "list_id": "conformance",
            "subject": "Conformance check",
            "body": "Sent by the conformance kit",
            "text": "Sent by the conformance kit",
        }

    def test_every_declared_action_is_performable(
        self, conformance_destination: Destination
    ) -> None:
        """An action in ``capabilities.actions`` reaches the plugin's ``perform``
        through :func:`hub.contract.actions.perform` (the path playbooks take) and gets a
        result of its own: declaring an action without performing it is a hole."""
        from hub.contract.actions import ActionRequest, perform, supports_actions

        declared = sorted(conformance_destination.capabilities.actions)
        if not declared:
            return  # nothing declared, nothing to perform
        assert supports_actions(conformance_destination), (
            f"capabilities.actions declares {[a.value for a in declared]} but the destination"
            " has no perform()"
        )
        requests = [
            ActionRequest(
                action,
                "conformance",
                f"conformance-{action.value}",
                {"user_id": "conformance-user", "account_id": "conformance-account"},
                self.action_params(action),
            )
            for action in declared
        ]
        results = perform(conformance_destination, requests)
        for request in requests:
            result = results[request.key]
            assert result.key == request.key
            assert "lacks the capability" not in (result.reason or ""), result.reason
            assert "gave no result" not in (result.reason or ""), (
                f"perform() gave no result for {request.action.value}"
            )

    def test_failures_are_classified(self, tmp_path: Path) -> None:
        cases = [
            case if isinstance(case, FailureCase) else FailureCase(*case)
            for case in self.failure_cases()
        ]
        if not cases:
            pytest.skip("the test class has no failure_cases")
        for number, case in enumerate(cases):
            label = case.name or f"failure case {number}"
            case_dir = tmp_path / f"case-{number}"
            case_dir.mkdir()
            destination = self.make_destination(case_dir)
            try:
                expected = case.expected
                if isinstance(expected, type):
                    with pytest.raises(expected):
                        destination.send(case.batch)
                    continue
                answers = check_results(case.batch, destination.send(case.batch))
                wanted = (
                    {item.key: expected for item in case.batch.items}
                    if isinstance(expected, Outcome)
                    else dict(expected)
                )
                got = {key: answers[key].outcome for key in wanted}
                assert got == wanted, f"{label}: classified {got}, expected {wanted}"
            finally:
                destination.close()
