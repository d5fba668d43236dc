"""The console's pages: each is drawn from operations API routes, called with the logged-in key.

A page the key may not see answers as the API did (404, 403); a key revoked since the login
ends the session. Forms post back here with the session's CSRF token and are answered with a
redirect (303), so that a reload never posts twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from app.console.api_client import Answer, call
from app.console.session import ConsoleUser, csrf_ok, csrf_token, current_user, log_in, log_out

router = APIRouter(prefix="/console", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
Text = Annotated[str, Form(max_length=200)]
Csrf = Annotated[str, Form(max_length=100)]


class LoginNeeded(Exception):
    """No session, or its key no longer works: to the login page."""


def _seg(value: str) -> str:
    return quote(value, safe="")


def _user(request: Request) -> ConsoleUser:
    user = current_user(request)
    if user is None:
        raise LoginNeeded
    return user


def _page(
    request: Request, template: str, user: ConsoleUser | None, status: int = 200, **context: Any
) -> HTMLResponse:
    notice = request.session.pop("notice", None)
    return templates.TemplateResponse(
        request,
        template,
        {"user": user, "csrf": csrf_token(request), "notice": notice, **context},
        status_code=status,
    )


def _problem(request: Request, user: ConsoleUser, answer: Answer) -> HTMLResponse:
    if answer.status == 401:  # revoked since the login
        log_out(request)
        raise LoginNeeded
    return _page(request, "problem.html", user, answer.status, message=answer.message)


async def _get(request: Request, user: ConsoleUser, path: str, **params: Any) -> Answer:
    return await call(request, user.key, "GET", path, params=params)


def _back(request: Request, to: str, notice: str) -> RedirectResponse:
    request.session["notice"] = notice
    return RedirectResponse(to, status_code=303)


def _refuse_forged(request: Request, csrf: str) -> None:
    if not csrf_ok(request, csrf):
        raise _Forged


class _Forged(Exception):
    """A form without this session's CSRF token."""


def install_handlers(app: Any) -> None:
    async def to_login(request: Request, _: Exception) -> Response:
        return RedirectResponse("/console/login", status_code=303)

    async def forged(request: Request, _: Exception) -> Response:
        return HTMLResponse(
            "<h1>403</h1><p>This form is not from your console session (CSRF token missing or "
            "wrong): reload the page and try again.</p>",
            status_code=403,
        )

    app.add_exception_handler(LoginNeeded, to_login)
    app.add_exception_handler(_Forged, forged)


# --- logging in and out ------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> HTMLResponse:
    return _page(request, "login.html", None)


@router.post("/login", response_model=None)
async def login(
    request: Request, key: Annotated[str, Form(max_length=500)], csrf: Csrf = ""
) -> HTMLResponse | RedirectResponse:
    _refuse_forged(request, csrf)
    answer = await call(request, key.strip(), "GET", "/whoami")
    if not answer.ok:
        return _page(request, "login.html", None, answer.status, error=answer.message)
    log_in(request, key.strip(), answer.body)
    return RedirectResponse("/console/connections", status_code=303)


@router.post("/logout")
async def logout(request: Request, csrf: Csrf = "") -> RedirectResponse:
    _refuse_forged(request, csrf)
    log_out(request)
    return RedirectResponse("/console/login", status_code=303)


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse("/console/connections", status_code=303)


# --- connections and syncs ---------------------------------------------------------------


@router.get("/connections", response_class=HTMLResponse)
async def connections(request: Request) -> HTMLResponse:
    user = _user(request)
    answer = await _get(request, user, "/connections")
    if not answer.ok:
        return _problem(request, user, answer)
    return _page(request, "connections.html", user, connections=answer.body)


@router.get("/connections/{name}", response_class=HTMLResponse)
async def connection(request: Request, name: str) -> HTMLResponse:
    user = _user(request)
    shown = await _get(request, user, f"/connections/{_seg(name)}")
    if not shown.ok:
        return _problem(request, user, shown)
    history = await _get(request, user, f"/connections/{_seg(name)}/syncs", limit=20)
    runs = history.body if history.ok else []
    active = next((r for r in runs if r["state"] in ("queued", "running", "cancelling")), None)
    return _page(request, "connection.html", user, c=shown.body, runs=runs, active=active)


@router.post("/connections/{name}/syncs")
async def start_sync(
    request: Request, name: str, kind: Annotated[str, Form(max_length=20)], csrf: Csrf = ""
) -> Response:
    user = _user(request)
    _refuse_forged(request, csrf)
    path = f"/connections/{_seg(name)}/syncs"
    answer = await call(request, user.key, "POST", path, json={"kind": kind})
    if answer.status == 409 and isinstance(answer.body, dict):
        return _back(request, f"/console/connections/{_seg(name)}", answer.message)
    if not answer.ok:
        return _problem(request, user, answer)
    return _back(
        request, f"/console/connections/{_seg(name)}", f"{kind} sync {answer.body['id']} queued"
    )


@router.get("/syncs/{run_id}/progress")
async def progress(request: Request, run_id: int) -> Response:
    """The run as the API shows it: the progress bar's script polls this (same origin, the
    session's cookie; the key never reaches the page)."""
    user = current_user(request)
    if user is None:
        return JSONResponse({"error": {"message": "log in again"}}, status_code=401)
    answer = await _get(request, user, f"/syncs/{run_id}")
    return JSONResponse(answer.body, status_code=answer.status)


@router.post("/syncs/{run_id}/cancel")
async def cancel_sync(
    request: Request,
    run_id: int,
    connection: Annotated[str, Form(max_length=200)],
    csrf: Csrf = "",
) -> Response:
    user = _user(request)
    _refuse_forged(request, csrf)
    answer = await call(request, user.key, "POST", f"/syncs/{run_id}/cancel")
    if not answer.ok and answer.status != 409:
        return _problem(request, user, answer)
    notice = f"sync {run_id}: {answer.body['state']}" if answer.ok else answer.message
    return _back(request, f"/console/connections/{_seg(connection)}", notice)


# --- rejects -----------------------------------------------------------------------------


@router.get("/connections/{name}/rejects", response_class=HTMLResponse)
async def rejects(request: Request, name: str) -> HTMLResponse:
    user = _user(request)
    answer = await _get(request, user, f"/connections/{_seg(name)}/rejects", limit=200)
    if not answer.ok:
        return _problem(request, user, answer)
    return _page(request, "rejects.html", user, name=name, rejects=answer.body)


@router.post("/connections/{name}/rejects/retry")
async def retry_rejects(request: Request, name: str) -> Response:
    user = _user(request)
    form = await request.form()
    _refuse_forged(request, str(form.get("csrf", "")))
    ids = [int(i) for i in form.getlist("id") if isinstance(i, str) and i.isdigit() and len(i) < 11]
    body = {"ids": ids} if ids else {}
    path = f"/connections/{_seg(name)}/rejects/retry"
    answer = await call(request, user.key, "POST", path, json=body)
    if not answer.ok:
        return _problem(request, user, answer)
    queued = len(answer.body["queued"])
    return _back(request, f"/console/connections/{_seg(name)}/rejects", f"{queued} queued again")


# --- contacts ----------------------------------------------------------------------------


@router.get("/connections/{name}/contacts", response_class=HTMLResponse)
async def contacts(
    request: Request,
    name: str,
    status: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
) -> HTMLResponse:
    user = _user(request)
    params = {"status": status, "q": q, "cursor": cursor, "limit": 50}
    answer = await _get(request, user, f"/connections/{_seg(name)}/contacts", **params)
    if not answer.ok:
        return _problem(request, user, answer)
    return _page(
        request,
        "contacts.html",
        user,
        name=name,
        page=answer.body,
        status_filter=status or "",
        q=q or "",
    )


@router.get("/contacts/{contact_id}", response_class=HTMLResponse)
async def contact(request: Request, contact_id: int) -> HTMLResponse:
    user = _user(request)
    answer = await _get(request, user, f"/contacts/{contact_id}/qualification")
    if not answer.ok:
        return _problem(request, user, answer)
    return _page(request, "contact.html", user, e=answer.body)


# --- criteria ----------------------------------------------------------------------------


async def _criteria_page(
    request: Request, user: ConsoleUser, status: int = 200, **context: Any
) -> HTMLResponse:
    active = await _get(request, user, "/criteria/active")
    if not active.ok:
        return _problem(request, user, active)
    versions = await _get(request, user, "/criteria/versions")
    context.setdefault("candidate", active.body["content"])
    return _page(
        request,
        "criteria.html",
        user,
        status,
        active=active.body,
        versions=versions.body if versions.ok else [],
        **context,
    )


@router.get("/criteria", response_class=HTMLResponse)
async def criteria(request: Request) -> HTMLResponse:
    return await _criteria_page(request, _user(request))


@router.post("/criteria/dry-run", response_class=HTMLResponse)
async def dry_run(
    request: Request, criteria: Annotated[str, Form(max_length=60_000)], csrf: Csrf = ""
) -> HTMLResponse:
    user = _user(request)
    _refuse_forged(request, csrf)
    answer = await call(
        request, user.key, "POST", "/criteria/dry-run", json={"criteria": criteria, "examples": 3}
    )
    if answer.ok:
        return await _criteria_page(request, user, dry_run=answer.body, candidate=criteria)
    if answer.status == 422:  # shown beside the text, which is kept for mending
        problems = answer.body["error"].get("details") or []
        return await _criteria_page(
            request, user, 422, problems=problems, error=answer.message, candidate=criteria
        )
    return _problem(request, user, answer)


@router.post("/criteria/activate", response_model=None)
async def activate(
    request: Request, criteria: Annotated[str, Form(max_length=60_000)], csrf: Csrf = ""
) -> Response:
    user = _user(request)
    _refuse_forged(request, csrf)
    answer = await call(
        request, user.key, "POST", "/criteria/activate", json={"criteria": criteria}
    )
    if answer.status == 422:
        problems = answer.body["error"].get("details") or []
        return await _criteria_page(
            request, user, 422, problems=problems, error=answer.message, candidate=criteria
        )
    if not answer.ok:
        return _problem(request, user, answer)
    body = answer.body
    rescore = body["rescore"]
    if rescore is not None:
        notice = f"version {body['version']} active; rescore {rescore['id']} {rescore['state']}"
    if not body["activated"] or rescore is None:
        notice = f"version {body['version']} was already active"
    return _back(request, "/console/criteria", notice)


# --- the effectiveness report ------------------------------------------------------------


@router.get("/connections/{name}/report", response_class=HTMLResponse)
async def report(
    request: Request, name: str, since: str | None = None, horizon: str = "90d"
) -> HTMLResponse:
    user = _user(request)
    params = {"since": since, "horizon": horizon}
    answer = await _get(request, user, f"/connections/{_seg(name)}/report", **params)
    if not answer.ok:
        return _problem(request, user, answer)
    # Embedded as JSON for the charts: `</` escaped so no value can close the script element.
    data = json.dumps(answer.body).replace("</", "<\\/")
    return _page(request, "report.html", user, name=name, r=answer.body, data=data)
