"""What customers ask and say, as Salesforce keeps it: Cases (Service Cloud) and the answers to
NPS and rating questions of Feedback Management surveys, as the engine's `ticket` and
`survey_response` activities (the ones the criteria's customer health and the effectiveness
report read). Fields from the Object Reference: Case (`ContactId`, `CreatedDate`, `Priority`,
`IsClosed`, `Status`, `ClosedDate`); SurveyQuestionResponse (`NumberValue`, an int for NPS,
Rating, Score and Slider questions; through `QuestionId`, `InvitationId` and `ResponseId`: its
Question's `QuestionType`, its Invitation's `ParticipantId`, its Response's
`CompletionDateTime`). There is no `ResponseValue` on SurveyQuestionResponse (the Connect API
names its request field so).

| Salesforce                                   | activity        | properties                    |
|----------------------------------------------|-----------------|-------------------------------|
| Case of a Contact, at CreatedDate            | ticket          | priority (High, Medium, Low   |
|                                              |                 | as HIGH, MEDIUM, LOW; an      |
|                                              |                 | org's Critical or Urgent as   |
|                                              |                 | URGENT), status OPEN unless   |
|                                              |                 | IsClosed, closed_at           |
|                                              |                 | (ClosedDate), subject,        |
|                                              |                 | case_status (the Status)      |
| SurveyQuestionResponse to an NPS question    | survey_response | survey nps, score (0-10)      |
| ... to a CSAT or Rating question             | survey_response | survey csat, rating           |

An answer is dated when its response was completed (else when it was made) and belongs to the
person its invitation went to (`ParticipantId`: a Lead or a Contact). An org without the
Feedback Management licence has no SurveyQuestionResponse in its describe: the connector says
"not licensed" for surveys (`connectors.base.SURVEYS`) rather than reading none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import CrmActivity
from connectors.salesforce.mapping import parse_time, read, text

CASE = "Case"
CASE_FIELDS = (
    "Id", "ContactId", "CreatedDate", "Priority", "IsClosed", "Status", "ClosedDate", "Subject",
)  # fmt: skip
ANSWERS = "SurveyQuestionResponse"
ANSWER_FIELDS = ("Id", "NumberValue", "CreatedDate")
# Through the answer's parents: what the question was, whom it was sent to, when it was done.
ANSWER_PATHS = ("Question.QuestionType", "Invitation.ParticipantId", "Response.CompletionDateTime")
ANSWER_PERSON = "Invitation.ParticipantId"
# QuestionType -> (the engine's survey, the property its value goes in): an NPS answer carries
# `score` (0-10), as the default customer health reads it; a rating another scale, `rating`.
QUESTION_TYPES: Mapping[str, tuple[str, str]] = {
    "NPS": ("nps", "score"),
    "CSAT": ("csat", "rating"),
    "Rating": ("csat", "rating"),
}
# Priorities beyond Salesforce's standard three that orgs add for their worst cases.
_URGENT = frozenset({"critical", "urgent"})
UNLICENSED = (
    f"not licensed: {ANSWERS} is not in the org's describe (Salesforce Feedback Management)"
)
NO_CASES = f"not readable: {CASE} is not in the org's describe for the integration user"


def priority(value: object) -> str | None:
    """A Case's Priority in the engine's vocabulary (LOW, MEDIUM, HIGH, URGENT)."""
    label = text(value)
    if label is None:
        return None
    return "URGENT" if label.lower() in _URGENT else label.upper()


def from_case(row: Mapping[str, Any]) -> CrmActivity | None:
    """A Case is OPEN until Salesforce says it `IsClosed` (its Status is a closed one)."""
    at = parse_time(row.get("CreatedDate"))
    contact = row.get("ContactId")
    if at is None or not contact:
        return None
    closed_at = parse_time(row.get("ClosedDate"))
    details: dict[str, Any] = {
        "priority": priority(row.get("Priority")),
        # `status` is as of the read; `closed_at` lets an evaluation as of an earlier time tell
        # a Case that was still open then.
        "status": "CLOSED" if row.get("IsClosed") is True else "OPEN",
        "closed_at": closed_at.isoformat() if closed_at else None,
        "subject": text(row.get("Subject")),
        "case_status": text(row.get("Status")),
    }
    return CrmActivity(
        crm_id=f"{CASE}:{row['Id']}",
        contact_crm_id=str(contact),
        type="ticket",
        occurred_at=at,
        properties={k: v for k, v in details.items() if v is not None},
        stream=CASE,
    )


def from_answer(row: Mapping[str, Any]) -> CrmActivity | None:
    kind = QUESTION_TYPES.get(str(read(row, "Question.QuestionType") or ""))
    person = read(row, ANSWER_PERSON)
    value = row.get("NumberValue")
    at = parse_time(read(row, "Response.CompletionDateTime")) or parse_time(row.get("CreatedDate"))
    if kind is None or not person or not isinstance(value, int | float) or at is None:
        return None
    survey, key = kind
    return CrmActivity(
        crm_id=f"{ANSWERS}:{row['Id']}",
        contact_crm_id=str(person),
        type="survey_response",
        occurred_at=at,
        properties={
            "survey": survey,
            key: text(value),
            "question_type": read(row, "Question.QuestionType"),
        },
        stream=ANSWERS,
    )
