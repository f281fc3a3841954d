"""Per-try agent tokens: minted at dispatch, checked on every AgentService call.

A token names exactly one try of one task instance (tenant, dag, run, task, map index, try);
the service refuses a call whose request names anything else. The token lives at least as long
as the try may run (its execution timeout plus a margin), so a long task never finds its own
credential expired in the middle of a heartbeat.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import grpc

from leoflow.auth.tokens import (
    LEEWAY_SECONDS,
    AgentClaims,
    TokenExpiredError,
    TokenInvalidError,
    mint_agent_token,
    verify_agent_token,
)
from leoflow.executors.base import TaskLaunch
from leoflow.store.pool import Database
from leoflow.store.task_context import tenant_name_of_run
from leoflow_sdk.protocol import agent_pb2, bearer_token_from_metadata

TOKEN_MARGIN_SECONDS = 3600
"""Lifetime beyond the execution timeout: kill grace, final report retries, clock skew."""


@dataclass(frozen=True)
class AgentAuthError(Exception):
    """A call refused before its handler runs; ``reason`` is a bounded metric label."""

    code: grpc.StatusCode
    reason: str
    message: str

    def __str__(self) -> str:
        return self.message


def authenticate(secret: str, metadata: Iterable[tuple[str, str | bytes]] | None) -> AgentClaims:
    """The claims of the call's bearer token; :class:`AgentAuthError` (UNAUTHENTICATED) when it
    is missing, malformed, expired, badly signed or not an agent token."""
    return _verify(secret, _bearer_token(metadata))


def _bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    token = bearer_token_from_metadata(metadata)
    if token is None:
        raise AgentAuthError(
            grpc.StatusCode.UNAUTHENTICATED,
            "missing_token",
            "missing agent token: send 'authorization: Bearer <token>' metadata",
        )
    return token


def _verify(secret: str, token: str) -> AgentClaims:
    try:
        return verify_agent_token(secret, token)
    except TokenExpiredError:
        raise _expired() from None
    except TokenInvalidError:
        raise AgentAuthError(
            grpc.StatusCode.UNAUTHENTICATED,
            "invalid_token",
            "invalid agent token (bad signature, wrong audience, or not minted for an agent)",
        ) from None


def _expired() -> AgentAuthError:
    return AgentAuthError(grpc.StatusCode.UNAUTHENTICATED, "expired_token", "agent token expired")


class VerifiedTokens:
    """:func:`authenticate` with a memory of the tokens it verified.

    An agent presents the same token on every call of its try (half a dozen for a no-op task,
    more with heartbeats and XCom inputs); checking its signature and claims again each time
    costs more than the rest of a small call. A token seen before is only checked for expiry
    (the claims it carries cannot change: the string is what was signed). Bounded: the oldest
    entries are forgotten first.
    """

    def __init__(self, secret: str, *, capacity: int = 10_000) -> None:
        self._secret = secret
        self._capacity = capacity
        self._known: OrderedDict[str, AgentClaims] = OrderedDict()

    def authenticate(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> AgentClaims:
        """The claims of the call's bearer token (see :func:`authenticate`)."""
        token = _bearer_token(metadata)
        claims = self._known.get(token)
        if claims is None:
            claims = _verify(self._secret, token)
            self._known[token] = claims
            while len(self._known) > self._capacity:
                self._known.popitem(last=False)
        elif datetime.now(UTC) > claims.expires_at + timedelta(seconds=LEEWAY_SECONDS):
            del self._known[token]
            raise _expired()
        return claims


def check_scope(claims: AgentClaims, key: agent_pb2.TaskInstanceKey) -> None:
    """PERMISSION_DENIED unless the request names exactly the try the token was minted for."""
    named = (key.tenant, key.dag_id, key.run_id, key.task_id, key.map_index, key.try_number)
    scoped = (
        claims.tenant,
        claims.dag_id,
        claims.run_id,
        claims.task_id,
        claims.map_index,
        claims.try_number,
    )
    if named != scoped:
        raise AgentAuthError(
            grpc.StatusCode.PERMISSION_DENIED,
            "scope_mismatch",
            f"this token is for {claims.subject}; the request names a different task instance "
            "or try",
        )


def token_lifetime(base_seconds: int, timeout_seconds: float | None) -> int:
    """``base_seconds``, or longer when the try may legitimately run longer than that."""
    if timeout_seconds is None:
        return base_seconds
    return max(base_seconds, math.ceil(timeout_seconds) + TOKEN_MARGIN_SECONDS)


class AgentTokenIssuer:
    """Mints the token of a launch (the dispatcher's side of agent authentication)."""

    def __init__(self, secret: str, db: Database, *, expiration_seconds: int = 86400) -> None:
        self._secret = secret
        self._db = db
        self._expiration = expiration_seconds
        self._tenants: OrderedDict[UUID, str] = OrderedDict()

    async def tenant_of(self, run_uuid: UUID) -> str:
        """The tenant name of a run (cached: a run never changes tenant)."""
        name = self._tenants.get(run_uuid)
        if name is None:
            name = await tenant_name_of_run(self._db, run_uuid)
            self._tenants[run_uuid] = name
            while len(self._tenants) > 4096:
                self._tenants.popitem(last=False)
        return name

    async def mint(
        self,
        launch: TaskLaunch,
        timeout_seconds: float | None = None,
        *,
        executor: str | None = None,
    ) -> str:
        """The token an agent needs to run ``launch`` (and nothing else); ``executor`` names
        an executor whose tries do not run on this machine (``kubernetes``)."""
        return mint_agent_token(
            self._secret,
            tenant=await self.tenant_of(launch.run_uuid),
            dag_id=launch.dag_id,
            run_id=launch.run_id,
            task_id=launch.task_id,
            map_index=launch.map_index,
            try_number=launch.try_number,
            expires_in=token_lifetime(self._expiration, timeout_seconds),
            executor=executor,
        )
