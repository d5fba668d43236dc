"""A synthetic B2B lead population with a hidden truth, to test, tune and demonstrate scoring.

Each member is a HubSpot-shaped contact, the activities it produced between `start` and `end`,
and whether it converted in the 90 days after `end`. Two hidden numbers drive all three the way
they do for a B2B SaaS seller with inbound leads:

- `fit` (0..1): how well the person's account matches the seller's ideal customer. It rises with
  ICP industries (software, IT services, internet, financial services), mid-market headcount,
  director/VP and manager titles in revenue teams and core markets; it falls for free-mail
  addresses, tiny companies and the enterprise (whose procurement rarely buys from a web lead).
  Part of it (department, plain luck) is invisible to any criteria file, and the CRM is missing
  some properties, so scoring can only approximate it. Generic criteria get some of this wrong
  on purpose: that is what calibration is for.
- `intent` (0..1): how far a purchase has got at `end`: inside a buying window (weeks of pricing
  and docs visits, demo requests, meetings, trials; better-fit accounts enter them more often
  and research harder), helped along by a recent sales meeting and hands-on use. Outside a window
  people still open newsletters (some mail clients open every email by themselves), read the
  blog, register for webinars and get cold calls from sales: noise a good scorer must not
  over-reward.

A member converts (an opportunity or a deal) after `end` with a probability that grows with
fit times intent, plus a little noise. Customers (~5%), competitors, students, opted-out and
bounced addresses and contacts with nothing but an email are mixed in. Under the default
criteria about three leads in four are not sales-ready at `end`.

Customers carry a third hidden fact: a quarter of the customer accounts will churn in the 90
days after `end` (every contact of such an account gets the same `churned_at`). What shows of
it is noisy, as it is in a CRM: their people use the product less and stop weeks before `end`,
answer NPS surveys lower (`survey_response`, property `score` 0-10) and open more support
tickets, more of them urgent and still open at `end` (`ticket`, properties `priority` LOW,
MEDIUM, HIGH or URGENT and `status` OPEN or CLOSED) - but healthy customers have detractors and
urgent tickets too, and many people answer no survey at all. These observations come from
random streams of their own, so adding them left every lead's history as it was.

Generation is deterministic per (seed, index), streams one member at a time (memory does not grow
with `n`) and avoids per-activity overhead, since the CRM sandboxes seed from it.

Activity properties use the names the connectors read back: `url` for page views and email
clicks, `form` for form submissions, `campaign` for marketing emails, HubSpot's
`hs_meeting_outcome` for meetings and `hs_call_direction` / `hs_call_status` /
`hs_call_duration` (milliseconds) for calls.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from qualification.records import Activity, Contact, Outcome

__all__ = ["COMPETITOR_DOMAINS", "SITE", "Member", "generate_population"]

SITE = "https://www.example.com"
# Competitors of the (fictional) seller; the default criteria disqualify these email domains.
COMPETITOR_DOMAINS = ("rivalscore.io", "leadlynx.com", "qualifyhq.com")

_DAY = 86_400.0
_HOUR = 3_600.0
_CONVERSION_HORIZON_DAYS = 90.0


@dataclass(frozen=True, slots=True)
class Member:
    """One generated contact with what it did, what happened next, and the hidden truth."""

    contact: Contact
    activities: list[Activity]
    outcome: Outcome
    fit: float
    intent: float
    churn: bool = False  # a customer's account churns after `end`


class _Table:
    """A weighted choice drawn with one random number (rng.choices is slow for one draw)."""

    __slots__ = ("_cumulative", "_total", "values")

    def __init__(self, pairs: Sequence[tuple[Any, float]]) -> None:
        self.values = [value for value, _ in pairs]
        running = 0.0
        self._cumulative: list[float] = []
        for _, weight in pairs:
            running += weight
            self._cumulative.append(running)
        self._total = running

    def draw(self, rng: random.Random) -> Any:
        return self.values[bisect(self._cumulative, rng.random() * self._total)]


# --- Accounts -----------------------------------------------------------------------------------

_ICP_INDUSTRIES = (
    "COMPUTER_SOFTWARE",
    "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "INTERNET",
    "FINANCIAL_SERVICES",
)
_ADJACENT_INDUSTRIES = (
    "MARKETING_AND_ADVERTISING",
    "COMPUTER_NETWORK_SECURITY",
    "TELECOMMUNICATIONS",
    "MANAGEMENT_CONSULTING",
    "STAFFING_AND_RECRUITING",
    "INSURANCE",
    "BANKING",
)
_OTHER_INDUSTRIES = (
    "RETAIL",
    "HOSPITAL_HEALTH_CARE",
    "CONSTRUCTION",
    "RESTAURANTS",
    "REAL_ESTATE",
    "EDUCATION_MANAGEMENT",
    "NONPROFIT_ORGANIZATION_MANAGEMENT",
    "AUTOMOTIVE",
    "MACHINERY",
    "FOOD_BEVERAGES",
    "GOVERNMENT_ADMINISTRATION",
    "LOGISTICS_AND_SUPPLY_CHAIN",
)
# Inbound interest skews to tech, as it does for a B2B SaaS seller.
_INDUSTRY = _Table(
    [(name, 20.0) for name in _ICP_INDUSTRIES]
    + [(name, 3.5) for name in _ADJACENT_INDUSTRIES]
    + [(name, 2.8) for name in _OTHER_INDUSTRIES]
)
_INDUSTRY_FIT = (
    dict.fromkeys(_ICP_INDUSTRIES, 1.1)
    | dict.fromkeys(_ADJACENT_INDUSTRIES, 0.2)
    | dict.fromkeys(_OTHER_INDUSTRIES, -0.9)
)

# HubSpot's numemployees buckets, with how many contacts an account of that size tends to have.
_SIZE = _Table(
    [
        (("1-5", -1.6, 1), 6.0),
        (("5-25", -0.8, 1), 12.0),
        (("25-50", -0.1, 2), 13.0),
        (("50-100", 0.4, 2), 16.0),
        (("100-500", 0.9, 3), 24.0),
        (("500-1000", 1.0, 3), 12.0),
        (("1000+", -0.6, 4), 17.0),
    ]
)

# Country, fit adjustment (core markets sell better), email/website TLD, phone prefix.
_COUNTRY = _Table(
    [
        (("United States", 0.3, "com", "+1"), 44.0),
        (("United Kingdom", 0.3, "co.uk", "+44"), 10.0),
        (("Germany", 0.2, "de", "+49"), 8.0),
        (("Canada", 0.3, "ca", "+1"), 6.0),
        (("France", 0.0, "fr", "+33"), 4.0),
        (("Netherlands", 0.2, "nl", "+31"), 3.0),
        (("Australia", 0.2, "com.au", "+61"), 4.0),
        (("Sweden", 0.1, "se", "+46"), 2.0),
        (("India", -0.6, "in", "+91"), 8.0),
        (("Brazil", -0.6, "com.br", "+55"), 4.0),
        (("Spain", -0.3, "es", "+34"), 3.0),
        (("Mexico", -0.6, "mx", "+52"), 2.0),
        (("Nigeria", -0.8, "ng", "+234"), 2.0),
    ]
)

_NAME_HEADS = (
    "north", "blue", "bright", "iron", "silver", "summit", "vertex", "cedar", "harbor", "apex",
    "nova", "pine", "river", "stone", "quantum", "lumen", "atlas", "orbit", "helix", "maple",
    "falcon", "granite", "copper", "lake", "red", "green", "sun", "star", "cloud", "delta",
    "echo", "zen", "true", "clear", "swift", "bold", "prime", "open", "key", "arc",
    "core", "high", "wild", "ever", "oak", "sky", "blu", "tidal",
)  # fmt: skip
_NAME_TAILS = (
    "wave", "line", "point", "stack", "works", "field", "bridge", "path", "forge", "labs",
    "grid", "scale", "logic", "flow", "base", "gate", "mark", "shift", "ware", "spring",
    "hub", "craft", "mind", "signal", "way", "loop", "metrics", "bay", "vista", "tree",
    "view", "cast", "sight", "link", "ledger", "pay", "desk", "ops", "soft", "data",
)  # fmt: skip
_COMPANY_SUFFIX = _Table(
    [("", 5.0), (" Inc.", 3.0), (" Ltd", 1.5), (" LLC", 1.5), (" Group", 1.0), (" Labs", 1.0),
     (" Technologies", 1.0), (" Systems", 1.0), (" Partners", 0.5)]
)  # fmt: skip
# An affine map modulo the number of name pairs is a bijection: every account gets its own domain.
_NAME_PAIRS = len(_NAME_HEADS) * len(_NAME_TAILS)
_NAME_STRIDE = 1_237  # coprime with _NAME_PAIRS (1,920)

_FREE_MAIL = _Table(
    [("gmail.com", 55.0), ("yahoo.com", 10.0), ("hotmail.com", 8.0), ("outlook.com", 9.0),
     ("icloud.com", 6.0), ("aol.com", 2.0), ("gmx.de", 3.0), ("proton.me", 2.0),
     ("yandex.ru", 1.0), ("live.com", 2.0), ("qq.com", 1.0), ("163.com", 1.0)]
)  # fmt: skip

_FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Daniel", "Karen", "Matthew", "Nancy", "Anthony", "Lisa", "Mark", "Priya", "Rahul", "Ananya",
    "Wei", "Mei", "Hiroshi", "Yuki", "Carlos", "Maria", "Lucas", "Ana", "Sofia", "Mateo",
    "Fatima", "Omar", "Aisha", "Chinedu", "Ngozi", "Lukas", "Anna", "Jonas", "Lena", "Pierre",
    "Camille", "Emma", "Liam", "Olivia", "Noah", "Ava", "Ethan", "Mia", "Sven", "Ingrid",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Patel",
    "Sharma", "Singh", "Chen", "Wang", "Li", "Tanaka", "Sato", "Kim", "Park", "Silva", "Santos",
    "Oliveira", "Okafor", "Adeyemi", "Mueller", "Schmidt", "Schneider", "Fischer", "Dubois",
    "Moreau", "Rossi", "Bianchi", "Jansen", "de Vries", "Andersson", "Johansson", "Nowak", "Khan",
)  # fmt: skip

# --- People -------------------------------------------------------------------------------------

# (department in titles, fit adjustment, individual-contributor titles). The seller sells to
# revenue teams: their people buy; engineers and finance read the docs and rarely buy.
_DEPARTMENT = _Table(
    [
        (("Sales", 0.5, ("Account Executive", "Sales Development Representative",
                         "Business Development Representative", "Account Manager")), 18.0),
        (("Marketing", 0.5, ("Marketing Specialist", "Demand Generation Specialist",
                             "Content Marketer", "Marketing Coordinator")), 18.0),
        (("Revenue Operations", 0.7, ("Sales Operations Analyst", "RevOps Analyst",
                                      "CRM Administrator")), 7.0),
        (("Growth", 0.4, ("Growth Marketer", "Growth Analyst")), 4.0),
        (("Customer Success", 0.2, ("Customer Success Manager", "Onboarding Specialist")), 6.0),
        (("Engineering", -0.4, ("Software Engineer", "Senior Software Engineer",
                                "Data Engineer")), 14.0),
        (("Finance", -0.4, ("Financial Analyst", "Accountant", "Controller")), 7.0),
        (("People", -0.6, ("Recruiter", "HR Generalist", "Talent Partner")), 6.0),
        (("Operations", -0.2, ("Operations Analyst", "Project Coordinator")), 8.0),
        (("IT", -0.3, ("Systems Administrator", "IT Specialist", "Solutions Architect")), 7.0),
    ]
)  # fmt: skip
_C_LEVEL_TITLES = (
    "CEO", "Chief Executive Officer", "Co-Founder & CEO", "Founder", "CTO", "COO",
    "Chief Revenue Officer", "Chief Marketing Officer", "CFO",
)  # fmt: skip
_SENIORITY_TEMPLATES = {
    "vp": ("VP of {}", "Vice President, {}", "SVP {}", "VP {}"),
    "director": ("Director of {}", "Senior Director, {}", "{} Director"),
    "head": ("Head of {}",),
    "manager": ("{} Manager", "Senior {} Manager", "{} Team Lead"),
}
_SENIORITY_FIT = {
    "c_level": 0.0,
    "vp": 1.1,
    "director": 0.9,
    "head": 0.8,
    "manager": 0.7,
    "ic": -0.6,
}
_SENIORITY_SMALL = _Table(
    [("c_level", 22.0), ("vp", 4.0), ("director", 6.0), ("head", 8.0), ("manager", 20.0),
     ("ic", 40.0)]
)  # fmt: skip
_SENIORITY_LARGE = _Table(
    [("c_level", 3.0), ("vp", 11.0), ("director", 20.0), ("head", 10.0), ("manager", 25.0),
     ("ic", 31.0)]
)  # fmt: skip
_STUDENT_TITLES = (
    "Student", "Graduate Student", "MBA Student", "Marketing Intern", "Sales Intern",
    "Student Assistant",
)  # fmt: skip
_FREELANCE_TITLES = ("Freelance Consultant", "Independent Consultant", "Owner", "Freelancer")
_UNIVERSITIES = (
    ("State University", "stateu.edu"),
    ("Institute of Technology", "tech-institute.edu"),
    ("Business School", "bschool.ac.uk"),
    ("Technische Hochschule", "th-nord.de"),
)

_SOURCES = _Table(
    [("ORGANIC_SEARCH", 30.0), ("PAID_SEARCH", 12.0), ("DIRECT_TRAFFIC", 15.0),
     ("REFERRALS", 8.0), ("SOCIAL_MEDIA", 10.0), ("EMAIL_MARKETING", 5.0), ("OFFLINE", 15.0),
     ("PAID_SOCIAL", 5.0)]
)  # fmt: skip

# --- Activities ---------------------------------------------------------------------------------

_BLOG_POSTS = (
    "lead-scoring-101", "mql-is-dead", "sales-handoff-checklist", "crm-hygiene",
    "b2b-intent-data", "pipeline-reviews", "cold-email-benchmarks", "revops-hiring",
)  # fmt: skip
_DOCS_PAGES = ("getting-started", "hubspot", "salesforce", "criteria", "api", "webhooks")
_CASE_STUDIES = ("northwind", "contoso", "globex", "initech")

_BROWSING_PAGES = _Table(
    [(f"{SITE}/blog/{slug}", 9.0) for slug in _BLOG_POSTS]
    + [(f"{SITE}/", 12.0), (f"{SITE}/product", 4.0), (f"{SITE}/careers", 3.0)]
    + [(f"{SITE}/docs/{page}", 1.0) for page in _DOCS_PAGES]
    + [(f"{SITE}/pricing", 2.5)]
)
_BUYING_PAGES = _Table(
    [(f"{SITE}/pricing", 22.0), (f"{SITE}/product", 10.0), (f"{SITE}/integrations/hubspot", 6.0),
     (f"{SITE}/security", 4.0), (f"{SITE}/", 6.0)]
    + [(f"{SITE}/docs/{page}", 3.0) for page in _DOCS_PAGES]
    + [(f"{SITE}/customers/{name}", 2.5) for name in _CASE_STUDIES]
    + [(f"{SITE}/blog/{slug}", 1.0) for slug in _BLOG_POSTS]
)  # fmt: skip
_CAMPAIGNS = ("Monthly newsletter", "Product update", "Webinar invitation", "Customer stories")
_CONTENT_FORMS = _Table([("newsletter", 5.0), ("ebook", 4.0), ("webinar", 2.0)])
# NPS answers (0-10): people at churning accounts are mostly detractors (0-6), but not all.
_NPS = {
    True: _Table([(score, 0.6 / 7) for score in range(7)] + [(7, 0.13), (8, 0.12), (9, 0.09),
                                                             (10, 0.06)]),
    False: _Table([(score, 0.15 / 7) for score in range(7)] + [(7, 0.17), (8, 0.18), (9, 0.27),
                                                              (10, 0.23)]),
}  # fmt: skip
_TICKET_PRIORITY = _Table([("HIGH", 3.0), ("MEDIUM", 5.0), ("LOW", 2.0)])
_TICKET_SUBJECTS = _Table(
    [("Sync stopped", 2.0), ("Login problem", 2.0), ("Wrong score", 1.0),
     ("Question about billing", 2.0), ("Feature request", 3.0), ("Data export", 1.0)]
)  # fmt: skip
_PRODUCT_EVENTS = _Table(
    [("login", 10.0), ("report_viewed", 5.0), ("criteria_edited", 2.0), ("user_invited", 1.0),
     ("integration_connected", 0.5)]
)  # fmt: skip


@dataclass(slots=True)
class _Account:
    index: int
    kind: str  # business | competitor | individual
    size: int  # how many members belong to it
    name: str = ""
    domain: str = ""
    industry: str = ""
    employees: str = ""
    country: tuple[str, float, str, str] = ("United States", 0.3, "com", "+1")
    fit_base: float = 0.0
    customer: bool = False
    churning: bool = False  # the hidden churn flag: churns in the 90 days after `end`
    churn_days: float = 0.0  # days after `end` the churn lands
    locals_used: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Person:
    """What a member's history depends on, beyond its account."""

    fit: float
    propensity: float  # everyday interest in the seller's content (0..1)
    silent: bool  # imported or bought contact that never engages
    subscribed: bool
    auto_opens: bool  # a mail client that opens every email (privacy proxies)
    created: float  # epoch seconds
    student: bool = False
    competitor: bool = False


def generate_population(n: int, seed: int, start: datetime, end: datetime) -> Iterator[Member]:
    """Yield `n` members c0000000, c0000001, ... deterministically for `seed`.

    Activities fall in [start, end]; conversions in the 90 days after `end`. Member i is the same
    for every n > i, so a bigger population extends a smaller one.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if not start < end:
        raise ValueError("start must be before end")
    generator = _Generator(seed, start.timestamp(), end.timestamp())
    index = 0
    account_index = 0
    while index < n:
        account = generator.account(account_index)
        for _ in range(min(account.size, n - index)):
            yield generator.member(index, account)
            index += 1
        account_index += 1


class _Generator:
    def __init__(self, seed: int, start: float, end: float) -> None:
        self.seed = seed
        self.start = start
        self.end = end
        # Marketing emails go out weekly to the whole list, at the same instant for everyone.
        first_send = start + 1.6 * _DAY
        weeks = max(int((end - first_send) // (7 * _DAY)) + 1, 0)
        self.sends = [first_send + week * 7 * _DAY for week in range(weeks)]
        self.name_offset = _rng(seed, "names").randrange(_NAME_PAIRS)

    # Accounts: the people at one company share its industry, size, country and customer state.

    def account(self, index: int) -> _Account:
        rng = _rng(self.seed, f"account:{index}")
        roll = rng.random()
        if roll < 0.012:
            return _Account(index, "competitor", size=rng.randint(1, 3))
        if roll < 0.09:
            return _Account(index, "individual", size=1)
        employees, size_fit, contacts = _SIZE.draw(rng)
        industry = _INDUSTRY.draw(rng)
        country = _COUNTRY.draw(rng)
        head, tail, number = self._company_name(index)
        domain = f"{head}{tail}{number}.{country[2]}"
        fit_base = _INDUSTRY_FIT[industry] + size_fit + country[1]
        # Customers were won where fit is high; a quarter of them are using the product less.
        customer = rng.random() < 0.02 + 0.06 * _sigmoid(fit_base)
        return _Account(
            index,
            "business",
            size=max(1, contacts + rng.randint(-1, 2)),
            name=f"{head.capitalize()}{tail}{number}{_COMPANY_SUFFIX.draw(rng)}",
            domain=domain,
            industry=industry,
            employees=employees,
            country=country,
            fit_base=fit_base,
            customer=customer,
            churning=customer and rng.random() < 0.25,
            churn_days=rng.uniform(5.0, _CONVERSION_HORIZON_DAYS),
        )

    def _company_name(self, index: int) -> tuple[str, str, str]:
        pair = (self.name_offset + _NAME_STRIDE * index) % _NAME_PAIRS
        round_ = index // _NAME_PAIRS
        head = _NAME_HEADS[pair % len(_NAME_HEADS)]
        tail = _NAME_TAILS[pair // len(_NAME_HEADS)]
        # The suffix keeps domains unique past the first 1,920 accounts.
        return head, tail, str(round_ + 1) if round_ else ""

    # Members.

    def member(self, index: int, account: _Account) -> Member:
        rng = _rng(self.seed, f"member:{index}")
        contact_id = f"c{index:07d}"
        first = rng.choice(_FIRST_NAMES)
        last = rng.choice(_LAST_NAMES)
        created = self._created(rng)
        props: dict[str, str | None] = {
            "firstname": first,
            "lastname": last,
            "createdate": _iso(created),
            "hs_analytics_source": _SOURCES.draw(rng),
        }
        if account.kind == "business":
            person = self._business_person(rng, index, account, first, last, created, props)
        elif account.kind == "competitor":
            person = self._competitor(rng, index, first, last, created, props)
        else:
            person = self._individual(rng, index, first, last, created, props)
        opted_out = rng.random() < 0.025
        bounced = rng.random() < 0.015
        if opted_out:
            props["hs_email_optout"] = "true"
            person.subscribed = False
        if bounced:
            props["hs_email_bounce"] = "1"
            props["hs_email_hard_bounce_reason_enum"] = "UNKNOWN_USER"
            person.subscribed = False

        history = _History(self, rng, person)
        window = history.buying_window(account)
        history.browsing()
        history.marketing_emails(window)
        if account.kind == "business" and not account.customer:
            history.prospecting()
        if account.customer:
            history.product_usage(account)
            # Its own stream: what customers say leaves every other draw as it was.
            history.customer_voice(account, _rng(self.seed, f"voice:{index}"))
        intent = history.intent(window, account)
        outcome = self._outcome(rng, contact_id, person, account, intent, window)
        if account.churning:
            churned = _utc(self.end + account.churn_days * _DAY)
            outcome = Outcome(contact_id, outcome.converted_at, churned)
        self._crm_state(rng, props, account, history)
        activities = history.activities(contact_id)
        return Member(
            Contact(contact_id, props),
            activities,
            outcome,
            fit=round(person.fit, 4),
            intent=round(intent, 4),
            churn=account.churning,
        )

    def _created(self, rng: random.Random) -> float:
        span = self.end - self.start
        if rng.random() < 0.65:
            return self.start + rng.random() * span
        # Older contacts came in over the two years before: the CRM's back catalogue.
        return self.start - rng.random() * 730 * _DAY

    def _business_person(
        self,
        rng: random.Random,
        index: int,
        account: _Account,
        first: str,
        last: str,
        created: float,
        props: dict[str, str | None],
    ) -> _Person:
        department, department_fit, ic_titles = _DEPARTMENT.draw(rng)
        small = account.employees in ("1-5", "5-25")
        seniority = (_SENIORITY_SMALL if small else _SENIORITY_LARGE).draw(rng)
        if seniority == "c_level":
            title = rng.choice(_C_LEVEL_TITLES)
            department_fit = 0.3  # executives sign for every department
        elif seniority == "ic":
            title = rng.choice(ic_titles)
        else:
            title = rng.choice(_SENIORITY_TEMPLATES[seniority]).format(department)
        free_mail = rng.random() < (0.2 if small else 0.06)
        country, _, _, phone_prefix = account.country
        if free_mail:
            local = f"{first}.{last}{_serial(index)}".lower().replace(" ", "")
            email = f"{local}@{_FREE_MAIL.draw(rng)}"
        else:
            email = f"{self._local_part(rng, account, first, last)}@{account.domain}"
        props["email"] = email
        props["company"] = account.name
        props["website"] = f"https://www.{account.domain}"
        props["phone"] = _phone(rng, phone_prefix) if rng.random() < 0.6 else None
        # The CRM rarely knows everything: forms ask for a few fields, enrichment misses some.
        props["jobtitle"] = title if rng.random() < 0.94 else None
        props["industry"] = account.industry if rng.random() < 0.92 else None
        props["numemployees"] = account.employees if rng.random() < 0.9 else None
        props["country"] = country if rng.random() < 0.95 else None
        fit_score = (
            account.fit_base
            + _SENIORITY_FIT[seniority]
            + department_fit
            - (0.8 if free_mail else 0.0)
            + rng.gauss(0.0, 0.6)
        )
        silent = rng.random() < 0.12
        return _Person(
            fit=_sigmoid(fit_score - 1.2),
            propensity=0.0 if silent else rng.betavariate(1.3, 3.0),
            silent=silent,
            subscribed=not silent and rng.random() < 0.85,
            auto_opens=rng.random() < 0.12,
            created=created,
        )

    def _local_part(self, rng: random.Random, account: _Account, first: str, last: str) -> str:
        first_l = first.lower()
        last_l = last.lower().replace(" ", "")
        pattern = rng.random()
        if pattern < 0.6:
            local = f"{first_l}.{last_l}"
        elif pattern < 0.85:
            local = f"{first_l[0]}{last_l}"
        else:
            local = first_l
        candidate = local
        suffix = 2
        while candidate in account.locals_used:
            candidate = f"{local}{suffix}"
            suffix += 1
        account.locals_used.add(candidate)
        return candidate

    def _competitor(
        self,
        rng: random.Random,
        index: int,
        first: str,
        last: str,
        created: float,
        props: dict[str, str | None],
    ) -> _Person:
        domain = rng.choice(COMPETITOR_DOMAINS)
        local = f"{first[0]}{last}{_serial(index)}".lower().replace(" ", "")
        props["email"] = f"{local}@{domain}"
        props["company"] = domain.split(".")[0].capitalize()
        props["website"] = f"https://www.{domain}"
        props["jobtitle"] = rng.choice(("Product Manager", "Product Marketing Manager", "CEO"))
        props["industry"] = "COMPUTER_SOFTWARE"
        props["numemployees"] = "50-100"
        props["country"] = "United States"
        return _Person(
            fit=0.0,
            propensity=rng.betavariate(2.0, 2.0),
            silent=False,
            subscribed=True,
            auto_opens=False,
            created=created,
            competitor=True,
        )

    def _individual(
        self,
        rng: random.Random,
        index: int,
        first: str,
        last: str,
        created: float,
        props: dict[str, str | None],
    ) -> _Person:
        """Students, freelancers and sign-ups with nothing but an email address."""
        local = f"{first}.{last}{_serial(index)}".lower().replace(" ", "")
        country, country_fit, _, _ = _COUNTRY.draw(rng)
        roll = rng.random()
        if roll < 0.3:
            university, domain = rng.choice(_UNIVERSITIES)
            on_campus = rng.random() < 0.5
            props["email"] = f"{local}@{domain if on_campus else _FREE_MAIL.draw(rng)}"
            props["jobtitle"] = rng.choice(_STUDENT_TITLES)
            props["company"] = university
            props["industry"] = "HIGHER_EDUCATION" if rng.random() < 0.5 else None
            props["country"] = country
            return _Person(
                fit=_sigmoid(-3.5 + rng.gauss(0, 0.5)),
                propensity=rng.betavariate(2.0, 3.0),
                silent=False,
                subscribed=True,
                auto_opens=rng.random() < 0.12,
                created=created,
                student=True,
            )
        props["email"] = f"{local}@{_FREE_MAIL.draw(rng)}"
        if roll < 0.65:
            props["jobtitle"] = rng.choice(_FREELANCE_TITLES)
            props["company"] = f"{last} Consulting"
            props["numemployees"] = "1-5"
            props["country"] = country
            fit = _sigmoid(-2.4 + country_fit + rng.gauss(0, 0.6))
            silent = False
        else:
            # Nothing but an email: a webinar list, a trade-show scan. Many never engage.
            fit = _sigmoid(-1.5 + rng.gauss(0, 0.8))
            silent = rng.random() < 0.5
        return _Person(
            fit=fit,
            propensity=0.0 if silent else rng.betavariate(1.2, 3.0),
            silent=silent,
            subscribed=not silent,
            auto_opens=rng.random() < 0.12,
            created=created,
        )

    def _outcome(
        self,
        rng: random.Random,
        contact_id: str,
        person: _Person,
        account: _Account,
        intent: float,
        window: _Window | None,
    ) -> Outcome:
        if person.competitor or person.student:
            probability = 0.0
        elif account.customer:
            probability = 0.03 if account.churning else 0.08  # expansion deals
        else:
            # Fit without intent rarely buys this quarter; intent without fit rarely closes.
            probability = 0.006 + 0.4 * person.fit * intent + 0.02 * person.fit
        if rng.random() >= probability:
            return Outcome(contact_id, None)
        # People mid-window convert sooner than those whose window has not opened yet.
        soonest = 1.0 if window is not None and window.active_at(self.end) else 5.0
        days = min(_CONVERSION_HORIZON_DAYS, soonest + rng.expovariate(1 / 25))
        return Outcome(contact_id, _utc(self.end + days * _DAY))

    def _crm_state(
        self, rng: random.Random, props: dict[str, str | None], account: _Account, history: _History
    ) -> None:
        """lifecyclestage and hs_lead_status as sales and marketing would have left them."""
        if account.customer:
            props["lifecyclestage"] = "customer"
            return
        status: str | None
        if history.meetings:
            stage = (
                "opportunity"
                if history.meetings > 1 and rng.random() < 0.4
                else ("salesqualifiedlead")
            )
            status = "IN_PROGRESS" if rng.random() < 0.7 else "OPEN_DEAL"
        elif history.demo_requested or history.content_forms > 1:
            stage = "marketingqualifiedlead"
            status = "ATTEMPTED_TO_CONTACT" if history.calls else "OPEN"
        elif history.content_forms:
            stage = "lead"
            status = "NEW"
        else:
            stage = "subscriber" if rng.random() < 0.6 else "lead"
            status = rng.choice(("NEW", "OPEN", "UNQUALIFIED", "BAD_TIMING", None))
        props["lifecyclestage"] = stage
        props["hs_lead_status"] = status


@dataclass(slots=True)
class _Window:
    """A buying window: weeks of research, demos and meetings."""

    opens: float
    closes: float
    heat: float  # how intense the research is (0..1)

    def active_at(self, t: float) -> bool:
        return self.opens <= t <= self.closes


class _History:
    """Collects one member's activities as (epoch seconds, type, properties) before sorting."""

    __slots__ = (
        "calls",
        "content_forms",
        "demo_requested",
        "events",
        "gen",
        "meetings",
        "met_at",
        "person",
        "rng",
        "trialled",
    )

    def __init__(self, gen: _Generator, rng: random.Random, person: _Person) -> None:
        self.gen = gen
        self.rng = rng
        self.person = person
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.meetings = 0
        self.met_at = -math.inf  # the latest completed meeting
        self.trialled = False
        self.calls = 0
        self.demo_requested = False
        self.content_forms = 0
        if gen.start <= person.created <= gen.end and not person.silent and rng.random() < 0.8:
            # Most new inbound contacts were created by the form they filled in.
            self.add(person.created, "form_submission", {"form": _CONTENT_FORMS.draw(rng)})
            self.content_forms += 1

    @property
    def first(self) -> float:
        return max(self.gen.start, self.person.created)

    def add(self, t: float, kind: str, properties: dict[str, Any]) -> None:
        if self.first <= t <= self.gen.end:
            self.events.append((t, kind, properties))

    def poisson(self, rate_per_day: float, opens: float, closes: float) -> Iterator[float]:
        """Event instants of a Poisson process on [opens, closes]."""
        if rate_per_day <= 0.0:
            return
        t = opens
        rate = rate_per_day / _DAY
        while True:
            t += self.rng.expovariate(rate)
            if t > closes:
                return
            yield t

    def session(self, t: float, pages: _Table, mean_pages: float) -> float:
        """A visit: a few page views a minute or two apart; returns when it ended."""
        rng = self.rng
        count = 1 + int(rng.expovariate(1 / max(mean_pages - 1, 0.01)))
        for _ in range(min(count, 8)):
            self.add(t, "page_view", {"url": pages.draw(rng)})
            t += 20 + rng.expovariate(1 / 90)
        return t

    def prospecting(self) -> None:
        """Cold calls from sales development: rep activity, whether or not anyone is buying."""
        rng = self.rng
        if rng.random() >= 0.45:
            return
        self._calls(self.first + rng.random() * (self.gen.end - self.first), rng.randint(1, 5),
                    answer_rate=0.15)  # fmt: skip

    def browsing(self) -> None:
        if self.person.silent:
            return
        if self.rng.random() < 0.25:
            # Webinar and ebook campaigns collect registrations from readers, buying or not.
            when = self.first + self.rng.random() * (self.gen.end - self.first)
            self.add(when, "form_submission", {"form": self.rng.choice(("webinar", "ebook"))})
            self.content_forms += 1
        rate = 0.09 * self.person.propensity
        for t in self.poisson(rate, self.first, self.gen.end):
            self.session(t, _BROWSING_PAGES, 1.6)
            if self.rng.random() < 0.01:
                self.add(t + 60, "form_submission", {"form": _CONTENT_FORMS.draw(self.rng)})
                self.content_forms += 1

    def marketing_emails(self, window: _Window | None) -> None:
        person = self.person
        if not person.subscribed:
            return
        rng = self.rng
        for number, sent in enumerate(self.gen.sends):
            if sent < person.created:
                continue
            campaign = _CAMPAIGNS[number % len(_CAMPAIGNS)]
            if person.auto_opens:
                # Privacy proxies fetch every email within minutes: opens that mean nothing.
                self.add(sent + rng.uniform(60, 600), "email_open", {"campaign": campaign})
            in_window = window is not None and window.active_at(sent)
            chance = 0.05 + 0.5 * person.propensity + (0.3 if in_window else 0.0)
            if rng.random() >= chance:
                continue
            opened = sent + rng.expovariate(1 / (8 * _HOUR))
            if not person.auto_opens:
                self.add(opened, "email_open", {"campaign": campaign})
            if rng.random() < (0.35 if in_window else 0.12):
                url = f"{SITE}/pricing" if in_window and rng.random() < 0.5 else f"{SITE}/blog/"
                self.add(
                    opened + rng.uniform(5, 120), "email_click", {"campaign": campaign, "url": url}
                )

    def buying_window(self, account: _Account) -> _Window | None:
        """Maybe a buying window overlapping [start, end]; its activities are added here."""
        person, rng, gen = self.person, self.rng, self.gen
        if person.silent or account.customer:
            return None
        chance = 0.6 if person.competitor else 0.2 + 0.8 * person.fit
        if rng.random() >= chance:
            return None
        length = rng.uniform(45, 120) * _DAY
        if gen.start <= person.created <= gen.end:
            # Inbound leads are created by the research they started a few days before.
            opens = person.created - rng.uniform(0, 10) * _DAY
        else:
            opens = gen.start - 20 * _DAY + rng.random() * (gen.end - gen.start + 20 * _DAY)
        # Better-fit accounts research harder: bigger deals, more people involved.
        window = _Window(opens, opens + length, rng.betavariate(1.5 + 2.0 * person.fit, 1.5))
        lo, hi = max(window.opens, self.first), min(window.closes, gen.end)
        if lo >= hi:
            return window
        if person.competitor:
            # Competitors read pricing and docs; they never ask for a demo.
            for t in self.poisson(0.25, lo, hi):
                self.session(t, _BUYING_PAGES, 3.0)
            return window
        for t in self.poisson(0.1 + 0.35 * window.heat, lo, hi):
            self.session(t, _BUYING_PAGES, 2.5)
            if rng.random() < 0.06:
                self.add(t + 30, "chat", {"channel": "website"})
        if rng.random() < 0.5:
            when = lo + rng.random() * (hi - lo)
            self.add(when, "form_submission", {"form": rng.choice(("ebook", "webinar"))})
            self.content_forms += 1
        if rng.random() < 0.25 + 0.6 * person.fit * (0.5 + window.heat):
            # Demos come as the research matures, more often late than early.
            self._demo(lo + rng.random() ** 0.7 * (hi - lo))
        elif rng.random() < 0.5:
            self._outreach(lo + rng.uniform(0.2, 1.0) * (hi - lo), window.heat)
        if rng.random() < 0.3:
            # A free trial: product use for a couple of weeks.
            trial_start = lo + rng.random() * 0.8 * (hi - lo)
            before = len(self.events)
            for t in self.poisson(0.4 + 0.8 * window.heat, trial_start, trial_start + 14 * _DAY):
                self.add(t, "product_usage", {"event": _PRODUCT_EVENTS.draw(rng)})
            self.trialled = self.trialled or len(self.events) > before
        return window

    def _calls(self, first: float, count: int, answer_rate: float) -> None:
        rng = self.rng
        at = first
        for _ in range(count):
            answered = rng.random() < answer_rate
            duration = int(rng.uniform(120, 1500) * 1000) if answered else 0
            self.add(
                at,
                "call",
                {
                    "hs_call_direction": "OUTBOUND",
                    "hs_call_status": "COMPLETED" if answered else "NO_ANSWER",
                    "hs_call_duration": str(duration),
                },
            )
            self.calls += 1
            at += rng.uniform(1, 4) * _DAY

    def _outreach(self, when: float, heat: float) -> None:
        """Sales chases visitors who look interested: calls, and sometimes a reply."""
        rng = self.rng
        self._calls(when, rng.randint(1, 3), answer_rate=0.3)
        if rng.random() < 0.25 * (0.5 + heat):
            self.add(when + rng.uniform(0.5, 6) * _DAY, "email_reply", {"channel": "sales"})

    def _demo(self, when: float) -> None:
        rng = self.rng
        self.add(when, "form_submission", {"form": "demo-request"})
        self.demo_requested = True
        # Sales calls back within a day or two; not everybody answers.
        self._calls(when + rng.uniform(0.1, 2.0) * _DAY, rng.randint(1, 3), answer_rate=0.45)
        if rng.random() < 0.4:
            self.add(when + rng.uniform(0.2, 3) * _DAY, "email_reply", {"channel": "sales"})
        meeting_at = when + rng.uniform(1, 6) * _DAY
        for _ in range(1 if rng.random() < 0.6 else 2):
            if rng.random() > 0.8:
                break
            outcome = "COMPLETED" if rng.random() < 0.85 else "NO_SHOW"
            before = len(self.events)
            self.add(meeting_at, "meeting", {"hs_meeting_outcome": outcome})
            if len(self.events) > before:
                self.meetings += 1
                if outcome == "COMPLETED":
                    self.met_at = max(self.met_at, meeting_at)
            meeting_at += rng.uniform(4, 15) * _DAY

    def product_usage(self, account: _Account) -> None:
        rng = self.rng
        if rng.random() < 0.35:
            return  # not every contact at a customer uses the product
        stops = self.gen.end
        if account.churning:
            stops -= rng.uniform(20, 80) * _DAY
        for t in self.poisson(rng.uniform(0.2, 1.2), self.first, stops):
            self.add(t, "product_usage", {"event": _PRODUCT_EVENTS.draw(rng)})
        if rng.random() < 0.3:
            self.add(self.first + rng.random() * (stops - self.first), "meeting",
                     {"hs_meeting_outcome": "COMPLETED"})  # fmt: skip

    def customer_voice(self, account: _Account, rng: random.Random) -> None:
        """NPS answers and support tickets: noisy observations of the hidden churn flag."""
        churning = account.churning
        first, end = self.first, self.gen.end
        if first >= end:
            return
        for chance in (0.4, 0.15):  # a survey wave most answer, a second fewer do
            if rng.random() < chance:
                self.add(
                    first + rng.random() * (end - first),
                    "survey_response",
                    {"survey": "nps", "score": str(_NPS[churning].draw(rng))},
                )
        tickets = _poisson_count(rng, 1.0 if churning else 0.5)
        for _ in range(tickets):
            urgent = rng.random() < (0.35 if churning else 0.12)
            priority = "URGENT" if urgent else _TICKET_PRIORITY.draw(rng)
            still_open = rng.random() < (0.5 if churning else 0.2)
            self.add(
                first + rng.random() * (end - first),
                "ticket",
                {
                    "subject": _TICKET_SUBJECTS.draw(rng),
                    "priority": priority,
                    "status": "OPEN" if still_open else "CLOSED",
                },
            )

    def intent(self, window: _Window | None, account: _Account) -> float:
        end = self.gen.end
        if account.customer:
            return 0.1 if account.churning else 0.4
        if window is None or window.opens > end:
            return 0.03 * self.person.propensity
        research = 0.15 + 0.85 * window.heat
        if window.closes < end:
            # A window that has closed leaves interest that fades with a three-week half-life.
            research *= math.pow(0.5, (end - window.closes) / (21 * _DAY))
        # A recent sales conversation and hands-on use move a purchase along.
        met = 0.5 if end - self.met_at <= 45 * _DAY else 0.0
        tried = 0.6 if self.trialled else 0.0
        return 1.0 - (1.0 - research) * (1.0 - met) * (1.0 - tried)

    def activities(self, contact_id: str) -> list[Activity]:
        self.events.sort(key=lambda event: event[0])
        return [
            Activity(contact_id, kind, _utc(t), properties) for t, kind, properties in self.events
        ]


def _rng(seed: int, key: str) -> random.Random:
    # String seeds hash with SHA-512: the same stream on every run and platform. Not for secrets.
    return random.Random(f"glengarry-population:{seed}:{key}")  # noqa: S311


def _serial(index: int) -> int:
    """A number unique per index below ten million that does not look sequential."""
    return (index * 7_368_787 + 1_234_567) % 10_000_000


def _phone(rng: random.Random, prefix: str) -> str:
    return f"{prefix} {rng.randint(200, 989)} {rng.randint(200, 999)} {rng.randint(1000, 9999)}"


def _poisson_count(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (Knuth's method: means here are small)."""
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _utc(t: float) -> datetime:
    # Milliseconds, as CRMs store them.
    return datetime.fromtimestamp(round(t, 3), tz=UTC)


def _iso(t: float) -> str:
    return _utc(t).isoformat(timespec="milliseconds").replace("+00:00", "Z")
