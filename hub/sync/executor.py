"""Carrying out a plan: batches to the destination, results into the state store.

:func:`execute` walks a :class:`~hub.sync.planner.DestinationPlan` in its order
(accounts, contacts, links, unlinks, contact deletes, account deletes) and
sends it in :class:`~hub.contract.destination.Batch` es of one object kind and one
operation, at most the destination's declared batch size, never holding the
same key twice. Right after each batch the destination's per-record results
go into the state store, in one transaction per outcome kind:

- ``ok``: the fingerprint and destination id are confirmed (a delete or unlink
  is marked deleted). Only now is the record "done": a run killed before this
  point re-sends the batch next time, one killed after it never does.
- ``permanent``: the record is failed with its reason (``hub errors``) until
  its data changes or ``hub retry``.
- ``retryable``: the records are sent again in a new batch after an
  exponential backoff with full jitter (at least the ``Retry-After`` the
  destination gave, which also pauses the credential's budget), up to
  ``sync.max_attempts`` sends; then they are left pending, with the reason, for
  the next run. A timeout or connection error raised by ``send`` makes the
  whole batch retryable.

A :class:`~hub.contract.destination.FatalDestinationError` (bad credentials, a spent
daily quota) stops this destination at once; its message, naming the setting
to fix, becomes the run's message. Links are sent with the destination ids of
their ends from the state store; a link whose contact or account was never
confirmed (it failed) is skipped and stays pending.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.config.settings import SyncSettings
from hub.contract.capabilities import IdentityKey, ObjectKind, Operation
from hub.contract.destination import (
    Batch,
    BatchItem,
    BatchObject,
    Destination,
    FatalDestinationError,
    LinkEnds,
    Outcome,
    RateBudget,
    RecordResult,
    TransientTransportError,
)
from hub.contract.ratelimit import MeteredBudget, WaitRefused
from hub.state import Confirmation, Failure, StateStore, describe
from hub.sync.planner import DestinationPlan, PlanAction, PlannedItem, make_ends, make_item

__all__ = [
    "COUNT_KEYS",
    "OPERATIONS",
    "ExecutionSummary",
    "ProgressCallback",
    "execute",
    "execute_stream",
    "iter_batches",
]

log = logging.getLogger(__name__)

#: The operation each planned action is sent as.
OPERATIONS: Mapping[PlanAction, Operation] = {
    PlanAction.CREATE: Operation.UPSERT,
    PlanAction.UPDATE: Operation.UPSERT,
    PlanAction.DELETE: Operation.DELETE,
    PlanAction.LINK: Operation.LINK,
    PlanAction.UNLINK: Operation.UNLINK,
}

#: The count each confirmed action adds to.
_DONE_COUNT: Mapping[PlanAction, str] = {
    PlanAction.CREATE: "created",
    PlanAction.UPDATE: "updated",
    PlanAction.DELETE: "deleted",
    PlanAction.LINK: "linked",
    PlanAction.UNLINK: "unlinked",
}

#: Every count an :class:`ExecutionSummary` has (all present, zero or not).
COUNT_KEYS: tuple[str, ...] = (
    "sent",
    "created",
    "updated",
    "adopted",
    "deleted",
    "linked",
    "unlinked",
    "failed",
    "retried",
    "pending",
    "skipped",
    "batches",
    "requests",
)

#: Why a link was not sent: one of its ends was never confirmed.
LINK_END_MISSING = "skipped.link_end_missing"

#: A link end the store has no state for.
_MISSING_END: tuple[bool, str | None] = (False, None)
#: Account ends remembered between link batches, at most.
_MAX_CACHED_ENDS = 1_000_000

#: Reason given to items a destination returned no result for (a plugin bug).
NO_RESULT = "no result from destination"

#: ``progress(done, total)``: items finished (confirmed, failed, left pending or
#: skipped) out of the plan's items, after each batch.
ProgressCallback = Callable[[int, int], None]


@dataclass(slots=True)
class ExecutionSummary:
    """What one execution of a plan did.

    ``counts`` holds every key of :data:`COUNT_KEYS`:

    - ``sent``: distinct items handed to the destination at least once;
    - ``created`` / ``updated`` / ``deleted`` / ``linked`` / ``unlinked``: confirmed;
    - ``adopted``: of the created, those that matched an object the destination
      already had (a later key of the match chain) and took it over;
    - ``failed``: refused for good (permanent), kept with their reason;
    - ``retried``: item re-sends after a retryable outcome;
    - ``pending``: items not confirmed nor failed for good (out of retries,
      skipped, or not reached after a fatal error or a stop): the next run
      sends them again;
    - ``skipped``: items not sent at all, with ``skipped.<why>`` beside it
      (``skipped.link_end_missing``);
    - ``batches``: calls to ``send``; ``requests``: requests acquired from the budget.
    """

    destination: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_KEYS, 0))
    #: Seconds spent waiting for the rate budget, and how many waits.
    rate_wait_seconds: float = 0.0
    rate_waits: int = 0
    #: Seconds slept between retries.
    backoff_seconds: float = 0.0
    #: The fatal error that stopped the destination (names the setting to fix).
    fatal: str | None = None
    #: True when ``should_stop`` ended the execution before the plan was done.
    stopped: bool = False
    #: Seconds the destination asked to wait, when that was past
    #: ``sync.max_retry_after`` and the execution ended rate-limited instead.
    rate_limited: float | None = None
    #: Contract violations noticed in the plugin's results (missing, extra keys).
    plugin_errors: list[str] = field(default_factory=list)

    def add(self, key: str, amount: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + amount


def iter_batches(
    items: Sequence[PlannedItem], sizes: Callable[[Operation], int]
) -> Iterator[tuple[BatchObject, Operation, list[PlannedItem]]]:
    """Cut ``items`` into batches, in order: consecutive items of one object
    kind and one operation, at most ``sizes(operation)`` of them, no key twice
    (a second write of the same key starts a new batch, after the first)."""
    current: list[PlannedItem] = []
    keys: set[str] = set()
    shape: tuple[BatchObject, Operation] | None = None
    last: tuple[BatchObject, PlanAction] | None = None
    limit = 1
    limits: dict[Operation, int] = {}
    for item in items:
        kind, action = item.object, item.action
        if last is None or kind is not last[0] or action is not last[1]:
            # A new action: maybe a new shape (create and update are both upserts).
            last = (kind, action)
            item_shape = (kind, OPERATIONS[action])
            if item_shape != shape:
                if current:
                    assert shape is not None
                    yield shape[0], shape[1], current
                    current, keys = [], set()
                shape = item_shape
                if item_shape[1] not in limits:
                    limits[item_shape[1]] = max(1, sizes(item_shape[1]))
                limit = limits[item_shape[1]]
        key = item.key
        if current and (len(current) >= limit or key in keys):
            assert shape is not None
            yield shape[0], shape[1], current
            current, keys = [], set()
        current.append(item)
        keys.add(key)
    if current and shape is not None:
        yield shape[0], shape[1], current


_confirmation_slots = tuple(
    Confirmation.__dict__[name].__set__
    for name in ("key", "fingerprint", "destination_id", "created")
)


def _confirmation(
    key: str, fingerprint: str, destination_id: str | None, created: bool
) -> Confirmation:
    """``Confirmation(...)``, faster (one per record sent)."""
    made: Confirmation = object.__new__(Confirmation)
    s_key, s_fingerprint, s_id, s_created = _confirmation_slots
    s_key(made, key)
    s_fingerprint(made, fingerprint)
    s_id(made, destination_id)
    s_created(made, created)
    return made


_batch_item_slots = tuple(
    BatchItem.__dict__[name].__set__ for name in ("key", "payload", "destination_id", "link")
)


def _batch_item(
    key: str, payload: Mapping[str, Any], destination_id: str | None, link: LinkEnds | None
) -> BatchItem:
    """``BatchItem(...)``, faster (one per record sent)."""
    made: BatchItem = object.__new__(BatchItem)
    s_key, s_payload, s_id, s_link = _batch_item_slots
    s_key(made, key)
    s_payload(made, payload)
    s_id(made, destination_id)
    s_link(made, link)
    return made


#: Builds the destination and its budget, when there is a first batch to send.
Connect = Callable[[], tuple[Destination, RateBudget]]


class _Execution:
    def __init__(
        self,
        name: str,
        connect: Connect,
        state: StateStore,
        run_id: int,
        settings: SyncSettings,
        progress: ProgressCallback | None,
        should_stop: Callable[[], bool] | None,
        sleep: Callable[[float], None],
        jitter: Callable[[float, float], float],
        summary: ExecutionSummary | None = None,
        match: Mapping[BatchObject, Sequence[IdentityKey]] | None = None,
    ) -> None:
        self.name = name
        self.wanted_match = dict(match or {})
        #: The match chain each kind is sent with, once the destination's keys are known.
        self.match: dict[BatchObject, tuple[IdentityKey, ...]] = {}
        self.connect = connect
        self.state = state
        self.run_id = run_id
        self.settings = settings
        self.progress = progress
        self.should_stop = should_stop or (lambda: False)
        self.sleep = sleep
        self.jitter = jitter
        self.summary = summary if summary is not None else ExecutionSummary(name)
        self.total = 0
        self.done = 0
        self.confirmed = 0
        self.failed = 0
        #: Items handed to the destination at least once (retries are the same items).
        self.sent = 0
        #: Planned items not sent yet (the tail of a batch that may grow).
        self.pending: list[PlannedItem] = []
        self._destination: Destination | None = None
        self._budget: RateBudget | None = None
        self._before: Any = None
        self.object_names: dict[BatchObject, str] = {BatchObject.LINK: "links"}
        #: Account link ends read from the store (see :meth:`_end_states`).
        self.account_ends: dict[str, tuple[bool, str | None]] = {}

    @property
    def destination(self) -> Destination:
        if self._destination is None:
            destination, budget = self.connect()
            self._destination, self._budget = destination, budget
            if isinstance(budget, MeteredBudget):
                self._before = budget.stats()
            capabilities = destination.capabilities
            for kind, batch_object in (
                (ObjectKind.ACCOUNT, BatchObject.ACCOUNT),
                (ObjectKind.CONTACT, BatchObject.CONTACT),
            ):
                declared = capabilities.object(kind)
                if declared is not None:
                    self.object_names[batch_object] = declared.name
                    chain = self.wanted_match.get(batch_object, (IdentityKey.EXTERNAL_ID,))
                    self.match[batch_object] = tuple(
                        key
                        for key in chain
                        if key is IdentityKey.EXTERNAL_ID or key in declared.identity_keys
                    )
        return self._destination

    @property
    def budget(self) -> RateBudget:
        self.destination  # noqa: B018 - connects
        assert self._budget is not None
        return self._budget

    # -- the walk ---------------------------------------------------------------

    def run(self, planned: Iterable[Sequence[PlannedItem]]) -> ExecutionSummary:
        stream = iter(planned)
        try:
            going = True
            for items in stream:
                self.total += len(items)
                self.pending.extend(items)
                if not self._drain(final=False):
                    going = False
                    break
            if going:
                self._drain(final=True)
            elif self.summary.fatal is not None or self.summary.rate_limited is not None:
                # Nothing more goes out, but what was planned is counted pending.
                for items in stream:
                    self.total += len(items)
        finally:
            budget = self._budget
            if self._before is not None and isinstance(budget, MeteredBudget):
                after = budget.stats()
                self.summary.counts["requests"] = after.requests - self._before.requests
                self.summary.rate_waits = after.waits - self._before.waits
                self.summary.rate_wait_seconds = after.waited_seconds - self._before.waited_seconds
            else:
                self.summary.counts["requests"] = self.summary.counts["batches"]
            self.summary.counts["sent"] = self.sent
            self.summary.counts["pending"] = self.total - self.confirmed - self.failed
        return self.summary

    def _drain(self, *, final: bool) -> bool:
        """Send the pending items' batches (all of them when ``final``, else all
        but the last, which the next items may fill up); False when the
        destination must stop (fatal error or stop)."""
        if not self.pending:
            return True
        batches = list(iter_batches(self.pending, self.destination.capabilities.batch_size))
        self.pending = [] if final else batches.pop()[2]
        for batch_object, operation, items in batches:
            if self.should_stop():
                self.summary.stopped = True
                return False
            if operation in (Operation.LINK, Operation.UNLINK):
                items = self._with_link_ends(items, skip_missing=operation is Operation.LINK)
                if not items:
                    continue
            if not self._send_with_retries(batch_object, operation, items):
                return False
        return True

    def _advance(self, finished: int) -> None:
        self.done += finished
        if self.progress is not None:
            self.progress(self.done, self.total)

    def _end_states(self, kind: BatchObject, keys: set[str]) -> dict[str, tuple[bool, str | None]]:
        """Whether the destination has each of ``keys`` and its destination id.
        Accounts are remembered between batches (links come by contact, so one
        account is an end in many batches), until an account batch is settled."""
        cache = self.account_ends if kind is BatchObject.ACCOUNT else None
        wanted = keys if cache is None else {key for key in keys if key not in cache}
        found = self.state.end_states(self.name, kind, wanted)
        if cache is None:
            return found
        if len(cache) > _MAX_CACHED_ENDS:
            cache.clear()
        for key in wanted:
            cache[key] = found.get(key, _MISSING_END)
        return cache

    def _with_link_ends(self, items: list[PlannedItem], *, skip_missing: bool) -> list[PlannedItem]:
        """``items`` with their ends' destination ids from the state store;
        links to an end never confirmed are dropped (when ``skip_missing``)."""
        destination = self.name
        contacts = self._end_states(
            BatchObject.CONTACT, {i.link.contact_key for i in items if i.link}
        )
        accounts = self._end_states(
            BatchObject.ACCOUNT, {i.link.account_key for i in items if i.link}
        )
        ready: list[PlannedItem] = []
        skipped = 0
        for item in items:
            ends = item.link
            if ends is None:
                ready.append(item)
                continue
            contact_exists, contact_id = contacts.get(ends.contact_key, _MISSING_END)
            account_exists, account_id = accounts.get(ends.account_key, _MISSING_END)
            if skip_missing and not (contact_exists and account_exists):
                skipped += 1
                continue
            filled = make_ends(
                ends.contact_key,
                ends.account_key,
                contact_id or ends.contact_id,
                account_id or ends.account_id,
                ends.primary,
            )
            ready.append(
                make_item(
                    item.object,
                    item.action,
                    item.key,
                    item.payload,
                    item.fingerprint,
                    item.destination_id,
                    filled,
                )
            )
        if skipped:
            log.info(
                "%s: %d link(s) skipped: their contact or account is not confirmed",
                destination,
                skipped,
            )
            self.summary.add("skipped", skipped)
            self.summary.add(LINK_END_MISSING, skipped)
            self._advance(skipped)
        return ready

    # -- one batch and its retries ------------------------------------------------

    def _send_with_retries(
        self, batch_object: BatchObject, operation: Operation, items: list[PlannedItem]
    ) -> bool:
        """Send ``items`` until each is confirmed, failed for good or out of
        attempts; False when the destination must stop (fatal error or stop)."""
        attempt = 1
        while True:
            retry = self._send_once(batch_object, operation, items, first=attempt == 1)
            if retry is None:
                return False
            if not retry:
                return True
            reasons = {item.key: result for item, result in retry}
            if attempt >= self.settings.max_attempts or self.should_stop():
                if attempt < self.settings.max_attempts:
                    self.summary.stopped = True
                self._leave_pending(batch_object, reasons)
                self._advance(len(retry))
                return attempt >= self.settings.max_attempts
            if not self._back_off(attempt, [result for _, result in retry]):
                self._leave_pending(batch_object, reasons)
                self._advance(len(retry))
                return False
            attempt += 1
            items = [item for item, _ in retry]
            self.summary.add("retried", len(items))

    def _back_off(self, attempt: int, results: list[RecordResult]) -> bool:
        """Wait before the next attempt: full jitter over an exponential ceiling,
        at least the longest ``Retry-After`` (which also pauses the credential).
        False, without waiting, when the ``Retry-After`` is longer than
        ``sync.max_retry_after`` (the run ends rate-limited) or a stop came."""
        ceiling = min(self.settings.backoff_max, self.settings.backoff_initial * 2 ** (attempt - 1))
        delay = self.jitter(0.0, ceiling)
        retry_after = max((r.retry_after or 0.0 for r in results), default=0.0)
        if retry_after > self.settings.max_retry_after:
            self.summary.rate_limited = retry_after
            self.budget.pause(retry_after)
            return False
        if retry_after > 0:
            self.budget.pause(retry_after)
            delay = max(delay, retry_after)
        if delay > 0:
            self.summary.backoff_seconds += delay
            self.sleep(delay)
        if self.should_stop():
            self.summary.stopped = True
            return False
        return True

    def _send_once(
        self,
        batch_object: BatchObject,
        operation: Operation,
        items: list[PlannedItem],
        *,
        first: bool,
    ) -> list[tuple[PlannedItem, RecordResult]] | None:
        """One send; record what was settled; return what to retry, ``None`` on a fatal error.
        ``first``: the items' first send (not a retry)."""
        batch = Batch(
            destination=self.name,
            object=batch_object,
            operation=operation,
            items=tuple(
                _batch_item(item.key, item.payload, item.destination_id, item.link)
                for item in items
            ),
            run_id=self.run_id,
            object_name=self.object_names.get(batch_object, ""),
            match=self.match.get(batch_object, (IdentityKey.EXTERNAL_ID,)),
        )
        try:
            self.budget.acquire()
        except WaitRefused as refused:
            # Nothing was sent: the items stay pending for the next run.
            if refused.stopped:
                self.summary.stopped = True
            else:
                self.summary.rate_limited = refused.seconds
            return None
        try:
            self.summary.add("batches")
            if first:
                self.sent += len(items)
            results: Sequence[RecordResult] = self.destination.send(batch)
        except FatalDestinationError as error:
            self.summary.fatal = str(error)
            log.error("%s: stopped: %s", self.name, error)
            return None
        except (TransientTransportError, TimeoutError, ConnectionError) as error:
            reason = f"{type(error).__name__}: {describe(error)}"
            log.warning("%s: batch of %d failed: %s", self.name, len(items), reason)
            results = [RecordResult.retryable(item.key, reason) for item in items]
        return self._settle(batch_object, items, self._check(items, results))

    def _check(
        self, items: list[PlannedItem], results: Sequence[RecordResult]
    ) -> dict[str, RecordResult]:
        """One result per item: extra and duplicate results are ignored, a missing
        one counts as retryable (each a plugin bug, logged and reported)."""
        keys = {item.key for item in items}
        by_key: dict[str, RecordResult] = {}
        for result in results:
            if result.key not in keys:
                self._plugin_error(f"result for a key not in the batch: {result.key!r}")
            elif result.key in by_key:
                self._plugin_error(f"two results for key {result.key!r}")
            else:
                by_key[result.key] = result
        for key in keys - by_key.keys():
            self._plugin_error(f"no result for key {key!r}")
            by_key[key] = RecordResult.retryable(key, NO_RESULT)
        return by_key

    def _plugin_error(self, message: str) -> None:
        log.error("%s: destination plugin bug: %s", self.name, message)
        if len(self.summary.plugin_errors) < 20:
            self.summary.plugin_errors.append(message)

    def _settle(
        self, batch_object: BatchObject, items: list[PlannedItem], results: dict[str, RecordResult]
    ) -> list[tuple[PlannedItem, RecordResult]]:
        confirmations: list[Confirmation] = []
        deleted: list[str] = []
        failures: list[Failure] = []
        retry: list[tuple[PlannedItem, RecordResult]] = []
        for item in items:
            result = results[item.key]
            if result.outcome is Outcome.OK:
                self.summary.add(_DONE_COUNT[item.action])
                if result.adopted:
                    self.summary.add("adopted")
                if item.action in (PlanAction.DELETE, PlanAction.UNLINK):
                    deleted.append(item.key)
                else:
                    confirmations.append(
                        _confirmation(
                            item.key,
                            item.fingerprint,
                            result.destination_id or item.destination_id,
                            item.action is PlanAction.CREATE
                            or (item.action is PlanAction.LINK and item.destination_id is None),
                        )
                    )
            elif result.outcome is Outcome.PERMANENT:
                failures.append(
                    Failure(
                        item.key,
                        result.reason or "refused by the destination",
                        permanent=True,
                        fingerprint=item.fingerprint,
                    )
                )
            else:
                retry.append((item, result))
        destination = self.name
        if batch_object is BatchObject.ACCOUNT:
            self.account_ends.clear()
        # One transaction per kind, right after the batch: what the destination
        # confirmed is never sent again, even if the process dies next.
        if confirmations:
            self.state.confirm(self.run_id, destination, batch_object, confirmations)
        if deleted:
            self.state.mark_deleted(self.run_id, destination, batch_object, deleted)
        if failures:
            self.state.fail(self.run_id, destination, batch_object, failures)
            self.summary.add("failed", len(failures))
        self.confirmed += len(confirmations) + len(deleted)
        self.failed += len(failures)
        self._advance(len(confirmations) + len(deleted) + len(failures))
        return retry

    def _leave_pending(self, batch_object: BatchObject, results: dict[str, RecordResult]) -> None:
        if batch_object is BatchObject.ACCOUNT:
            self.account_ends.clear()
        failures = [
            Failure(key, result.reason or "retryable error", permanent=False)
            for key, result in results.items()
        ]
        self.state.fail(self.run_id, self.name, batch_object, failures)


def execute(
    plan: DestinationPlan,
    destination: Destination,
    state: StateStore,
    budget: RateBudget,
    run_id: int,
    sync_settings: SyncSettings,
    *,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[float, float], float] = random.uniform,
) -> ExecutionSummary:
    """Send ``plan`` to ``destination`` and record every result in ``state``.

    :param budget: the credential's budget; one request is acquired per batch.
        When it is a :class:`~hub.contract.ratelimit.MeteredBudget` the summary reports
        the requests and waits it saw during this execution.
    :param run_id: the run opened with :meth:`~hub.state.StateStore.start_run`.
    :param sync_settings: ``max_attempts`` and the backoff.
    :param progress: called as ``progress(done, total)`` after each batch.
    :param should_stop: checked before each batch (and each retry); when true,
        the execution ends after the batch in flight (``summary.stopped``).
    :param sleep: and ``jitter`` (``random.uniform``), injectable for tests.
    """
    return execute_stream(
        plan.destination,
        [plan.items],
        lambda: (destination, budget),
        state,
        run_id,
        sync_settings,
        progress=progress,
        should_stop=should_stop,
        sleep=sleep,
        jitter=jitter,
    )


def execute_stream(
    name: str,
    planned: Iterable[Sequence[PlannedItem]],
    connect: Connect,
    state: StateStore,
    run_id: int,
    sync_settings: SyncSettings,
    *,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[float, float], float] = random.uniform,
    summary: ExecutionSummary | None = None,
    match: Mapping[BatchObject, Sequence[IdentityKey]] | None = None,
) -> ExecutionSummary:
    """:func:`execute` for a plan made as it is sent: ``planned`` yields the
    items in send order, a part at a time (what
    :meth:`~hub.sync.planner.DestinationPlanner.plan_chunk` returns), and each part
    is sent as soon as it fills batches, so a sync holds one chunk of the
    projection at a time, not the whole plan.

    ``connect`` builds destination ``name`` and its rate budget when the first
    batch is ready: with nothing to send, nothing is built. Batches never mix
    parts of different kinds or operations; the last batch of a part waits for
    the next part to fill it up. ``progress`` gets the items planned so far as
    its total. After a fatal error the rest of ``planned`` is still read (not
    sent), so ``pending`` counts it; after a stop it is not read at all.

    ``summary``: filled in as the execution goes, so that a caller interrupted
    by an exception (Ctrl-C) still knows what was confirmed. ``match``: the
    mapping's match chain per kind (see :attr:`~hub.contract.destination.Batch.match`).
    """
    return _Execution(
        name,
        connect,
        state,
        run_id,
        sync_settings,
        progress,
        should_stop,
        sleep,
        jitter,
        summary,
        match,
    ).run(planned)
