"""Login and logout, shaped like Airflow's simple auth manager so its web UI and clients work.

* ``POST /auth/token`` takes ``{username, password}`` as JSON or form data and answers 201
  ``{access_token, token_type, expires_in}``; 400 for an empty field, 401 ``Invalid
  credentials``, 415 for another content type, 429 with ``Retry-After`` after too many
  failures from one address.
* ``GET /api/v2/auth/login?next=`` sends the browser to the login page (``/auth/login``),
  refusing a ``next`` that leaves this site (400 ``Invalid or unsafe next URL``).
* ``GET /api/v2/auth/logout`` revokes the caller's token(s), clears the ``_token`` cookie and
  goes back to the login page.
"""

from __future__ import annotations

import json
import posixpath
from typing import Annotated, Any
from urllib.parse import unquote, urlencode, urljoin, urlparse

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ValidationError

from leoflow.api.security import (
    TOKEN_COOKIE,
    bearer_scheme,
    client_address,
    get_security,
    oauth2_scheme,
    request_tokens,
)
from leoflow.auth.errors import AuthError

router = APIRouter(tags=["Login"])

_JSON = "application/json"
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class LoginBody(BaseModel):
    """Credentials of ``POST /auth/token`` (``tenant`` picks one when the user has several)."""

    username: str
    password: str
    tenant: str | None = None


class LoginResponse(BaseModel):
    """A freshly issued token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


_LOGIN_SCHEMA = LoginBody.model_json_schema()
_LOGIN_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            _JSON: {"schema": _LOGIN_SCHEMA},
            "application/x-www-form-urlencoded": {"schema": _LOGIN_SCHEMA},
        },
    }
}
_LOGIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Username or password missing"},
    401: {"description": "Invalid credentials"},
    415: {"description": "Unsupported Media Type"},
    429: {"description": "Too many failed logins from this address; see Retry-After"},
}


async def _login_body(request: Request) -> LoginBody:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw: Any
    if content_type == _JSON:
        try:
            raw = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "Malformed JSON body") from None
        if not isinstance(raw, dict):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "The body must be a JSON object")
    elif content_type in _FORMS:
        form = await request.form()
        raw = {key: form.get(key) for key in ("username", "password", "tenant") if key in form}
    else:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type")
    try:
        return LoginBody.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


async def _issue(request: Request, expires_in: int | None) -> LoginResponse:
    body = await _login_body(request)
    if not body.username or not body.password:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Username and password must be provided")
    security = get_security(request)
    try:
        issued = await security.auth.login(
            body.username,
            body.password,
            client=client_address(request),
            tenant=body.tenant,
            expires_in=expires_in,
        )
    except AuthError as exc:
        raise HTTPException(exc.status, exc.detail, headers=exc.headers) from None
    return LoginResponse(access_token=issued.token, expires_in=issued.expires_in)


@router.post(
    "/auth/token",
    status_code=status.HTTP_201_CREATED,
    response_model=LoginResponse,
    responses=_LOGIN_RESPONSES,
    openapi_extra=_LOGIN_OPENAPI,
)
async def create_token(request: Request) -> LoginResponse:
    """Authenticate the user and issue a token (lifetime ``LEOFLOW_JWT_EXPIRATION_SECONDS``)."""
    return await _issue(request, None)


@router.post(
    "/auth/token/cli",
    status_code=status.HTTP_201_CREATED,
    response_model=LoginResponse,
    responses=_LOGIN_RESPONSES,
    openapi_extra=_LOGIN_OPENAPI,
)
async def create_token_cli(request: Request) -> LoginResponse:
    """Authenticate a command-line client (shorter lifetime, as Airflow's CLI tokens)."""
    return await _issue(request, get_security(request).auth.cli_expiration_seconds)


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def login_url(request: Request) -> str:
    """Where the login page is served (the login SPA of the web UI)."""
    return f"{_root(request)}/auth/login"


def is_safe_url(target: str, request: Request) -> bool:
    """Whether ``target`` stays on this site, under this app's path, over http(s).

    Browsers read ``///host`` and ``\\\\host`` as another host, so those are refused too.
    """
    base = str(request.base_url)
    parsed_base = urlparse(base)
    candidate = unquote(target).strip().replace("\\", "/")
    if candidate.startswith("//"):
        return False
    parsed = urlparse(urljoin(base, candidate))
    base_path = posixpath.normpath(parsed_base.path or "/")
    target_path = posixpath.normpath(parsed.path or "/")
    if base_path != "/":
        prefix = base_path if base_path.endswith("/") else base_path + "/"
        if target_path != base_path and not target_path.startswith(prefix):
            return False
    return parsed.scheme in {"http", "https"} and parsed.netloc == parsed_base.netloc


@router.get(
    "/api/v2/auth/login",
    status_code=status.HTTP_307_TEMPORARY_REDIRECT,
    response_class=RedirectResponse,
    responses={400: {"description": "Invalid or unsafe next URL"}},
)
async def login(request: Request, next: str | None = None) -> RedirectResponse:
    """Redirect to the login page, carrying ``next`` when it is safe."""
    url = login_url(request)
    if next and not is_safe_url(next, request):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Invalid or unsafe next URL")
    if next:
        url += "?" + urlencode({"next": next})
    return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)


@router.get(
    "/api/v2/auth/logout",
    status_code=status.HTTP_307_TEMPORARY_REDIRECT,
    response_class=RedirectResponse,
)
async def logout(
    request: Request,
    _oauth_token: Annotated[str | None, Depends(oauth2_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> RedirectResponse:
    """Revoke the request's tokens (header and cookie), clear the cookie, go to login."""
    auth = get_security(request).auth
    for token in request_tokens(request, bearer):
        await auth.revoke(token)
    response = RedirectResponse(login_url(request), status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    secure = request.url.scheme == "https"
    cookie_path = _root(request) + "/"
    response.delete_cookie(TOKEN_COOKIE, path=cookie_path, secure=secure, httponly=True)
    if cookie_path != "/":
        response.delete_cookie(TOKEN_COOKIE, path="/", secure=secure, httponly=True)
    return response
