"""Salesforce's response bodies, validated at the edge: a malformed answer fails loudly, by name.

Records stay dictionaries (their fields are whatever was asked for); everything around them is
checked: query pages, composite answers, SaveResults, describe (global and per object), the
deleted log, created ids.
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from connectors.errors import CrmResponseError


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class QueryPage(_Body):
    totalSize: int = 0
    done: bool
    nextRecordsUrl: str | None = None
    records: list[dict[str, Any]] = Field(default_factory=list)


class SubrequestResult(_Body):
    """One slot of a `POST composite` answer: the subrequest's own status and body."""

    body: Any = None
    httpHeaders: dict[str, str] = Field(default_factory=dict)
    httpStatusCode: int
    referenceId: str


class CompositeAnswer(_Body):
    compositeResponse: list[SubrequestResult]


class SaveError(_Body):
    statusCode: str = ""
    message: str = ""
    fields: list[str] = Field(default_factory=list)


class SaveResult(_Body):
    id: str | None = None
    success: bool
    errors: list[SaveError] = Field(default_factory=list)


class Created(_Body):
    id: str
    success: bool = True


class PicklistValue(_Body):
    value: str
    active: bool = True


class FieldDescribe(_Body):
    name: str
    type: str
    updateable: bool = False
    createable: bool = False
    custom: bool = False
    length: int = 0
    picklistValues: list[PicklistValue] = Field(default_factory=list)


class ObjectDescribe(_Body):
    name: str
    fields: list[FieldDescribe]


class ObjectSummary(_Body):
    name: str
    queryable: bool = True
    keyPrefix: str | None = None  # the first three characters of its records' ids


class DescribeGlobal(_Body):
    sobjects: list[ObjectSummary]


class DeletedRecord(_Body):
    id: str
    deletedDate: str


class DeletedLog(_Body):
    deletedRecords: list[DeletedRecord] = Field(default_factory=list)
    earliestDateAvailable: str
    latestDateCovered: str


class ToolingField(_Body):
    Id: str
    DeveloperName: str
    TableEnumOrId: str


class ToolingFieldDetail(_Body):
    Id: str
    Metadata: dict[str, Any] = Field(default_factory=dict)


BodyT = TypeVar("BodyT", bound=BaseModel)
_SAVE_RESULTS = TypeAdapter(list[SaveResult])
_RETRIEVED = TypeAdapter(list[dict[str, Any] | None])


def _refused(endpoint: str, exc: ValidationError) -> CrmResponseError:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return CrmResponseError(
        f"Salesforce's answer to {endpoint} is not as documented: {where}: {first['msg']}"
    )


def parse(model: type[BodyT], response: httpx.Response, endpoint: str) -> BodyT:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise _refused(endpoint, exc) from None


def query_page(body: Any, endpoint: str) -> QueryPage:
    """A query page that came as a composite subrequest's body."""
    try:
        return QueryPage.model_validate(body)
    except ValidationError as exc:
        raise _refused(endpoint, exc) from None


def save_results(response: httpx.Response, endpoint: str) -> list[SaveResult]:
    try:
        return _SAVE_RESULTS.validate_json(response.content)
    except ValidationError as exc:
        raise _refused(endpoint, exc) from None


def retrieved(response: httpx.Response, endpoint: str) -> list[dict[str, Any] | None]:
    try:
        return _RETRIEVED.validate_json(response.content)
    except ValidationError as exc:
        raise _refused(endpoint, exc) from None
