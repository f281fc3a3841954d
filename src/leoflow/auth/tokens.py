"""JWTs for people (audience ``leoflow-user``) and for task agents (audience ``leoflow-agent``).

Both are HS256 tokens derived from one configured secret, but each audience signs with its own
key (an HMAC of the secret and the audience name) *and* carries and checks its own ``aud``:
a user token presented to the agent service, or an agent token presented to the REST API,
fails twice over. Verification pins the algorithm, so ``alg=none`` or an RSA/HMAC confusion is
refused, and requires every claim the rest of the system reads.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

USER_AUDIENCE = "leoflow-user"
AGENT_AUDIENCE = "leoflow-agent"
ISSUER = "leoflow"
ALGORITHM = "HS256"
LEEWAY_SECONDS = 10
"""Clock skew tolerated between replicas (Airflow uses the same 10 s)."""

MIN_SECRET_LENGTH = 16

_USER_REQUIRED = ["exp", "iat", "sub", "jti", "aud", "tenant"]
_AGENT_REQUIRED = [
    "exp",
    "iat",
    "sub",
    "jti",
    "aud",
    "tenant",
    "dag_id",
    "run_id",
    "task_id",
    "map_index",
    "try_number",
]


class TokenError(Exception):
    """Base of token verification failures."""


class TokenExpiredError(TokenError):
    """The token was valid but its ``exp`` has passed."""


class TokenInvalidError(TokenError):
    """Bad signature, wrong audience or algorithm, missing claims, or malformed."""


class JwtSecretError(ValueError):
    """The configured signing secret is unusable; the message names the setting."""


def _key(secret: str | bytes, audience: str) -> bytes:
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    if len(raw) < MIN_SECRET_LENGTH:
        raise JwtSecretError(
            f"LEOFLOW_JWT_SECRET must be at least {MIN_SECRET_LENGTH} characters long"
        )
    return hmac.new(raw, audience.encode("ascii"), hashlib.sha256).digest()


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).replace(microsecond=0)


def _decode(token: str, key: bytes, audience: str, required: list[str]) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": required},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpiredError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenInvalidError(str(exc)) from exc
    return claims


@dataclass(frozen=True)
class IssuedToken:
    """A freshly minted token and what the login answer reports about it."""

    token: str
    jti: str
    expires_at: datetime
    expires_in: int


@dataclass(frozen=True)
class UserClaims:
    """The verified claims of a user token."""

    username: str
    tenant: str
    roles: tuple[str, ...]
    jti: str
    issued_at: datetime
    expires_at: datetime


class UserTokens:
    """Mints and verifies user tokens with one secret."""

    def __init__(self, secret: str | bytes, *, expiration_seconds: int = 86400) -> None:
        self._key = _key(secret, USER_AUDIENCE)
        self.expiration_seconds = expiration_seconds

    def mint(
        self,
        username: str,
        tenant: str,
        roles: tuple[str, ...] | list[str] = (),
        *,
        expires_in: int | None = None,
        now: datetime | None = None,
    ) -> IssuedToken:
        """A signed token for ``username`` in ``tenant`` (``roles`` is informational: the API
        reads the user's current roles on each request)."""
        issued = _now(now)
        lifetime = expires_in if expires_in is not None else self.expiration_seconds
        expires = issued + timedelta(seconds=lifetime)
        jti = uuid.uuid4().hex
        claims = {
            "iss": ISSUER,
            "aud": USER_AUDIENCE,
            "sub": username,
            "tenant": tenant,
            "roles": sorted(roles),
            "jti": jti,
            "iat": issued,
            "nbf": issued,
            "exp": expires,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return IssuedToken(token=token, jti=jti, expires_at=expires, expires_in=lifetime)

    def verify(self, token: str) -> UserClaims:
        """The claims of a valid user token; :class:`TokenExpiredError` or
        :class:`TokenInvalidError` otherwise."""
        claims = _decode(token, self._key, USER_AUDIENCE, _USER_REQUIRED)
        roles = claims.get("roles", [])
        if not isinstance(claims["sub"], str) or not isinstance(claims["tenant"], str):
            raise TokenInvalidError("sub and tenant must be strings")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise TokenInvalidError("roles must be a list of strings")
        return UserClaims(
            username=claims["sub"],
            tenant=claims["tenant"],
            roles=tuple(roles),
            jti=str(claims["jti"]),
            issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )


@dataclass(frozen=True)
class AgentClaims:
    """The scope of an agent token: exactly one try of one task instance."""

    tenant: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    jti: str
    expires_at: datetime
    executor: str | None = None
    """The executor that launched the try, when it says so (``kubernetes``: the try runs in a
    pod); ``None`` for a process on the control plane's machine."""

    @property
    def subject(self) -> str:
        """The ``sub`` claim: the task instance try this token speaks for."""
        return agent_subject(
            self.tenant,
            self.dag_id,
            self.run_id,
            self.task_id,
            map_index=self.map_index,
            try_number=self.try_number,
        )


def agent_subject(
    tenant: str, dag_id: str, run_id: str, task_id: str, *, map_index: int, try_number: int
) -> str:
    """A readable, unique name of one task-instance try (used as ``sub``)."""
    return f"ti:{tenant}/{dag_id}/{run_id}/{task_id}/{map_index}/{try_number}"


def mint_agent_token(
    secret: str | bytes,
    *,
    tenant: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int = -1,
    try_number: int = 1,
    expires_in: int = 86400,
    now: datetime | None = None,
    executor: str | None = None,
) -> str:
    """A token letting one agent act for one try of one task instance (minted at dispatch).

    ``executor`` records where the try runs (see :attr:`AgentClaims.executor`); it is signed
    with the rest, so any replica answering the agent knows it without a database read.
    """
    issued = _now(now)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AGENT_AUDIENCE,
        "sub": agent_subject(
            tenant, dag_id, run_id, task_id, map_index=map_index, try_number=try_number
        ),
        "tenant": tenant,
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "map_index": map_index,
        "try_number": try_number,
        "jti": uuid.uuid4().hex,
        "iat": issued,
        "nbf": issued,
        "exp": issued + timedelta(seconds=expires_in),
    }
    if executor is not None:
        claims["executor"] = executor
    return jwt.encode(claims, _key(secret, AGENT_AUDIENCE), algorithm=ALGORITHM)


def verify_agent_token(secret: str | bytes, token: str) -> AgentClaims:
    """The scope of a valid agent token; :class:`TokenExpiredError` or
    :class:`TokenInvalidError` otherwise (a user token is invalid here)."""
    claims = _decode(token, _key(secret, AGENT_AUDIENCE), AGENT_AUDIENCE, _AGENT_REQUIRED)
    try:
        scoped = AgentClaims(
            tenant=_text(claims["tenant"]),
            dag_id=_text(claims["dag_id"]),
            run_id=_text(claims["run_id"]),
            task_id=_text(claims["task_id"]),
            map_index=_integer(claims["map_index"]),
            try_number=_integer(claims["try_number"]),
            jti=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            executor=None if claims.get("executor") is None else _text(claims["executor"]),
        )
    except (TypeError, ValueError) as exc:
        raise TokenInvalidError(f"malformed agent claims: {exc}") from exc
    if claims["sub"] != scoped.subject:
        raise TokenInvalidError("sub does not match the scoped claims")
    return scoped


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("expected a non-empty string")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer")
    return int(value)
