"""The pieces alone: SOQL statements quoted by format_soql and split to fit, the packed
cursor, activity types by TaskSubtype and Campaign.Type."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from connectors.errors import ConnectorError
from connectors.salesforce import activities as acts
from connectors.salesforce import soql
from connectors.salesforce.cursor import FullListing, SyncCursor
from connectors.salesforce.mapping import CustomerRule, PropertyMap

AT = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


def test_literals_are_quoted_by_format_soql() -> None:
    assert soql.since(AT) == "SystemModstamp >= 2026-05-01T12:30:00+00:00"
    assert soql.id_in("WhoId", ["00Q1", "a'b"]) == "WhoId IN ('00Q1','a\\'b')"
    statement = soql.select(["Id"], "Lead", soql.both(soql.since(None), "IsConverted = false"))
    assert statement == "SELECT Id FROM Lead WHERE IsConverted = false"


def test_in_chunks_packs_each_statement_as_full_as_fits_and_loses_no_id() -> None:
    ids = [f"00Q{n:015d}" for n in range(100)]

    def build(chunk: Sequence[str]) -> str:
        return soql.select(["Id"], "Task", soql.id_in("WhoId", chunk))

    def fits(text: str) -> bool:
        return len(text) <= 400

    statements = list(soql.in_chunks(build, ids, fits))
    assert all(fits(s) for s in statements)
    # The frame takes 37 characters and each id 21 ("'00Q...',", the last without its comma):
    # 17 ids a statement, the last one holding what is left.
    assert [s.count("'00Q") for s in statements] == [17, 17, 17, 17, 17, 15]
    back = [i for s in statements for i in s.split("(")[1].rstrip(")").replace("'", "").split(",")]
    assert back == ids
    with pytest.raises(ValueError, match="even one id"):
        list(soql.in_chunks(build, ids, lambda text: len(text) < 20))


def test_split_fields_keeps_the_fixed_ones_and_as_many_others_as_fit() -> None:
    def statement(fields: Sequence[str]) -> str:
        return soql.select(fields, "Lead")

    kept, left = soql.split_fields(
        ["Id"], ["Title", "Email", "Company"], statement, lambda text: len(text) <= 34
    )
    assert kept == ["Id", "Title", "Email"]
    assert left == ["Company"]


def test_the_cursor_round_trips_and_refuses_what_it_cannot_read() -> None:
    cursor = SyncCursor(
        marks={"Lead": AT, "Task": AT}, deleted_since=AT, full=FullListing("Contact", AT, AT)
    )
    assert SyncCursor.loads(cursor.dumps()) == cursor
    assert SyncCursor.loads(None) is None
    assert SyncCursor.loads("") is None
    for text in ("{", '{"v": 2}', '{"v": 1, "marks": {"Nope": "2026-05-01T00:00:00+00:00"}}',
                 '{"v": 1, "marks": {"Lead": "2026-05-01T00:00:00"}}',
                 '{"v": 1, "full": {"stream": "Task", "started": "2026-05-01T00:00:00+00:00"}}',
                 '{"since_ms": 5}'):  # fmt: skip
        with pytest.raises(ConnectorError, match="Salesforce sync cursor is unreadable"):
            SyncCursor.loads(text)


@pytest.mark.parametrize(
    ("row", "kind"),
    [
        ({"TaskSubtype": "Call"}, "call"),
        ({"TaskSubtype": "Email", "Subject": "Email: Re: your pricing question"}, "email_reply"),
        ({"TaskSubtype": "Email", "Subject": "RE: contract"}, "email_reply"),
        ({"TaskSubtype": "Email", "Subject": "Email: Following up"}, "email_sent"),
        ({"TaskSubtype": "Email", "Subject": "Regarding the demo"}, "email_sent"),
        ({"TaskSubtype": "ListEmail", "Subject": "May newsletter"}, "email_sent"),
        ({"TaskSubtype": "Task", "Subject": "Send proposal"}, "task"),
        ({"TaskSubtype": None, "Type": "Call"}, "call"),
    ],
)
def test_tasks_by_subtype(row: dict[str, object], kind: str) -> None:
    assert acts.task_type(row) == kind


def test_campaign_responses_by_campaign_type() -> None:
    base = {"Id": "00v1", "HasResponded": True, "FirstRespondedDate": "2026-04-30"}
    email = acts.from_member({**base, "Campaign": {"Name": "May news", "Type": "Email"}}, "00Q1")
    webinar = acts.from_member(
        {**base, "Campaign": {"Name": "Pipeline webinar", "Type": "Webinar"}}, "00Q1"
    )
    sent_only = acts.from_member({**base, "HasResponded": False}, "00Q1")
    assert email is not None
    assert webinar is not None
    assert (email.type, email.stream) == ("email_click", "CampaignMember")
    assert webinar.type == "form_submission"
    assert webinar.properties["form"] == "Pipeline webinar"
    assert webinar.occurred_at == datetime(2026, 4, 30, tzinfo=UTC)
    assert sent_only is None


def test_only_the_fields_the_criteria_need_are_read() -> None:
    lean = PropertyMap(["jobtitle"])
    assert "Title" in lean.paths("Lead")
    for unneeded in ("Industry", "NumberOfEmployees", "Country", "HasOptedOutOfEmail"):
        assert unneeded not in lean.paths("Lead")
    assert "Account.Industry" not in lean.paths("Contact")
    wide = PropertyMap(["industry", "numemployees", "country", "Rating", "Account.Rating"])
    assert {"Industry", "NumberOfEmployees", "Country", "Rating"} <= set(wide.paths("Lead"))
    assert "Account.Rating" not in wide.paths("Lead")  # a Lead has no Account
    assert {"Account.Industry", "Account.NumberOfEmployees", "MailingCountry",
            "Account.BillingCountry", "Account.Rating"} <= set(wide.paths("Contact"))  # fmt: skip


def test_who_is_a_customer_is_configurable() -> None:
    default = CustomerRule()
    assert default.is_customer("Customer - Direct", has_won=False)
    assert default.is_customer("customer - channel", has_won=False)
    assert default.is_customer("Prospect", has_won=True)
    assert not default.is_customer("Prospect", has_won=False)
    assert not default.is_customer(None, has_won=False)
    own = CustomerRule(account_types=("Client", "Partner"), won_opportunity=False)
    assert own.is_customer("Partner - Gold", has_won=False)
    assert not own.is_customer("Customer - Direct", has_won=True)
