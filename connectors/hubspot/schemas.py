"""HubSpot's response bodies, validated at the edge: a malformed answer fails loudly, by name."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.errors import CrmResponseError


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class NextPage(_Body):
    after: str


class Paging(_Body):
    next: NextPage | None = None


class CrmObject(_Body):
    id: str
    properties: dict[str, str | None] = Field(default_factory=dict)
    createdAt: str | None = None
    updatedAt: str | None = None
    archived: bool = False


class ObjectPage(_Body):
    results: list[CrmObject]
    paging: Paging | None = None
    total: int | None = None  # search only

    @property
    def after(self) -> str | None:
        return self.paging.next.after if self.paging and self.paging.next else None


class ErrorContext(_Body):
    objectWriteTraceId: list[str] | None = None
    ids: list[str] | None = None


class BatchError(_Body):
    status: str | None = None
    category: str | None = None
    message: str = ""
    context: dict[str, list[str]] = Field(default_factory=dict)


class BatchResponse(_Body):
    status: str
    results: list[CrmObject] = Field(default_factory=list)
    errors: list[BatchError] = Field(default_factory=list)


class AssociationTarget(_Body):
    toObjectId: int | str


class AssociationFrom(_Body):
    id: str


class AssociationRow(_Body):
    from_: AssociationFrom = Field(alias="from")
    to: list[AssociationTarget] = Field(default_factory=list)


class AssociationBatch(_Body):
    results: list[AssociationRow] = Field(default_factory=list)


class AccountDetails(_Body):
    portalId: int


class PropertyDefinition(_Body):
    name: str
    type: str
    fieldType: str | None = None
    options: list[dict[str, Any]] = Field(default_factory=list)


class PropertyList(_Body):
    results: list[PropertyDefinition]


BodyT = TypeVar("BodyT", bound=BaseModel)


def parse(model: type[BodyT], response: httpx.Response, endpoint: str) -> BodyT:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise CrmResponseError(
            f"HubSpot's answer to {endpoint} is not as documented: {where}: {first['msg']}"
        ) from None
