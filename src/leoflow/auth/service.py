"""The authentication service of one API process: logins, token checks, revocation, audit.

Everything security-relevant that a request can trigger goes through here, so every refusal is
counted in ``leoflow_auth_failures_total{reason}`` and every login and permission denial lands
in the audit log, whichever route caused it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from leoflow.auth.access import AccessCache
from leoflow.auth.authenticator import Authenticator, Identity
from leoflow.auth.errors import (
    FORBIDDEN,
    INVALID_CREDENTIALS,
    INVALID_TOKEN,
    NOT_AUTHENTICATED,
    TOKEN_EXPIRED,
    AuthError,
)
from leoflow.auth.principal import Principal
from leoflow.auth.throttle import LoginThrottle
from leoflow.auth.tokens import (
    IssuedToken,
    JwtSecretError,
    TokenExpiredError,
    TokenInvalidError,
    UserTokens,
)
from leoflow.store import audit, revoked_tokens, roles, tenants, users
from leoflow.store.pool import Database
from leoflow.telemetry.logging import get_logger
from leoflow.telemetry.metrics import AUTH_FAILURES

log = get_logger("leoflow.auth")

EVENT_LOGIN = "login"
EVENT_LOGIN_FAILED = "login_failed"
EVENT_LOGOUT = "logout"
EVENT_PERMISSION_DENIED = "permission_denied"


def _fail(
    status: int, detail: str, reason: str, headers: dict[str, str] | None = None
) -> AuthError:
    AUTH_FAILURES.labels(reason=reason).inc()
    return AuthError(status, detail, reason, headers)


class AuthService:
    """Logins, token verification and revocation against one database."""

    def __init__(
        self,
        db: Database,
        *,
        tokens: UserTokens,
        authenticator: Authenticator,
        throttle: LoginThrottle,
        access: AccessCache,
        cli_expiration_seconds: int = 3600,
    ) -> None:
        self.db = db
        self.tokens = tokens
        self.authenticator = authenticator
        self.throttle = throttle
        self.access = access
        self.cli_expiration_seconds = cli_expiration_seconds
        self._tenant_ids: dict[str, UUID] = {}

    async def tenant_id(self, name: str = tenants.DEFAULT_TENANT) -> UUID:
        """The id of tenant ``name`` (tenants are never renamed, so this is cached)."""
        cached = self._tenant_ids.get(name)
        if cached is None:
            cached = await tenants.get_tenant_id(self.db, name)
            self._tenant_ids[name] = cached
        return cached

    async def audit(self, tenant_id: UUID, event: str, actor: str | None, **extra: Any) -> None:
        """Append an audit entry (``extra`` must never hold a secret value)."""
        await audit.record(self.db, tenant_id, event, actor=actor, extra=extra or None)

    # --- login ---------------------------------------------------------------------------
    async def login(
        self,
        username: str,
        password: str,
        *,
        client: str,
        tenant: str | None = None,
        expires_in: int | None = None,
    ) -> IssuedToken:
        """A token for valid credentials; 429 while ``client`` is throttled, 401 otherwise."""
        wait = self.throttle.retry_after(client)
        if wait is not None:
            raise _fail(
                429,
                f"Too many failed login attempts; retry in {wait} seconds",
                "throttled",
                {"Retry-After": str(wait)},
            )
        outcome = await self.authenticator.authenticate(username, password)
        if not isinstance(outcome, Identity):
            await self._login_failed(username, client, outcome.reason, tenant)
            raise _fail(401, INVALID_CREDENTIALS, "bad_credentials")
        chosen = await self._tenant_for(outcome, tenant)
        if chosen is None:
            await self._login_failed(username, client, "unknown_tenant", None)
            raise _fail(401, INVALID_CREDENTIALS, "bad_credentials")
        access = await roles.load_user_access(self.db, outcome.username, chosen)
        if access is None:  # pragma: no cover - the tenant was just resolved
            raise _fail(401, INVALID_CREDENTIALS, "bad_credentials")
        self.throttle.reset(client)
        issued = self.tokens.mint(
            access.username, access.tenant, tuple(access.roles), expires_in=expires_in
        )
        await self.audit(
            access.tenant_id,
            EVENT_LOGIN,
            access.username,
            client=client,
            authenticator=self.authenticator.name,
        )
        await users.record_login(self.db, access.user_id)
        log.info("login", user=access.username, tenant=access.tenant, client=client)
        return issued

    async def _tenant_for(self, identity: Identity, requested: str | None) -> str | None:
        if requested:
            try:
                await self.tenant_id(requested)
            except tenants.TenantNotFoundError:
                return None
            return requested
        names = await roles.user_tenants(self.db, identity.user_id)
        if not names or tenants.DEFAULT_TENANT in names:
            return tenants.DEFAULT_TENANT
        return names[0]

    async def _login_failed(
        self, username: str, client: str, reason: str, tenant: str | None
    ) -> None:
        self.throttle.record_failure(client)
        AUTH_FAILURES.labels(reason=reason).inc()
        try:
            tenant_id = await self.tenant_id(tenant or tenants.DEFAULT_TENANT)
        except tenants.TenantNotFoundError:
            tenant_id = await self.tenant_id()
        await self.audit(tenant_id, EVENT_LOGIN_FAILED, username, client=client, reason=reason)
        log.warning("login failed", user=username, client=client, reason=reason)

    # --- requests ------------------------------------------------------------------------
    async def principal_for_token(self, token: str | None) -> Principal:
        """The caller behind ``token``, with Airflow's 401/403 answers when there is none."""
        if not token:
            raise _fail(401, NOT_AUTHENTICATED, "not_authenticated")
        try:
            claims = self.tokens.verify(token)
        except TokenExpiredError:
            raise _fail(401, TOKEN_EXPIRED, "token_expired") from None
        except (TokenInvalidError, JwtSecretError):
            raise _fail(403, INVALID_TOKEN, "invalid_token") from None
        if await revoked_tokens.is_revoked(self.db, claims.jti):
            raise _fail(403, INVALID_TOKEN, "revoked_token")
        access = await self.access.get(claims.username, claims.tenant)
        if access is None or not access.is_active:
            raise _fail(403, INVALID_TOKEN, "invalid_token")
        return Principal(
            user_id=access.user_id,
            username=access.username,
            tenant_id=access.tenant_id,
            tenant=access.tenant,
            roles=access.roles,
            permissions=access.permissions,
        )

    async def principal_for_user(
        self, username: str, tenant: str = tenants.DEFAULT_TENANT
    ) -> Principal:
        """The caller ``username`` without a token (Lite's no-login mode on loopback); 403 when
        the account does not exist or is disabled."""
        access = await self.access.get(username, tenant)
        if access is None or not access.is_active:
            raise _fail(403, INVALID_TOKEN, "invalid_token")
        return Principal(
            user_id=access.user_id,
            username=access.username,
            tenant_id=access.tenant_id,
            tenant=access.tenant,
            roles=access.roles,
            permissions=access.permissions,
        )

    async def deny(
        self, principal: Principal, permission: str, method: str, path: str
    ) -> AuthError:
        """Count and audit a refused permission; returns the 403 to raise."""
        await self.audit(
            principal.tenant_id,
            EVENT_PERMISSION_DENIED,
            principal.username,
            permission=permission,
            method=method,
            path=path,
        )
        return _fail(403, FORBIDDEN, "forbidden")

    # --- logout --------------------------------------------------------------------------
    async def revoke(self, token: str) -> bool:
        """Revoke a token until its expiry; ``False`` for a token that is not ours or is
        already unusable (nothing to revoke)."""
        try:
            claims = self.tokens.verify(token)
        except (TokenExpiredError, TokenInvalidError, JwtSecretError):
            return False
        access = await self.access.get(claims.username, claims.tenant)
        await revoked_tokens.revoke(
            self.db,
            claims.jti,
            expires_at=claims.expires_at,
            user_id=access.user_id if access else None,
        )
        if access is not None:
            await self.audit(access.tenant_id, EVENT_LOGOUT, access.username)
        return True
