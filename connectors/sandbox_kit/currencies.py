"""The currency a company in each of the population's countries trades in (ISO 4217): what the
sandboxes price its deals in (HubSpot's `deal_currency_code`, Salesforce's `CurrencyIsoCode`
in a multi-currency org)."""

from __future__ import annotations

from collections.abc import Mapping

CURRENCY_OF_COUNTRY: Mapping[str, str] = {
    "United States": "USD",
    "Canada": "CAD",
    "United Kingdom": "GBP",
    "Germany": "EUR",
    "France": "EUR",
    "Netherlands": "EUR",
    "Spain": "EUR",
    "Australia": "AUD",
    "Sweden": "SEK",
    "India": "INR",
    "Brazil": "BRL",
    "Mexico": "MXN",
}
