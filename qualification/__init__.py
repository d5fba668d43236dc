"""Pure lead qualification: criteria, scoring, decay, evaluation. No I/O."""

from qualification.criteria import (
    Criteria,
    CriteriaError,
    default_criteria,
    parse_criteria,
)
from qualification.engagement import (
    EngagementState,
    SignalSum,
    contributions_at,
    engagement_at,
    fold,
)
from qualification.engine import (
    Profile,
    Qualification,
    Reason,
    Transition,
    build_profile,
    qualify,
    rescore,
    transition,
    update,
)
from qualification.fields import FIELD_NAMES, crm_values, needs_write
from qualification.records import Activity, Contact, Outcome
from qualification.statuses import OVERRIDE_PROPERTY, Status

__all__ = [
    "FIELD_NAMES",
    "OVERRIDE_PROPERTY",
    "Activity",
    "Contact",
    "Criteria",
    "CriteriaError",
    "EngagementState",
    "Outcome",
    "Profile",
    "Qualification",
    "Reason",
    "SignalSum",
    "Status",
    "Transition",
    "build_profile",
    "contributions_at",
    "crm_values",
    "default_criteria",
    "engagement_at",
    "fold",
    "needs_write",
    "parse_criteria",
    "qualify",
    "rescore",
    "transition",
    "update",
]
