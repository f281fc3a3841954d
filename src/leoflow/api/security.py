"""Who is calling, and may they: the FastAPI dependency every ``/api/v2`` route declares.

Routes never parse tokens or look up roles themselves; they declare::

    principal: Principal = Depends(require(Permission.DAGS_READ))

and receive the authenticated caller (with its tenant, which scopes every query they make), or
the request ends with Airflow's exact answers, which the Airflow web UI relies on to send the
browser back to its login page:

* no token → 401 ``Not authenticated``; expired → 401 ``Token Expired``;
* bad signature, wrong audience, ``alg=none``, revoked ``jti``, unknown or disabled user →
  403 ``Invalid JWT token``;
* valid token, role without the permission → 403 ``Forbidden`` (counted and audited).

The token is read from ``Authorization: Bearer`` first, then from the ``_token`` cookie the
web UI sets.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer

from leoflow.auth.access import AccessCache
from leoflow.auth.authenticator import PasswordAuthenticator
from leoflow.auth.bootstrap import ephemeral_jwt_secret
from leoflow.auth.errors import (
    FORBIDDEN,
    INVALID_TOKEN,
    NOT_AUTHENTICATED,
    TOKEN_EXPIRED,
    AuthError,
)
from leoflow.auth.principal import Principal
from leoflow.auth.rbac import Permission
from leoflow.auth.service import AuthService
from leoflow.auth.throttle import LoginThrottle
from leoflow.auth.tokens import UserTokens
from leoflow.config import Settings
from leoflow.secrets.cipher import SECRET_KEY_SETTING, SecretCipher, SecretKeyError
from leoflow.store.pool import Pool

__all__ = [
    "FORBIDDEN",
    "INVALID_TOKEN",
    "NOT_AUTHENTICATED",
    "TOKEN_COOKIE",
    "TOKEN_EXPIRED",
    "CurrentPrincipal",
    "Permission",
    "Principal",
    "SecurityState",
    "authenticated",
    "bearer_scheme",
    "client_address",
    "get_security",
    "install_security",
    "is_local_request",
    "oauth2_scheme",
    "request_tokens",
    "require",
]

TOKEN_COOKIE = "_token"
"""The cookie the Airflow web UI stores its token in (set by the login page's JavaScript)."""

_AUTH_DESCRIPTION = (
    "Send a JWT in `Authorization: Bearer <token>` (or the `_token` cookie). "
    "Get one from `POST /auth/token` with `{username, password}`."
)
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/auth/token", description=_AUTH_DESCRIPTION, auto_error=False
)
bearer_scheme = HTTPBearer(auto_error=False)


@dataclass
class SecurityState:
    """What the security layer of one app holds (``app.state.security``)."""

    settings: Settings
    auth: AuthService
    jwt_secret: str
    cipher: SecretCipher | None
    cipher_problem: str | None
    """Why ``cipher`` is ``None``: the message of the 503 answered to connection writes."""
    open_access_user: str | None = None
    """Lite's ``--no-login`` developer mode: a request without a token, from this machine
    (loopback peer *and* loopback ``Host``, so a web page cannot reach it by DNS rebinding),
    acts as this user. Only ``leoflow lite`` sets it, and only on a loopback listener."""

    def require_cipher(self) -> SecretCipher:
        """The connection cipher, or 503 naming ``LEOFLOW_SECRET_KEY`` when it is unusable."""
        if self.cipher is None:
            raise HTTPException(status_code=503, detail=self.cipher_problem)
        return self.cipher


def _build_cipher(settings: Settings) -> tuple[SecretCipher | None, str | None]:
    if settings.secret_key is None:
        return None, (
            f"Secrets cannot be encrypted: {SECRET_KEY_SETTING} is not set "
            "(32 random bytes, base64 or hex)"
        )
    previous = settings.secret_key_previous
    try:
        cipher = SecretCipher.from_settings_values(
            settings.secret_key.get_secret_value(),
            previous.get_secret_value() if previous else None,
        )
    except SecretKeyError as exc:
        return None, f"Secrets cannot be encrypted: {exc}"
    return cipher, None


def install_security(app: FastAPI, pool: Pool, settings: Settings) -> SecurityState:
    """Build the auth service and the connection cipher of ``app`` (no I/O: request-ready
    without running the lifespan; the lifespan only adds roles and the bootstrap admin)."""
    secret = (
        settings.jwt_secret.get_secret_value() if settings.jwt_secret else ephemeral_jwt_secret()
    )
    auth = AuthService(
        pool,
        tokens=UserTokens(secret, expiration_seconds=settings.jwt_expiration_seconds),
        authenticator=PasswordAuthenticator(pool),
        throttle=LoginThrottle(
            settings.login_throttle_max_failures, settings.login_throttle_window_seconds
        ),
        access=AccessCache(pool, ttl_seconds=settings.auth_cache_seconds),
        cli_expiration_seconds=settings.jwt_cli_expiration_seconds,
    )
    cipher, problem = _build_cipher(settings)
    state = SecurityState(
        settings=settings, auth=auth, jwt_secret=secret, cipher=cipher, cipher_problem=problem
    )
    app.state.security = state
    return state


def get_security(request: Request) -> SecurityState:
    """The security state of the app serving ``request``."""
    state: SecurityState = request.app.state.security
    return state


def client_address(request: Request) -> str:
    """The caller's address (throttling key); behind a proxy, run uvicorn with
    ``--proxy-headers`` so this is the real client."""
    return request.client.host if request.client else "unknown"


def request_tokens(
    request: Request, bearer: HTTPAuthorizationCredentials | None = None
) -> list[str]:
    """Every token the request carries: the bearer token first, then the ``_token`` cookie."""
    tokens: list[str] = []
    if bearer is not None and bearer.scheme.lower() == "bearer" and bearer.credentials:
        tokens.append(bearer.credentials)
    cookie = request.cookies.get(TOKEN_COOKIE)
    if cookie and cookie not in tokens:
        tokens.append(cookie)
    return tokens


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def is_local_request(request: Request) -> bool:
    """Whether the caller is on this machine and addressed this machine by a loopback name."""
    peer = request.client.host if request.client else ""
    try:
        peer_ok = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        peer_ok = False
    host = _host_name(request.headers.get("host", "").strip().lower())
    return peer_ok and (host in _LOOPBACK_NAMES or host.startswith("127."))


def _http(error: AuthError) -> HTTPException:
    return HTTPException(status_code=error.status, detail=error.detail, headers=error.headers)


async def authenticated(
    request: Request,
    _oauth_token: Annotated[str | None, Depends(oauth2_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """FastAPI dependency: the authenticated caller, whatever their permissions.

    ``_oauth_token`` only declares the OAuth2 password flow in the OpenAPI document (so
    ``/docs`` offers a login form); the token itself is read through ``bearer``.
    """
    tokens = request_tokens(request, bearer)
    security = get_security(request)
    try:
        if not tokens and security.open_access_user and is_local_request(request):
            principal = await security.auth.principal_for_user(security.open_access_user)
        else:
            principal = await security.auth.principal_for_token(tokens[0] if tokens else None)
    except AuthError as exc:
        raise _http(exc) from None
    request.state.principal = principal
    return principal


def require(permission: Permission) -> Any:
    """A FastAPI dependency yielding the caller after checking they hold ``permission``.

    401 ``Not authenticated`` without a token, 401 ``Token Expired``, 403 ``Invalid JWT token``
    for a bad or revoked token and 403 ``Forbidden`` when the caller's roles lack the
    permission (the refusal is counted and written to the audit log).
    """

    async def dependency(
        request: Request, principal: Annotated[Principal, Depends(authenticated)]
    ) -> Principal:
        if principal.can(permission):
            return principal
        error = await get_security(request).auth.deny(
            principal, str(permission), request.method, request.url.path
        )
        raise _http(error)

    dependency.__name__ = f"require_{permission.name.lower()}"
    return dependency


CurrentPrincipal = Annotated[Principal, Depends(authenticated)]
"""Route parameter type for "any authenticated caller" (e.g. ``/ui/auth/me``)."""
