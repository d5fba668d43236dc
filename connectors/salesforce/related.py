"""The people a notified record names: an Outbound Message about a Case, an Opportunity, one of
its contact roles or a survey response rescores the Leads and Contacts it is about, as one
about a Task or an Event rescores its `WhoId` (client.py reads those by id).

Each object is read by the field that names the notified record and the path to the person
(Object Reference: Case `ContactId`; OpportunityContactRole `ContactId`, `OpportunityId`;
SurveyResponse and SurveyQuestionResponse `InvitationId`, whose SurveyInvitation's
`ParticipantId` is the Lead, Contact or User invited). An Opportunity names the Contacts that
have a role on it; a Lead converted with it has become one of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from connectors.salesforce import soql
from connectors.salesforce.outcomes import ROLES
from connectors.salesforce.service import ANSWER_PERSON, ANSWERS, CASE

RESPONSES = "SurveyResponse"
OPPORTUNITY = "Opportunity"


@dataclass(frozen=True, slots=True)
class Named:
    """How the people of a notified `sobject` are read: `SELECT person FROM source WHERE key
    IN (ids)`."""

    source: str
    key: str
    person: str

    def statement(self, ids: Sequence[str]) -> str:
        return soql.select([self.person], self.source, soql.id_in(self.key, ids))


NAMED: Mapping[str, Named] = {
    CASE: Named(CASE, "Id", "ContactId"),
    ROLES: Named(ROLES, "Id", "ContactId"),
    OPPORTUNITY: Named(ROLES, "OpportunityId", "ContactId"),
    RESPONSES: Named(RESPONSES, "Id", ANSWER_PERSON),
    ANSWERS: Named(ANSWERS, "Id", ANSWER_PERSON),
}
