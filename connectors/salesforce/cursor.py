"""The sync cursor, as stored between runs: one position per stream, packed in one string.

Each stream (Lead, Contact, Account, Opportunity, Task, Event, CampaignMember, Case,
SurveyQuestionResponse) has its own mark: the `SystemModstamp` from which its next query
reads (a stream whose object the org lacks is not read, its mark moves on). The deleted log has
its own (the `latestDateCovered` of the last call, as Salesforce says to use it). A full
listing under way says which object it lists and the `SystemModstamp` it reached, so a run that
stops resumes it.
A listing that went through a Bulk API 2.0 job goes in `Id` order instead (Bulk results are
not sorted by `SystemModstamp`): then `after_id` is the last Id handed out, read on from with
`Id > after_id` (`after`, if any, stays the listing's fixed lower bound), so a listing that
falls back from Bulk to REST, or resumes, neither repeats nor skips a record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from connectors.errors import ConnectorError

PEOPLE = ("Lead", "Contact")
# Streams that name people without changing them: a Task logged on a Lead leaves the Lead's
# SystemModstamp alone, an Opportunity won makes its Account's Contacts customers, a Case or a
# survey answer changes a customer's health.
RELATED = (
    "Account", "Opportunity", "Task", "Event", "CampaignMember", "Case", "SurveyQuestionResponse",
)  # fmt: skip
STREAMS = (*PEOPLE, *RELATED)
VERSION = 1


def _time(text: object) -> datetime:
    if not isinstance(text, str):
        raise ValueError("not a date-time")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a date-time without an offset")
    return moment


@dataclass(frozen=True, slots=True)
class FullListing:
    stream: str  # "Lead", then "Contact"
    started: datetime  # the org's time when the listing began: every mark's successor
    after: datetime | None = None  # SystemModstamp reached (read again from there, >=)
    after_id: str | None = None  # in Id order (after a Bulk job): the last Id handed out (>)


@dataclass(frozen=True, slots=True)
class SyncCursor:
    marks: dict[str, datetime] = field(default_factory=dict)
    deleted_since: datetime | None = None
    full: FullListing | None = None

    def mark(self, stream: str) -> datetime | None:
        return self.marks.get(stream)

    def moved(self, stream: str, to: datetime) -> SyncCursor:
        return replace(self, marks={**self.marks, stream: to})

    def dumps(self) -> str:
        body: dict[str, Any] = {
            "v": VERSION,
            "marks": {name: moment.isoformat() for name, moment in sorted(self.marks.items())},
        }
        if self.deleted_since is not None:
            body["deleted_since"] = self.deleted_since.isoformat()
        if self.full is not None:
            full: dict[str, Any] = {
                "stream": self.full.stream,
                "started": self.full.started.isoformat(),
            }
            if self.full.after is not None:
                full["after"] = self.full.after.isoformat()
            if self.full.after_id is not None:
                full["after_id"] = self.full.after_id
            body["full"] = full
        return json.dumps(body, sort_keys=True)

    @classmethod
    def loads(cls, text: str | None) -> SyncCursor | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("v") != VERSION:
                raise ValueError("not a version 1 Salesforce cursor")
            marks = {str(k): _time(v) for k, v in dict(data.get("marks") or {}).items()}
            unknown = set(marks) - set(STREAMS)
            if unknown:
                raise ValueError(f"unknown streams {sorted(unknown)}")
            deleted = data.get("deleted_since")
            full = data.get("full")
            listing = None
            if full is not None:
                if full.get("stream") not in PEOPLE:
                    raise ValueError("a full listing of an unknown object")
                after = full.get("after")
                after_id = full.get("after_id")
                if after_id is not None and not (
                    isinstance(after_id, str) and after_id.isalnum() and len(after_id) in (15, 18)
                ):
                    raise ValueError("a full listing's after_id that is not a record id")
                listing = FullListing(
                    str(full["stream"]),
                    _time(full.get("started")),
                    _time(after) if after is not None else None,
                    after_id,
                )
            return cls(marks, _time(deleted) if deleted is not None else None, listing)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise ConnectorError(
                f"stored Salesforce sync cursor is unreadable ({exc}): {text[:80]!r}"
            ) from None
