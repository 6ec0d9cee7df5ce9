"""The delivery worker: claims outbox messages after commit and hands them to a plugin.

A message is claimed for a lease of twice the delivery timeout; delivered,
it leaves the outbox; failed, it is retried with exponential backoff up to
the configured number of attempts, then marked failed for administrators to
see and resend. A process that dies mid-delivery leaves its claims to run
out, and any worker (its own after a restart) claims them again: delivery
is at least once, and every attempt carries the message's idempotency key
so that a receiver can make it exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio

from scim_gateway.backends.base import Backend
from scim_gateway.backends.columns import utc_now
from scim_gateway.backends.errors import BackendError
from scim_gateway.backends.invitations import OutboxEntry
from scim_gateway.config import Settings
from scim_gateway.plugins.base import (
    Deliverer,
    Invitation,
    InvitationEvent,
    PermanentDeliveryError,
    dispatch,
)

__all__ = ["OutboxWorker", "RetryPolicy", "invitation_from"]

logger = logging.getLogger(__name__)

# Longer than any error a deliverer should need to explain itself.
_MAX_ERROR = 500


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon a failed delivery is tried again."""

    max_attempts: int = 8
    backoff: float = 2.0
    max_backoff: float = 600.0
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=settings.delivery_max_attempts,
            backoff=settings.delivery_backoff_seconds,
            max_backoff=settings.delivery_backoff_max_seconds,
            timeout=settings.delivery_timeout_seconds,
        )

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt."""
        return float(min(self.backoff * 2 ** max(attempts - 1, 0), self.max_backoff))

    @property
    def lease(self) -> float:
        # A claim must outlive the attempt it covers, or a second worker
        # would start the same delivery while the first is still running.
        return self.timeout * 2


class OutboxWorker:
    """Delivers the outbox of one backend through one deliverer.

    `run` loops until cancelled: the gateway's lifespan starts it, and an
    embedding host without a lifespan runs it in a task of its own. `drain`
    delivers what is due now and returns, for tests and scripts.

    Args:
        organization: the name deliverers put in invitations.
        poll: seconds between looks at the outbox when nothing wakes the
            worker (messages from other processes, and retries that come due).
        batch: messages claimed at once; they are delivered concurrently.
        max_batch: the most messages claimed at once while a backlog lasts
            (four batches unless given): after a full batch whose deliveries
            all ended within `quick` seconds, the next claim doubles, up to
            this; any other batch sets it back to `batch`. A deliverer that
            answers at once (the log, an in-process queue) then costs one
            claim and one write per many messages, and one that talks to a
            server keeps `batch` deliveries at a time.
        quick: seconds within which a full batch must be delivered for the
            claim to grow.
        gather: seconds to wait before claiming again after a batch that was
            not full, so that a burst is claimed in few batches.
    """

    def __init__(
        self,
        backend: Backend,
        deliverer: Deliverer,
        *,
        organization: str,
        retry: RetryPolicy | None = None,
        poll: float = 1.0,
        batch: int = 16,
        max_batch: int | None = None,
        quick: float = 0.01,
        gather: float = 0.02,
    ) -> None:
        self.backend = backend
        self.deliverer = deliverer
        self.organization = organization
        self.retry = retry or RetryPolicy()
        self.poll = poll
        self.batch = batch
        self.max_batch = max(batch, max_batch if max_batch is not None else batch * 4)
        self.quick = quick
        self.gather = gather
        self._claim_size = batch
        self._wake = anyio.Event()

    def notify(self) -> None:
        """Wake the worker: a message was just enqueued."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver messages as they come due, until cancelled."""
        logger.info("outbox.worker_started deliverer=%s", self.deliverer.name)
        while True:
            self._wake = anyio.Event()
            count = await self._deliver_batch_safely()
            if count >= self.batch:
                continue
            if count == 0:
                with anyio.move_on_after(self.poll):
                    await self._wake.wait()
            # Messages come in bursts (a provisioning run creates users by the
            # hundred): a moment's wait lets one claim and one write of the
            # outcomes serve many messages instead of one each.
            await anyio.sleep(self.gather)

    async def drain(self) -> int:
        """Deliver until no message is due; returns how many attempts were made.

        A message waiting for its retry time is not due, so `drain` returns
        before retries that lie in the future.
        """
        total = 0
        while count := await self.deliver_batch():
            total += count
        return total

    async def deliver_batch(self) -> int:
        """Claim one batch of due messages and deliver it; returns its size."""
        limit = self._claim_size
        entries = await self.backend.claim_outbox(limit=limit, lease=self.retry.lease)
        if not entries:
            self._claim_size = self.batch
            return 0
        started = anyio.current_time()
        outcomes = await self._attempt(entries)
        delivered = await self._record_failures(entries, outcomes)
        self._size_next_claim(
            is_full=len(entries) >= limit,
            is_quick=anyio.current_time() - started <= self.quick,
        )
        if delivered:
            await self._record_delivered(delivered)
        return len(entries)

    async def _attempt(self, entries: list[OutboxEntry]) -> dict[str, Exception | None]:
        """Deliver a batch concurrently: each message's error, or None if delivered.

        The attempts start together, so one deadline for the batch is each
        attempt's own, for one timer instead of one a message; an attempt it
        cuts has no outcome.
        """
        outcomes: dict[str, Exception | None] = {}
        with anyio.move_on_after(self.retry.timeout):
            # `_deliver` lets no error out, so gather's tasks need none of a
            # task group's bookkeeping, which cost three times as much each.
            await asyncio.gather(*(self._deliver(e, outcomes) for e in entries))
        return outcomes

    async def _record_failures(
        self, entries: list[OutboxEntry], outcomes: dict[str, Exception | None]
    ) -> list[OutboxEntry]:
        """Retry or give up the attempts that failed; returns the delivered."""
        delivered: list[OutboxEntry] = []
        for entry in entries:
            error = outcomes[entry.id] if entry.id in outcomes else TimeoutError()
            if error is None:
                delivered.append(entry)
            elif isinstance(error, PermanentDeliveryError):
                await self._give_up(entry, error)
            else:
                await self._failed(entry, error)
        return delivered

    def _size_next_claim(self, *, is_full: bool, is_quick: bool) -> None:
        # Claiming and recording cost about as much as delivering to the log,
        # so a backlog is cheaper in bigger batches; they are delivered
        # concurrently, so only a deliverer that answers at once gets them.
        if is_full and is_quick:
            self._claim_size = min(self._claim_size * 2, self.max_batch)
        else:
            self._claim_size = self.batch

    async def _deliver_batch_safely(self) -> int:
        try:
            return await self.deliver_batch()
        except BackendError as exc:
            logger.warning("outbox.claim_failed error=%s", type(exc).__name__)
        except Exception:
            logger.exception("outbox.worker_error")
        return 0

    async def _deliver(
        self, entry: OutboxEntry, outcomes: dict[str, Exception | None]
    ) -> None:
        invitation = invitation_from(entry, self.organization)
        logger.debug(
            "outbox.dispatch id=%s event=%s attempt=%s deliverer=%s",
            entry.id,
            entry.event,
            entry.attempts,
            self.deliverer.name,
        )
        try:
            await dispatch(self.deliverer, invitation)
        except Exception as exc:
            outcomes[entry.id] = exc
        else:
            outcomes[entry.id] = None

    async def _record_delivered(self, entries: list[OutboxEntry]) -> None:
        """Record a batch's deliveries in one write, and log it.

        One INFO line a batch, each message at DEBUG: three lines for every
        new user were a tenth of a create's CPU, and the admin API shows
        each user's delivery anyway.
        """
        try:
            held = await self.backend.complete_outbox_many(entries)
        except BackendError as exc:
            # The claims run out and the messages go again: at least once.
            logger.warning(
                "outbox.record_failed count=%s error=%s",
                len(entries),
                type(exc).__name__,
            )
            return
        recorded = sum(held)
        if recorded:
            logger.info("outbox.delivered count=%s", recorded)
        for entry, is_held in zip(entries, held, strict=True):
            if not is_held:
                logger.warning("outbox.claim_lost id=%s", entry.id)
                continue
            logger.debug(
                "outbox.delivered id=%s event=%s tenant=%s user_id=%s attempt=%s",
                entry.id,
                entry.event,
                entry.tenant,
                entry.user_id,
                entry.attempts,
            )

    async def _failed(self, entry: OutboxEntry, exc: Exception) -> None:
        if entry.attempts >= self.retry.max_attempts:
            await self._give_up(entry, exc)
            return
        delay = self.retry.delay(entry.attempts)
        retry_at = utc_now() + timedelta(seconds=delay)
        logger.warning(
            "outbox.retry id=%s event=%s attempt=%s retry_in=%.1f error=%s",
            entry.id,
            entry.event,
            entry.attempts,
            delay,
            type(exc).__name__,
        )
        # The error text may name the person (an SMTP refusal repeats the
        # address), so it is logged at DEBUG and shown to admins only.
        logger.debug("outbox.retry id=%s detail=%s", entry.id, _describe(exc))
        await self._finish(
            self.backend.retry_outbox(entry, _describe(exc), retry_at=retry_at), entry
        )

    async def _give_up(self, entry: OutboxEntry, exc: Exception) -> None:
        logger.error(
            "outbox.failed id=%s event=%s tenant=%s user_id=%s attempts=%s error=%s",
            entry.id,
            entry.event,
            entry.tenant,
            entry.user_id,
            entry.attempts,
            type(exc).__name__,
        )
        await self._finish(self.backend.fail_outbox(entry, _describe(exc)), entry)

    async def _finish(self, outcome: Awaitable[bool], entry: OutboxEntry) -> None:
        try:
            held = await outcome
        except BackendError as exc:
            # The claim runs out and the message is delivered again: at least once.
            logger.warning(
                "outbox.record_failed id=%s error=%s", entry.id, type(exc).__name__
            )
            return
        if not held:
            logger.warning("outbox.claim_lost id=%s", entry.id)


def invitation_from(entry: OutboxEntry, organization: str) -> Invitation:
    """The value a deliverer gets for an outbox entry."""
    payload = entry.payload
    base = payload.get("acceptUrl")
    accept_url = None
    if entry.secret is not None and isinstance(base, str):
        accept_url = f"{base}?token={entry.secret}"
    expires = payload.get("expiresAt")
    return Invitation(
        event=InvitationEvent(entry.event),
        tenant=entry.tenant,
        user_id=entry.user_id,
        user_name=str(payload.get("userName") or ""),
        display_name=payload.get("displayName"),
        email=payload.get("email"),
        organization=organization,
        idempotency_key=entry.id,
        accept_url=accept_url,
        expires_at=datetime.fromisoformat(expires) if expires else None,
        attempt=entry.attempts,
    )


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:_MAX_ERROR]
