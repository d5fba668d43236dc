"""Each CRM reads its own stored cursor as a date for `connections show`: the instant people's
changes are read from, None while a full listing is under way, an error when unreadable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.errors import ConnectorError
from connectors.hubspot.crm import CRM as HUBSPOT
from connectors.hubspot.cursor import SyncCursor as HubSpotCursor
from connectors.salesforce.crm import CRM as SALESFORCE
from connectors.salesforce.cursor import FullListing
from connectors.salesforce.cursor import SyncCursor as SalesforceCursor

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
LATER = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def test_hubspot_reads_changes_since_its_mark() -> None:
    since = HubSpotCursor(since_ms=int(AT.timestamp() * 1000)).dumps()
    assert HUBSPOT.cursor_at(since) == AT
    assert HUBSPOT.cursor_at(HubSpotCursor(full_after="abc", full_started_ms=1).dumps()) is None
    with pytest.raises(ConnectorError):
        HUBSPOT.cursor_at("not a cursor")


def test_salesforce_reads_people_from_the_earliest_of_their_marks() -> None:
    marks = {"Lead": LATER, "Contact": AT, "Task": datetime(2020, 1, 1, tzinfo=UTC)}
    assert SALESFORCE.cursor_at(SalesforceCursor(marks).dumps()) == AT  # a Task is no person
    listing = SalesforceCursor(marks, full=FullListing("Lead", AT))
    assert SALESFORCE.cursor_at(listing.dumps()) is None
    with pytest.raises(ConnectorError):
        SALESFORCE.cursor_at('{"v": 9}')
