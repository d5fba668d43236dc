"""Who is calling: an API key (or GLENGARRY_API_TOKEN, an admin key) and what it may do.

`require(scope)` is a route dependency: no key or an unknown one is 401, a key whose scope is
too narrow 403, and the key's own connection binding is kept on the principal for `sees`, so a
key bound to one connection gets 404 for every other. Failed authentications are counted per
client address (the `limits` library): past the limit, 429 until the window has passed, and
nothing of the key presented is logged.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request, Response, Security, params
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool

from app.api.access import logged_path
from app.api.deps import RuntimeDep
from app.api.errors import ApiError, http_error, invalid_request
from app.apikeys import any_active, check_key
from app.audit import ENV_TOKEN_ACTOR
from app.logging import get_logger
from app.models import Connection, Scope
from app.runtime import Runtime
from app.settings import Settings

log = get_logger("glengarry.auth")

# Declares the scheme in the OpenAPI document; the checking is ours (no auto 403).
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="`Authorization: Bearer KEY`: a key made by `glengarry apikey create`, or "
    "GLENGARRY_API_TOKEN (an admin key).",
)
# A key's last use is written at most this often: not one write per request.
_LAST_USED_EVERY = timedelta(minutes=1)
_UNAUTHENTICATED = "missing or wrong bearer token (Authorization: Bearer TOKEN)"


@dataclass(frozen=True)
class Principal:
    name: str  # the key's name, as the audit log shows it
    scope: Scope
    connection_id: int | None = None  # a key bound to one connection sees only that one

    def sees(self, connection: Connection) -> bool:
        return self.connection_id is None or self.connection_id == connection.id


class FailureLimiter:
    """Failed authentications per client address, in Redis when there is one (every process
    counts together), in memory otherwise. A storage that fails never locks everyone out."""

    def __init__(self, settings: Settings) -> None:
        self.limit = RateLimitItemPerMinute(settings.api_auth_failures_per_minute)
        storage: Storage = MemoryStorage()
        if settings.queue_url:
            shared = storage_from_string(settings.queue_url)
            assert isinstance(shared, Storage)  # a redis:// URL: the synchronous client
            storage = shared
        self._limiter = MovingWindowRateLimiter(storage)

    def blocked(self, address: str) -> bool:
        try:
            return not self._limiter.test(self.limit, "glengarry-auth", address)
        except Exception as exc:  # Redis down: authentication still works, unlimited
            log.warning("auth failure limiter unavailable", error=type(exc).__name__)
            return False

    def failed(self, address: str) -> None:
        try:
            self._limiter.hit(self.limit, "glengarry-auth", address)
        except Exception as exc:  # as above
            log.warning("auth failure limiter unavailable", error=type(exc).__name__)


def _limiter(request: Request) -> FailureLimiter:
    state = request.app.state
    if getattr(state, "auth_failures", None) is None:
        state.auth_failures = FailureLimiter(state.runtime.settings)
    limiter: FailureLimiter = state.auth_failures
    return limiter


def authenticate(
    request: Request, runtime: Runtime, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller's principal, or the refusal (401, 403 when the API is off, 429)."""
    address = request.client.host if request.client else ""
    limiter = _limiter(request)
    if limiter.blocked(address):
        raise ApiError(
            429,
            "too many failed authentications from this address; try again in a minute",
            headers={"Retry-After": "60"},
        )
    given = credentials.credentials.strip() if credentials else ""
    token = runtime.settings.api_token
    # The environment's token first: it needs no database (and works while it is down).
    if (
        given
        and token is not None
        and hmac.compare_digest(given.encode(), token.get_secret_value().encode())
    ):
        return Principal(ENV_TOKEN_ACTOR, Scope.ADMIN)
    known: str | None = None
    with runtime.sessions.begin() as session:
        if given:
            checked = check_key(session, given)
            if checked.key is not None:
                key = checked.key
                now = runtime.clock.now()
                if key.last_used_at is None or now - key.last_used_at > _LAST_USED_EVERY:
                    key.last_used_at = now
                return Principal(key.name, Scope(key.scope), key.connection_id)
            known = checked.known
        off = token is None and not any_active(session)
    if off:
        raise ApiError(
            403,
            "the operations API is off: set GLENGARRY_API_TOKEN, or create a key with "
            "`glengarry apikey create`",
            code="api_off",
        )
    limiter.failed(address)
    # The key itself is never logged, nor echoed: only the name of the key it claimed to be.
    log.warning(
        "authentication failed",
        client=address,
        path=logged_path(request.url.path, b""),  # token-shaped segments masked
        reason="no bearer token" if not given else "unknown, revoked or wrong key",
        key=known,
    )
    raise ApiError(401, _UNAUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})


def _insufficient(scope: Scope, principal: Principal) -> ApiError:
    return ApiError(
        403,
        f"this needs a key with the {scope.value} scope; "
        f"key {principal.name!r} has {principal.scope.value}",
        code="insufficient_scope",
    )


def require(scope: Scope) -> Any:
    """A dependency: the caller's principal, whose scope includes `scope`."""

    def dependency(
        request: Request,
        runtime: RuntimeDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Principal:
        principal = authenticate(request, runtime, credentials)
        if not principal.scope.allows(scope):
            raise _insufficient(scope, principal)
        return principal

    dependency.required_scope = scope  # type: ignore[attr-defined]
    return Depends(dependency)


def _required_scope(request: Request) -> Scope | None:
    dependant = getattr(request.scope.get("route"), "dependant", None)
    calls = [d.call for d in getattr(dependant, "dependencies", [])]
    scopes = [call.required_scope for call in calls if hasattr(call, "required_scope")]
    return scopes[0] if scopes else None


def _json_declared(request: Request) -> bool:
    """Whether the body is declared JSON (or there is none, or the route takes a form). FastAPI
    reads a body as JSON only when it is declared so: one without a type would be "not an
    object", a puzzling 422."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    if body_field is None or isinstance(body_field.field_info, params.Form):
        return True
    declared = request.headers.get("content-type")
    if declared is None:
        length = request.headers.get("content-length", "0")
        return length == "0" and "transfer-encoding" not in request.headers
    media = declared.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def invalid_or_unauthenticated(request: Request, exc: Exception) -> Response:
    """FastAPI parses a body before it runs dependencies: a malformed body from a caller with
    no key would be answered 422, naming the route's fields. It is 401 (or 429) instead, 403
    for a key whose scope is too narrow; then a body declared other than JSON is 415."""
    scope = _required_scope(request)
    if scope is not None:
        runtime = request.app.state.runtime
        credentials = await bearer(request)
        try:
            principal = await run_in_threadpool(authenticate, request, runtime, credentials)
            if not principal.scope.allows(scope):
                raise _insufficient(scope, principal)
        except ApiError as refusal:
            return await http_error(request, refusal)
    if not _json_declared(request):
        unsupported = ApiError(
            415,
            "request bodies are application/json, not "
            f"{request.headers.get('content-type', 'undeclared')[:60]!r}",
        )
        return await http_error(request, unsupported)
    return await invalid_request(request, exc)


Reader = Annotated[Principal, require(Scope.READ)]
Operator = Annotated[Principal, require(Scope.OPERATE)]
Admin = Annotated[Principal, require(Scope.ADMIN)]
