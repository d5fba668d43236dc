"""The write-back relay: sends the outbox to the CRM in batches, and never drops a row.

Rows are claimed without waiting for other relays (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
`BEGIN IMMEDIATE` on SQLite), so any number of relays can run; the claim is short, renewed
while the batch is sent, released when sending fails, and lapses by itself if its relay dies.
Sent rows record what the CRM now shows; refused rows are retried with backoff and, after the
last attempt, kept as failed with the CRM's reason. A spent API allocation is no row's fault:
the connection's rows wait, charged no attempt, until calls free up. A token endpoint giving no
login refuses nothing either: the rows are released uncharged, however long it lasts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol, cast

from sqlalchemy import Table, Update, bindparam, delete, exists, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased, sessionmaker

from app.claims import Heartbeat, skip_locked
from app.connections import write_block
from app.logging import get_logger
from app.models import Connection, Contact, OutboxEntry, OutboxState, QualificationRecord
from connectors.base import FieldWrite, WriteFailure, WriteOutcome
from connectors.errors import AllocationSpent, CrmUnavailable, TokenEndpointUnavailable

log = get_logger(__name__)


class ClaimedRow(NamedTuple):
    id: int  # the outbox row's
    contact_id: int
    crm_id: str
    values: dict[str, str]
    kind: str  # the contact's kind in the CRM: "contact", "lead"


Claimed = list[ClaimedRow]


class FieldWriter(Protocol):
    """The one part of a connector the relay needs."""

    async def write_fields(self, writes: Sequence[FieldWrite]) -> WriteOutcome: ...


@dataclass(frozen=True)
class RelayPolicy:
    batch_size: int = 100
    max_attempts: int = 8
    backoff: timedelta = timedelta(seconds=30)  # doubled per attempt
    backoff_max: timedelta = timedelta(hours=6)
    claim_for: timedelta = timedelta(seconds=30)  # renewed every third of it while sending
    # After a spent allocation the rows wait for the connector's `resumes_at`, at most this
    # long (as the inbox's events do, `jobs.SWEEP_EVERY`): a share raised meanwhile is followed.
    spent_wait: timedelta = timedelta(minutes=1)


@dataclass
class RelayResult:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    batches: int = 0
    last_error: str = ""  # the CRM's reason for the last refused write
    blocked: str = ""  # why nothing was sent at all (the connection's fields), rows kept
    spent: AllocationSpent | None = None  # what stopped the relay; the rows wait, uncharged,
    waits_until: datetime | None = None  # until then

    def add(self, other: RelayResult) -> None:
        """Another relay's counts, and what stopped it."""
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.batches += other.batches
        self.last_error = other.last_error or self.last_error
        self.blocked = other.blocked or self.blocked
        if other.spent is not None:
            self.spent, self.waits_until = other.spent, other.waits_until

    @property
    def refused(self) -> str:
        """ "" when every due write landed; otherwise what kept them from it."""
        if self.blocked:
            return self.blocked
        if self.failed or self.retrying:
            return (
                f"{self.failed + self.retrying} write(s) refused ({self.failed} kept as failed, "
                f"{self.retrying} to retry): {self.last_error}"
            )
        return ""


def claim_rows(
    session: Session, connection_id: int, now: datetime, policy: RelayPolicy
) -> tuple[str, Claimed]:
    """Claim the connection's due rows in this transaction (rows another relay is claiming
    are skipped, never waited for); rows of deleted contacts are dropped, never written."""
    token = uuid.uuid4().hex
    # A contact whose earlier row is in flight (claimed, its claim live) waits for it to
    # settle: two writes of one contact at once could land in either order, the older last.
    busy = aliased(OutboxEntry)
    in_flight = (
        exists()
        .where(
            busy.contact_id == OutboxEntry.contact_id,
            busy.id != OutboxEntry.id,
            busy.state == OutboxState.PENDING,
            busy.claim_token.is_not(None),
            busy.next_attempt_at > now,
        )
        .correlate(OutboxEntry)
    )
    due = skip_locked(
        select(
            OutboxEntry.id,
            OutboxEntry.contact_id,
            Contact.crm_id,
            Contact.kind,
            Contact.deleted_at,
            OutboxEntry.field_values,
        )
        .join(Contact, Contact.id == OutboxEntry.contact_id)
        .where(
            OutboxEntry.connection_id == connection_id,
            OutboxEntry.state == OutboxState.PENDING,
            OutboxEntry.next_attempt_at <= now,
            ~in_flight,
        )
        .order_by(OutboxEntry.next_attempt_at, OutboxEntry.id)
        .limit(policy.batch_size),
        OutboxEntry,
    )
    rows = session.execute(due).all()
    # Of a contact's due rows (a lapsed claim's and the values that came after), the newest.
    newest = {row.contact_id: row.id for row in sorted(rows, key=lambda r: r.id)}
    gone = [r.id for r in rows if r.deleted_at is not None or newest[r.contact_id] != r.id]
    if gone:  # deleted or merged away since: never written to
        session.execute(delete(OutboxEntry).where(OutboxEntry.id.in_(gone)))
    claimed = [
        ClaimedRow(row.id, row.contact_id, row.crm_id, dict(row.field_values), row.kind)
        for row in rows
        if row.deleted_at is None and newest[row.contact_id] == row.id
    ]
    if claimed:
        session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id.in_([row[0] for row in claimed]))
            .values(claim_token=token, next_attempt_at=now + policy.claim_for)
            .execution_options(synchronize_session=False)
        )
    return token, claimed


def _claim(
    sessions: sessionmaker[Session], connection_id: int, now: datetime, policy: RelayPolicy
) -> tuple[str, Claimed]:
    with sessions.begin() as session:
        return claim_rows(session, connection_id, now, policy)


def _ids(claimed: Claimed) -> list[int]:
    return [row.id for row in claimed]


def _renew(
    sessions: sessionmaker[Session],
    token: str,
    claimed: Claimed,
    now: Callable[[], datetime],
    policy: RelayPolicy,
) -> None:
    with sessions.begin() as session:
        session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id.in_(_ids(claimed)), OutboxEntry.claim_token == token)
            .values(next_attempt_at=now() + policy.claim_for)
            .execution_options(synchronize_session=False)
        )


def _release(sessions: sessionmaker[Session], token: str, claimed: Claimed, at: datetime) -> None:
    """Make the rows due again at once."""
    _give_back(
        sessions,
        update(OutboxEntry).where(
            OutboxEntry.id.in_(_ids(claimed)), OutboxEntry.claim_token == token
        ),
        at,
        len(claimed),
    )


def _defer(
    sessions: sessionmaker[Session], connection_id: int, token: str, claimed: Claimed, at: datetime
) -> None:
    """A spent allocation is the connection's, not the batch's: the batch and the connection's
    other waiting rows fall due at `at`, charged no attempt (rows under another relay's claim,
    or waiting longer already, are left as they are). Rows another transaction is taking or
    replacing (a claim, a new score's values) are skipped, never waited for: waiting on them
    while holding others could deadlock with it."""
    waiting = skip_locked(
        select(OutboxEntry.id).where(
            OutboxEntry.connection_id == connection_id,
            OutboxEntry.state == OutboxState.PENDING,
            or_(
                OutboxEntry.claim_token == token,
                OutboxEntry.claim_token.is_(None) & (OutboxEntry.next_attempt_at < at),
            ),
        )
    )
    _give_back(sessions, update(OutboxEntry).where(OutboxEntry.id.in_(waiting)), at, len(claimed))


def _give_back(sessions: sessionmaker[Session], rows: Update, at: datetime, claimed: int) -> None:
    """Unclaim the rows, due at `at`; if even that fails, the claim lapses by itself."""
    try:
        with sessions.begin() as session:
            session.execute(
                rows.values(claim_token=None, next_attempt_at=at).execution_options(
                    synchronize_session=False
                )
            )
    except SQLAlchemyError as exc:
        log.warning(
            "could not release outbox rows; their claim lapses by itself",
            rows=claimed,
            error=type(exc).__name__,
        )


def _retry_at(now: datetime, attempts: int, policy: RelayPolicy) -> datetime:
    delay: timedelta = min(policy.backoff * (2 ** max(0, attempts - 1)), policy.backoff_max)
    return now + delay


async def relay_outbox(
    sessions: sessionmaker[Session],
    connector: FieldWriter,
    connection_id: int,
    now: Callable[[], datetime],
    policy: RelayPolicy = RelayPolicy(),
) -> RelayResult:
    """Send every due row; stops early (rows kept) when the CRM is down or the budget spent
    (`spent`: the connection's rows then wait until `waits_until`, uncharged).

    Nothing is sent while the connection's fields are not installed (a CRM property in
    conflict): the rows wait, and go once a reinstall finds the fields fixed. Nor while it is
    paused (or deleted): the rows wait for the resume."""
    result = RelayResult()
    with sessions() as session:
        connection = session.get(Connection, connection_id)
        if connection is None or connection.paused:
            return result
        result.blocked = write_block(connection)
    if result.blocked:
        return result
    while True:
        token, claimed = _claim(sessions, connection_id, now(), policy)
        if not claimed:
            return result
        result.batches += 1
        writes = [FieldWrite(row.crm_id, row.values, row.kind) for row in claimed]
        beat = Heartbeat(
            lambda: _renew(sessions, token, claimed, now, policy),  # noqa: B023 - used in-loop
            policy.claim_for.total_seconds() / 3,
            what="outbox",
        )
        try:
            with beat:
                outcome = await connector.write_fields(writes)
        except TokenEndpointUnavailable:
            # No login, so nothing was sent: no fault of the rows, which are charged no attempt
            # (an outage longer than their backoffs would otherwise fail every write for good).
            _release(sessions, token, claimed, now())
            raise
        except CrmUnavailable as exc:
            failures = {row.crm_id: WriteFailure(str(exc)) for row in claimed}
            _settle(sessions, token, claimed, set(), failures, now(), policy, result)
            return result
        except AllocationSpent as exc:
            # The budget share or the CRM's day spent, no fault of the rows: they wait,
            # uncharged, for calls to free up, not due at once for the next wake-up to spend a
            # call on a refusal.
            result.spent, result.waits_until = exc, exc.retry_at(now(), policy.spent_wait)
            _defer(sessions, connection_id, token, claimed, result.waits_until)
            return result
        except BaseException:
            # Auth, a shutdown, any other failure: release the claim so the rows fall due
            # again now, not when the claim would have lapsed.
            _release(sessions, token, claimed, now())
            raise
        sent, retrying, failed = result.sent, result.retrying, result.failed
        _settle(
            sessions, token, claimed, set(outcome.written), outcome.failed, now(), policy, result
        )
        log.info(  # one line per batch of writes
            "writes sent",
            connection_id=connection_id,
            sent=result.sent - sent,
            retrying=result.retrying - retrying,
            failed=result.failed - failed,
        )


UNACKNOWLEDGED = WriteFailure("not acknowledged by the CRM")


def _settle(
    sessions: sessionmaker[Session],
    token: str,
    claimed: Claimed,
    written: set[str],
    failures: Mapping[str, WriteFailure],
    at: datetime,
    policy: RelayPolicy,
    result: RelayResult,
) -> None:
    sent = [
        (entry_id, contact_id, values)
        for entry_id, contact_id, crm_id, values, _ in claimed
        if crm_id in written
    ]
    refused = {row.id: row.crm_id for row in claimed if row.crm_id not in written}
    with sessions.begin() as session:
        if sent:
            # Rows superseded meanwhile (their claim is gone) are left alone: newer values wait.
            session.execute(
                update(OutboxEntry)
                .where(
                    OutboxEntry.id.in_([e for e, _, _ in sent]), OutboxEntry.claim_token == token
                )
                .values(state=OutboxState.SENT, sent_at=at, claim_token=None)
                .execution_options(synchronize_session=False)
            )
            session.execute(
                update(QualificationRecord),
                [{"contact_id": c, "written_values": v, "written_at": at} for _, c, v in sent],
            )
            result.sent += len(sent)
        if not refused:
            return
        rows = session.execute(
            select(OutboxEntry.id, OutboxEntry.attempts, OutboxEntry.next_attempt_at).where(
                OutboxEntry.id.in_(list(refused)), OutboxEntry.claim_token == token
            )
        ).all()
        changes = []
        for entry_id, attempts, next_attempt_at in rows:
            failure = failures.get(refused[entry_id], UNACKNOWLEDGED)
            reason = f"{failure.code}: {failure.message}" if failure.code else failure.message
            result.last_error = reason[:2000]
            # A permanent refusal (a converted Lead, a validation rule) is kept as failed at
            # once: retrying it eight times would only spend the API allocation.
            done = failure.permanent or attempts + 1 >= policy.max_attempts
            changes.append(
                {
                    "entry_id": entry_id,
                    "attempts": attempts + 1,
                    "last_attempt_at": at,
                    "last_error": result.last_error,
                    "state": OutboxState.FAILED if done else OutboxState.PENDING,
                    "next_attempt_at": (
                        next_attempt_at if done else _retry_at(at, attempts + 1, policy)
                    ),
                }
            )
            if done:
                result.failed += 1
            else:
                result.retrying += 1
        if changes:
            # By id and claim, as plain statements: a row superseded (deleted by newer values)
            # since the select above matches nothing and is simply gone, not an error.
            table = cast(Table, OutboxEntry.__table__)
            session.execute(
                update(table)
                .where(table.c.id == bindparam("entry_id"), table.c.claim_token == token)
                .values(
                    attempts=bindparam("attempts"),
                    last_attempt_at=bindparam("last_attempt_at"),
                    last_error=bindparam("last_error"),
                    state=bindparam("state"),
                    next_attempt_at=bindparam("next_attempt_at"),
                    claim_token=None,
                ),
                changes,
            )
